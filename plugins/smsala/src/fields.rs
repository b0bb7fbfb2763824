//! Reading callbacks of providers that publish no spec: fields wherever they
//! are (query, form, JSON), the first of several usual names, dates in the
//! usual shapes, SMPP receipt text, stable ids. (Generic: a candidate for
//! the SDK.) The same file serves several plugins; not each uses every
//! helper.
#![allow(dead_code)]

use switchboard_plugin_sdk::request::json_scalar;
use switchboard_plugin_sdk::sign::sha256_hex;
use switchboard_plugin_sdk::time::{parse_datetime, unix_ms};
use switchboard_plugin_sdk::{Config, Params, PluginError, Request, bad_request};

/// The callback's fields wherever the provider put them: the query (GET),
/// the query then a form body (POST), or the query then a JSON object body.
/// Nested JSON values are kept as JSON text.
pub fn fields(req: &Request) -> Result<Params, PluginError> {
    if req.is_get() || !req.looks_like_json() {
        return Ok(req.params().clone());
    }
    let json = req.json()?;
    let obj = json
        .as_object()
        .ok_or_else(|| bad_request("JSON body is not an object"))?;
    let mut p = req.query().clone();
    for (k, v) in obj {
        match json_scalar(v) {
            Some(s) => p.0.push((k.clone(), s)),
            None if !v.is_null() => p.0.push((k.clone(), v.to_string())),
            None => {}
        }
    }
    Ok(p)
}

/// Picks fields by any of their usual names and remembers which ones it
/// used, so that everything else can go to `extra`.
pub struct Picker<'a> {
    params: &'a Params,
    used: Vec<String>,
}

impl<'a> Picker<'a> {
    pub fn new(params: &'a Params) -> Self {
        Self {
            params,
            used: Vec::new(),
        }
    }

    /// The first non-empty (trimmed) value among `names` (ASCII case
    /// ignored), marking that field as used.
    pub fn pick(&mut self, names: &[&str]) -> Option<String> {
        for name in names {
            let found = self
                .params
                .0
                .iter()
                .rev()
                .find(|(k, v)| k.eq_ignore_ascii_case(name) && !v.trim().is_empty());
            if let Some((k, v)) = found {
                self.used.push(k.clone());
                return Some(v.trim().to_owned());
            }
        }
        None
    }

    /// Like [`Picker::pick`] but keeps the value untrimmed (message text).
    pub fn pick_raw(&mut self, names: &[&str]) -> Option<String> {
        for name in names {
            let found = self
                .params
                .0
                .iter()
                .rev()
                .find(|(k, _)| k.eq_ignore_ascii_case(name));
            if let Some((k, v)) = found {
                self.used.push(k.clone());
                return Some(v.clone());
            }
        }
        None
    }

    /// Returns the last picked field to `extra` (e.g. a date that did not
    /// parse: kept verbatim rather than lost).
    pub fn unpick(&mut self) {
        self.used.pop();
    }

    /// Marks a field as used without reading it.
    pub fn mark(&mut self, name: &str) {
        self.used.push(name.to_owned());
    }

    /// True if any of `names` is present (even empty).
    pub fn has(&self, names: &[&str]) -> bool {
        names.iter().any(|n| self.params.get_ci(n).is_some())
    }

    /// Every field not used, in arrival order (a repeated name keeps all
    /// its other values).
    pub fn extra(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut skipped: Vec<&str> = Vec::new();
        for (k, v) in self.params.0.iter().rev() {
            if self.used.iter().any(|u| u == k) && !skipped.contains(&k.as_str()) {
                // The value used is the last one with this name.
                skipped.push(k);
                continue;
            }
            out.push((k.clone(), v.clone()));
        }
        out.reverse();
        out
    }
}

/// True for an error code that means "no error" (`0`, `000`, empty).
pub fn is_no_error(code: &str) -> bool {
    code.trim().bytes().all(|b| b == b'0')
}

