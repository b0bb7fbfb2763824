//! Raw HTTP request files: the fixture format of plugin tests, of
//! `switchboard plugin test` and of the end-to-end tests, which send them
//! byte for byte to the router.
//!
//! ```text
//! POST /api/v1/smsCallback HTTP/1.1
//! Host: hooks.example.com
//! Content-Type: application/x-www-form-urlencoded
//!
//! MessageSid=SM123&MessageStatus=delivered
//! ```
//!
//! Lines may end in CRLF or LF. Without `Content-Length` the body is the
//! rest of the file minus one trailing newline (editors add one).

/// One parsed request file.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixture {
    pub method: String,
    /// Path and query, as on the request line.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Fixture {
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let (head, rest) = split_head(bytes).ok_or("no blank line after the headers")?;
        let head = std::str::from_utf8(head).map_err(|_| "request head is not UTF-8")?;
        let mut lines = head.lines();
        let request_line = lines.next().ok_or("empty request")?;
        let mut parts = request_line.split_whitespace();
        let method = parts.next().ok_or("no method")?.to_ascii_uppercase();
        let target = parts.next().ok_or("no request target")?.to_owned();
        if !target.starts_with('/') {
            return Err(format!("request target `{target}` must start with `/`"));
        }
        let mut headers = Vec::new();
        for line in lines {
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| format!("bad header line `{line}`"))?;
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        let declared = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| {
                v.parse::<usize>()
                    .map_err(|_| format!("bad Content-Length `{v}`"))
            })
            .transpose()?;
        let body = match declared {
            Some(n) if n <= rest.len() => rest[..n].to_vec(),
            Some(n) => {
                return Err(format!(
                    "Content-Length {n} but only {} body bytes",
                    rest.len()
                ));
            }
            None => {
                let mut b = rest.to_vec();
                if b.ends_with(b"\r\n") {
                    b.truncate(b.len() - 2);
                } else if b.ends_with(b"\n") {
                    b.truncate(b.len() - 1);
                }
                b
            }
        };
        Ok(Self {
            method,
            target,
            headers,
            body,
        })
    }

    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self, String> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// Query without `?` (empty if none).
    pub fn query(&self) -> &str {
        self.target.split_once('?').map(|(_, q)| q).unwrap_or("")
    }

    /// Serializes the request for the wire, with a correct `Content-Length`
    /// and `Host` set to `host`, keeping every other header as written.
    pub fn to_http(&self, host: &str) -> Vec<u8> {
        let mut out = format!(
            "{} {} HTTP/1.1\r\nhost: {host}\r\n",
            self.method, self.target
        );
        for (k, v) in &self.headers {
            if !k.eq_ignore_ascii_case("host") && !k.eq_ignore_ascii_case("content-length") {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        out.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn split_head(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    for (i, w) in bytes.windows(2).enumerate() {
        if w == b"\n\n" {
            return Some((&bytes[..i], &bytes[i + 2..]));
        }
        if w == b"\n\r" && bytes.get(i + 2) == Some(&b'\n') {
            return Some((&bytes[..i], &bytes[i + 3..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_crlf_and_lf_files() {
        let crlf = b"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n\r\nhello\n";
        let lf = b"POST /a?x=1 HTTP/1.1\nHost: h\nContent-Type: text/plain\n\nhello\n";
        for f in [Fixture::parse(crlf).unwrap(), Fixture::parse(lf).unwrap()] {
            assert_eq!(f.method, "POST");
            assert_eq!(f.path(), "/a");
            assert_eq!(f.query(), "x=1");
            assert_eq!(f.header("content-type"), Some("text/plain"));
            assert_eq!(f.body, b"hello");
        }
    }

    #[test]
    fn content_length_is_respected_and_checked() {
        let f = Fixture::parse(b"POST / HTTP/1.1\nContent-Length: 3\n\nabcdef").unwrap();
        assert_eq!(f.body, b"abc");
        assert!(Fixture::parse(b"POST / HTTP/1.1\nContent-Length: 9\n\nabc").is_err());
        assert!(Fixture::parse(b"POST / HTTP/1.1\nno blank line").is_err());
    }

    #[test]
    fn to_http_sets_length_and_host() {
        let f = Fixture::parse(b"POST /a HTTP/1.1\nHost: x\n\nbody\n").unwrap();
        let wire = String::from_utf8(f.to_http("127.0.0.1:9")).unwrap();
        assert!(wire.starts_with("POST /a HTTP/1.1\r\nhost: 127.0.0.1:9\r\n"));
        assert!(wire.contains("content-length: 4\r\n"));
        assert!(wire.ends_with("\r\n\r\nbody"));
    }
}
