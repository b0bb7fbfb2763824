//! Reading a provider's fields into events: callbacks whose fields may be in
//! the query, a form or a JSON body ([`fields`], [`records`]); the first of
//! several usual names, with every field left unused kept for `extra`
//! ([`Picker`]); nested JSON as dotted `extra` pairs ([`flatten`],
//! [`scalars`]) or as JSON text ([`json_text`]); and stable ids for events
//! whose provider sends none ([`stable_id`], [`short_hash`]).

use serde_json::{Map, Value};

use crate::request::json_scalar;
use crate::{Params, PluginError, Request, bad_request};

/// The callback's fields wherever the provider put them: the query (GET),
/// the query then a form body (POST), or the query then a JSON object body
/// (scalars as text, nested values as JSON text, nulls left out).
pub fn fields(req: &Request) -> Result<Params, PluginError> {
    if req.is_get() || !req.looks_like_json() {
        return Ok(req.params().clone());
    }
    let json = req.json()?;
    let obj = json
        .as_object()
        .ok_or_else(|| bad_request("JSON body is not an object"))?;
    Ok(with_object(req.query(), obj))
}

/// Like [`fields`], but a JSON array body is a batch: one record per
/// object, each with the query's fields too; an empty array or an item that
/// is not an object is a `bad-request`. Anything else gives one record.
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
            Ok(with_object(req.query(), obj))
        })
        .collect()
}

/// `base` followed by the fields of `obj` (see [`fields`]).
fn with_object(base: &Params, obj: &Map<String, Value>) -> Params {
    let mut p = base.clone();
    for (k, v) in obj {
        match json_scalar(v) {
            Some(s) => p.0.push((k.clone(), s)),
            None if !v.is_null() => p.0.push((k.clone(), json_text(v))),
            None => {}
        }
    }
    p
}

/// The nested (object and array) fields of a JSON object as JSON text: what
/// [`Params::from_json`] leaves out, for `extra`.
pub fn nested_json(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| v.is_object() || v.is_array())
        .map(|(k, v)| (k.clone(), json_text(v)))
        .collect()
}

