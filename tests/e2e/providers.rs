//! Every provider plugin in `plugins/`, loaded together in one router, with
//! every one of its fixtures sent through the real pipeline (capture →
//! plugin → rules → destination). What the router answers and forwards is
//! compared with what `switchboard plugin test` says the plugin produces
//! for the same file, and with the fixture naming convention.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// Provider plugins: every plugin under `plugins/` (a Rust crate, a
/// Python `app.py` or a JavaScript `plugin.js`) except the SDKs.
pub fn provider_plugins() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("plugins"))
        .unwrap()
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path.file_name()?.to_str()?.to_owned();
            let plugin = ["Cargo.toml", "app.py", "plugin.js"]
                .iter()
                .any(|marker| path.join(marker).exists());
            (plugin && !name.starts_with("sdk")).then_some(name)
        })
        .collect();
    names.sort();
    names
}

/// `switchboard plugin test` over a plugin's fixtures, by file name.
fn plugin_test(plugin: &str, files: &[PathBuf]) -> BTreeMap<String, Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["plugin", "test", "--check"])
        .arg(wasm(plugin))
        .env(
            "SWITCHBOARD_CACHE_DIR",
            root().join("target/e2e-plugin-cache"),
        )
        .args(files)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "plugin test {plugin}: {stderr}");
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    results
        .into_iter()
        .map(|r| {
            let name = PathBuf::from(r["fixture"].as_str().unwrap());
            (name.file_name().unwrap().to_string_lossy().into_owned(), r)
        })
        .collect()
}

#[test]
fn every_plugin_serves_its_fixtures_through_the_router() {
    let plugins = provider_plugins();
    assert!(plugins.len() >= 18, "{plugins:?}");
    let sink = Sink::start();
    // Each plugin configured exactly as its fixtures expect; SNS
    // subscription confirmations stay local (no request to AWS).
    let mut sections = String::new();
    for p in &plugins {
        let cfg = root().join("plugins").join(p).join("fixtures/config.toml");
        let text = std::fs::read_to_string(&cfg).unwrap_or_default();
        sections.push_str(&format!("[plugins.{p}]\n{text}\n"));
        if p == "aws-sns" {
            sections.push_str("[plugins.aws-sns.actions]\nconfirm_subscriptions = false\n");
        }
    }
    let names: Vec<&str> = plugins.iter().map(String::as_str).collect();
    let router = Router::start_with_config(
        &names,
        &config(
            &[],
            &format!("{sections}\n{}", http_destination(&sink.url())),
        ),
    );

    let mut expected_events = BTreeSet::new();
    let mut expected_messages = BTreeSet::new();
    let mut sent = 0;
    for p in &plugins {
        let files = fixtures(p);
        assert!(files.len() >= 3, "{p}: only {} fixtures", files.len());
        let want = plugin_test(p, &files);
        for file in &files {
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let w = &want[&name];
            let reply = router.send(&switchboard_plugin_sdk::fixture::Fixture::load(file).unwrap());
            assert_eq!(
                Some(u64::from(reply.status)),
                w["reply"]["status"].as_u64(),
                "{p}/{name}: router and plugin test disagree on the reply\n{}",
                router.log()
            );
            assert_eq!(
                reply.status < 300,
                !name.starts_with("reject-"),
                "{p}/{name}"
            );
            sent += 1;
            for ev in w["events"].as_array().into_iter().flatten() {
                let kind = ev["type"].as_str().unwrap().to_owned();
                let id = ev["provider_event_id"].as_str().unwrap().to_owned();
                if kind == "delivery-status" {
                    let msg = ev["data"]["message_id"].as_str().unwrap().to_owned();
                    expected_messages.insert((p.clone(), msg));
                }
                expected_events.insert((p.clone(), kind, id));
            }
        }
    }
    // Settle: no more deliveries for a moment.
    let mut last = usize::MAX;
    while sink.count() != last {
        last = sink.count();
        std::thread::sleep(Duration::from_millis(700));
    }
    let got = sink.events();
    let forwarded: BTreeSet<(String, String, String)> = got
        .iter()
        .map(|r| {
            (
                r.json["provider"].as_str().unwrap().to_owned(),
                r.json["type"].as_str().unwrap().to_owned(),
                r.json["provider_event_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // Nothing forwarded that the plugin did not produce...
    let unexpected: Vec<_> = forwarded.difference(&expected_events).collect();
    assert!(unexpected.is_empty(), "unexpected: {unexpected:?}");
    // ...every inbound, opt-out, link-hit and subscription event arrived...
    let missing: Vec<_> = expected_events
        .iter()
        .filter(|(_, kind, _)| kind != "delivery-status")
        .filter(|e| !forwarded.contains(*e))
        .collect();
    assert!(missing.is_empty(), "missing: {missing:?}");
    // ...and every message with a delivery status got at least one (later
    // states of one message may be stale or duplicates: kept, not sent).
    let delivered_msgs: BTreeSet<(String, String)> = got
        .iter()
        .filter(|r| r.json["type"] == "delivery-status")
        .map(|r| {
            (
                r.json["provider"].as_str().unwrap().to_owned(),
                r.json["data"]["message_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let silent: Vec<_> = expected_messages.difference(&delivered_msgs).collect();
    assert!(
        silent.is_empty(),
        "messages with no delivery status forwarded: {silent:?}"
    );
    println!(
        "{} plugins, {sent} fixtures, {} events expected, {} forwarded",
        plugins.len(),
        expected_events.len(),
        got.len()
    );
}

#[test]
fn every_plugin_loads_under_the_shipped_default_config() {
    // The shipped config, with the tests' shared compile cache (the Python
    // and JavaScript plugins take seconds each to compile).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), default_config()).unwrap();
    let out = check_config(&dir.path().join("config.toml"), &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for p in provider_plugins() {
        assert!(
            text.contains(&format!("plugin {p} ")),
            "{p} not loaded:\n{text}"
        );
    }
}

#[test]
fn an_unsigned_provider_can_be_protected_per_mount() {
    let sink = Sink::start();
    let token = "a-long-shared-secret-token";
    let cfg = format!(
        "[plugins.smsglobal.protect]\ntoken = \"{token}\"\n\n[plugins.kannel.protect]\nallow_ips = [\"203.0.113.0/24\"]\n\n{}",
        http_destination(&sink.url())
    );
    let router = Router::start_with_config(&["smsglobal", "kannel"], &config(&[], &cfg));
    let fx = accepted_fixture("smsglobal");
    assert_eq!(router.send(&fx).status, 403, "no token");
    let mut with_token = fx.clone();
    let sep = if with_token.target.contains('?') {
        '&'
    } else {
        '?'
    };
    with_token.target = format!("{}{sep}token={token}", with_token.target);
    let reply = router.send(&with_token);
    assert_eq!(reply.status, 200, "{}", router.log());
    let got = sink.wait_for(1, Duration::from_secs(5));
    // The token never reaches the plugin, so it is not in the event.
    let body = serde_json::to_string(&got[0].json).unwrap();
    assert!(!body.contains(token), "{body}");
    // Kannel only from its own network: 127.0.0.1 is refused.
    assert_eq!(router.send(&accepted_fixture("kannel")).status, 403);
}

/// The first fixture of a plugin that it accepts.
fn accepted_fixture(plugin: &str) -> switchboard_plugin_sdk::fixture::Fixture {
    let file = fixtures(plugin)
        .into_iter()
        .find(|f| {
            !f.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("reject-")
        })
        .unwrap();
    switchboard_plugin_sdk::fixture::Fixture::load(file).unwrap()
}
