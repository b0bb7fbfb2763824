//! A plugin whose component imports what the host does not provide is
//! refused with a clear error: the missing import named, and what the host
//! does provide.

use crate::support::*;

/// `imports-http` (tests/lang-plugins/imports-http) is a JavaScript plugin
/// built with componentize-js's http feature on, so it imports `wasi:http`.
#[test]
fn plugin_importing_wasi_http_is_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let plugins = tmp.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(wasm("imports-http"), plugins.join("imports-http.wasm")).unwrap();
    std::fs::write(
        tmp.path().join("config.toml"),
        format!(
            "[runtime]\nplugin_dir = \"plugins\"\ncache_dir = \"{}\"\n",
            root().join("target/e2e-plugin-cache").display()
        ),
    )
    .unwrap();
    let out = check_config(&tmp.path().join("config.toml"), &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // A refused plugin is logged and left out; the config itself is fine.
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{err}");
    assert!(stdout.contains("(0 plugins,"), "{stdout}");
    assert!(err.contains("plugin refused"), "{err}");
    assert!(err.contains("imports-http.wasm"), "{err}");
    assert!(err.contains("wasi:http"), "{err}");
    assert!(err.contains("the host provides WASI 0.2"), "{err}");
}
