//! Expected-error pairs: each `testdata/NAME.toml` must fail with the
//! message in `testdata/NAME.err` (after the file name).

use super::*;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/config/testdata")
}

#[test]
fn bad_configs_name_file_key_and_reason() {
    let mut checked = 0;
    for entry in std::fs::read_dir(testdata()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") || path.file_stem().unwrap() == "good" {
            continue;
        }
        let want = std::fs::read_to_string(path.with_extension("err")).unwrap();
        let err =
            Config::load(&path, &Overrides::default()).expect_err(&path.display().to_string());
        assert_eq!(err.file, path.display().to_string());
        let got = format!("{}: {}", err.key, err.reason);
        assert_eq!(got.trim(), want.trim(), "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} cases");
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
