//! Webhooks made at runtime through the admin API (seed 001's "Create
//! Webhook"), end to end: real Kudosity v2 payloads (seed 001's provider)
//! in, a local receiver out, every change applied without a restart.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_plugin_sdk::fixture::Fixture;

use crate::forwarding::verify_in_python;
use crate::support::*;

mod cluster;
mod operate;

/// A Kudosity v2 webhook POST (unsigned, as Kudosity sends them).
pub fn kudosity(path: &str, body: Value) -> Fixture {
    Fixture {
        method: "POST".into(),
        target: path.into(),
        headers: vec![
            ("Host".into(), "hooks.example.com".into()),
            ("Content-Type".into(), "application/json".into()),
        ],
        body: body.to_string().into_bytes(),
    }
}

/// An `SMS_STATUS` for message `id` sent from our number `sender`.
pub fn status(id: &str, sender: &str, status: &str) -> Fixture {
    kudosity(
        "/api/v1/kudosityCallback",
        json!({"event_type": "SMS_STATUS", "timestamp": "2026-12-04T00:05:18.5Z",
               "status": {"type": "SMS", "id": id, "message_ref": "order-9931", "sender": sender,
                          "recipient": "61400000000", "campaign_id": "summer-sale", "status": status}}),
    )
}

/// An `SMS_INBOUND` with id `id`, received by our number `our_number`.
pub fn inbound(id: &str, our_number: &str) -> Fixture {
    kudosity(
        "/api/v1/kudosityIncoming/shop1",
        json!({"event_type": "SMS_INBOUND", "timestamp": "2026-12-04T05:16:33Z",
               "mo": {"type": "SMS", "id": id, "message": "YES", "recipient": our_number,
                      "sender": "447507222200",
                      "last_message": {"message_ref": "ncc5009d", "campaign_id": "bookings"}}}),
    )
}

/// A webhook body to `sink`, allowed to reach it on loopback, fast retries.
pub fn body_to(sink: &Sink, event_types: &[&str], filter: Value) -> Value {
    json!({
        "name": "Status and replies",
        "url": format!("{}/hooks/sms", sink.url()),
        "event_types": event_types,
        "filter": filter,
        "allow_http": true,
        "allow_addresses": ["127.0.0.1"],
        "retry_schedule": ["0s", "100ms", "200ms"],
    })
}

pub fn get(router: &Router, path: &str) -> (u16, Value) {
    let r = router.admin_call("GET", path);
    (
        r.status,
        serde_json::from_str(&r.body).unwrap_or(Value::Null),
    )
}

/// Creates a webhook; its id and secret.
pub fn create(router: &Router, body: &Value) -> (String, String) {
    let (status, w) = router.admin_send("POST", "/v1/webhooks", body);
    assert_eq!(status, 201, "{w:#}");
    let id = w["id"].as_str().expect("id").to_owned();
    (id, w["secret"].as_str().expect("secret").to_owned())
}

/// Sends a callback and returns the routes its event matched (as the
/// store recorded them): deterministic, unlike waiting for nothing.
pub fn routes_of(router: &Router, fx: &Fixture, message_id: &str) -> Vec<String> {
    assert_eq!(router.send(fx).status, 200, "{}", router.log());
    let (_, events) = get(router, "/v1/events?provider=kudosity&limit=200");
    let e = events
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["event"]["data"]["message_id"] == message_id)
        .unwrap_or_else(|| panic!("no event for {message_id}: {events:#}"));
    e["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r.as_str().unwrap_or_default().to_owned())
        .collect()
}

fn message_ids(got: &[Received]) -> Vec<String> {
    let mut ids: Vec<String> = got
        .iter()
        .map(|r| {
            r.json["data"]["message_id"]
                .as_str()
                .unwrap_or("?")
                .to_owned()
        })
        .collect();
    ids.sort();
    ids
}

const A: &str = "61481074185";
const B: &str = "61481074186";
const C: &str = "61481074199";

