//! Native test harness: runs a plugin's `handle` on a fixture file exactly
//! as the router would (same route matching, same public URL rules), so a
//! plugin author tests with plain `cargo test`, no wasm runtime needed.
//!
//! [`run`] runs one fixture; [`run_at`] at another arrival time (for
//! signature timestamps); [`Harness`] holds a plugin's config and expected
//! reply for its tests; [`check_fixtures`] checks every fixture of a
//! plugin the way the end-to-end test sends them:
//!
//! ```text
//! #[test]
//! fn every_fixture_follows_the_naming_convention() {
//!     assert!(testing::check_fixtures::<MyPlugin>(env!("CARGO_MANIFEST_DIR")) >= 10);
//! }
//! ```

mod harness;

pub use harness::Harness;

use crate::fixture::Fixture;
use crate::route::RoutePattern;
use crate::types::{Context, HttpRequest, Method};
use crate::{DeliveryStatus, Event, EventKind, InboundMessage, Outcome, Plugin, PluginError};

/// The router's default route prefix.
pub const DEFAULT_PREFIX: &str = "/api/v1";

/// The arrival time [`run`] gives requests (2023-11-14T22:13:20Z).
pub const RECEIVED_AT: i64 = 1_700_000_000_000;

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

/// Runs fixture text through plugin `P` with the given config, received at
/// [`RECEIVED_AT`].
pub fn run<P: Plugin>(fixture: &str, config: &[(&str, &str)]) -> Result<Outcome, PluginError> {
    run_at::<P>(fixture, config, RECEIVED_AT)
}

/// Runs a fixture (text, or bytes that need not be UTF-8) through plugin
/// `P` with the given config, received at `received_at` (ms since the
/// epoch): for signed timestamps checked against the arrival time.
pub fn run_at<P: Plugin>(
    fixture: impl AsRef<[u8]>,
    config: &[(&str, &str)],
    received_at: i64,
) -> Result<Outcome, PluginError> {
    let fx = Fixture::parse(fixture.as_ref()).unwrap_or_else(|e| panic!("bad fixture: {e}"));
    let req = request_for::<P>(&fx, received_at).unwrap_or_else(|e| panic!("{e}"));
    let ctx = Context {
        config: config
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    crate::run::<P>(req, ctx)
}

/// The settings of a plugin's `fixtures/config.toml` (what the end-to-end
/// test configures it with), or none if there is no such file. The file is
/// a flat table of strings: `key = "value"` lines, `"""` multi-line values
/// (a certificate), `#` comments.
pub fn fixture_config(manifest_dir: &str) -> Vec<(String, String)> {
    let path = std::path::Path::new(manifest_dir).join("fixtures/config.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_flat_toml(&text),
        Err(_) => Vec::new(),
    }
}

fn parse_flat_toml(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let value = if v == "\"\"\"" {
            lines
                .by_ref()
                .take_while(|l| l.trim() != "\"\"\"")
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            v.trim_matches('"').to_owned()
        };
        out.push((k.trim().to_owned(), value));
    }
    out
}

/// How [`Sweep::check`] runs a plugin's fixtures.
pub struct Sweep<'a> {
    /// The arrival time of every request (a fixed "now" after the signed
    /// timestamps of the fixtures, as the end-to-end router's clock).
    pub received_at: i64,
    /// The plugin's settings; `None` reads `fixtures/config.toml`.
    pub config: Option<&'a [(&'a str, &'a str)]>,
}

impl Default for Sweep<'_> {
    fn default() -> Self {
        Self {
            received_at: RECEIVED_AT,
            config: None,
        }
    }
}

impl Sweep<'_> {
    /// Runs every `*.http` file of `<manifest_dir>/fixtures` through `P`
    /// and panics unless they follow the naming convention: `reject-*`
    /// refused, `ack-*` accepted without events, every other one accepted
    /// with at least one event or action (as `switchboard plugin test
    /// --check`). Returns the number of fixtures.
    pub fn check<P: Plugin>(&self, manifest_dir: &str) -> usize {
        let from_file = fixture_config(manifest_dir);
        let file_config: Vec<(&str, &str)> = from_file
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let config = self.config.unwrap_or(&file_config);
        let dir = std::path::Path::new(manifest_dir).join("fixtures");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".http"))
            .collect();
        names.sort();
        for name in &names {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            let result = run_at::<P>(&bytes, config, self.received_at);
            if name.starts_with("reject-") {
                assert!(result.is_err(), "{name} was accepted: {result:?}");
                continue;
            }
            let out = result.unwrap_or_else(|e| panic!("{name} was refused: {e:?}"));
            if name.starts_with("ack-") {
                assert!(
                    out.events.is_empty(),
                    "{name} gave events: {:?}",
                    out.events
                );
            } else {
                assert!(
                    !out.events.is_empty() || !out.actions.is_empty(),
                    "{name} gave no event (name it `ack-*` if that is right)"
                );
            }
        }
        names.len()
    }
}

/// Checks every fixture of plugin `P` as the end-to-end test sends them:
/// with `fixtures/config.toml`, `reject-*` files refused, `ack-*` ones
/// accepted without events, every other one accepted with events (or an
/// action). Returns the number of fixtures; see [`Sweep`] for another
/// arrival time or config.
pub fn check_fixtures<P: Plugin>(manifest_dir: &str) -> usize {
    Sweep::default().check::<P>(manifest_dir)
}

/// The value of `key` in an event's `extra` (the first, if repeated).
pub fn extra<'a>(ev: &'a Event, key: &str) -> Option<&'a str> {
    ev.extra
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// True if an event's `extra` has `key` = `value`.
pub fn has_extra(ev: &Event, key: &str, value: &str) -> bool {
    ev.extra.iter().any(|(k, v)| k == key && v == value)
}

