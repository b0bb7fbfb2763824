//! Reading callbacks of providers that publish no spec: fields wherever they
//! are (query, form, JSON), the first of several usual names, dates in the
//! usual shapes, SMPP receipt text, stable ids. (Generic: a candidate for
//! the SDK.) The same file serves several plugins; not each uses every
//! helper.
#![allow(dead_code)]

use switchboard_plugin_sdk::request::json_scalar;
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
            None if !v.is_null() => p.0.push((k.clone(), json_text(v))),
            None => {}
        }
    }
    Ok(p)
}

/// Like [`fields`], but a JSON array body gives one record per object (the
/// query's fields are added to each); anything else gives one record.
pub fn records(req: &Request) -> Result<Vec<Params>, PluginError> {
    if req.is_get() || !req.looks_like_json() {
        return Ok(vec![fields(req)?]);
    }
    let json = req.json()?;
    let Some(items) = json.as_array() else {
        return Ok(vec![fields(req)?]);
    };
    if items.is_empty() {
        return Err(bad_request("empty JSON array"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let obj = item
                .as_object()
                .ok_or_else(|| bad_request(format!("JSON array item {i} is not an object")))?;
            let mut p = req.query().clone();
            for (k, v) in obj {
                match json_scalar(v) {
                    Some(s) => p.0.push((k.clone(), s)),
                    None if !v.is_null() => p.0.push((k.clone(), json_text(v))),
                    None => {}
                }
            }
            Ok(p)
        })
        .collect()
}

/// Parses `a=1&b=2` whose percent-escapes are UTF-8 or, where a value's
/// bytes are not UTF-8, text in a legacy charset (`decode_legacy`): gateways
/// that encode in ISO-8859-x send `%E9` for `é`. `+` is a space; malformed
/// escapes are kept as written.
pub fn parse_form_auto(bytes: &[u8], decode_legacy: fn(&[u8]) -> String) -> Params {
    let decode = |part: &[u8]| {
        let raw = percent_decode(part);
        match String::from_utf8(raw) {
            Ok(s) => s,
            Err(e) => decode_legacy(e.as_bytes()),
        }
    };
    Params(
        bytes
            .split(|&b| b == b'&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let mut kv = pair.splitn(2, |&b| b == b'=');
                let k = kv.next().unwrap_or_default();
                let v = kv.next().unwrap_or_default();
                (decode(k), decode(v))
            })
            .collect(),
    )
}

/// `%XX` escapes to bytes and `+` to a space; malformed escapes kept.
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16)).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'%'
            && let (Some(h), Some(l)) = (hex(input.get(i + 1)), hex(input.get(i + 2)))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(if b == b'+' { b' ' } else { b });
        i += 1;
    }
    out
}

/// A nested JSON value as compact JSON text. Written out here because
/// serde's serializer adds some 18 KB to a plugin for this one use.
pub fn json_text(v: &serde_json::Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_str(s, out),
        // serde_json refuses nesting deeper than 128 levels when parsing,
        // so this recursion is bounded.
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                write_json(item, out);
            }
            out.push('}');
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let b = u32::from(c) as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[b >> 4]));
                out.push(char::from(HEX[b & 15]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
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

/// A short hash of the fields that identify an event without a provider id
/// (24 hex digits: two 48-bit FNV-1a hashes with different offsets; not a
/// MAC, only a deterministic name, and far smaller in wasm than SHA-256).
pub fn stable_id(parts: &[&str]) -> String {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x8422_2325_cbf2_9ce4;
    for (i, part) in parts.iter().enumerate() {
        // A separator byte that text cannot contain keeps ("ab","c") and
        // ("a","bc") apart.
        let bytes = part
            .bytes()
            .chain(std::iter::once(0xff_u8.wrapping_sub(i as u8)));
        for byte in bytes {
            a = (a ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
            b = (b ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
            b = b.rotate_left(5);
        }
    }
    format!("{:012x}{:012x}", a >> 16, b >> 16)
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
    fn nested_json_is_kept_as_json_text() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"a":[1,2.5,true,null,"x\"y\\z\n\u0001"],"b":{}}"#).unwrap();
        let text = json_text(&v);
        assert_eq!(text, r#"{"a":[1,2.5,true,null,"x\"y\\z\n\u0001"],"b":{}}"#);
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn stable_ids_are_deterministic_and_separate_fields() {
        let a = stable_id(&["ab", "c"]);
        assert_eq!(a, stable_id(&["ab", "c"]));
        assert_eq!(a.len(), 24);
        assert_ne!(a, stable_id(&["a", "bc"]));
        assert_ne!(a, stable_id(&["ab", "d"]));
    }

    #[test]
    fn forms_in_utf8_or_a_legacy_charset() {
        fn latin1(b: &[u8]) -> String {
            b.iter().map(|&c| c as char).collect()
        }
        let p = parse_form_auto(b"a=caf%C3%A9&b=caf%E9+x&c=%zz%&%E9=1&&d", latin1);
        assert_eq!(p.get("a"), Some("café"));
        assert_eq!(p.get("b"), Some("café x"));
        assert_eq!(p.get("c"), Some("%zz%"));
        assert_eq!(p.get("é"), Some("1"));
        assert_eq!(p.get("d"), Some(""));
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
