//! Replay after a fixed plugin: callbacks a broken plugin could not handle
//! are quarantined; the operator drops in the fixed `.wasm` (hot reload, no
//! restart) and replays them; the events are delivered, and replaying again
//! sends nothing twice.

use std::time::{Duration, Instant};

use crate::support::*;

fn chaos_version(router: &Router) -> Option<String> {
    let reply = router.admin_call("GET", "/v1/plugins");
    let plugins: serde_json::Value = serde_json::from_str(&reply.body).ok()?;
    plugins
        .as_array()?
        .iter()
        .find(|p| p["name"] == "chaos")
        .and_then(|p| p["version"].as_str().map(str::to_owned))
}

fn callback(router: &Router, id: &str) -> u16 {
    router
        .send_raw(
            format!(
                "POST /api/v1/chaos/panic?id={id} HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
            )
            .as_bytes(),
        )
        .status
}

#[test]
fn quarantined_captures_are_delivered_once_after_the_fixed_plugin_is_dropped_in() {
    replay_after_a_fix("");
}

/// Also run on the JetStream store (`cluster.rs`): `store` is its TOML.
pub fn replay_after_a_fix(store: &str) {
    let sink = Sink::start();
    let router = Router::start(
        &["chaos"],
        &format!("{store}{}", http_destination(&sink.url())),
    );
    // The broken version panics on these: kept (quarantined), and the
    // provider hears the plugin's accept reply, so it will not resend.
    let ids = ["fix1", "fix2", "fix3"];
    for id in ids {
        assert_eq!(callback(&router, id), 202, "{}", router.log());
    }
    let quarantined = router.cli_json(&["captures", "--status", "quarantined"]);
    assert_eq!(quarantined.as_array().unwrap().len(), 3, "{quarantined:#}");
    assert_eq!(sink.count(), 0);

    // The fix: same plugin name and routes, dropped in over the old file
    // (written aside and renamed), picked up by the directory watch.
    let plugins = router.dir.join("plugins");
    std::fs::write(
        plugins.join(".chaos.wasm.tmp"),
        std::fs::read(wasm("mended")).unwrap(),
    )
    .unwrap();
    std::fs::rename(plugins.join(".chaos.wasm.tmp"), plugins.join("chaos.wasm")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !chaos_version(&router).is_some_and(|v| v.ends_with("+mended")) {
        assert!(Instant::now() < deadline, "not reloaded:\n{}", router.log());
        std::thread::sleep(Duration::from_millis(50));
    }

    let out = router.cli_json(&["replay", "--plugin", "chaos", "--status", "quarantined"]);
    let results = out.as_array().unwrap();
    assert_eq!(results.len(), 3, "{out:#}");
    for r in results {
        assert_eq!(r["before"], "quarantined", "{out:#}");
        assert_eq!(r["after"], "accepted", "{out:#}");
        assert_eq!(r["events"], 1, "{out:#}");
    }
    let got = sink.wait_for(3, Duration::from_secs(10));
    let mut delivered: Vec<_> = got
        .iter()
        .map(|r| r.json["data"]["message_id"].as_str().unwrap().to_owned())
        .collect();
    delivered.sort();
    assert_eq!(delivered, ids);
    assert_eq!(
        router.cli_json(&["captures", "--status", "quarantined"]),
        serde_json::json!([])
    );

    // Replaying every capture again: the events are duplicates, nothing
    // new is queued or sent.
    let again = router.cli_json(&["replay", "--plugin", "chaos"]);
    assert_eq!(again.as_array().unwrap().len(), 3, "{again:#}");
    let metrics = router.admin_call("GET", "/metrics").body;
    assert!(
        metrics.contains(r#"switchboard_events_total{provider="chaos",kind="delivery-status",state="delivered",disposition="duplicate"} 3"#),
        "{metrics}"
    );
    let pending = router.cli_json(&["deliveries", "--pending"]);
    assert_eq!(pending, serde_json::json!([]), "{pending:#}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sink.count(), 3);
}