/// A provider date in any usual shape, zone-less ones at `offset` minutes:
/// unix seconds or milliseconds, `yymmddhhmm[ss]` (SMPP), `yyyymmddhhmmss`,
/// `YYYY-MM-DD[T ]hh:mm[:ss][zone]`, `DD.MM.YYYY hh:mm[:ss]`.
pub fn parse_time(s: &str, offset: i32) -> Option<i64> {
    let s = s.trim();
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let n = |i: usize| s.get(i..i + 2)?.parse::<u32>().ok();
        return match s.len() {
            // Unix seconds up to 2033; a bigger 10-digit number is an SMPP
            // `yymmddhhmm` (2020 onwards starts at 2001010000).
            9 | 10 => match s.parse::<i64>().ok()? {
                v if v < 2_000_000_000 => Some(v * 1000),
                _ => parse_smpp_date(s, offset),
            },
            12 => parse_smpp_date(s, offset),
            13 => s.parse::<i64>().ok(),
            14 => unix_ms(
                s.get(..4)?.parse().ok()?,
                n(4)?,
                n(6)?,
                n(8)?,
                n(10)?,
                n(12)?,
                offset,
            ),
            _ => None,
        };
    }
    // The SDK's parser slices the zone by bytes: give it ASCII only.
    if !s.is_ascii() {
        return None;
    }
    if let Some(ms) = parse_datetime(s, offset) {
        return Some(ms);
    }
    // Without seconds: `YYYY-MM-DD hh:mm`.
    if s.len() == 16
        && let Some(ms) = parse_datetime(&format!("{s}:00"), offset)
    {
        return Some(ms);
    }
    // `DD.MM.YYYY hh:mm[:ss]`
    let (date, time) = s.split_once(' ')?;
    let mut d = date.split('.');
    let (day, month, year) = (d.next()?, d.next()?, d.next()?);
    let mut t = time.split(':');
    let (h, mi, sec) = (t.next()?, t.next()?, t.next().unwrap_or("0"));
    unix_ms(
        year.parse().ok()?,
        month.parse().ok()?,
        day.parse().ok()?,
        h.parse().ok()?,
        mi.parse().ok()?,
        sec.parse().ok()?,
        offset,
    )
}

/// SMPP `yymmddhhmm[ss]` at `offset` minutes.
pub fn parse_smpp_date(s: &str, offset: i32) -> Option<i64> {
    let s = s.trim();
    if !matches!(s.len(), 10 | 12) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |i: usize| s.get(i..i + 2)?.parse::<u32>().ok();
    let secs = if s.len() == 12 { n(10)? } else { 0 };
    unix_ms(
        2000 + i64::from(n(0)?),
        n(2)?,
        n(4)?,
        n(6)?,
        n(8)?,
        secs,
        offset,
    )
}

/// The fields of an SMPP delivery receipt text (`id:… sub:… dlvrd:… submit
/// date:… done date:… stat:… err:… text:…`), as (label, value) with the
/// label lower-cased; `None` if the text is not a receipt.
pub fn parse_receipt(text: &str) -> Option<Vec<(String, String)>> {
    const LABELS: [&str; 8] = [
        "id:",
        "sub:",
        "dlvrd:",
        "submit date:",
        "done date:",
        "stat:",
        "err:",
        "text:",
    ];
    // ASCII lower-casing keeps byte offsets, so indices match `text`.
    let lower = text.to_ascii_lowercase();
    let mut found: Vec<(usize, &str)> = Vec::new();
    for label in LABELS {
        let mut from = 0;
        while let Some(i) = lower.get(from..).and_then(|s| s.find(label)) {
            let at = from + i;
            let boundary = at == 0 || lower.as_bytes().get(at - 1) == Some(&b' ');
            if boundary {
                found.push((at, label));
                break;
            }
            from = at + label.len();
        }
    }
    if !found.iter().any(|(_, l)| *l == "stat:") || !found.iter().any(|(_, l)| *l == "id:") {
        return None;
    }
    found.sort_unstable();
    let mut out = Vec::new();
    for (n, (at, label)) in found.iter().enumerate() {
        let start = at + label.len();
        let end = if *label == "text:" {
            text.len()
        } else {
            found.get(n + 1).map_or(text.len(), |(next, _)| *next)
        };
        let value = text.get(start..end).unwrap_or("").trim();
        out.push((label.trim_end_matches(':').to_owned(), value.to_owned()));
    }
    Some(out)
}

