//! Hostile input, property-based (proptest, a bounded number of cases per
//! run so it belongs in the normal suite): route captures, every shipped
//! plugin's `handle` through the real wasm runtime, and garbage requests on
//! the wire of a running router.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config as RunConfig, TestCaseError, TestError, TestRunner};
use switchboard::plugin::{CallError, Limits, Runtime, wit};
use switchboard::route::RoutePattern;

use crate::support::*;

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(RunConfig {
        cases,
        failure_persistence: None,
        ..RunConfig::default()
    })
}

fn check<T: std::fmt::Debug>(what: &str, r: Result<(), TestError<T>>) {
    if let Err(e) = r {
        panic!("{what}: {e}");
    }
}

/// Path segments an attacker would try: traversal, encoded separators,
/// NUL, odd escapes, non-ASCII, or anything at all.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("..".to_owned()),
        Just("%2e%2e".to_owned()),
        Just("..%2F..%2Fetc".to_owned()),
        Just("%2F".to_owned()),
        Just("%5C".to_owned()),
        Just("%00".to_owned()),
        Just("%".to_owned()),
        Just("%zz".to_owned()),
        Just("%C0%AE".to_owned()),
        "[a-zA-Z0-9._~%-]{0,12}",
        ".{0,12}",
    ]
}

#[test]
fn route_captures_never_traverse_whatever_the_path() {
    let patterns: Vec<RoutePattern> = ["/smsCallback", "/smsCallback/{app_code}", "/a/{x}/b/{y}"]
        .iter()
        .map(|p| RoutePattern::parse(p).unwrap())
        .collect();
    let paths = prop::collection::vec(segment(), 0..5).prop_map(|s| format!("/{}", s.join("/")));
    let r = runner(2000).run(&paths, |path| {
        for p in &patterns {
            let Some(captures) = p.matches(&path) else {
                continue;
            };
            for (name, value) in captures {
                prop_assert!(!value.is_empty(), "{path}: empty {name}");
                prop_assert!(value != "." && value != "..", "{path}: {name} = {value}");
                prop_assert!(
                    !value.contains(['/', '\\', '\0']),
                    "{path}: {name} = {value:?}"
                );
            }
        }
        Ok(())
    });
    check("route matching", r);
    // A plain value is captured as sent, decoded.
    let p = &patterns[1];
    assert_eq!(
        p.matches("/smsCallback/shop%20one"),
        Some(vec![("app_code".to_owned(), "shop one".to_owned())])
    );
}

