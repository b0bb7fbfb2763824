//! Route patterns such as `/smsCallback/{app_code}`. The host routes with
//! this same code, so a plugin's own tests match exactly what the router does.

/// A parsed route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Capture(String),
}

impl RoutePattern {
    /// Parses a pattern: it starts with `/`; a segment is either literal
    /// text or a whole-segment capture `{name}` with `name` in `[a-z0-9_]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text
            .strip_prefix('/')
            .ok_or_else(|| format!("route `{text}` must start with `/`"))?;
        let mut segments = Vec::new();
        for seg in rest.split('/') {
            if seg.is_empty() {
                return Err(format!("route `{text}` has an empty segment"));
            }
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let ok = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !ok {
                    return Err(format!("route `{text}`: bad capture name `{name}`"));
                }
                segments.push(Segment::Capture(name.to_owned()));
            } else if seg.contains(['{', '}', '?', '#', '%']) {
                return Err(format!(
                    "route `{text}`: segment `{seg}` mixes text and a capture"
                ));
            } else {
                segments.push(Segment::Literal(seg.to_owned()));
            }
        }
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True if the pattern has no captures (an exact path).
    pub fn is_literal(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)))
    }

    /// Matches a request path (no query). Captured values are
    /// percent-decoded and must be non-empty UTF-8 without `/`, `\` or NUL and
    /// not `.` or `..`, so a capture can never traverse anything.
    pub fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let rest = path.strip_prefix('/')?;
        let mut parts = rest.split('/');
        let mut captures = Vec::new();
        for seg in &self.segments {
            let part = parts.next()?;
            match seg {
                Segment::Literal(lit) => {
                    if part != lit {
                        return None;
                    }
                }
                Segment::Capture(name) => {
                    let value = percent_decode(part)?;
                    let bad = value.is_empty()
                        || value == "."
                        || value == ".."
                        || value.contains(['/', '\\', '\0']);
                    if bad {
                        return None;
                    }
                    captures.push((name.clone(), value));
                }
            }
        }
        match parts.next() {
            None => Some(captures),
            // Tolerate one trailing slash (`/smsCallback/`), nothing more.
            Some("") if parts.next().is_none() => Some(captures),
            Some(_) => None,
        }
    }
}

/// Decodes `%XX` escapes; `None` if an escape is malformed or the result is
/// not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_and_capture_routes() {
        let r = RoutePattern::parse("/smsCallback/{app_code}").unwrap();
        assert_eq!(
            r.matches("/smsCallback/shop-1"),
            Some(vec![("app_code".into(), "shop-1".into())])
        );
        assert_eq!(r.matches("/smsCallback"), None);
        assert_eq!(r.matches("/smsCallback/a/b"), None);
        assert!(r.matches("/smsCallback/a/").is_some());
        let l = RoutePattern::parse("/smsCallback").unwrap();
        assert!(l.is_literal());
        assert_eq!(l.matches("/smsCallback"), Some(vec![]));
        assert_eq!(l.matches("/smscallback"), None);
    }

    #[test]
    fn captures_cannot_traverse() {
        let r = RoutePattern::parse("/in/{app_code}").unwrap();
        for bad in [
            "/in/..",
            "/in/.",
            "/in/%2e%2e",
            "/in/a%2Fb",
            "/in/a%5Cb",
            "/in/%00",
            "/in/%zz",
            "/in/%ff",
        ] {
            assert_eq!(r.matches(bad), None, "{bad}");
        }
        assert_eq!(r.matches("/in/caf%C3%A9").unwrap()[0].1, "café");
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in ["nope", "/a//b", "/a/{}", "/a/{App}", "/a/x{y}", "/a?b"] {
            assert!(RoutePattern::parse(bad).is_err(), "{bad}");
        }
    }
}
