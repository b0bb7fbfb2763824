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
pub fn parse_datetime(s: &str, default_offset_minutes: i32) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 19 || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac.chars().take_while(char::is_ascii_digit).collect();
        let ms: String = format!("{digits:0<3}").chars().take(3).collect();
        millis = ms.parse().ok()?;
        rest = &frac[digits.len()..];
    }
    let offset = match rest {
        "" => default_offset_minutes,
        "Z" | "z" => 0,
        zone => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let z = zone[1..].replace(':', "");
            if z.len() != 4 {
                return None;
            }
            let hh: i32 = z[..2].parse().ok()?;
            let mm: i32 = z[2..].parse().ok()?;
            sign * (hh * 60 + mm)
        }
    };
    Some(unix_ms(i64::from(y), mo, d, h, mi, sec, offset)? + millis)
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
    }
}
