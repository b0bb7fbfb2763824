use super::*;
use switchboard_plugin_sdk::testing::{Harness, check_fixtures, delivery_status, extra, run};

const CFG: &[(&str, &str)] = &[];
const H: Harness<Infobip> = Harness::new(env!("CARGO_MANIFEST_DIR"), CFG, (200, b""));

fn post(body: &str) -> Result<Outcome, PluginError> {
    run::<Infobip>(
        &format!(
            "POST /api/v1/infobipCallback HTTP/1.1\nHost: hooks.example.com\nContent-Type: application/json\n\n{body}\n"
        ),
        CFG,
    )
}

#[test]
fn every_status_maps_and_unknown_keeps_the_raw_one() {
    for (raw, state) in STATUSES {
        assert_eq!(map_status(STATUSES, raw), *state);
    }
    // An unlisted name falls back to its group...
    let out = post(
        r#"{"results":[{"messageId":"m1","status":{"groupName":"REJECTED","name":"REJECTED_SOMETHING_NEW"}}]}"#,
    )
    .unwrap();
    let EventKind::DeliveryStatus(d) = &out.events[0].kind else {
        panic!()
    };
    assert_eq!(
        (d.state, d.provider_status.as_str()),
        (DeliveryState::Failed, "REJECTED_SOMETHING_NEW")
    );
    // ...and an unknown group too is unknown, raw kept.
    let out = post(
        r#"{"results":[{"messageId":"m2","status":{"groupName":"TELEPORTED","name":"TELEPORTED_AWAY"}}]}"#,
    )
    .unwrap();
    let EventKind::DeliveryStatus(d) = &out.events[0].kind else {
        panic!()
    };
    assert_eq!(
        (d.state, d.provider_status.as_str()),
        (DeliveryState::Unknown, "TELEPORTED_AWAY")
    );
    assert_eq!(out.events[0].id, "m2:TELEPORTED_AWAY");
}

#[test]
fn delivered_batch_is_one_event_per_result() {
    let all = H.events("delivered-batch.http");
    assert_eq!(all.len(), 2);
    let (ev, d) = (&all[0], delivery_status(&all[0]));
    assert_eq!(ev.id, "4019946523210359371:DELIVERED_TO_HANDSET");
    assert_eq!(d.message_id, "4019946523210359371");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.provider_status, "DELIVERED_TO_HANDSET");
    assert_eq!(d.to.as_deref(), Some("41793026727"));
    assert_eq!(d.from.as_deref(), Some("InfoSMS"));
    assert_eq!(d.channel, Channel::Sms);
    assert_eq!(d.message_ref.as_deref(), Some("order-A-1042"));
    assert_eq!(d.campaign_id.as_deref(), Some("BULK-2023-11-14-0042"));
    assert_eq!(d.error_code, None);
    // doneAt 2023-11-14T22:12:58.000+0000
    assert_eq!(d.occurred_at, Some(1_699_999_978_000));
    assert_eq!(extra(ev, "status.groupName"), Some("DELIVERED"));
    assert_eq!(extra(ev, "price.pricePerMessage"), Some("0.0085"));
    assert_eq!(extra(ev, "mccMnc"), Some("22801"));
    assert_eq!(
        extra(ev, "platform.entityId"),
        Some("promotional-traffic-entity")
    );
    assert_eq!(extra(ev, "error.name"), Some("NO_ERROR"));
    assert_eq!(extra(ev, "messageId"), None);
    let op = delivery_status(&all[1]);
    assert_eq!(op.state, DeliveryState::Sent);
    assert_eq!(op.occurred_at, Some(1_699_999_973_500));
}

#[test]
fn undeliverable_expired_rejected_pending() {
    let (ev, u) = H.delivery("undeliverable.http");
    assert_eq!(
        (u.state, u.error_code.as_deref()),
        (DeliveryState::Undelivered, Some("1"))
    );
    assert_eq!(extra(&ev, "error.name"), Some("EC_UNKNOWN_SUBSCRIBER"));
    assert_eq!(extra(&ev, "error.permanent"), Some("true"));
    let (_, e) = H.delivery("expired.http");
    assert_eq!(
        (e.state, e.error_code.as_deref()),
        (DeliveryState::Expired, Some("27"))
    );
    // REJECTED_PREFIX_MISSING is not listed: its group decides.
    let (_, r) = H.delivery("rejected.http");
    assert_eq!(
        (r.state, r.provider_status.as_str()),
        (DeliveryState::Failed, "REJECTED_PREFIX_MISSING")
    );
    assert_eq!(H.delivery("pending.http").1.state, DeliveryState::Sent);
}

