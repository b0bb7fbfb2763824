use super::*;
use switchboard_plugin_sdk::testing::{Harness, check_fixtures, delivery_status, has_extra, run};

const CFG: &[(&str, &str)] = &[];
// Its outcomes carry no reply: the host answers with `accept_reply`.
const H: Harness<Sinch> = Harness::host_reply(env!("CARGO_MANIFEST_DIR"), CFG);

fn with_body(body: &str) -> String {
    format!(
        "POST /api/v1/sinchCallback HTTP/1.1\nHost: hooks.example.com\nContent-Type: application/json\n\n{body}\n"
    )
}

#[test]
fn every_status_maps_and_unknown_keeps_the_raw_one() {
    for (raw, state) in STATUSES {
        assert_eq!(map_status(STATUSES, raw), *state, "{raw}");
    }
    let body = r#"{"type": "recipient_delivery_report_sms", "batch_id": "B", "recipient": "1", "status": "Teleported", "code": 499}"#;
    let out = run::<Sinch>(&with_body(body), CFG).unwrap();
    let d = delivery_status(&out.events[0]);
    assert_eq!(
        (d.state, d.provider_status.as_str()),
        (DeliveryState::Unknown, "Teleported")
    );
    assert_eq!(d.error_code.as_deref(), Some("499"));
}

#[test]
fn recipient_delivered() {
    let (ev, d) = H.delivery("recipient-delivered.http");
    assert_eq!(ev.id, "01FC66621XXXXX119Z8PMV1QPQ:44231235674:Delivered:0");
    assert_eq!(d.message_id, "01FC66621XXXXX119Z8PMV1QPQ:44231235674");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.provider_status, "Delivered");
    assert_eq!(d.error_code, None);
    assert_eq!(d.to.as_deref(), Some("44231235674"));
    assert_eq!(d.from.as_deref(), Some("MyShop"));
    assert_eq!(d.message_ref.as_deref(), Some("order-7731"));
    assert_eq!(d.channel, Channel::Sms);
    // operator_status_at wins over at.
    assert_eq!(d.occurred_at, parse_datetime("2022-08-30T08:16:00Z", 0));
    assert!(has_extra(&ev, "batch_id", "01FC66621XXXXX119Z8PMV1QPQ"));
    assert!(has_extra(&ev, "at", "2022-08-30T08:16:08.930Z"));
    assert!(has_extra(&ev, "operator", "23415"));
    assert!(has_extra(&ev, "number_of_message_parts", "1"));
    assert!(has_extra(&ev, "type", "recipient_delivery_report_sms"));
}

#[test]
fn recipient_status_families() {
    for (name, state, code) in [
        ("recipient-queued.http", DeliveryState::Queued, None),
        ("recipient-dispatched.http", DeliveryState::Sent, None),
        ("recipient-failed.http", DeliveryState::Failed, Some("406")),
        (
            "recipient-rejected.http",
            DeliveryState::Failed,
            Some("403"),
        ),
        (
            "recipient-expired.http",
            DeliveryState::Expired,
            Some("405"),
        ),
    ] {
        let (_, d) = H.delivery(name);
        assert_eq!((d.state, d.error_code.as_deref()), (state, code), "{name}");
    }
    let (_, queued) = H.delivery("recipient-queued.http");
    // No operator_status_at: the report's `at`.
    assert_eq!(
        queued.occurred_at,
        parse_datetime("2022-08-30T08:15:58.010Z", 0)
    );
    let (_, mms) = H.delivery("recipient-mms-delivered.http");
    assert_eq!(mms.channel, Channel::Mms);
}

#[test]
fn full_batch_report_gives_one_event_per_recipient() {
    let evs = H.events("batch-full.http");
    assert_eq!(evs.len(), 3);
    let ds: Vec<DeliveryStatus> = evs.iter().map(delivery_status).collect();
    assert_eq!(ds[0].message_id, "01FC77731YYYYY229Z9QNW2RQR:44231235674");
    assert_eq!(ds[1].to.as_deref(), Some("44231235679"));
    assert_eq!(ds[0].state, DeliveryState::Delivered);
    assert_eq!(ds[2].state, DeliveryState::Failed);
    assert_eq!(ds[2].error_code.as_deref(), Some("402"));
    assert_eq!(ds[2].message_ref.as_deref(), Some("campaign-spring"));
    assert!(has_extra(&evs[0], "status.count", "2"));
    assert!(has_extra(&evs[0], "total_message_count", "3"));
    let ids: std::collections::HashSet<_> = evs.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids.len(), 3);
}

