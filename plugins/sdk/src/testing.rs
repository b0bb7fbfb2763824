//! Native test harness: runs a plugin's `handle` on a fixture file exactly
//! as the router would (same route matching, same public URL rules), so a
//! plugin author tests with plain `cargo test`, no wasm runtime needed.

use crate::fixture::Fixture;
use crate::route::RoutePattern;
use crate::types::{Context, HttpRequest, Method};
use crate::{Outcome, Plugin, PluginError};

/// The router's default route prefix.
pub const DEFAULT_PREFIX: &str = "/api/v1";

/// Parses a method name as the router does.
pub fn method_from_str(m: &str) -> Option<Method> {
    Some(match m.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        _ => return None,
    })
}

/// Builds the contract request for `fixture` as served under `prefix` by a
/// router whose public URL is `https://<Host header>`; errors if no route of
/// `P` matches (path or method).
pub fn request_for<P: Plugin>(fixture: &Fixture, received_at: i64) -> Result<HttpRequest, String> {
    let method = method_from_str(&fixture.method).ok_or("unsupported method")?;
    let path = fixture
        .path()
        .strip_prefix(DEFAULT_PREFIX)
        .ok_or_else(|| format!("path `{}` is not under {DEFAULT_PREFIX}", fixture.path()))?;
    let info = P::describe();
    let (route, params) = info
        .routes
        .iter()
        .filter(|r| r.methods.contains(&method))
        .find_map(|r| {
            let pat = RoutePattern::parse(&r.path).ok()?;
            pat.matches(path).map(|caps| (r.path.clone(), caps))
        })
        .ok_or_else(|| {
            format!(
                "no route of `{}` serves {} {path}",
                info.name, fixture.method
            )
        })?;
    let host = fixture.header("host").unwrap_or("hooks.example.com");
    Ok(HttpRequest {
        method,
        url: format!("https://{host}{}", fixture.target),
        path: path.to_owned(),
        query: fixture.query().to_owned(),
        headers: fixture
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect(),
        body: fixture.body.clone(),
        params,
        route,
        received_at,
        remote_addr: "127.0.0.1".into(),
    })
}

/// Runs fixture text through plugin `P` with the given config.
pub fn run<P: Plugin>(fixture: &str, config: &[(&str, &str)]) -> Result<Outcome, PluginError> {
    let fx = Fixture::parse(fixture.as_bytes()).unwrap_or_else(|e| panic!("bad fixture: {e}"));
    let req = request_for::<P>(&fx, 1_700_000_000_000).unwrap_or_else(|e| panic!("{e}"));
    let ctx = Context {
        config: config
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    crate::run::<P>(req, ctx)
}

std::thread_local! {
    static CERTIFICATES: std::cell::RefCell<Vec<(String, String)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Makes [`crate::fetch_certificate`] answer `pem` for `url` in native tests
/// on this thread (the host's fetch, without a network).
pub fn serve_certificate(url: &str, pem: &str) {
    CERTIFICATES.with(|c| c.borrow_mut().push((url.to_owned(), pem.to_owned())));
}

pub(crate) fn certificate(url: &str) -> Result<String, String> {
    CERTIFICATES.with(|c| {
        c.borrow()
            .iter()
            .rev()
            .find(|(u, _)| u == url)
            .map(|(_, pem)| pem.clone())
            .ok_or_else(|| format!("no certificate served for {url} (testing::serve_certificate)"))
    })
}
