//! Expected-error pairs: each `testdata/NAME.toml` must fail with the
//! problems in `testdata/NAME.err`, one `{key}: {reason}` per line (after
//! the file name), in the order `Config::load` reports them: section
//! order, see there.

use super::*;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/config/testdata")
}

#[test]
fn bad_configs_name_file_key_line_and_reason_of_every_problem() {
    let mut checked = 0;
    for entry in std::fs::read_dir(testdata()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") || path.file_stem().unwrap() == "good" {
            continue;
        }
        let want = std::fs::read_to_string(path.with_extension("err")).unwrap();
        let errors =
            Config::load(&path, &Overrides::default()).expect_err(&path.display().to_string());
        let mut got = Vec::new();
        for e in &errors {
            assert_eq!(e.file, path.display().to_string());
            got.push(format!("{}: {}", e.key, e.reason));
        }
        assert_eq!(got.join("\n"), want.trim(), "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} cases");
}

#[test]
fn every_problem_is_reported_once_each_on_its_own_line() {
    let errors = Config::load(
        &testdata().join("many-problems.toml"),
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(errors.as_slice().len() >= 5, "{errors}");
    let text = errors.to_string();
    assert_eq!(text.lines().count(), errors.as_slice().len(), "{text}");
    for (line, e) in text.lines().zip(&errors) {
        assert_eq!(line, e.to_string());
        assert!(line.starts_with(&e.file), "{line}");
        // One ` (line N)` suffix at most.
        assert!(e.reason.matches(" (line ").count() <= 1, "{line}");
    }
}

#[test]
fn printed_defaults_are_a_valid_config_equal_to_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let printed = dir.path().join("defaults.toml");
    std::fs::write(&printed, defaults::print()).unwrap();
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let cfg = Config::load(&printed, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.retention, defaults::RETENTION);
    let listen: std::net::SocketAddr = defaults::SERVER_LISTEN.parse().unwrap();
    assert_eq!(cfg.server.listen, listen);
    assert_eq!(cfg.server.header_timeout, defaults::HEADER_TIMEOUT);
    assert_eq!(cfg.server.max_body_bytes, defaults::MAX_BODY_BYTES);
    assert_eq!(cfg.limits.timeout, defaults::PLUGIN_TIMEOUT);
    assert_eq!(cfg.limits.max_memory_bytes, defaults::PLUGIN_MEMORY_BYTES);
    assert_eq!(cfg.max_concurrent_calls, defaults::MAX_CONCURRENT_CALLS);
    let admin: std::net::SocketAddr = defaults::ADMIN_LISTEN.parse().unwrap();
    assert_eq!(cfg.admin.as_ref().map(|a| a.listen), Some(admin));
    assert_eq!(cfg.data_dir, dir.path().join(defaults::DATA_DIR));
    assert_eq!(cfg.plugin_dir, dir.path().join(defaults::PLUGIN_DIR));
    assert!(cfg.jetstream.is_none());
    // Printed or left out, the same settings.
    let bare = Config::load(&empty, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(format!("{:?}", cfg.server), format!("{:?}", bare.server));
    assert_eq!(format!("{:?}", cfg.limits), format!("{:?}", bare.limits));
    assert_eq!(format!("{:?}", cfg.admin), format!("{:?}", bare.admin));
    assert_eq!(
        (
            cfg.retention,
            &cfg.data_dir,
            &cfg.plugin_dir,
            &cfg.cache_dir
        ),
        (
            bare.retention,
            &bare.data_dir,
            &bare.plugin_dir,
            &bare.cache_dir
        )
    );
}

#[test]
fn good_config_resolves_paths_env_and_defaults() {
    // SAFETY: tests in this module do not read this variable concurrently.
    unsafe { std::env::set_var("SWITCHBOARD_TEST_TOKEN", "from-env") };
    let cfg = Config::load(&testdata().join("good.toml"), &Overrides::default()).unwrap();
    assert_eq!(cfg.server.route_prefix, "/api/v1");
    assert_eq!(cfg.server.max_body_bytes, 1 << 20);
    assert_eq!(cfg.plugins["twilio"]["auth_token"], "from-env");
    assert_eq!(cfg.plugins["twilio"]["previous_auth_token"], "fallback");
    assert!(cfg.data_dir.ends_with("testdata/data"));
    assert_eq!(cfg.routes.len(), 1);
    match &cfg.destinations["hook"] {
        Destination::Http(h) => assert_eq!(h.schedule.attempts(), 2),
        other => panic!("{other:?}"),
    }
    let over = Overrides {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some("/tmp/x".into()),
        ..Default::default()
    };
    let cfg = Config::load(&testdata().join("good.toml"), &over).unwrap();
    assert_eq!(cfg.server.listen.port(), 0);
    assert_eq!(cfg.data_dir, PathBuf::from("/tmp/x"));
}
