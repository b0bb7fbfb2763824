//! Operating webhooks: secret rotation, test events, deletes with deliveries
//! pending, and the `switchboard webhooks` commands.

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;

fn signatures(r: &Received) -> usize {
    r.header("webhook-signature")
        .map_or(0, |s| s.split(' ').count())
}

#[test]
fn rotation_signs_with_both_secrets_during_the_grace_and_test_events_go_the_delivery_path() {
    let sink = Sink::start();
    let router = Router::start(&["kudosity"], "");
    let (id, first) = create(&router, &body_to(&sink, &["SMS_INBOUND"], json!({})));

    // A test event: the real path (outbox, dispatch, signature), a sample
    // of the type asked for, marked as a test.
    let (status, t) = router.admin_send(
        "POST",
        &format!("/v1/webhooks/{id}/test"),
        &json!({"event_type": "SMS_INBOUND"}),
    );
    assert_eq!(status, 202, "{t:#}");
    let got = sink.wait_for(1, Duration::from_secs(10));
    assert_eq!(got[0].json["type"], "inbound-message");
    assert_eq!(got[0].json["extra"]["test"], "true");
    assert_eq!(got[0].json["id"], t["event_id"]);
    assert_eq!(signatures(&got[0]), 1);
    verify_in_python(&got[0], &first);
    let (status, bad) = router.admin_send(
        "POST",
        &format!("/v1/webhooks/{id}/test"),
        &json!({"event_type": "FAX"}),
    );
    assert_eq!(status, 422, "{bad:#}");
    assert_eq!(bad["problems"][0]["field"], "event_type");

    // Rotation: the new secret and the old one both sign for the grace.
    let (status, r) = router.admin_send(
        "POST",
        &format!("/v1/webhooks/{id}/secret"),
        &json!({"grace": "1h"}),
    );
    assert_eq!(status, 200, "{r:#}");
    let second = r["secret"].as_str().expect("new secret").to_owned();
    assert_ne!(second, first);
    assert_eq!(r["secrets"].as_array().map(Vec::len), Some(2), "{r:#}");
    assert!(r["secrets"][1]["expires_at"].is_i64(), "{r:#}");
    router.admin_send("POST", &format!("/v1/webhooks/{id}/test"), &json!({}));
    let got = sink.wait_for(2, Duration::from_secs(10));
    assert_eq!(
        got[1].json["type"], "delivery-status",
        "SMS_STATUS by default"
    );
    assert_eq!(signatures(&got[1]), 2);
    verify_in_python(&got[1], &first);
    verify_in_python(&got[1], &second);

    // No grace: only the newest signs.
    let (_, r) = router.admin_send(
        "POST",
        &format!("/v1/webhooks/{id}/secret"),
        &json!({"grace": "0s"}),
    );
    let third = r["secret"].as_str().expect("new secret").to_owned();
    router.admin_send("POST", &format!("/v1/webhooks/{id}/test"), &json!({}));
    let got = sink.wait_for(3, Duration::from_secs(10));
    assert_eq!(signatures(&got[2]), 1);
    verify_in_python(&got[2], &third);
    let (status, bad) = router.admin_send(
        "POST",
        &format!("/v1/webhooks/{id}/secret"),
        &json!({"grace": "forever"}),
    );
    assert_eq!(
        (status, &bad["problems"][0]["field"]),
        (422, &json!("grace"))
    );
}