#[test]
fn a_webhook_gets_what_its_filter_matches_and_follows_every_change() {
    let sink = Sink::start();
    let mut router = Router::start(&["kudosity"], "");
    // Seed 001: OR within a key (two senders, one written with
    // formatting), AND across keys (sender and status).
    let filter = json!({"sender": [A, "+61 481 074 186"], "status": ["delivered"]});
    let (id, secret) = create(
        &router,
        &body_to(&sink, &["SMS_STATUS", "SMS_INBOUND"], filter),
    );
    assert!(secret.starts_with("whsec_"), "{secret}");
    let (status, shown) = get(&router, &format!("/v1/webhooks/{id}"));
    assert_eq!(status, 200);
    assert!(
        !shown.to_string().contains(&secret),
        "the secret is shown only at creation: {shown:#}"
    );

    let cases = [
        (status_fx("m1", A, "DELIVERED"), "m1", true),
        (status_fx("m2", B, "DELIVERED"), "m2", true),
        (status_fx("m3", C, "DELIVERED"), "m3", false), // another sender
        (status_fx("m4", A, "SENT"), "m4", false),      // sender, not status
        // Inbound: `sender` is the number that received it; `status`
        // does not apply to inbound events.
        (inbound("i1", A), "i1", true),
        (inbound("i2", C), "i2", false),
    ];
    for (fx, message, want) in &cases {
        let routes = routes_of(&router, fx, message);
        assert_eq!(routes.contains(&id), *want, "{message}: {routes:?}");
    }
    // Not a subscribed type at all.
    assert_eq!(
        router.send(&fixture("kudosity", "link-hit.http")).status,
        200
    );
    let got = sink.wait_for(3, Duration::from_secs(10));
    assert_eq!(message_ids(&got), ["i1", "m1", "m2"]);
    for r in &got {
        assert_eq!(r.header("webhook-id"), r.json["id"].as_str());
        verify_in_python(r, &secret);
    }

    // A new filter applies to the next callbacks.
    let (status, w) = router.admin_send(
        "PATCH",
        &format!("/v1/webhooks/{id}"),
        &json!({"filter": {"sender": [C]}}),
    );
    assert_eq!(status, 200, "{w:#}");
    assert!(!routes_of(&router, &status_fx("m5", A, "DELIVERED"), "m5").contains(&id));
    assert!(routes_of(&router, &status_fx("m6", C, "SENT"), "m6").contains(&id));
    let got = sink.wait_for(4, Duration::from_secs(10));
    assert_eq!(got[3].json["data"]["message_id"], "m6");

    // Paused: its events wait; resumed: they are delivered.
    let (status, w) = router.admin_send(
        "PATCH",
        &format!("/v1/webhooks/{id}"),
        &json!({"enabled": false}),
    );
    assert_eq!((status, &w["enabled"]), (200, &json!(false)), "{w:#}");
    assert!(routes_of(&router, &status_fx("m7", C, "DELIVERED"), "m7").contains(&id));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, w) = get(&router, &format!("/v1/webhooks/{id}"));
        if w["status"]["backlog"] == 1 {
            assert_eq!(w["status"]["paused"], true, "{w:#}");
            break;
        }
        assert!(Instant::now() < deadline, "never queued: {w:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.count(), 4, "a paused webhook delivered");
    let (status, _) = router.admin_send(
        "PATCH",
        &format!("/v1/webhooks/{id}"),
        &json!({"enabled": true}),
    );
    assert_eq!(status, 200);
    let got = sink.wait_for(5, Duration::from_secs(10));
    assert_eq!(got[4].json["data"]["message_id"], "m7");

    // A restart keeps it, filter and all.
    let dir = router.dir.clone();
    assert_eq!(router.terminate(), Some(0));
    let again = Router::spawn(&dir);
    let (status, w) = get(&again, &format!("/v1/webhooks/{id}"));
    assert_eq!(status, 200, "{}", again.log());
    assert_eq!(w["filter"], json!({"sender": [C]}));
    assert!(routes_of(&again, &status_fx("m8", C, "DELIVERED"), "m8").contains(&id));
    let got = sink.wait_for(6, Duration::from_secs(10));
    assert_eq!(got[5].json["data"]["message_id"], "m8");
    verify_in_python(&got[5], &secret);

    // Deleted: nothing more is routed to it.
    let (status, d) = again.admin_send("DELETE", &format!("/v1/webhooks/{id}"), &json!(null));
    assert_eq!((status, &d["deleted"]), (200, &json!(true)), "{d:#}");
    assert_eq!(get(&again, &format!("/v1/webhooks/{id}")).0, 404);
    assert!(!routes_of(&again, &status_fx("m9", C, "DELIVERED"), "m9").contains(&id));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.count(), 6);
    drop(router);
}

