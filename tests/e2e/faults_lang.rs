//! Faults in plugins written in other languages: a Python plugin
//! (`tests/lang-plugins/chaos-py`, CPython inside the component) that loops,
//! exhausts its memory or raises is cut off like the Rust `chaos` plugin
//! (`isolation.rs`): it fails only its own request, the callback is kept
//! (quarantined) for replay, and the host and the other plugins keep serving.

use std::time::{Duration, Instant};

use crate::support::*;

fn chaos_py(router: &Router, mode: &str) -> (Reply, Duration) {
    let start = Instant::now();
    let reply = router.send_raw(
        format!("POST /api/v1/chaosPy/{mode} HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}").as_bytes(),
    );
    (reply, start.elapsed())
}

#[test]
fn a_python_plugin_that_loops_or_exhausts_memory_is_cut_off_like_a_rust_one() {
    let sink = Sink::start();
    let router = Router::start(&["twilio", "chaos-py"], &http_destination(&sink.url()));
    for mode in ["loop", "oom", "panic", "error"] {
        let (reply, took) = chaos_py(&router, mode);
        // Quarantined: kept for replay, and the provider hears the plugin's
        // accept reply (202 for chaos-py) so it does not resend.
        assert_eq!(reply.status, 202, "{mode}: {reply:?}\n{}", router.log());
        assert!(took < Duration::from_secs(5), "{mode} took {took:?}");
        // The next request, to another plugin, is served normally.
        let ok = router.send(&fixture("twilio", "status-sent.http"));
        assert_eq!(ok.status, 200, "after {mode}: {ok:?}");
    }
    // The well-behaved modes of the same plugin still work after all that.
    let (reply, _) = chaos_py(&router, "noisy");
    assert_eq!(reply.status, 200, "noisy: {reply:?}");
    let (reply, _) = chaos_py(&router, "ok");
    assert_eq!(reply.status, 200, "ok: {reply:?}");
    let log = router.log();
    for reason in [
        // loop: the epoch deadline (runtime.timeout = 200ms)
        "plugin timed out after",
        // oom: the memory cap (runtime.max_memory_mb)
        "plugin ran out of memory (cap",
        // panic: the Python traceback goes to the log, the call traps
        "RuntimeError: chaos-py plugin raised on purpose",
        "plugin trapped",
        // error: switchboard_plugin.Internal
        "chaos-py reports an internal error",
        // noisy: the guest's stdout and stderr, tagged with the plugin
        "chaos-py says hello on stdout",
        "chaos-py says hello on stderr",
    ] {
        let line = log
            .lines()
            .find(|l| l.contains(reason))
            .unwrap_or_else(|| panic!("log lacks `{reason}`:\n{log}"));
        assert!(line.contains("chaos-py"), "`{reason}` not tagged: {line}");
    }
    assert_eq!(router.get("/healthz").status, 200);
}

#[test]
fn a_plugin_runtime_that_needs_more_memory_gets_its_own_cap() {
    // The tests' runtime cap is 16 MB; chaos-py gets 48, the others keep 16.
    let router = Router::start(
        &["twilio", "chaos-py"],
        "[plugins.chaos-py.runtime]\nmax_memory_mb = 48\n",
    );
    let (reply, _) = chaos_py(&router, "oom");
    assert_eq!(reply.status, 202, "{reply:?}");
    let log = router.log();
    assert!(
        log.contains(&format!(
            "plugin ran out of memory (cap {} bytes)",
            48 << 20
        )),
        "{log}"
    );
    let (reply, _) = chaos_py(&router, "ok");
    assert_eq!(reply.status, 200, "{reply:?}");
    // Out of range: refused with file, key and reason.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("plugins")).unwrap();
    std::fs::write(
        tmp.path().join("config.toml"),
        config(&[], "[plugins.chaos-py.runtime]\nmax_memory_mb = 0\n"),
    )
    .unwrap();
    let out = check_config(&tmp.path().join("config.toml"), &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("plugins.chaos-py.runtime.max_memory_mb") && err.contains("want 1..=4096"),
        "{err}"
    );
}