#[test]
fn summary_batch_report_gives_one_event_per_status() {
    let evs = H.events("batch-summary.http");
    assert_eq!(evs.len(), 2);
    let d = delivery_status(&evs[0]);
    assert_eq!(d.message_id, "01FC88841ZZZZZ339A0ROX3SRS");
    assert_eq!(d.to, None);
    assert_eq!(evs[0].id, "01FC88841ZZZZZ339A0ROX3SRS:*:Delivered:0");
    assert!(has_extra(&evs[1], "status.count", "1"));
}

#[test]
fn mo_text() {
    let (ev, m) = H.inbound("mo-text.http");
    assert_eq!(ev.id, "01FC66621VHDBN119Z8PMV1QPA");
    assert_eq!(m.from, "16051234567");
    assert_eq!(m.to, "13185551234");
    assert_eq!(m.text, "Yes, please — see you at 3 ✓");
    assert_eq!(m.occurred_at, parse_datetime("2022-08-24T14:15:22Z", 0));
    assert!(has_extra(&ev, "operator_id", "310260"));
    assert!(has_extra(&ev, "sent_at", "2022-08-24T14:15:21Z"));
}

#[test]
fn mo_binary_keeps_the_payload_as_media() {
    let (ev, m) = H.inbound("mo-binary.http");
    assert_eq!(m.text, "");
    assert_eq!(m.media.len(), 1);
    assert_eq!(
        m.media[0].url,
        "data:application/octet-stream;base64,AAECAwQFBgcICQ=="
    );
    assert!(has_extra(&ev, "udh", "050003CC0201"));
}

#[test]
fn mo_media_lists_urls() {
    let (ev, m) = H.inbound("mo-media.http");
    assert_eq!(m.channel, Channel::Mms);
    assert_eq!(m.text, "Here is the receipt");
    assert_eq!(
        m.media[0].url,
        "https://mms.example-sinch.com/media/abc123.jpg"
    );
    assert_eq!(m.media[0].content_type.as_deref(), Some("image/jpeg"));
    assert!(has_extra(&ev, "body.subject", "Photo"));
    assert!(has_extra(&ev, "body.media.0.status", "Uploaded"));
}

#[test]
fn arrays_of_callbacks_are_taken() {
    let one = H.fixture("recipient-delivered.http");
    let body = one.split("\n\n").nth(1).unwrap().trim();
    let out = run::<Sinch>(&with_body(&format!("[{body}, {body}]")), CFG).unwrap();
    assert_eq!(out.events.len(), 2);
}

#[test]
fn garbage_is_a_bad_request_not_a_panic() {
    for name in ["reject-not-json.http", "reject-report-without-batch.http"] {
        let r = run::<Sinch>(&H.fixture(name), CFG);
        assert!(
            matches!(r, Err(PluginError::BadRequest(_))),
            "{name}: {r:?}"
        );
    }
    for body in [
        "",
        "[]",
        "{}",
        "null",
        "[1]",
        "{\"type\": \"delivery_report_sms\", \"batch_id\": \"b\"}",
        "{\"type\": \"delivery_report_sms\", \"batch_id\": \"b\", \"statuses\": [{}]}",
        "{\"type\": \"recipient_delivery_report_sms\", \"batch_id\": \"b\", \"recipient\": \"1\"}",
        "{\"type\": \"mo_text\", \"body\": \"hi\"}",
        "\u{0}{{",
    ] {
        let r = run::<Sinch>(&with_body(body), CFG);
        assert!(
            matches!(r, Err(PluginError::BadRequest(_))),
            "{body:?}: {r:?}"
        );
    }
    for body in [r#"{"type": "voice_callback"}"#, r#"{"type": 5}"#] {
        let r = run::<Sinch>(&with_body(body), CFG);
        assert!(matches!(r, Err(PluginError::Unsupported(_))), "{r:?}");
    }
    // Odd shapes inside a valid report are tolerated.
    let odd =
        r#"{"type": "mo_media", "from": 1, "to": null, "body": {"media": [{"url": 7}, "x"]}}"#;
    let out = run::<Sinch>(&with_body(odd), CFG).unwrap();
    let EventKind::InboundMessage(m) = &out.events[0].kind else {
        panic!()
    };
    assert_eq!((m.from.as_str(), m.media.len()), ("1", 1));
}

#[test]
fn reply_is_200() {
    assert_eq!(Sinch::describe().accept_reply.status, 200);
    assert!(
        run::<Sinch>(&H.fixture("mo-text.http"), CFG)
            .unwrap()
            .reply
            .is_none()
    );
}

/// What the end-to-end test does with every fixture: accepted ones give an
/// event under `fixtures/config.toml`, `reject-` ones are refused.
#[test]
fn every_fixture_follows_the_naming_convention() {
    assert!(check_fixtures::<Sinch>(env!("CARGO_MANIFEST_DIR")) >= 10);
}