fn status_fx(id: &str, sender: &str, s: &str) -> Fixture {
    status(id, sender, s)
}

#[test]
fn every_bad_field_is_a_422_naming_it_and_unknown_ids_are_404() {
    let router = Router::start(&["kudosity"], "");
    let problems = |body: Value| {
        let (status, answer) = router.admin_send("POST", "/v1/webhooks", &body);
        assert_eq!(status, 422, "{answer:#}");
        let mut fields: Vec<(String, String)> = answer["problems"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    p["field"].as_str().unwrap_or("").to_owned(),
                    p["reason"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        fields.sort();
        fields
    };
    // Every problem at once.
    let got = problems(json!({
        "name": "x",
        "url": "ftp://crm.example.com/hooks",
        "event_types": ["SMS_STATUS", "FAX_STATUS"],
        "filter": {"sender": ["61481074185"], "colour": ["red"]},
        "rate_limit": 10_001,
    }));
    let fields: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        ["event_types", "filter.colour", "name", "rate_limit", "url"],
        "{got:#?}"
    );
    assert!(got[0].1.contains("FAX_STATUS"), "{got:#?}");
    assert!(got[2].1.contains("2 to 100"), "{got:#?}");
    assert!(got[3].1.contains("10000"), "{got:#?}");
    // One at a time, each alone.
    let base =
        json!({"name": "ok", "url": "https://crm.example.com/h", "event_types": ["OPT_OUT"]});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for (body, field, says) in [
        (with("name", "n".repeat(101).into()), "name", "length 101"),
        (
            with("url", "http://crm.example.com/h".into()),
            "url",
            "plain http",
        ),
        (with("url", "https://10.0.0.7/h".into()), "url", "10.0.0.7"),
        (
            with("url", "https://169.254.169.254/latest".into()),
            "url",
            "169.254.169.254",
        ),
        (
            with("event_types", json!(["SMS_STATUS", "PIGEON"])),
            "event_types",
            "PIGEON",
        ),
        (
            with("filter", json!({"campaign": ["x"]})),
            "filter.campaign",
            "unknown filter key",
        ),
        (
            with("rate_limit", json!(-5)),
            "rate_limit",
            "0 (default) to 10000",
        ),
        (
            with("rate_limit", json!(10_000.5)),
            "rate_limit",
            "whole number",
        ),
    ] {
        let got = problems(body);
        assert_eq!(got.len(), 1, "{got:#?}");
        assert_eq!(got[0].0, field, "{got:#?}");
        assert!(got[0].1.contains(says), "{got:#?} lacks {says}");
    }
    // The limits themselves are fine.
    let (status, _) = router.admin_send("POST", "/v1/webhooks", &with("rate_limit", json!(10_000)));
    assert_eq!(status, 201);

    let missing = "/v1/webhooks/wh_000000000000000000000000";
    assert_eq!(get(&router, missing).0, 404);
    for (method, path) in [
        ("PATCH", missing.to_owned()),
        ("DELETE", missing.to_owned()),
        ("POST", format!("{missing}/secret")),
        ("POST", format!("{missing}/test")),
    ] {
        let (status, answer) = router.admin_send(method, &path, &json!({}));
        assert_eq!(status, 404, "{method} {path}: {answer:#}");
    }
    let r = router.admin_call_with("PUT", "/v1/webhooks", &[]);
    assert_eq!(r.status, 405, "{}", r.body);
}
