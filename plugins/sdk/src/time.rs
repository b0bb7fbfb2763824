//! Date helpers without a clock: providers send local or UTC date strings,
//! events carry milliseconds since the Unix epoch (UTC).

/// Days since 1970-01-01 for a proleptic Gregorian date
/// (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Milliseconds since the epoch for a civil date-time at a UTC offset.
pub fn unix_ms(
    y: i64,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
    offset_minutes: i32,
) -> Option<i64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s)
        - i64::from(offset_minutes) * 60;
    Some(secs * 1000)
}

/// Parses `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH:MM|±HHMM]`; a string
/// without a zone is taken at `default_offset_minutes` (0 for UTC).
/// Anything else, including any non-ASCII text, gives `None` (never a panic).
pub fn parse_datetime(s: &str, default_offset_minutes: i32) -> Option<i64> {
    let b = s.trim().as_bytes();
    // Every valid form is ASCII; checking bytes (not `str` slices) below
    // keeps a stray multi-byte character from splitting anywhere.
    if b.len() < 19 || !b.is_ascii() || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| digits(b.get(r)?);
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &b[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        // Milliseconds: the first three digits, right-padded with zeros.
        millis = frac[..n]
            .iter()
            .chain(b"000")
            .take(3)
            .fold(0, |ms, c| ms * 10 + i64::from(c - b'0'));
        rest = &frac[n..];
    }
    let offset = match rest {
        b"" => default_offset_minutes,
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), zone @ ..] => {
            let (hh, mm) = match zone {
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                    (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?)
                }
                _ => return None,
            };
            let minutes = i32::try_from(hh * 60 + mm).ok()?;
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return None,
    };
    Some(unix_ms(i64::from(y), mo, d, h, mi, sec, offset)? + millis)
}

/// The value of a run of ASCII digits (no sign, no spaces); `None` for
/// anything else or an empty run.
fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |n, c| n * 10 + u32::from(c - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(
            parse_datetime("2023-03-15T13:20:00Z", 0),
            Some(1_678_886_400_000)
        );
        assert_eq!(
            parse_datetime("2023-03-15 16:20:00", 180),
            Some(1_678_886_400_000)
        );
        assert_eq!(
            parse_datetime("2023-03-15T16:20:00+03:00", 0),
            Some(1_678_886_400_000)
        );
        assert_eq!(
            parse_datetime("2023-03-15T13:20:00.25Z", 0),
            Some(1_678_886_400_250)
        );
        assert_eq!(
            parse_datetime("2024-02-29T00:00:00Z", 0),
            Some(1_709_164_800_000)
        );
        assert_eq!(parse_datetime("garbage", 0), None);
        assert_eq!(parse_datetime("2023-13-15T13:20:00Z", 0), None);
        assert_eq!(
            parse_datetime("2023-03-15T13:20:00.1234567Z", 0),
            Some(1_678_886_400_123)
        );
        assert_eq!(
            parse_datetime("2023-03-15T09:50:00-0330", 0),
            Some(1_678_886_400_000)
        );
    }

    #[test]
    fn non_ascii_and_malformed_zones_are_refused() {
        for bad in [
            "2023-11-14T22:13:05+0é0",
            "2023-11-14T22:13:05+é",
            "2023-11-14T22:13:05é",
            "2023-11-14T22:13:0é",
            "2023-11-14T22:13:05.é",
            "2023-11-14T22:13:05++100",
            "2023-11-14T22:13:05+1:00",
            "2023-11-14T22:13:05+01:0",
            "2023-11-14T22:13:05+01-00",
            "2023-+1-14T22:13:05Z",
            "2023-11-14T22:13: 5Z",
            "２023-11-14T22:13:05Z",
        ] {
            assert_eq!(parse_datetime(bad, 0), None, "{bad}");
        }
    }

    /// Every string made by putting a tricky character at any position of
    /// valid dates, or cutting them anywhere, is parsed without a panic.
    #[test]
    fn never_panics_on_tricky_strings() {
        let bases = [
            "2023-11-14T22:13:05+01:00",
            "2023-11-14 22:13:05.123-0530",
            "2023-11-14T22:13:05Z",
        ];
        let tricky = [
            "é", "😀", "\u{0}", "+", "-", ":", ".", " ", "Z", "9", "", "ß0", "\u{301}",
        ];
        let mut checked = 0;
        for base in bases {
            let chars: Vec<char> = base.chars().collect();
            for i in 0..=chars.len() {
                let head: String = chars[..i].iter().collect();
                let tail: String = chars[i..].iter().collect();
                let after: String = chars[(i + 1).min(chars.len())..].iter().collect();
                for t in tricky {
                    for s in [
                        format!("{head}{t}{tail}"),
                        format!("{head}{t}{after}"),
                        format!("{head}{t}"),
                    ] {
                        let _ = parse_datetime(&s, 0);
                        let _ = parse_datetime(&s, -720);
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 1000);
    }
}
