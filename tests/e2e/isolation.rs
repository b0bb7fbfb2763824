//! A plugin that loops, allocates without bound, panics or returns garbage
//! fails only its own request; the host and the other plugins keep serving,
//! and the callback is kept (quarantined) for replay.

use std::time::{Duration, Instant};

use crate::support::*;

fn chaos(router: &Router, mode: &str) -> (Reply, Duration) {
    let start = Instant::now();
    let reply = router.send_raw(
        format!("POST /api/v1/chaos/{mode} HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}").as_bytes(),
    );
    (reply, start.elapsed())
}

#[test]
fn misbehaving_plugin_fails_only_its_request() {
    let sink = Sink::start();
    let router = Router::start(&["twilio", "chaos"], &http_destination(&sink.url()));
    for mode in [
        "loop",
        "oom",
        "panic",
        "stack",
        "flood",
        "hugereply",
        "badstatus",
        "error",
    ] {
        let (reply, took) = chaos(&router, mode);
        // Quarantined: kept for replay, and the provider hears the plugin's
        // accept reply (202 for chaos) so it does not resend.
        assert_eq!(reply.status, 202, "{mode}: {reply:?}\n{}", router.log());
        assert!(took < Duration::from_secs(5), "{mode} took {took:?}");
        // The next request, to another plugin, is served normally.
        let ok = router.send(&fixture("twilio", "status-sent.http"));
        assert_eq!(ok.status, 200, "after {mode}: {ok:?}");
    }
    // The well-behaved mode of the same plugin still works after all that.
    let (reply, _) = chaos(&router, "ok");
    assert_eq!(reply.status, 200);
    let log = router.log();
    for reason in [
        "timed out",
        "ran out of memory",
        "chaos plugin panicked on purpose",
        "events (limit",
    ] {
        assert!(log.contains(reason), "log lacks `{reason}`:\n{log}");
    }
    assert_eq!(router.get("/healthz").status, 200);
}

#[test]
fn guest_output_goes_to_the_host_log_tagged_with_the_plugin() {
    let router = Router::start(&["chaos"], "");
    let (reply, _) = chaos(&router, "noisy");
    assert_eq!(reply.status, 200);
    let log = router.log();
    let line = log
        .lines()
        .find(|l| l.contains("chaos says hello on stderr"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains("plugin=chaos") || line.contains("plugin=\"chaos\""),
        "{line}"
    );
    assert!(log.contains("chaos says hello on stdout"));
}

#[test]
fn quarantine_reply_can_ask_the_provider_to_retry() {
    let cfg =
        config(&["chaos"], "").replace("[server]\n", "[server]\nquarantine_reply = \"retry\"\n");
    let router = Router::start_with_config(&["chaos"], &cfg);
    let (reply, _) = chaos(&router, "panic");
    assert_eq!(reply.status, 503);
}