/// A trimmed, non-empty scalar field of a JSON object as text (numbers and
/// booleans as written).
pub fn json_field(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(json_scalar)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// A JSON value as compact JSON text, exactly as `serde_json::to_string`
/// writes it. Written out here because serde's serializer adds some 18 KB
/// to a plugin for this one use.
pub fn json_text(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Value, out: &mut String) {
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
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
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

/// Nested JSON as `prefix.a.b` = scalar pairs appended to `out` (arrays as
/// JSON text, nulls left out), skipping the paths in `skip` (those already
/// mapped onto the event) and everything under them. With an empty
/// `prefix` the top-level names are the paths.
pub fn flatten(prefix: &str, v: &Value, skip: &[&str], out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(obj) => {
            for (k, child) in obj {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if !skip.contains(&path.as_str()) {
                    flatten(&path, child, skip, out);
                }
            }
        }
        Value::Array(_) => out.push((prefix.to_owned(), json_text(v))),
        other => out.extend(json_scalar(other).map(|s| (prefix.to_owned(), s))),
    }
}

/// [`flatten`] for the fields of a JSON object, with no prefix.
pub fn flatten_object(obj: &Map<String, Value>, skip: &[&str], out: &mut Vec<(String, String)>) {
    for (k, v) in obj {
        if !skip.contains(&k.as_str()) {
            flatten(k, v, skip, out);
        }
    }
}

/// Every scalar of a JSON value under its dotted path below `prefix`,
/// array items by index (`mo.media.0.name`); nulls and empty containers
/// give nothing. With an empty `prefix` the top-level names are the paths.
pub fn scalars(prefix: &str, v: &Value) -> Vec<(String, String)> {
    fn walk(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
        let join = |k: &str| {
            if path.is_empty() {
                k.to_owned()
            } else {
                format!("{path}.{k}")
            }
        };
        match v {
            Value::Object(map) => map.iter().for_each(|(k, c)| walk(c, &join(k), out)),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .for_each(|(i, c)| walk(c, &join(&i.to_string()), out)),
            other => out.extend(json_scalar(other).map(|s| (path.to_owned(), s))),
        }
    }
    let mut out = Vec::new();
    walk(v, prefix, &mut out);
    out
}

/// Picks fields by any of their usual names and remembers which ones it
/// used, so that everything else can go to `extra`: for providers without
/// a spec, who name a message id `id`, `msgid` or `message_id`.
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
    /// ignored; the last of a repeated name), marking that field as used.
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

    /// Like [`Picker::pick`] but takes the value as it is, even empty and
    /// untrimmed (message text).
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

    /// True if any of `names` is present (even empty).
    pub fn has(&self, names: &[&str]) -> bool {
        has_any(self.params, names)
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

/// True if any of `names` is present in `params` (ASCII case ignored, even
/// empty).
pub fn has_any(params: &Params, names: &[&str]) -> bool {
    names.iter().any(|n| params.get_ci(n).is_some())
}

/// A stable id from the fields that identify an event whose provider sends
/// no id, so that a resend is recognized as a duplicate: 24 hex digits from
/// two 48-bit FNV-1a hashes with different offsets. Not a MAC, only a
/// deterministic name, and far smaller in wasm than SHA-256. See also
/// [`short_hash`]: a plugin keeps the one it shipped with, since changing
/// it changes the ids of resent events.
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

/// A stable id as [`stable_id`], from SHA-256: the first 24 hex digits of
/// the hash of the parts joined by newlines (for plugins that link SHA-256
/// anyway, e.g. for signatures).
pub fn short_hash(parts: &[&str]) -> String {
    let mut h = crate::sign::sha256_hex(parts.join("\n").as_bytes());
    h.truncate(24);
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::request_for;
    use crate::{Plugin, PluginInfo, types::Route};

    #[test]
    fn json_text_is_what_serde_writes() {
        let text = r#"{"a":[1,2.5,-3e-7,true,null,"x\"y\\z\n\u0001\b\f\t\r/é😀"],"b":{},"c":[]}"#;
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(json_text(&v), v.to_string());
        assert_eq!(
            json_text(&v),
            r#"{"a":[1,2.5,-3e-7,true,null,"x\"y\\z\n\u0001\b\f\t\r/é😀"],"b":{},"c":[]}"#
        );
        let back: Value = serde_json::from_str(&json_text(&v)).unwrap();
        assert_eq!(back, v);
        let nested = nested_json(&v);
        assert_eq!(nested.len(), 3);
        assert_eq!(nested[1], ("b".to_owned(), "{}".to_owned()));
    }

    #[test]
    fn flatten_and_scalars() {
        let v: Value = serde_json::from_str(
            r#"{"id":"m1","status":{"name":"DELIVERED","group":3},"to":["a","b"],"n":null,"e":{}}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        flatten_object(v.as_object().unwrap(), &["id", "status.name"], &mut out);
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(out, pairs(&[("status.group", "3"), ("to", r#"["a","b"]"#)]));
        let mut under = Vec::new();
        flatten("sns", &v, &["sns.to", "sns.status"], &mut under);
        assert_eq!(under, pairs(&[("sns.id", "m1")]));
        assert_eq!(
            scalars("", &v),
            pairs(&[
                ("id", "m1"),
                ("status.group", "3"),
                ("status.name", "DELIVERED"),
                ("to.0", "a"),
                ("to.1", "b"),
            ])
        );
        assert_eq!(
            scalars("body", &v["to"]),
            pairs(&[("body.0", "a"), ("body.1", "b")])
        );
        assert_eq!(json_field(&v, "id").as_deref(), Some("m1"));
        assert_eq!(json_field(&v["status"], "group").as_deref(), Some("3"));
        assert_eq!(json_field(&v, "n"), None);
        assert_eq!(json_field(&v, "to"), None);
    }

    #[test]
    fn stable_ids_are_deterministic_and_separate_fields() {
        let a = stable_id(&["ab", "c"]);
        assert_eq!(a, stable_id(&["ab", "c"]));
        assert_eq!(a.len(), 24);
        assert_ne!(a, stable_id(&["a", "bc"]));
        assert_ne!(a, stable_id(&["ab", "d"]));
        // The ids plugins have shipped with: they must never change.
        assert_eq!(stable_id(&["+1", "", "x"]), "687a7673a0851ea532661602");
        assert_eq!(short_hash(&["+1", "", "x"]), "7d594d358e08ddd0432f7e77");
    }

    #[test]
    fn picker_tracks_used_fields() {
        let p = Params(vec![
            ("MsgId".into(), " 42 ".into()),
            ("status".into(), "".into()),
            ("dlr".into(), "1".into()),
            ("x".into(), "y".into()),
            ("text".into(), " hi ".into()),
            ("x".into(), "z".into()),
        ]);
        let mut pk = Picker::new(&p);
        assert_eq!(pk.pick(&["msgid"]).as_deref(), Some("42"));
        assert_eq!(pk.pick(&["status", "dlr"]).as_deref(), Some("1"));
        assert_eq!(pk.pick_raw(&["TEXT"]).as_deref(), Some(" hi "));
        assert!(pk.has(&["status"]));
        assert!(!pk.has(&["nope"]));
        assert_eq!(pk.pick(&["x"]).as_deref(), Some("z"));
        pk.unpick();
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(pk.extra(), pairs(&[("status", ""), ("x", "y"), ("x", "z")]));
    }

    struct Echo;
    impl Plugin for Echo {
        fn describe() -> PluginInfo {
            PluginInfo {
                name: "echo".into(),
                version: "0".into(),
                description: String::new(),
                routes: vec![Route::new(
                    &[crate::Method::Get, crate::Method::Post],
                    "/in",
                    "",
                )],
                config_keys: Vec::new(),
                accept_reply: crate::reply(200),
            }
        }
        fn handle(_: &Request, _: &crate::Config) -> Result<crate::Outcome, PluginError> {
            unreachable!()
        }
    }

    fn req(text: &str) -> Request {
        let fx = crate::fixture::Fixture::parse(text.as_bytes()).unwrap();
        Request::new(request_for::<Echo>(&fx, 0).unwrap())
    }

    #[test]
    fn fields_and_records_from_query_form_and_json() {
        let get = req("GET /api/v1/in?id=1&s=x HTTP/1.1\n\n");
        assert_eq!(fields(&get).unwrap().get("s"), Some("x"));
        let form = req(
            "POST /api/v1/in?q=1 HTTP/1.1\nContent-Type: application/x-www-form-urlencoded\n\nid=2\n",
        );
        let f = fields(&form).unwrap();
        assert_eq!((f.get("q"), f.get("id")), (Some("1"), Some("2")));
        let json = req(
            "POST /api/v1/in?q=1 HTTP/1.1\nContent-Type: application/json\n\n{\"id\":3,\"n\":null,\"o\":{\"a\":[1]}}\n",
        );
        let f = fields(&json).unwrap();
        assert_eq!(
            f.0,
            vec![
                ("q".to_owned(), "1".to_owned()),
                ("id".to_owned(), "3".to_owned()),
                ("o".to_owned(), r#"{"a":[1]}"#.to_owned()),
            ]
        );
        let batch = req("POST /api/v1/in?q=1 HTTP/1.1\n\n[{\"id\":1},{\"id\":2}]\n");
        assert!(fields(&batch).is_err());
        let r = records(&batch).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((r[1].get("q"), r[1].get("id")), (Some("1"), Some("2")));
        assert_eq!(records(&json).unwrap().len(), 1);
        assert!(records(&req("POST /api/v1/in HTTP/1.1\n\n[]\n")).is_err());
        assert!(records(&req("POST /api/v1/in HTTP/1.1\n\n[1]\n")).is_err());
    }
}