#[test]
fn whatsapp_delivered_and_seen() {
    let (_, d) = H.delivery("whatsapp-delivered.http");
    assert_eq!(
        (d.state, d.channel),
        (DeliveryState::Delivered, Channel::Whatsapp)
    );
    assert_eq!(d.from.as_deref(), Some("447860099299"));
    let (ev, s) = H.delivery("whatsapp-seen.http");
    assert_eq!(ev.id, "a28dd97c-1ffb-4fcf-99f1-0b557ed381da:SEEN");
    assert_eq!(
        (s.state, s.channel),
        (DeliveryState::Read, Channel::Whatsapp)
    );
    // seenAt 2023-11-14T22:13:02.870+0000
    assert_eq!(s.occurred_at, Some(1_699_999_982_870));
    assert_eq!(extra(&ev, "sentAt"), Some("2023-11-14T22:12:55.020+0000"));
}

#[test]
fn inbound_batch() {
    let out = H.outcome(&H.fixture("inbound-sms.http"));
    assert_eq!(out.events.len(), 2);
    assert_eq!(out.reply.as_ref().unwrap().status, 200);
    let ev = &out.events[0];
    assert_eq!(ev.id, "817790313235066447");
    let EventKind::InboundMessage(m) = &ev.kind else {
        panic!()
    };
    assert_eq!(m.from, "385916242493");
    assert_eq!(m.to, "385921004026");
    assert_eq!(m.text, "QUIZ Correct answer is Paris");
    assert_eq!(m.occurred_at, Some(1_699_999_985_000));
    assert_eq!(m.message_ref.as_deref(), Some("callbackData"));
    assert_eq!(extra(ev, "keyword"), Some("QUIZ"));
    assert_eq!(extra(ev, "cleanText"), Some("Correct answer is Paris"));
    assert_eq!(extra(ev, "messageCount"), Some("2"));
    let EventKind::InboundMessage(m2) = &out.events[1].kind else {
        panic!()
    };
    assert_eq!(m2.text, "Želim još informacija 🙂");
    assert_eq!(m2.message_ref, None);
}

#[test]
fn inbound_without_id_gets_a_stable_one() {
    let body = r#"{"results":[{"from":"385916242493","to":"385921004026","text":"hi","receivedAt":"2023-11-14T22:13:05.000+0000"}]}"#;
    let a = post(body).unwrap();
    let b = post(body).unwrap();
    assert_eq!(a.events[0].id, b.events[0].id);
    assert_eq!(a.events[0].id.len(), 24);
}

#[test]
fn garbage_is_a_bad_request_not_a_panic() {
    for body in [
        "",
        "not json",
        "[]",
        "{}",
        r#"{"results":{}}"#,
        r#"{"results":[1]}"#,
        r#"{"results":[{}]}"#,
        r#"{"results":[{"status":{"name":"DELIVERED_TO_HANDSET"}}]}"#,
        r#"{"results":[{"text":"no sender"}]}"#,
        r#"{"results":[{"messageId":"m","doneAt":"2023-11-14T22:12:58+0é0","status":{}}]}"#,
    ] {
        let r = post(body);
        if body.contains("0é0") {
            // A bad time is no reason to refuse a report: no time.
            let out = r.unwrap();
            let EventKind::DeliveryStatus(d) = &out.events[0].kind else {
                panic!()
            };
            assert_eq!((d.occurred_at, d.state), (None, DeliveryState::Unknown));
            continue;
        }
        assert!(
            matches!(r, Err(PluginError::BadRequest(_))),
            "{body}: {r:?}"
        );
    }
    for bad in ["reject-not-json.http", "reject-no-message-id.http"] {
        assert!(matches!(
            run::<Infobip>(&H.fixture(bad), CFG),
            Err(PluginError::BadRequest(_))
        ));
    }
    // An empty batch is accepted with no events.
    assert!(post(r#"{"results":[]}"#).unwrap().events.is_empty());
}

#[test]
fn reply_and_routes() {
    let info = Infobip::describe();
    assert_eq!(info.accept_reply.status, 200);
    assert!(info.config_keys.is_empty());
    assert_eq!(info.routes.len(), 2);
}

/// What the end-to-end test does with every fixture: accepted ones give an
/// event under `fixtures/config.toml`, `reject-` ones are refused.
#[test]
fn every_fixture_follows_the_naming_convention() {
    assert_eq!(H.fixture("config.toml"), "");
    assert_eq!(check_fixtures::<Infobip>(env!("CARGO_MANIFEST_DIR")), 10);
}