/// The delivery status an event carries; panics (fails the test) if the
/// event is of another kind.
pub fn delivery_status(ev: &Event) -> DeliveryStatus {
    match &ev.kind {
        EventKind::DeliveryStatus(d) => d.clone(),
        other => panic!("event `{}` is not a delivery status: {other:?}", ev.id),
    }
}

/// The inbound message an event carries; panics (fails the test) if the
/// event is of another kind.
pub fn inbound_message(ev: &Event) -> InboundMessage {
    match &ev.kind {
        EventKind::InboundMessage(m) => m.clone(),
        other => panic!("event `{}` is not an inbound message: {other:?}", ev.id),
    }
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

#[cfg(not(target_arch = "wasm32"))]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_toml_with_comments_and_multi_line_strings() {
        let text = "# a comment\nutc_offset = \"+03:00\"\n\ncert = \"\"\"\n-----BEGIN-----\nAAA=\n-----END-----\n\"\"\"\nkey=\"a=b\"\n";
        assert_eq!(
            parse_flat_toml(text),
            vec![
                ("utc_offset".to_owned(), "+03:00".to_owned()),
                (
                    "cert".to_owned(),
                    "-----BEGIN-----\nAAA=\n-----END-----".to_owned()
                ),
                ("key".to_owned(), "a=b".to_owned()),
            ]
        );
        assert!(parse_flat_toml("# nothing\n").is_empty());
        assert!(fixture_config("/nonexistent").is_empty());
    }

    /// Refuses `?bad`, gives no event for `?none`, else one event; needs
    /// `key = "k"` in its config.
    struct Toy;
    impl Plugin for Toy {
        fn describe() -> crate::PluginInfo {
            crate::PluginInfo {
                name: "toy".into(),
                version: "0".into(),
                description: String::new(),
                routes: vec![crate::types::Route::new(&[Method::Get], "/toy", "")],
                config_keys: Vec::new(),
                accept_reply: crate::reply(200),
            }
        }
        fn handle(req: &crate::Request, config: &crate::Config) -> Result<Outcome, PluginError> {
            if config.get("key") != Some("k") || req.query().get("bad").is_some() {
                return Err(crate::bad_request("no"));
            }
            let events = match req.query().get("none") {
                Some(_) => Vec::new(),
                None => vec![crate::Event::new(
                    "e",
                    crate::EventKind::LinkHit(link_hit()),
                )],
            };
            Ok(Outcome::events(events))
        }
    }

    fn link_hit() -> crate::LinkHit {
        crate::LinkHit {
            url: "u".into(),
            recipient: "r".into(),
            sender: None,
            occurred_at: None,
            message_ref: None,
            campaign_id: None,
        }
    }

    /// A plugin directory with a fixture per (file name, query).
    fn plugin_dir(tag: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sdk-sweep-{}-{tag}", std::process::id()));
        let fixtures = dir.join("fixtures");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&fixtures).unwrap();
        std::fs::write(fixtures.join("config.toml"), "# toy\nkey = \"k\"\n").unwrap();
        for (name, query) in files {
            let text = format!("GET /api/v1/toy?{query} HTTP/1.1\nHost: h\n\n");
            std::fs::write(fixtures.join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn sweep_enforces_the_naming_convention() {
        let good = plugin_dir(
            "good",
            &[
                ("ok.http", "a=1"),
                ("ack-quiet.http", "none=1"),
                ("reject-bad.http", "bad=1"),
            ],
        );
        assert_eq!(check_fixtures::<Toy>(good.to_str().unwrap()), 3);
        let out = run_at::<Toy>(
            std::fs::read(good.join("fixtures/ok.http")).unwrap(),
            &[("key", "k")],
            0,
        )
        .unwrap();
        let ev = out.events[0]
            .clone()
            .with_extra(vec![("a".into(), "1".into()), ("a".into(), "2".into())]);
        assert_eq!(extra(&ev, "a"), Some("1"));
        assert!(has_extra(&ev, "a", "2") && !has_extra(&ev, "a", "3"));
        assert!(std::panic::catch_unwind(|| delivery_status(&ev)).is_err());
        assert!(std::panic::catch_unwind(|| inbound_message(&ev)).is_err());
        let ds = DeliveryStatus::new("m", crate::DeliveryState::Sent, "x");
        let ev = Event::new("e", EventKind::DeliveryStatus(ds));
        assert_eq!(delivery_status(&ev).message_id, "m");
        let msg = InboundMessage::new("i", "+1", "+2", "hi");
        let ev = Event::new("e", EventKind::InboundMessage(msg));
        assert_eq!(inbound_message(&ev).text, "hi");
        for (tag, name, query) in [
            ("accepted-reject", "reject-ok.http", "a=1"),
            ("silent", "quiet.http", "none=1"),
            ("noisy-ack", "ack-noisy.http", "a=1"),
            ("refused", "ok.http", "bad=1"),
        ] {
            let dir = plugin_dir(tag, &[(name, query)]);
            let dir = dir.to_str().unwrap().to_owned();
            let r = std::panic::catch_unwind(|| check_fixtures::<Toy>(&dir));
            assert!(r.is_err(), "{tag}: {name} passed");
            std::fs::remove_dir_all(&dir).unwrap();
        }
        // Another config: `key` missing, so everything is refused.
        let cfg: &[(&str, &str)] = &[];
        let sweep = Sweep {
            config: Some(cfg),
            ..Sweep::default()
        };
        let only_rejects = plugin_dir("cfg", &[("reject-any.http", "a=1")]);
        assert_eq!(sweep.check::<Toy>(only_rejects.to_str().unwrap()), 1);
        std::fs::remove_dir_all(good).unwrap();
        std::fs::remove_dir_all(only_rejects).unwrap();
    }
}