#[test]
fn deleting_a_webhook_cancels_its_pending_deliveries_into_dead_letters() {
    let sink = Sink::start();
    sink.status.store(500, std::sync::atomic::Ordering::SeqCst);
    let router = Router::start(&["kudosity"], "");
    let mut body = body_to(&sink, &["SMS_STATUS"], json!({}));
    body["retry_schedule"] = json!(["0s", "1h"]);
    let (id, _) = create(&router, &body);
    assert!(routes_of(&router, &status("d1", A, "DELIVERED"), "d1").contains(&id));
    sink.wait_for_hits(1, Duration::from_secs(10));
    let (status, d) = router.admin_send("DELETE", &format!("/v1/webhooks/{id}"), &json!({}));
    assert_eq!((status, &d["cancelled"]), (200, &json!(1)), "{d:#}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let dead = loop {
        let (_, dead) = get(
            &router,
            &format!("/v1/deliveries?state=dead&destination={id}"),
        );
        if dead.as_array().is_some_and(|a| !a.is_empty()) {
            break dead;
        }
        assert!(Instant::now() < deadline, "never dead-lettered");
        std::thread::sleep(Duration::from_millis(50));
    };
    let attempts = dead[0]["attempts"].as_array().expect("attempts");
    assert_eq!(attempts[0]["status"], 500);
    let last = attempts.last().expect("an attempt");
    assert!(
        last["error"].as_str().unwrap_or("").contains("deleted"),
        "{dead:#}"
    );
    let (_, pending) = get(
        &router,
        &format!("/v1/deliveries?state=pending&destination={id}"),
    );
    assert_eq!(pending, json!([]));
}

#[test]
fn the_cli_creates_lists_updates_rotates_tests_and_deletes_webhooks() {
    let sink = Sink::start();
    let router = Router::start(&["kudosity"], "");
    let url = format!("{}/cli", sink.url());
    let w = router.cli_json(&[
        "webhooks",
        "create",
        "--name",
        "From the CLI",
        "--url",
        &url,
        "--event-type",
        "SMS_STATUS",
        "--event-type",
        "OPT_OUT",
        "--filter",
        "sender=61481074185,61481074186",
        "--filter",
        "status=delivered",
        "--rate-limit",
        "25",
        "--allow-http",
        "--allow-address",
        "127.0.0.1",
    ]);
    let id = w["id"].as_str().expect("id").to_owned();
    assert!(
        w["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_"))
    );
    assert_eq!(w["filter"]["sender"], json!([A, B]));
    assert_eq!(w["rate_limit"], 25);

    let (code, table, err) = router.cli(&["webhooks", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        table.contains(&id) && table.contains("From the CLI"),
        "{table}"
    );
    assert!(table.contains("SMS_STATUS,OPT_OUT"), "{table}");
    let listed = router.cli_json(&["webhooks", "list"]);
    assert_eq!(listed["webhooks"][0]["id"], id.as_str());

    let paused = router.cli_json(&["webhooks", "update", &id, "--pause", "--name", "Renamed"]);
    assert_eq!(
        (&paused["enabled"], &paused["name"]),
        (&json!(false), &json!("Renamed"))
    );
    let shown = router.cli_json(&["webhooks", "show", &id]);
    assert_eq!(shown["status"]["paused"], true);
    router.cli_json(&["webhooks", "update", &id, "--resume"]);

    let rotated = router.cli_json(&["webhooks", "rotate-secret", &id, "--grace", "10m"]);
    let secret = rotated["secret"].as_str().expect("secret").to_owned();
    let sent = router.cli_json(&["webhooks", "test", &id, "--event-type", "OPT_OUT"]);
    assert_eq!(sent["event_type"], "OPT_OUT");
    let got = sink.wait_for(1, Duration::from_secs(10));
    assert_eq!(got[0].json["type"], "opt-out");
    verify_in_python(&got[0], &secret);

    // Bad input: every problem, a line each, and a failing exit code.
    let (code, _, err) = router.cli(&[
        "webhooks",
        "create",
        "--name",
        "x",
        "--url",
        "http://crm.example.com",
        "--event-type",
        "FAX",
    ]);
    assert_ne!(code, 0);
    for field in ["name:", "url:", "event_types:"] {
        assert!(err.contains(field), "{field} missing from: {err}");
    }

    let (code, out, err) = router.cli(&["webhooks", "delete", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("deleted {id}")), "{out}");
    let (code, _, err) = router.cli(&["webhooks", "show", &id]);
    assert_ne!(code, 0);
    assert!(err.contains("404"), "{err}");
}
