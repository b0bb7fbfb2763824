//! Retention: under a steady load, captures and delivered records older
//! than `store.retention` are deleted, so the store does not grow without
//! bound (soak, bounded in time).

use std::time::{Duration, Instant};

use crate::support::*;

fn store_bytes(router: &Router) -> u64 {
    let metrics = router.admin_call("GET", "/metrics").body;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("switchboard_store_size_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn old_captures_are_deleted_under_steady_load() {
    let sink = Sink::start();
    let cfg = config(
        &["mysmsgate"],
        &format!(
            "[store]\nretention = \"1s\"\n\n{}",
            http_destination(&sink.url())
        ),
    );
    let router = Router::start_with_config(&["mysmsgate"], &cfg);
    let started = Instant::now();
    let mut sent = 0;
    let mut sizes = Vec::new();
    while started.elapsed() < Duration::from_secs(6) {
        for _ in 0..20 {
            assert_eq!(
                router
                    .send(&mysmsgate_report(&format!("soak{sent}"), "delivered"))
                    .status,
                200
            );
            sent += 1;
        }
        if sizes.len() < (started.elapsed().as_secs() as usize) {
            sizes.push(store_bytes(&router));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let kept = router.cli_json(&["captures", "--limit", "100000"]);
    let kept = kept.as_array().unwrap().len();
    println!(
        "soak: {sent} callbacks in 6 s, {kept} captures kept, store bytes per second: {sizes:?}"
    );
    assert!(
        router.log().contains("retention: old records deleted"),
        "{}",
        router.log()
    );
    // About 1-2 s worth remain, not 6 s worth.
    assert!(kept < sent / 2, "{kept} of {sent} captures kept");
    // Everything sent was still forwarded.
    assert_eq!(sink.wait_for(sent, Duration::from_secs(10)).len(), sent);
}
