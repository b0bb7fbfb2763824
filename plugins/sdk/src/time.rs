//! Date helpers without a clock: providers send local or UTC date strings,
//! events carry milliseconds since the Unix epoch (UTC).
//!
//! [`parse_datetime`] reads ISO 8601; [`parse_any`] also reads the other
//! shapes gateways without a spec send (unix times, SMPP dates, compact
//! and European dates). Zone-less dates are read at an offset that plugins
//! take from their `utc_offset` setting ([`utc_offset`]).

use crate::{Config, PluginError};

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

/// (year, month, day) of a day count since 1970-01-01: the inverse of
/// [`days_from_civil`] (Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
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

/// [`parse_datetime`], also without seconds (`YYYY-MM-DD hh:mm`, as
/// Kannel's `%t` and many gateways write local times).
pub fn parse_datetime_lenient(s: &str, default_offset_minutes: i32) -> Option<i64> {
    let s = s.trim();
    parse_datetime(s, default_offset_minutes).or_else(|| {
        (s.len() == 16)
            .then(|| parse_datetime(&format!("{s}:00"), default_offset_minutes))
            .flatten()
    })
}

/// A provider date in any usual shape, zone-less ones at `offset_minutes`:
/// unix seconds (9-10 digits, before 2033) or milliseconds (13 digits),
/// SMPP `YYMMDDhhmm[ss]` (10 or 12 digits), `YYYYMMDDhhmmss`, ISO 8601
/// with or without seconds ([`parse_datetime_lenient`]) and
/// `DD.MM.YYYY hh:mm[:ss]`. `None` for anything else.
pub fn parse_any(s: &str, offset_minutes: i32) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let b = s.as_bytes();
        let n = |i: usize| digits(b.get(i..i + 2)?);
        return match s.len() {
            // Unix seconds up to 2033; a bigger 10-digit number is an SMPP
            // `yymmddhhmm` (2020 onwards starts at 2001010000).
            9 | 10 => match s.parse::<i64>().ok()? {
                v if v < 2_000_000_000 => Some(v * 1000),
                _ => crate::smpp::parse_date(s, offset_minutes),
            },
            12 => crate::smpp::parse_date(s, offset_minutes),
            13 => s.parse::<i64>().ok(),
            14 => unix_ms(
                i64::from(digits(&b[..4])?),
                n(4)?,
                n(6)?,
                n(8)?,
                n(10)?,
                n(12)?,
                offset_minutes,
            ),
            _ => None,
        };
    }
    if let Some(ms) = parse_datetime_lenient(s, offset_minutes) {
        return Some(ms);
    }
    // `DD.MM.YYYY hh:mm[:ss]`
    let (date, time) = s.split_once(' ')?;
    let mut d = date.split('.');
    let (day, month, year) = (d.next()?, d.next()?, d.next()?);
    let mut t = time.split(':');
    let (h, mi, sec) = (t.next()?, t.next()?, t.next().unwrap_or("0"));
    let num = |v: &str| digits(v.as_bytes());
    unix_ms(
        i64::from(num(year)?),
        num(month)?,
        num(day)?,
        num(h)?,
        num(mi)?,
        num(sec)?,
        offset_minutes,
    )
}

/// A UTC offset as written in configs and by providers, in minutes east of
/// UTC: `+10:00`, `-0530`, `+3`, `3`, `Z`, `UTC` (and empty) for 0. Hours
/// up to 14, minutes under 60; `None` for anything else (a zone name).
pub fn parse_offset(v: &str) -> Option<i32> {
    let v = v.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("z") || v.eq_ignore_ascii_case("utc") {
        return Some(0);
    }
    let (sign, rest) = match v.as_bytes()[0] {
        b'+' => (1, &v[1..]),
        b'-' => (-1, &v[1..]),
        _ => (1, v),
    };
    let digits_only: Vec<u8> = rest.bytes().filter(|&b| b != b':').collect();
    let (h, m) = match digits_only.len() {
        1 | 2 => (digits(&digits_only)?, 0),
        4 => (digits(&digits_only[..2])?, digits(&digits_only[2..])?),
        _ => return None,
    };
    (h <= 14 && m < 60).then(|| sign * (h as i32 * 60 + m as i32))
}

