//! Start-up: a bad config stops it with file, key and reason (exit 2);
//! `check` validates without serving; SIGTERM exits cleanly.

use std::process::Command;

use crate::support::*;

fn check(dir: &std::path::Path) -> (i32, String) {
    check_with(dir, &[])
}

/// `switchboard check [flags] --config DIR/config.toml`: exit code and
/// everything it printed.
fn check_with(dir: &std::path::Path, flags: &[&str]) -> (i32, String) {
    let out = check_config(&dir.join("config.toml"), flags);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

fn dir_with(plugins: &[&str], config_text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    for p in plugins {
        std::fs::copy(
            wasm(p),
            dir.path().join("plugins").join(format!("{p}.wasm")),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("config.toml"), config_text).unwrap();
    dir
}

#[test]
fn bad_configs_stop_start_up_with_file_key_and_reason() {
    let cases: &[(&str, &str)] = &[
        ("[server]\nlisten = 5\n", "server.listen: invalid type"),
        (
            "[plugins.twilio]\nauth_token = \"x\"\ncolour = \"blue\"\n",
            "plugins.twilio.colour: unknown key; `twilio` accepts [\"auth_token\", \"previous_auth_token\"]",
        ),
        (
            "[plugins.nosuch]\nx = \"1\"\n[plugins.twilio]\nauth_token = \"x\"\n",
            "plugins.nosuch: no plugin `nosuch`",
        ),
        ("", "plugins.twilio.auth_token: required by plugin `twilio`"),
        (
            "[plugins.twilio]\nauth_token = \"x\"\n[destinations.f]\nkind = \"file\"\npath = \"x\"\n[[routes]]\nname = \"r\"\nto = [\"f\"]\nmatch = { provider = [\"twillio\"] }\n",
            "routes[0].match.provider: no plugin `twillio`",
        ),
    ];
    for (body, want) in cases {
        let text = format!("[runtime]\nplugin_dir = \"plugins\"\n{body}");
        let dir = dir_with(&["twilio"], &text);
        let (code, out) = check(dir.path());
        assert_eq!(code, 2, "{body}: {out}");
        let file = dir.path().join("config.toml").display().to_string();
        assert!(
            out.contains(&format!("error: {file}: {want}")),
            "{body}\nwant: {want}\ngot: {out}"
        );
    }
}

#[test]
fn a_broken_plugin_file_is_refused_and_the_others_load() {
    let dir = dir_with(
        &["twilio"],
        "[runtime]\nplugin_dir = \"plugins\"\n[plugins.twilio]\nauth_token = \"x\"\n",
    );
    std::fs::write(dir.path().join("plugins/garbage.wasm"), b"\0asm not really").unwrap();
    let (code, out) = check(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("garbage.wasm") && out.contains("plugin refused"),
        "{out}"
    );
    assert!(out.contains("plugin twilio"), "{out}");
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let sink = Sink::start();
    let mut router = Router::start(&["twilio"], &http_destination(&sink.url()));
    assert_eq!(
        router
            .send(&fixture("twilio", "status-delivered.http"))
            .status,
        200
    );
    sink.wait_for(1, std::time::Duration::from_secs(10));
    assert_eq!(router.terminate(), Some(0), "{}", router.log());
    assert!(router.log().contains("stopped"));
}

#[test]
fn plugin_built_against_another_contract_line_is_refused_with_supported_versions() {
    let dir = dir_with(
        &["twilio", "future"],
        "[runtime]\nplugin_dir = \"plugins\"\n[plugins.twilio]\nauth_token = \"x\"\n",
    );
    let (code, out) = check(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("future.wasm"), "{out}");
    assert!(out.contains("switchboard:provider/plugin@0.2.0"), "{out}");
    assert!(
        out.contains("this host supports switchboard:provider@0.1.x"),
        "{out}"
    );
    assert!(!out.contains("plugin future"), "{out}");
    assert!(out.contains("plugin twilio"), "{out}");
}

#[test]
fn readme_curl_example_works_on_the_default_config() {
    // The shipped config.toml, as is, but with its plugin directory made
    // absolute and the README's signed request sent with the Host the
    // signature was computed for (http://127.0.0.1:8080).
    let dir = tempfile::tempdir().unwrap();
    let cfg = default_config();
    std::fs::write(dir.path().join("config.toml"), cfg).unwrap();
    let router = Router::spawn(dir.path());
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let sig = "gtYdaHjwN/rqlWWSP5h40ek1zU4=";
    assert!(
        readme.contains(sig),
        "README example changed: update this test"
    );
    let body = "MessageSid=SM1234567890abcdef1234567890abcdef&MessageStatus=delivered&To=%2B15558675310&From=%2B15005550006&AccountSid=AC00000000000000000000000000000001&ApiVersion=2010-04-01";
    let req = format!(
        "POST /api/v1/smsCallback HTTP/1.1\r\nhost: 127.0.0.1:8080\r\ncontent-type: application/x-www-form-urlencoded\r\nx-twilio-signature: {sig}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let reply = router.send_raw(req.as_bytes());
    assert_eq!(reply.status, 200, "{reply:?}\n{}", router.log());
    let path = dir.path().join("data/events.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::fs::read_to_string(&path)
        .unwrap_or_default()
        .contains("SM1234567890abcdef1234567890abcdef")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no event in {}",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The unsigned providers of the default config, each mounted without
/// protection (config.toml only shows the protect tables commented out).
const UNSIGNED: [&str; 14] = [
    "able-mobile",
    "bandwidth",
    "capitole-mobile",
    "infobip",
    "kannel",
    "kudosity",
    "mstat",
    "sinch",
    "smsala",
    "smsgateway24",
    "smsglobal",
    "smstraffic",
    "textme",
    "vonage",
];

#[test]
fn the_default_config_warns_about_every_unprotected_mount_and_check_strict_fails_on_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = default_config();
    std::fs::write(dir.path().join("config.toml"), &cfg).unwrap();
    let router = Router::spawn(dir.path());
    let log = router.log();
    let warned: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("accepts callbacks from anyone"))
        .collect();
    assert_eq!(warned.len(), UNSIGNED.len(), "{}", warned.join("\n"));
    for name in UNSIGNED {
        assert!(
            warned
                .iter()
                .any(|l| l.contains(&format!("mount `{name}`"))),
            "no warning for {name}:\n{log}"
        );
    }
    for signed in [
        "twilio",
        "plivo",
        "telnyx",
        "aws-sns",
        "mysmsgate",
        "messagebird",
    ] {
        assert!(
            !log.contains(&format!("mount `{signed}`")),
            "{signed} warned"
        );
    }
    let metrics = router.admin_call("GET", "/metrics").body;
    assert!(
        metrics.contains(&format!(
            "switchboard_unprotected_mounts {}",
            UNSIGNED.len()
        )),
        "{metrics}"
    );
    let plugins: serde_json::Value =
        serde_json::from_str(&router.admin_call("GET", "/v1/plugins").body).unwrap();
    for p in plugins.as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        assert_eq!(p["unprotected"], UNSIGNED.contains(&name), "{p:#}");
    }

    // `check` says so; `check --strict` fails on it, until every such
    // mount has a protection.
    let strict = |dir: &std::path::Path| check_config(&dir.join("config.toml"), &["--strict"]);
    let (code, out) = check(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("14 unprotected mounts") && out.contains("smsglobal"),
        "{out}"
    );
    let out = strict(dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("unprotected mounts") && err.contains("kudosity"),
        "{err}"
    );
    let protected: String = UNSIGNED
        .iter()
        .map(|n| format!("\n[plugins.{n}.protect]\nallow_ips = [\"203.0.113.0/24\"]\n"))
        .collect();
    std::fs::write(dir.path().join("config.toml"), format!("{cfg}{protected}")).unwrap();
    let out = strict(dir.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_reports_every_problem_at_once_each_with_its_line() {
    // Lines: 1 [runtime], 2 plugin_dir, 3 [server], 4 listen, ... 8 kind,
    // ... 12 match.
    let body = "[server]\nlisten = \"nowhere\"\n[plugins.twilio]\nauth_token = \"x\"\n\
                [destinations.a]\nkind = \"carrier-pigeon\"\n[[routes]]\nname = \"r\"\n\
                to = [\"a\"]\nmatch = { state = [\"delivred\"] }\n";
    let dir = dir_with(
        &["twilio"],
        &format!("[runtime]\nplugin_dir = \"plugins\"\n{body}"),
    );
    let (code, out) = check(dir.path());
    assert_eq!(code, 2, "{out}");
    let file = dir.path().join("config.toml").display().to_string();
    let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("error: ")).collect();
    for (key, line) in [
        ("server.listen", 4),
        ("destinations.a.kind", 8),
        ("routes[0].match.state", 12),
    ] {
        let found = errors
            .iter()
            .find(|l| l.starts_with(&format!("error: {file}: {key}: ")))
            .unwrap_or_else(|| panic!("no problem for {key} in:\n{out}"));
        assert!(found.ends_with(&format!("(line {line})")), "{found}");
    }
    // The route's destination has a problem of its own: not reported twice.
    assert_eq!(errors.len(), 3, "{out}");
}

#[test]
fn check_print_defaults_prints_a_config_that_checks() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["check", "--print-defaults"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let defaults = String::from_utf8(out.stdout).unwrap();
    for line in [
        "listen = \"127.0.0.1:8080\"",
        "route_prefix = \"/api/v1\"",
        "timeout = \"200ms\"",
        "listen = \"127.0.0.1:8081\"",
    ] {
        assert!(defaults.contains(line), "{line} not in:\n{defaults}");
    }
    // Used as a config file (with this test's plugin), it checks.
    let text = defaults.replace("plugin_dir = \"dist/plugins\"", "plugin_dir = \"plugins\"")
        + "\n[plugins.twilio]\nauth_token = \"x\"\n";
    let dir = dir_with(&["twilio"], &text);
    let (code, out) = check(dir.path());
    assert_eq!(code, 0, "{out}");
}

#[test]
fn check_strict_fails_when_a_plugin_file_is_refused() {
    let dir = dir_with(
        &["twilio"],
        "[runtime]\nplugin_dir = \"plugins\"\n[plugins.twilio]\nauth_token = \"x\"\n",
    );
    // Twilio verifies its callbacks: nothing for --strict to refuse.
    let (code, out) = check_with(dir.path(), &["--strict"]);
    assert_eq!(code, 0, "{out}");
    std::fs::write(dir.path().join("plugins/garbage.wasm"), b"\0asm not really").unwrap();
    let (code, out) = check(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("plugin refused (left out)"), "{out}");
    let (code, out) = check_with(dir.path(), &["--strict"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("--strict: 1 plugin file(s) refused") && out.contains("garbage.wasm"),
        "{out}"
    );
}