/// A short hash of the fields that identify an event without a provider id.
pub fn stable_id(parts: &[&str]) -> String {
    let hash = sha256_hex(parts.join("\n").as_bytes());
    hash.get(..24).unwrap_or(&hash).to_owned()
}

/// The configured `utc_offset` in minutes, or `default` when unset.
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

/// `+10:00`, `-0530`, `+3`, `Z`, `UTC` → minutes east of UTC.
pub fn parse_offset(v: &str) -> Option<i32> {
    let v = v.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("z") || v.eq_ignore_ascii_case("utc") {
        return Some(0);
    }
    let (sign, rest) = match v.as_bytes().first()? {
        b'+' => (1, v.get(1..)?),
        b'-' => (-1, v.get(1..)?),
        _ => (1, v),
    };
    let digits = rest.replace(':', "");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits.get(..2)?.parse().ok()?,
            digits.get(2..)?.parse().ok()?,
        ),
        _ => return None,
    };
    (h <= 14 && m < 60).then_some(sign * (h * 60 + m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_usual_shapes() {
        let t = 1_700_748_900_000; // 2023-11-23 14:15 UTC
        assert_eq!(parse_time("1700748900", 0), Some(t));
        assert_eq!(parse_time("1700748900000", 0), Some(t));
        assert_eq!(parse_time("20231123141500", 0), Some(t));
        assert_eq!(parse_time("2023-11-23 17:15:00", 180), Some(t));
        assert_eq!(parse_time("2023-11-23 14:15", 0), Some(t));
        assert_eq!(parse_time("2023-11-23T16:15:00+02:00", 0), Some(t));
        assert_eq!(parse_time("23.11.2023 14:15:00", 0), Some(t));
        assert_eq!(parse_smpp_date("2311231415", 0), Some(t));
        assert_eq!(parse_smpp_date("231123141500", 0), Some(t));
        assert_eq!(parse_time("2311231415", 0), Some(t));
        assert_eq!(parse_time("231123141500", 0), Some(t));
        for bad in [
            "",
            "soon",
            "99.99.2023 14:15",
            "1.2",
            "2023-13-01 00:00",
            "2023-11-23T14:15:00+aé1",
        ] {
            assert_eq!(parse_time(bad, 0), None, "{bad}");
        }
    }

    #[test]
    fn smpp_receipts() {
        let r = parse_receipt(
            "id:0123456789 sub:001 dlvrd:001 submit date:2311231414 done date:2311231415 stat:DELIVRD err:000 text:Hello stat:x",
        )
        .unwrap();
        let get = |k: &str| r.iter().find(|(l, _)| l == k).map(|(_, v)| v.as_str());
        assert_eq!(get("id"), Some("0123456789"));
        assert_eq!(get("done date"), Some("2311231415"));
        assert_eq!(get("stat"), Some("DELIVRD"));
        assert_eq!(get("err"), Some("000"));
        assert_eq!(get("text"), Some("Hello stat:x"));
        assert_eq!(parse_receipt("hello world"), None);
        assert_eq!(parse_receipt("stat:"), None);
        assert!(parse_receipt("id: stat:é").is_some());
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+03:00"), Some(180));
        assert_eq!(parse_offset("-0530"), Some(-330));
        assert_eq!(parse_offset("3"), Some(180));
        assert_eq!(parse_offset("UTC"), Some(0));
        assert_eq!(parse_offset("+99:00"), None);
        assert_eq!(parse_offset("Europe/Moscow"), None);
    }

    #[test]
    fn picker_tracks_used_fields() {
        let p = Params(vec![
            ("MsgId".into(), " 42 ".into()),
            ("status".into(), "".into()),
            ("dlr".into(), "1".into()),
            ("x".into(), "y".into()),
        ]);
        let mut pk = Picker::new(&p);
        assert_eq!(pk.pick(&["msgid"]).as_deref(), Some("42"));
        assert_eq!(pk.pick(&["status", "dlr"]).as_deref(), Some("1"));
        assert!(pk.has(&["status"]));
        assert_eq!(
            pk.extra(),
            vec![
                ("status".to_string(), String::new()),
                ("x".to_string(), "y".to_string())
            ]
        );
    }
}