/// The plugin's `utc_offset` setting in minutes ([`parse_offset`]), or
/// `default` when it is not set; an `internal` error when it is not an
/// offset (a configuration mistake, not the provider's).
pub fn utc_offset(config: &Config, default: i32) -> Result<i32, PluginError> {
    match config.get("utc_offset") {
        None => Ok(default),
        Some(v) => parse_offset(v).ok_or_else(|| {
            PluginError::Internal(format!(
                "config `utc_offset` = `{v}` is not an offset like +03:00"
            ))
        }),
    }
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
    fn civil_days_round_trip() {
        for days in [-800_000, -1, 0, 59, 365, 11_016, 19_781, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn times_in_usual_shapes() {
        let t = 1_700_748_900_000; // 2023-11-23 14:15 UTC
        assert_eq!(parse_any("1700748900", 0), Some(t));
        assert_eq!(parse_any("1700748900000", 0), Some(t));
        assert_eq!(parse_any("20231123141500", 0), Some(t));
        assert_eq!(parse_any("2023-11-23 17:15:00", 180), Some(t));
        assert_eq!(parse_any("2023-11-23 14:15", 0), Some(t));
        assert_eq!(parse_any("2023-11-23T16:15:00+02:00", 0), Some(t));
        assert_eq!(parse_any("23.11.2023 14:15:00", 0), Some(t));
        assert_eq!(parse_any("23.11.2023 16:15", 120), Some(t));
        assert_eq!(parse_any("2311231415", 0), Some(t));
        assert_eq!(parse_any("231123141500", 0), Some(t));
        assert_eq!(parse_datetime_lenient(" 2023-11-23 14:15 ", 0), Some(t));
        assert_eq!(parse_datetime_lenient("2023-11-23 14:1", 0), None);
        for bad in [
            "",
            "soon",
            "99.99.2023 14:15",
            "1.2",
            "2023-13-01 00:00",
            "2023-11-23T14:15:00+aé1",
            "+1.11.2023 14:15",
            "123456789012345",
        ] {
            assert_eq!(parse_any(bad, 0), None, "{bad}");
        }
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+03:00"), Some(180));
        assert_eq!(parse_offset("+10:00"), Some(600));
        assert_eq!(parse_offset("-0530"), Some(-330));
        assert_eq!(parse_offset("3"), Some(180));
        assert_eq!(parse_offset("+3"), Some(180));
        assert_eq!(parse_offset("UTC"), Some(0));
        assert_eq!(parse_offset("z"), Some(0));
        assert_eq!(parse_offset(""), Some(0));
        assert_eq!(parse_offset("+99:00"), None);
        assert_eq!(parse_offset("+01:60"), None);
        assert_eq!(parse_offset("+-3"), None);
        assert_eq!(parse_offset("Europe/Moscow"), None);
        assert_eq!(parse_offset("Australia/Sydney"), None);
        assert_eq!(parse_offset("+é"), None);
        let cfg = |v: &str| Config::new(vec![("utc_offset".into(), v.into())]);
        assert!(matches!(utc_offset(&Config::default(), 180), Ok(180)));
        assert!(matches!(utc_offset(&cfg("-02:30"), 180), Ok(-150)));
        assert!(matches!(
            utc_offset(&cfg("soon"), 0),
            Err(PluginError::Internal(_))
        ));
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
                        let _ = parse_datetime_lenient(&s, 60);
                        let _ = parse_any(&s, 0);
                        let _ = parse_offset(&s);
                        let _ = parse_offset(s.get(19..).unwrap_or_default());
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 1000);
    }
}
