//! Typed views of the request and the plugin's config.

use std::cell::OnceCell;

use crate::charset::Charset;
use crate::types::{HttpRequest, Method};
use crate::{PluginError, bad_request};

/// One callback, with helpers for the places providers put their fields.
/// Query, form and merged parameters are parsed once, on first use.
pub struct Request {
    raw: HttpRequest,
    query: OnceCell<Params>,
    form: OnceCell<Params>,
    params: OnceCell<Params>,
}

impl Request {
    pub fn new(raw: HttpRequest) -> Self {
        Self {
            raw,
            query: OnceCell::new(),
            form: OnceCell::new(),
            params: OnceCell::new(),
        }
    }

    pub fn raw(&self) -> &HttpRequest {
        &self.raw
    }
    pub fn method(&self) -> Method {
        self.raw.method
    }
    pub fn is_get(&self) -> bool {
        matches!(self.raw.method, Method::Get)
    }
    /// The public URL the provider called (what signatures are computed over).
    pub fn url(&self) -> &str {
        &self.raw.url
    }
    pub fn path(&self) -> &str {
        &self.raw.path
    }
    /// The route pattern that matched, e.g. `/smsCallback/{app_code}`.
    pub fn route(&self) -> &str {
        &self.raw.route
    }
    pub fn body(&self) -> &[u8] {
        &self.raw.body
    }
    pub fn received_at(&self) -> i64 {
        self.raw.received_at
    }

    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.raw
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A route capture such as `app_code`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.raw
            .params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The media type of the body, lower-cased, without parameters.
    pub fn content_type(&self) -> String {
        self.header("content-type")
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// The `charset` parameter of `Content-Type`, lower-cased.
    pub fn charset(&self) -> Option<String> {
        let ct = self.header("content-type")?;
        ct.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| v.trim().trim_matches('"').to_ascii_lowercase())
        })
    }

    /// Query string parameters, in order.
    pub fn query(&self) -> &Params {
        self.query
            .get_or_init(|| Params::parse(self.raw.query.as_bytes()))
    }

    /// The body as `application/x-www-form-urlencoded` parameters, decoded
    /// in the `charset` of its `Content-Type` (UTF-8 when none is given).
    pub fn form(&self) -> &Params {
        self.form.get_or_init(|| match self.charset() {
            Some(cs) if !matches!(cs.as_str(), "utf-8" | "utf8") => {
                Params::parse_in(&self.raw.body, Some(&cs))
            }
            _ => Params::parse(&self.raw.body),
        })
    }

    /// The parameters wherever the provider put them: the query for GET,
    /// the query followed by the form body for POST (body wins on lookup).
    pub fn params(&self) -> &Params {
        self.params.get_or_init(|| {
            let mut p = self.query().clone();
            if !self.is_get() && !self.looks_like_json() {
                // Later entries win in `get`, so the body overrides the query.
                p.0.extend(self.form().0.iter().cloned());
            }
            p
        })
    }

    /// True when the body is JSON by content type or by its first byte
    /// (Amazon SNS sends JSON as `text/plain`).
    pub fn looks_like_json(&self) -> bool {
        let ct = self.content_type();
        ct.ends_with("json")
            || self
                .raw
                .body
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .is_some_and(|b| *b == b'{' || *b == b'[')
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, PluginError> {
        serde_json::from_slice(&self.raw.body)
            .map_err(|e| bad_request(format!("invalid JSON body: {e}")))
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str, PluginError> {
        std::str::from_utf8(&self.raw.body).map_err(|_| bad_request("body is not valid UTF-8"))
    }

    /// The body decoded in the `charset` of its `Content-Type` (see
    /// [`crate::charset`]); invalid bytes become U+FFFD.
    pub fn decoded_text(&self) -> String {
        crate::charset::decode(&self.raw.body, self.charset().as_deref())
    }
}

/// Ordered name/value pairs (query string, form body, flattened JSON).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parses `a=1&b=2` (form encoding: `+` is a space, bad escapes kept).
    pub fn parse(bytes: &[u8]) -> Self {
        Params(
            form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// Parses a form whose percent-escapes encode bytes of `charset`
    /// (e.g. `%CF%F0` is "Пр" in Windows-1251).
    pub fn parse_in(bytes: &[u8], charset: Option<&str>) -> Self {
        Self::parse_with(bytes, |raw| crate::charset::decode(&raw, charset))
    }

    /// Parses a form whose escapes are UTF-8 where a name's or value's
    /// bytes are valid UTF-8, and `legacy` text where they are not:
    /// gateways that declare no charset send `%E9` for `é` in ISO-8859-x
    /// (or `%CF%F0` in Windows-1251) next to plain ASCII.
    pub fn parse_utf8_or(bytes: &[u8], legacy: Charset) -> Self {
        Self::parse_with(bytes, |raw| match String::from_utf8(raw) {
            Ok(s) => s,
            Err(e) => legacy.decode(e.as_bytes()),
        })
    }

    /// `a=1&b=2` pairs, each name and value unescaped ([`unescape_form`])
    /// and then decoded to text by `decode`.
    fn parse_with(bytes: &[u8], decode: impl Fn(Vec<u8>) -> String) -> Self {
        Params(
            bytes
                .split(|&b| b == b'&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let mut kv = pair.splitn(2, |&b| b == b'=');
                    let k = kv.next().unwrap_or_default();
                    let v = kv.next().unwrap_or_default();
                    (decode(unescape_form(k)), decode(unescape_form(v)))
                })
                .collect(),
        )
    }

    /// Builds params from `(name, value)` pairs, e.g. in tests.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Params(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    /// Builds params from the top-level scalar fields of a JSON object
    /// (numbers and booleans as their JSON text, null skipped).
    pub fn from_json(value: &serde_json::Value) -> Self {
        let mut out = Vec::new();
        if let Some(obj) = value.as_object() {
            for (k, v) in obj {
                if let Some(s) = json_scalar(v) {
                    out.push((k.clone(), s));
                }
            }
        }
        Params(out)
    }

    /// The last value for `name` (case-sensitive, as providers send it).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name`, ignoring ASCII case of the name.
    pub fn get_ci(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first non-empty value among several possible names
    /// (providers without a spec use `id`, `msgid`, `message_id`, ...).
    pub fn get_any(&self, names: &[&str]) -> Option<&str> {
        names
            .iter()
            .find_map(|n| self.get_ci(n).filter(|v| !v.is_empty()))
    }

    /// A non-empty value, or a `bad-request` naming the missing field.
    pub fn require(&self, name: &str) -> Result<&str, PluginError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| bad_request(format!("missing field `{name}`")))
    }

    /// A non-empty trimmed value, as an owned option (for optional fields).
    pub fn opt(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// Pairs whose names are not in `known`: the provider's extra fields.
    pub fn extra(&self, known: &[&str]) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter(|(k, _)| !known.contains(&k.as_str()))
            .cloned()
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// The text of a JSON scalar: strings unquoted, numbers and booleans as
/// written, null and containers none.
pub fn json_scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The plugin's settings from `[plugins.<name>]`.
#[derive(Debug, Clone, Default)]
pub struct Config(Vec<(String, String)>);

impl Config {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    /// A value, or an `internal` error: a missing required key is a host
    /// misconfiguration (the host checks required keys at start-up).
    pub fn require(&self, key: &str) -> Result<&str, PluginError> {
        self.get(key)
            .ok_or_else(|| PluginError::Internal(format!("config key `{key}` is not set")))
    }
    /// A boolean setting (`true`/`false`), with a default.
    pub fn flag(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            Some(v) => v.eq_ignore_ascii_case("true") || v == "1" || v.eq_ignore_ascii_case("yes"),
            None => default,
        }
    }
}

/// One form-encoded name or value to its bytes: `+` is a space and `%XX`
/// a byte; malformed escapes are kept as written. The bytes are not yet
/// text (their charset is the caller's to know).
pub fn unescape_form(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%'
            && let (Some(h), Some(l)) = (
                input.get(i + 1).copied().and_then(hex),
                input.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(if input[i] == b'+' { b' ' } else { input[i] });
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_in_their_charset() {
        let p = Params::parse_in(b"text=%CF%F0%E8+%E2&n=1&bad=%zz", Some("windows-1251"));
        assert_eq!(p.get("text"), Some("При в"));
        assert_eq!(p.get("n"), Some("1"));
        assert_eq!(p.get("bad"), Some("%zz"));
        // Without a charset the same bytes are not UTF-8 and stay visible.
        assert_eq!(
            Params::parse_in(b"t=%E9", Some("latin1")).get("t"),
            Some("é")
        );
        // An escaped `+` is a plus, a bare one a space.
        assert_eq!(Params::parse_in(b"t=1%2B1+2", None).get("t"), Some("1+1 2"));
    }

    #[test]
    fn forms_in_utf8_or_a_legacy_charset() {
        let p = Params::parse_utf8_or(
            b"a=caf%C3%A9&b=caf%E9+x&c=%zz%&%E9=1&&d&e=%A4",
            Charset::Latin1,
        );
        assert_eq!(p.get("a"), Some("café"));
        assert_eq!(p.get("b"), Some("café x"));
        assert_eq!(p.get("c"), Some("%zz%"));
        assert_eq!(p.get("é"), Some("1"));
        assert_eq!(p.get("d"), Some(""));
        assert_eq!(p.get("e"), Some("¤"));
        let p = Params::parse_utf8_or(b"t=%CF%F0%E8&u=%D0%9F", Charset::Windows1251);
        assert_eq!((p.get("t"), p.get("u")), (Some("При"), Some("П")));
    }
}
