//! Webhooks on a JetStream store: made on one router, applied on every
//! router, with no restart.

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::cluster::Nats;

/// Polls `router` until `check` holds for the webhook; how long it took.
fn until(router: &Router, id: &str, what: &str, check: impl Fn(u16, &Value) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        let (status, w) = get(router, &format!("/v1/webhooks/{id}"));
        if check(status, &w) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what}: never seen on the other router ({status} {w:#})\n{}",
            router.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_webhook_made_on_one_router_delivers_from_another_and_follows_changes() {
    let nats = Nats::start();
    let sink = Sink::start();
    let one = Router::start(&["kudosity"], &nats.store_toml());
    let two = Router::start(&["kudosity"], &nats.store_toml());
    let (id, secret) = create(
        &one,
        &body_to(&sink, &["SMS_STATUS"], json!({"sender": [A]})),
    );
    let seen = until(&two, &id, "created", |s, w| {
        s == 200 && w["status"]["name"] == id.as_str()
    });
    println!("created on one, applied on two after {seen:?}");
    assert!(seen < Duration::from_secs(1), "applied after {seen:?}");

    // A callback to the other router is delivered to it, signed.
    assert!(routes_of(&two, &status("c1", A, "DELIVERED"), "c1").contains(&id));
    let got = sink.wait_for(1, Duration::from_secs(10));
    assert_eq!(got[0].json["data"]["message_id"], "c1");
    verify_in_python(&got[0], &secret);

    // Paused on one: two holds its deliveries too.
    let (status, _) = one.admin_send(
        "PATCH",
        &format!("/v1/webhooks/{id}"),
        &json!({"enabled": false}),
    );
    assert_eq!(status, 200);
    let paused = until(&two, &id, "paused", |_, w| w["status"]["paused"] == true);
    assert!(paused < Duration::from_secs(1), "paused after {paused:?}");
    assert!(routes_of(&two, &status_of("c2"), "c2").contains(&id));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.count(), 1, "delivered while paused");
    let (status, _) = one.admin_send(
        "PATCH",
        &format!("/v1/webhooks/{id}"),
        &json!({"enabled": true}),
    );
    assert_eq!(status, 200);
    let got = sink.wait_for(2, Duration::from_secs(10));
    assert_eq!(got[1].json["data"]["message_id"], "c2");

    // Deleted on two: one routes nothing more to it.
    let (status, _) = two.admin_send("DELETE", &format!("/v1/webhooks/{id}"), &json!({}));
    assert_eq!(status, 200);
    until(&one, &id, "deleted", |s, _| s == 404);
    let deadline = Instant::now() + Duration::from_secs(2);
    for n in 0.. {
        // The listing (a store read) can lead the applied rules by a moment.
        let message = format!("c3-{n}");
        if !routes_of(&one, &status_of(&message), &message).contains(&id) {
            break;
        }
        assert!(Instant::now() < deadline, "still routed after its delete");
    }
}

fn status_of(id: &str) -> Fixture {
    status(id, A, "DELIVERED")
}