/// A plugin's fixture config (`plugins/<name>/fixtures/config.toml`) as
/// the plugin's config pairs, so signature checks run with the right keys.
fn fixture_config(plugin: &str) -> Vec<(String, String)> {
    let path = root()
        .join("plugins")
        .join(plugin)
        .join("fixtures/config.toml");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let table: toml::Table = text.parse().unwrap_or_default();
    table
        .into_iter()
        .map(|(k, v)| match v {
            toml::Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect()
}

/// Real fixtures of a plugin, as requests (the base that gets mutated).
fn fixture_requests(plugin: &str) -> Vec<switchboard_plugin_sdk::fixture::Fixture> {
    fixtures(plugin)
        .into_iter()
        .filter_map(|f| switchboard_plugin_sdk::fixture::Fixture::load(f).ok())
        .collect()
}

fn method_of(name: &str) -> wit::Method {
    match name {
        "GET" => wit::Method::Get,
        "PUT" => wit::Method::Put,
        "PATCH" => wit::Method::Patch,
        "DELETE" => wit::Method::Delete,
        _ => wit::Method::Post,
    }
}

const CONTENT_TYPES: &[&str] = &[
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=ISO-8859-1",
    "application/json",
    "application/json; charset=utf-16",
    "text/xml; charset=windows-1252",
    "text/plain; charset=x-unknown",
    "multipart/form-data; boundary=x",
    "",
];

/// One arbitrary request for `plugin`: a real fixture with its body,
/// query and headers mutated, or made-up fields, bytes and charsets.
#[derive(Debug, Clone)]
struct Case {
    fixture: usize,
    method: String,
    /// Replace the fixture body with these bytes.
    body: Option<Vec<u8>>,
    /// (position, byte) overwrites in the body.
    flips: Vec<(usize, u8)>,
    truncate: Option<usize>,
    query: Option<String>,
    content_type: Option<usize>,
    headers: Vec<(String, String)>,
    capture: Option<String>,
}

fn case() -> impl Strategy<Value = Case> {
    let body = prop_oneof![
        3 => Just(None),
        1 => prop::collection::vec(any::<u8>(), 0..600).prop_map(Some),
        1 => "(\\{(\"[a-z_]{1,10}\":(\"[^\"]{0,12}\"|-?[0-9]{1,20}|null|true|\\[\\]|\\{\\}|\"\\\\u[0-9a-f]{4}\"),?){0,8}\\}?)".prop_map(|s| Some(s.into_bytes())),
        1 => "([a-zA-Z_]{1,10}=[^&]{0,16}&?){0,10}".prop_map(|s| Some(s.into_bytes())),
    ];
    (
        (0usize..64, "GET|POST|PUT|PATCH|DELETE", body),
        (
            prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
            prop::option::of(any::<usize>()),
            prop::option::of("([a-zA-Z_%+]{0,10}=[^#]{0,20}&?){0,6}"),
            prop::option::of(0..CONTENT_TYPES.len()),
        ),
        (
            prop::collection::vec(
                ("[a-z-]{1,24}|x-twilio-signature|authorization|telnyx-timestamp|x-amz-sns-message-type", "[ -~]{0,80}"),
                0..4,
            ),
            prop::option::of(segment()),
        ),
    )
        .prop_map(|((fixture, method, body), (flips, truncate, query, content_type), (headers, capture))| Case {
            fixture,
            method,
            body,
            flips,
            truncate,
            query,
            content_type,
            headers,
            capture,
        })
}

fn request(
    plugin: &switchboard::plugin::Plugin,
    fx: &[switchboard_plugin_sdk::fixture::Fixture],
    c: &Case,
) -> wit::HttpRequest {
    let base = &fx[c.fixture % fx.len()];
    let mut body = c.body.clone().unwrap_or_else(|| base.body.clone());
    if !body.is_empty() {
        for (pos, byte) in &c.flips {
            let n = body.len();
            body[pos % n] = *byte;
        }
    }
    if let Some(t) = c.truncate {
        body.truncate(t % (body.len() + 1));
    }
    let mut headers: Vec<(String, String)> = base
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    if let Some(i) = c.content_type {
        headers.retain(|(k, _)| k != "content-type");
        headers.push(("content-type".into(), CONTENT_TYPES[i].into()));
    }
    headers.extend(c.headers.iter().cloned());
    // The path: the fixture's, or a route of the plugin with an odd capture.
    let mut path = base
        .path()
        .strip_prefix("/api/v1")
        .unwrap_or(base.path())
        .to_owned();
    if let Some(seg) = &c.capture
        && let Some(r) = plugin.info.routes.iter().find(|r| r.path.contains('{'))
    {
        let prefix = r.path.split('{').next().unwrap_or("/");
        path = format!("{prefix}{seg}");
    }
    let (route, params) = plugin
        .endpoints
        .iter()
        .find_map(|r| r.matches(&path).map(|p| (r.as_str().to_owned(), p)))
        .unwrap_or_else(|| (plugin.info.routes[0].path.clone(), Vec::new()));
    let query = c.query.clone().unwrap_or_else(|| base.query().to_owned());
    wit::HttpRequest {
        method: method_of(&c.method),
        url: format!("https://hooks.example.com/api/v1{path}?{query}"),
        path,
        query,
        headers,
        body,
        params,
        route,
        received_at: 1_700_000_000_000,
        remote_addr: "127.0.0.1".into(),
    }
}

#[test]
fn every_shipped_plugin_answers_arbitrary_requests_with_an_outcome_or_a_typed_error() {
    // A generous deadline: a slow machine must not turn into a "timeout".
    let limits = Limits {
        timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    let runtime = Runtime::new(limits, Some(root().join("target/e2e-plugin-cache"))).unwrap();
    let mut total = (0, 0, 0);
    for name in crate::providers::provider_plugins() {
        let plugin = runtime.load(&wasm(&name)).unwrap();
        let fixtures = fixture_requests(&name);
        assert!(!fixtures.is_empty(), "{name} has no fixtures");
        let ctx = wit::Context {
            config: fixture_config(&name),
        };
        let counts = std::cell::Cell::new((0usize, 0usize, 0usize));
        let traps = std::cell::RefCell::new(Vec::new());
        let r = runner(120).run(&case(), |c| {
            let req = request(&plugin, &fixtures, &c);
            let (ok, refused, trapped) = counts.get();
            match plugin.handle(1, &req, &ctx) {
                Ok(Ok(_)) => counts.set((ok + 1, refused, trapped)),
                Ok(Err(_)) => counts.set((ok, refused + 1, trapped)),
                // Contained: the instance is dropped, the host goes on.
                Err(CallError::Trap(t)) => {
                    counts.set((ok, refused, trapped + 1));
                    traps.borrow_mut().push(format!("{c:?}: {t}"));
                }
                Err(e) => return Err(TestCaseError::fail(format!("{name}: {e} on {c:?}"))),
            }
            Ok(())
        });
        check(&name, r);
        let (ok, refused, trapped) = counts.get();
        println!("{name}: {ok} outcomes, {refused} typed refusals, {trapped} traps");
        assert_eq!(
            traps.borrow().len(),
            0,
            "{name} trapped: {:#?}",
            traps.borrow()
        );
        total = (total.0 + ok, total.1 + refused, total.2 + trapped);
    }
    println!(
        "all plugins: {} outcomes, {} typed refusals, {} traps",
        total.0, total.1, total.2
    );
}

/// Whatever a client sends, within HTTP framing: a status, never a 5xx,
/// never a hang, and the router keeps serving.
#[test]
fn garbage_requests_on_the_wire_get_a_clear_status() {
    let sink = Sink::start();
    let router = Router::start(
        &["twilio", "kannel", "vonage"],
        &http_destination(&sink.url()),
    );
    let wire = (
        "GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|BREW|[A-Z]{1,8}",
        prop_oneof![
            Just("/api/v1/smsCallback".to_owned()),
            Just("/api/v1/vonageCallback".to_owned()),
            Just("/healthz".to_owned()),
            prop::collection::vec(segment(), 1..4).prop_map(|s| format!("/api/v1/{}", s.join("/"))),
            prop::collection::vec(segment(), 1..4)
                .prop_map(|s| format!("/api/v1/smsCallback/{}", s.join("/"))),
        ],
        prop::option::of("[ -~]{0,40}"),
        prop::collection::vec(("[!-9;-~]{1,20}", "[ -~\\x80-\\xff]{0,60}"), 0..6),
        prop::collection::vec(any::<u8>(), 0..400),
    );
    let r = runner(150).run(&wire, |(method, path, query, headers, body)| {
        let target = match &query {
            Some(q) => format!("{path}?{}", q.replace([' ', '#'], "+")),
            None => path.clone(),
        };
        let mut req =
            format!("{method} {target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n").into_bytes();
        for (k, v) in &headers {
            if [
                "content-length",
                "transfer-encoding",
                "connection",
                "host",
                "expect",
            ]
            .contains(&k.to_ascii_lowercase().as_str())
            {
                continue;
            }
            req.extend_from_slice(k.as_bytes());
            req.extend_from_slice(b": ");
            // Raw bytes, not UTF-8: obs-text is what a hostile client sends.
            req.extend(v.chars().map(|c| c as u32 as u8));
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
        req.extend_from_slice(&body);
        let mut s =
            TcpStream::connect(router.addr).map_err(|e| TestCaseError::fail(e.to_string()))?;
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let _ = s.write_all(&req);
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        let status: u16 = text
            .strip_prefix("HTTP/1.1 ")
            .and_then(|t| t.get(..3))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        prop_assert!(
            (200..500).contains(&status),
            "{status} for {:?}:\n{text}",
            String::from_utf8_lossy(&req)
        );
        Ok(())
    });
    check("wire", r);
    assert_eq!(router.get("/healthz").status, 200, "{}", router.log());
}
