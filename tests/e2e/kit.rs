//! The plugin kit from a plugin author's seat: `switchboard plugin new`
//! scaffolds a crate that passes its own tests and builds to a component
//! that `switchboard plugin test` and the router accept.

use std::process::Command;
use std::time::Duration;

use crate::support::*;

fn cargo(dir: &std::path::Path, args: &[&str]) {
    // Its own target dir: the scaffold is not a member of this workspace.
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .arg("--offline")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", root().join("target/kit-scaffold"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo {args:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn plugin_new_scaffolds_a_plugin_that_builds_tests_and_serves() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("acme-sms");
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["plugin", "new", "acme-sms", "--dir"])
        .arg(&dir)
        .arg("--sdk")
        .arg(root().join("plugins/sdk"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("/acmeSmsCallback"));
    // Same dependency versions as the workspace, so it builds offline.
    std::fs::copy(root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();

    cargo(&dir, &["test", "--quiet"]);
    cargo(&dir, &["build", "--release", "--target", "wasm32-wasip2"]);
    let wasm = root().join("target/kit-scaffold/wasm32-wasip2/release/acme_sms.wasm");
    checks_and_serves(&wasm, &dir);
}

/// `switchboard plugin new --lang LANG`, built and tested with the
/// language's build script, as its "next" lines say.
fn scaffold_in(lang: &str, script: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("acme-sms");
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["plugin", "new", "acme-sms", "--lang", lang, "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("/acmeSmsCallback") && stdout.contains(script),
        "{stdout}"
    );
    let wasm = tmp.path().join("acme-sms.wasm");
    let out = Command::new(root().join("plugins").join(script))
        .arg("--test")
        .arg("--dir")
        .arg(&dir)
        .arg("--out")
        .arg(&wasm)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    checks_and_serves(&wasm, &dir);
}

#[test]
fn plugin_new_in_python_builds_tests_and_serves() {
    scaffold_in("python", "build-python.sh");
}

#[test]
fn plugin_new_in_javascript_builds_tests_and_serves() {
    scaffold_in("javascript", "build-js.sh");
}

/// The scaffold's fixtures pass `plugin test --check`, and the component
/// dropped into a router serves them.
fn checks_and_serves(wasm: &std::path::Path, dir: &std::path::Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["plugin", "test", "--check"])
        .arg(wasm)
        .arg(dir.join("fixtures/delivered.http"))
        .arg(dir.join("fixtures/reject-missing-status.http"))
        .env(
            "SWITCHBOARD_CACHE_DIR",
            root().join("target/e2e-plugin-cache"),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(results[0]["events"][0]["data"]["state"], "delivered");
    assert_eq!(results[1]["reply"]["status"], 400);

    // Dropped into a router, it serves.
    let sink = Sink::start();
    let router_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(router_dir.path().join("plugins")).unwrap();
    std::fs::copy(wasm, router_dir.path().join("plugins/acme-sms.wasm")).unwrap();
    std::fs::write(
        router_dir.path().join("config.toml"),
        config(&[], &http_destination(&sink.url())),
    )
    .unwrap();
    let router = Router::spawn(router_dir.path());
    let fx = switchboard_plugin_sdk::fixture::Fixture::load(dir.join("fixtures/delivered.http"))
        .unwrap();
    assert_eq!(router.send(&fx).status, 200, "{}", router.log());
    let got = sink.wait_for(1, Duration::from_secs(5));
    assert_eq!(got[0].json["provider"], "acme-sms");
}

#[test]
fn plugin_new_refuses_bad_names_and_existing_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["plugin", "new", name, "--sdk", "/x", "--dir"])
            .arg(tmp.path().join("p"))
            .output()
            .unwrap()
    };
    let bad = run("Acme_SMS");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("lower-case"));
    std::fs::create_dir_all(tmp.path().join("p")).unwrap();
    let exists = run("acme");
    assert!(String::from_utf8_lossy(&exists.stderr).contains("already exists"));
}
