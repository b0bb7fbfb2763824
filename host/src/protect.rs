//! Stage 2: per-mount protection, for providers that do not sign their
//! callbacks. The operator can require any of: a source address in an
//! allow-list, HTTP basic auth (credentials in the callback URL), and a
//! secret token (a query parameter or the `X-Switchboard-Token` header).
//! Checked before the plugin runs; the token is stripped from the request,
//! so it never reaches the plugin, the forwarded events or the store.

use base64::Engine as _;
use subtle::ConstantTimeEq as _;

use crate::plugin::wit;

pub use crate::config::Protect;

/// Why a request was refused before reaching the plugin (ingress turns
/// each into its status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its source address is not in `allow_ips`.
    Source,
    /// No or wrong basic auth credentials.
    Credentials,
    /// No or wrong secret token.
    Token,
}

/// Reason prefix of captures refused by the mount's protection (never
/// replayed: the request did not prove it came from the provider).
pub const REFUSAL_PREFIX: &str = "protect: ";

/// What the provider is told, and what the capture records:
/// `protect: ` and the reason.
impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{REFUSAL_PREFIX}{}", self.reason())
    }
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Source => "source address not allowed for this provider",
            Refusal::Credentials => "basic auth required",
            Refusal::Token => "missing or wrong token",
        }
    }
}

pub const TOKEN_HEADER: &str = "x-switchboard-token";

fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Protect {
    /// Checks `req`, removing the token from its query and URL.
    pub fn check(&self, req: &mut wit::HttpRequest) -> Result<(), Refusal> {
        if !self.allow_ips.is_empty() {
            let ip = req.remote_addr.parse::<std::net::IpAddr>().ok();
            if !ip.is_some_and(|ip| self.allow_ips.iter().any(|n| n.contains(&ip))) {
                return Err(Refusal::Source);
            }
        }
        if let Some((user, password)) = &self.basic_auth {
            let given = header(req, "authorization")
                .and_then(|v| v.strip_prefix("Basic "))
                .and_then(|b| {
                    base64::engine::general_purpose::STANDARD
                        .decode(b.trim())
                        .ok()
                })
                .and_then(|b| String::from_utf8(b).ok());
            let ok = given
                .as_deref()
                .and_then(|g| g.split_once(':'))
                .is_some_and(|(u, p)| same(u, user) & same(p, password));
            if !ok {
                return Err(Refusal::Credentials);
            }
        }
        if let Some(token) = &self.token {
            let from_query = strip_param(&mut req.query, &self.token_param);
            if from_query.is_some() {
                strip_url_param(&mut req.url, &self.token_param);
            }
            let given = from_query.or_else(|| header(req, TOKEN_HEADER).map(str::to_owned));
            if !given.is_some_and(|g| same(&g, token)) {
                return Err(Refusal::Token);
            }
        }
        Ok(())
    }
}

fn header<'a>(req: &'a wit::HttpRequest, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Removes `name=...` from a query string; returns its (decoded) value.
fn strip_param(query: &mut String, name: &str) -> Option<String> {
    let mut found = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if k == name {
                found = form_urlencoded::parse(format!("v={v}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned());
                false
            } else {
                true
            }
        })
        .collect();
    if found.is_some() {
        *query = kept.join("&");
    }
    found
}

fn strip_url_param(url: &mut String, name: &str) {
    if let Some((base, query)) = url.split_once('?') {
        let mut q = query.to_owned();
        strip_param(&mut q, name);
        *url = if q.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{q}")
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(query: &str, headers: &[(&str, &str)], remote: &str) -> wit::HttpRequest {
        wit::HttpRequest {
            method: wit::Method::Get,
            url: format!("https://h/api/v1/cb?{query}"),
            path: "/cb".into(),
            query: query.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: vec![],
            params: vec![],
            route: "/cb".into(),
            received_at: 0,
            remote_addr: remote.into(),
        }
    }

    fn token() -> Protect {
        Protect {
            token: Some("s3cret".into()),
            token_param: "token".into(),
            ..Protect::default()
        }
    }

    #[test]
    fn token_in_query_is_checked_and_stripped() {
        let mut r = req("id=1&token=s3cret&status=DELIVRD", &[], "1.2.3.4");
        assert_eq!(token().check(&mut r), Ok(()));
        assert_eq!(r.query, "id=1&status=DELIVRD");
        assert_eq!(r.url, "https://h/api/v1/cb?id=1&status=DELIVRD");
        let mut wrong = req("id=1&token=guess", &[], "1.2.3.4");
        assert_eq!(token().check(&mut wrong), Err(Refusal::Token));
        let mut missing = req("id=1", &[], "1.2.3.4");
        assert_eq!(token().check(&mut missing), Err(Refusal::Token));
    }

    #[test]
    fn token_in_header() {
        let mut r = req("id=1", &[("X-Switchboard-Token", "s3cret")], "1.2.3.4");
        assert_eq!(token().check(&mut r), Ok(()));
    }

    #[test]
    fn basic_auth_and_source_addresses() {
        let p = Protect {
            basic_auth: Some(("pushwoosh".into(), "pa:ss".into())),
            allow_ips: vec!["203.0.113.0/24".parse().unwrap()],
            ..Protect::default()
        };
        let good = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("pushwoosh:pa:ss")
        );
        assert_eq!(
            p.check(&mut req("", &[("authorization", &good)], "203.0.113.9")),
            Ok(())
        );
        let bad = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("pushwoosh:nope")
        );
        assert_eq!(
            p.check(&mut req("", &[("authorization", &bad)], "203.0.113.9")),
            Err(Refusal::Credentials)
        );
        assert_eq!(
            p.check(&mut req("", &[("authorization", &good)], "198.51.100.1")),
            Err(Refusal::Source)
        );
        assert_eq!(
            p.check(&mut req("", &[("authorization", &good)], "garbage")),
            Err(Refusal::Source)
        );
    }
}
