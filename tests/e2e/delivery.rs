//! Callback in, normalized event out: signatures, duplicates, stale states,
//! a destination that is down and comes back.

use std::time::Duration;

use crate::support::*;

#[test]
fn valid_twilio_callback_is_acked_and_forwarded_as_a_normalized_event() {
    let sink = Sink::start();
    let router = Router::start(&["twilio"], &http_destination(&sink.url()));
    let reply = router.send(&fixture("twilio", "status-delivered.http"));
    assert_eq!(reply.status, 200, "{reply:?}\n{}", router.log());
    assert_eq!(reply.body, "");

    let got = sink.wait_for(1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    let ev = &got[0].json;
    assert_eq!(ev["type"], "delivery-status");
    assert_eq!(ev["provider"], "twilio");
    assert_eq!(
        ev["data"]["message_id"],
        "SM5f3e2a1b0c9d8e7f6a5b4c3d2e1f0a9b"
    );
    assert_eq!(ev["data"]["state"], "delivered");
    assert_eq!(ev["data"]["final"], true);
    assert_eq!(ev["data"]["occurred_at"], "2023-11-23T14:15:00.000Z");
    assert_eq!(
        ev["extra"]["AccountSid"],
        "AC00000000000000000000000000000001"
    );
    assert!(ev["id"].as_str().unwrap().starts_with("evt_"));
    let webhook_id = got[0]
        .headers
        .iter()
        .find(|(k, _)| k == "webhook-id")
        .map(|(_, v)| v.clone());
    assert_eq!(webhook_id.as_deref(), ev["id"].as_str());
}

#[test]
fn inbound_message_gets_empty_twiml_and_carries_the_app_code() {
    let sink = Sink::start();
    let router = Router::start(&["twilio"], &http_destination(&sink.url()));
    let reply = router.send(&fixture("twilio", "inbound-mms.http"));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/xml"));
    assert!(
        reply.body.contains("<Response></Response>"),
        "{}",
        reply.body
    );
    let got = sink.wait_for(1, Duration::from_secs(10));
    let ev = &got[0].json;
    assert_eq!(ev["type"], "inbound-message");
    assert_eq!(ev["app_code"], "shop1");
    assert_eq!(ev["data"]["channel"], "mms");
    assert_eq!(ev["data"]["media"].as_array().unwrap().len(), 2);
}

#[test]
fn bad_signature_is_403_and_nothing_is_forwarded() {
    let sink = Sink::start();
    let router = Router::start(&["twilio"], &http_destination(&sink.url()));
    let reply = router.send(&fixture("twilio", "reject-bad-signature.http"));
    assert_eq!(reply.status, 403);
    assert!(reply.body.contains("X-Twilio-Signature"), "{}", reply.body);
    // A valid callback after it is forwarded: the queue works, the bad one never came.
    assert_eq!(
        router.send(&fixture("twilio", "status-sent.http")).status,
        200
    );
    let got = sink.wait_for(1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.count(), 1);
    assert_eq!(got[0].json["data"]["state"], "sent");
}

#[test]
fn duplicate_callback_is_acked_but_forwarded_once() {
    let sink = Sink::start();
    let router = Router::start(&["twilio"], &http_destination(&sink.url()));
    for _ in 0..3 {
        assert_eq!(router.post("twilio", "status-delivered.http"), 200);
    }
    // A later distinct event proves the duplicates had their chance to be sent.
    assert_eq!(router.post("twilio", "status-whatsapp-read.http"), 200);
    // Two messages, two lanes: their order between them is free.
    let mut states = sink.settled_states(2);
    states.sort();
    assert_eq!(states, vec!["delivered", "read"]);
}

#[test]
fn stale_sent_after_delivered_is_not_forwarded() {
    let sink = Sink::start();
    let router = Router::start(&["twilio"], &http_destination(&sink.url()));
    assert_eq!(router.post("twilio", "status-delivered.http"), 200);
    // Same message, late `sent`: acknowledged (the provider did nothing wrong) but not forwarded.
    assert_eq!(router.post("twilio", "status-sent.http"), 200);
    assert_eq!(router.post("twilio", "status-whatsapp-read.http"), 200);
    // Two messages, two lanes: their order between them is free.
    let mut states = sink.settled_states(2);
    states.sort();
    assert_eq!(states, vec!["delivered", "read"]);
}

#[test]
fn destination_down_then_up_gets_everything_in_order() {
    let addr = Sink::reserve_port();
    let router = Router::start(
        &["twilio"],
        &http_destination(&format!("http://{addr}/hook")),
    );
    for name in ["status-sent.http", "status-delivered.http"] {
        assert_eq!(router.send(&fixture("twilio", name)).status, 200);
    }
    std::thread::sleep(Duration::from_millis(500));
    let sink = Sink::start_on(std::net::TcpListener::bind(addr).unwrap());
    let got = sink.wait_for(2, Duration::from_secs(15));
    let states: Vec<_> = got
        .iter()
        .map(|r| r.json["data"]["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, vec!["sent", "delivered"], "{}", router.log());
}

#[test]
fn mysmsgate_incoming_and_delivery_reach_the_file_destination() {
    let router = Router::start(
        &["mysmsgate"],
        "[destinations.log]\nkind = \"file\"\npath = \"events.jsonl\"\n\n[[routes]]\nname = \"all\"\nto = [\"log\"]\n",
    );
    assert_eq!(
        router.send(&fixture("mysmsgate", "incoming.http")).status,
        200
    );
    assert_eq!(
        router.send(&fixture("mysmsgate", "delivered.http")).status,
        200
    );
    assert_eq!(
        router
            .send(&fixture("mysmsgate", "reject-bad-signature.http"))
            .status,
        403
    );
    let path = router.dir.join("events.jsonl");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut lines = Vec::new();
    while std::time::Instant::now() < deadline {
        lines = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        if lines.len() >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let kinds: Vec<String> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(kinds, vec!["inbound-message", "delivery-status"]);
}

#[test]
fn destination_answering_500_is_retried_until_it_accepts() {
    let sink = Sink::start();
    sink.status.store(500, std::sync::atomic::Ordering::SeqCst);
    let router = Router::start(&["twilio"], &http_destination(&sink.url()));
    assert_eq!(
        router.send(&fixture("twilio", "status-failed.http")).status,
        200
    );
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(sink.count(), 0);
    sink.status.store(200, std::sync::atomic::Ordering::SeqCst);
    let got = sink.wait_for(1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json["data"]["error_code"], "30008");
}
