use super::*;
use switchboard_plugin_sdk::testing::{Harness, check_fixtures, has_extra, run};

const CFG: &[(&str, &str)] = &[("api_secret", "fixture-api-secret")];
// Its outcomes carry no reply: the host answers with `accept_reply`.
const H: Harness<Kudosity> = Harness::host_reply(env!("CARGO_MANIFEST_DIR"), CFG);

/// A fixture with its body replaced (v2 is unsigned, so any body goes).
fn with_body(name: &str, body: &str) -> String {
    let fx = H.fixture(name);
    let head = fx.split("\n\n").next().unwrap();
    format!("{head}\n\n{body}\n")
}

#[test]
fn every_status_maps_and_unknown_keeps_the_raw_one() {
    for (raw, state) in STATUSES {
        assert_eq!(map_status(STATUSES, raw), *state, "{raw}");
    }
    let (ev, d) = H.delivery("sms-status-other.http");
    assert_eq!(d.state, DeliveryState::Unknown);
    assert_eq!(d.provider_status, "OTHER");
    assert_eq!(ev.id, "11111111-2222-4333-8444-555555555555:OTHER");
}

#[test]
fn sms_sent_then_delivered_share_the_message_id() {
    let (sent_ev, sent) = H.delivery("sms-status-sent.http");
    let (ev, d) = H.delivery("sms-status-delivered.http");
    assert_eq!(sent.message_id, d.message_id);
    assert_ne!(sent_ev.id, ev.id);
    assert_eq!(sent.state, DeliveryState::Sent);
    assert_eq!(ev.id, "e48d3e71-264e-4afb-9c06-edec1f0bb9d4:DELIVERED");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.provider_status, "DELIVERED");
    assert_eq!(d.from.as_deref(), Some("61481074185"));
    assert_eq!(d.to.as_deref(), Some("61400000000"));
    assert_eq!(d.message_ref.as_deref(), Some("order-9931:cust-4471"));
    assert_eq!(d.campaign_id.as_deref(), Some("summer-sale"));
    assert_eq!(d.channel, Channel::Sms);
    assert_eq!(d.error_code, None);
    // 2025-04-23T00:05:18.567890123Z
    assert_eq!(d.occurred_at, Some(1_745_366_718_567));
    assert!(has_extra(
        &ev,
        "webhook_id",
        "fd0e6485-b905-44c1-bd55-fee1d0d6d864"
    ));
    assert!(has_extra(&ev, "event_type", "SMS_STATUS"));
    assert!(has_extra(&ev, "status.routed_via", "61481074185"));
    assert!(!ev.extra.iter().any(|(k, _)| k == "status.status"));
}

#[test]
fn soft_and_hard_bounces_stay_apart() {
    let (_, soft) = H.delivery("sms-status-soft-bounce.http");
    let (_, hard) = H.delivery("sms-status-hard-bounce.http");
    assert_eq!(soft.state, DeliveryState::Undelivered);
    assert_eq!(soft.provider_status, "SOFT_BOUNCE");
    assert_eq!(soft.error_code.as_deref(), Some("soft_bounce"));
    assert_eq!(hard.state, DeliveryState::Failed);
    assert_eq!(hard.provider_status, "HARD_BOUNCE");
    assert_eq!(hard.error_code.as_deref(), Some("hard_bounce"));
    assert_eq!(
        H.delivery("sms-status-rejected.http").1.state,
        DeliveryState::Failed
    );
}

#[test]
fn mms_rcs_and_whatsapp_status_channels() {
    let (ev, mms) = H.delivery("mms-status-delivered.http");
    assert_eq!(mms.channel, Channel::Mms);
    assert!(has_extra(
        &ev,
        "status.description",
        "Sent to Vodafone (response status details: Success)"
    ));
    let (_, rcs) = H.delivery("rcs-status-read.http");
    assert_eq!(
        (rcs.channel, rcs.state),
        (Channel::Rcs, DeliveryState::Read)
    );
    assert_eq!(rcs.from.as_deref(), Some("DemoAgent"));
    let (_, wa) = H.delivery("whatsapp-status-delivered.http");
    assert_eq!(wa.channel, Channel::Whatsapp);
    assert_eq!(wa.state, DeliveryState::Delivered);
}

#[test]
fn sms_inbound_links_to_the_last_message() {
    let (ev, m) = H.inbound("sms-inbound.http");
    assert_eq!(ev.id, "alss-2way-605b31c7-d2c49104");
    assert_eq!(m.from, "447507222200");
    assert_eq!(m.to, "61481074190");
    // Untrimmed, as the handset sent it.
    assert_eq!(m.text, "YES ");
    assert_eq!(m.channel, Channel::Sms);
    assert_eq!(m.message_ref.as_deref(), Some("ncc5009d"));
    assert_eq!(m.campaign_id.as_deref(), Some("bookings"));
    assert_eq!(m.occurred_at, Some(1_620_278_193_345));
    assert!(has_extra(&ev, "mo.routed_via", "447507333300"));
    assert!(has_extra(
        &ev,
        "mo.last_message.id",
        "a51ebe4e-a412-440e-a8d9-464e68a521cc"
    ));
}

#[test]
fn mms_inbound_media_become_data_urls() {
    let (ev, m) = H.inbound("mms-inbound.http");
    assert_eq!(m.channel, Channel::Mms);
    assert_eq!(m.from, "+61400000000");
    assert_eq!(m.text, "");
    assert_eq!(m.media.len(), 1);
    assert_eq!(m.media[0].content_type.as_deref(), Some("image/jpeg"));
    assert!(m.media[0].url.starts_with("data:image/jpeg;base64,/9j/"));
    assert!(has_extra(&ev, "mo.media.0.name", "image000000.jpg"));
    // The base64 is in the media, not duplicated into extra.
    assert!(!ev.extra.iter().any(|(k, _)| k.ends_with(".content")));
}

#[test]
fn whatsapp_inbound() {
    let (_, m) = H.inbound("whatsapp-inbound.http");
    assert_eq!(m.channel, Channel::Whatsapp);
    assert_eq!(m.text, "Hola — is my order ready? 😀");
    assert_eq!(m.message_ref.as_deref(), Some("wa-order-12"));
}

#[test]
fn link_hit_event() {
    let ev = H.one(&H.fixture("link-hit.http"));
    let EventKind::LinkHit(h) = &ev.kind else {
        panic!("not a link hit")
    };
    assert_eq!(ev.id, "link:faf68308-16cd-4cf9-aef7-47342bd405be:2");
    assert_eq!(h.url, "https://www.example.com/abc");
    assert_eq!(h.recipient, "61435795809");
    assert_eq!(h.sender.as_deref(), Some("61481074185"));
    assert_eq!(h.message_ref.as_deref(), Some("D301"));
    assert_eq!(h.occurred_at, Some(1_626_822_844_789));
    assert!(has_extra(&ev, "link_hit.hits", "2"));
    assert!(
        ev.extra
            .iter()
            .any(|(k, v)| k == "link_hit.source_message.message" && v.contains("clckme"))
    );
}

#[test]
fn opt_out_by_link_and_by_sms() {
    for (name, how) in [
        ("opt-out-link.http", "LINK_HIT"),
        ("opt-out-sms.http", "SMS_INBOUND"),
    ] {
        let ev = H.one(&H.fixture(name));
        let EventKind::OptOut(o) = &ev.kind else {
            panic!("not an opt-out")
        };
        assert_eq!(o.from, "61435790000");
        assert_eq!(o.to.as_deref(), Some("61481074190"));
        assert_eq!(o.message_ref.as_deref(), Some("ncc5009d"));
        assert_eq!(o.channel, Channel::Sms);
        assert!(has_extra(&ev, "opt_out.source", how));
        assert!(ev.id.ends_with(how));
    }
    let ev = H.one(&H.fixture("opt-out-sms.http"));
    let EventKind::OptOut(o) = &ev.kind else {
        panic!()
    };
    assert_eq!(o.campaign_id.as_deref(), Some("spring"));
}

#[test]
fn v2_resends_have_the_same_id() {
    for name in [
        "sms-status-sent.http",
        "sms-inbound.http",
        "link-hit.http",
        "opt-out-link.http",
    ] {
        assert_eq!(
            H.one(&H.fixture(name)).id,
            H.one(&H.fixture(name)).id,
            "{name}"
        );
    }
}

#[test]
fn v2_needs_no_config() {
    assert!(run::<Kudosity>(&H.fixture("sms-status-delivered.http"), &[]).is_ok());
}

#[test]
fn legacy_dlr_is_signed_and_parsed() {
    let (ev, d) = H.delivery("legacy-dlr-delivered.http");
    assert_eq!(ev.id, "483979011:DELIVERED");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.to.as_deref(), Some("61429859724"));
    // 2021-04-26 04:18:00 UTC
    assert_eq!(d.occurred_at, Some(1_619_410_680_000));
    assert!(has_extra(&ev, "user_id", "63935"));
    assert!(has_extra(&ev, "rate", "10"));
    let (_, soft) = H.delivery("legacy-dlr-soft-bounce.http");
    assert_eq!(soft.state, DeliveryState::Undelivered);
    assert_eq!(soft.error_code.as_deref(), Some("soft_bounce"));
}

#[test]
fn legacy_reply_with_opt_out_gives_two_events() {
    let events = H.events("legacy-reply-optout.http");
    assert_eq!(events.len(), 2);
    let EventKind::InboundMessage(m) = &events[0].kind else {
        panic!("not inbound")
    };
    assert_eq!(events[0].id, "91827364");
    assert_eq!(m.from, "61429859724");
    assert_eq!(m.to, "61481074185");
    assert_eq!(m.text, "STOP / no more é");
    let EventKind::OptOut(o) = &events[1].kind else {
        panic!("not an opt-out")
    };
    assert_eq!(o.from, "61429859724");
    assert_eq!(events[1].id, "optout:91827364");
    assert!(has_extra(&events[0], "message_id", "483979011"));
}

#[test]
fn legacy_signature_rejects() {
    let bad = run::<Kudosity>(&H.fixture("reject-legacy-bad-signature.http"), CFG);
    assert!(matches!(bad, Err(PluginError::Unauthorized(_))), "{bad:?}");
    let wrong_secret = run::<Kudosity>(
        &H.fixture("legacy-dlr-delivered.http"),
        &[("api_secret", "other")],
    );
    assert!(matches!(wrong_secret, Err(PluginError::Unauthorized(_))));
    let no_secret = run::<Kudosity>(&H.fixture("legacy-dlr-delivered.http"), &[]);
    assert!(matches!(no_secret, Err(PluginError::Unauthorized(_))));
    let tampered = H
        .fixture("legacy-dlr-delivered.http")
        .replace("status=delivered", "status=hard-bounce");
    assert!(matches!(
        run::<Kudosity>(&tampered, CFG),
        Err(PluginError::Unauthorized(_))
    ));
    let unsigned = H
        .fixture("legacy-dlr-delivered.http")
        .replace("X-Transmitsms-Signature", "X-Other");
    assert!(matches!(
        run::<Kudosity>(&unsigned, CFG),
        Err(PluginError::Unauthorized(_))
    ));
}

#[test]
fn php_json_encoding_matches_php() {
    let pairs = vec![
        ("a.b c".to_string(), "x/y é \"q\"\n😀".to_string()),
        ("n".to_string(), "1".to_string()),
    ];
    let parsed = php_parse_str(&Params(pairs));
    assert_eq!(parsed[0].0, "a_b_c");
    assert_eq!(
        php_json_object(&parsed, true),
        r#"{"a_b_c":"x\/y \u00e9 \"q\"\n\ud83d\ude00","n":"1"}"#
    );
    let dup = php_parse_str(&Params(vec![
        ("a".into(), "1".into()),
        ("b".into(), "2".into()),
        ("a".into(), "3".into()),
    ]));
    assert_eq!(php_json_object(&dup, false), r#"{"a":"3","b":"2"}"#);
}

#[test]
fn garbage_is_a_bad_request_not_a_panic() {
    let r = run::<Kudosity>(&H.fixture("reject-not-json.http"), CFG);
    assert!(matches!(r, Err(PluginError::BadRequest(_))), "{r:?}");
    for body in [
        "",
        "[]",
        "{}",
        "null",
        "{\"status\": {\"id\": \"x\"}}",
        "{\"status\": {\"status\": \"SENT\"}}",
        "{\"mo\": {\"message\": \"hi\"}}",
        "{\"link_hit\": {\"url\": \"https://a\"}}",
        "{\"opt_out\": {}}",
        "{\"status\": 5, \"mo\": [1]}",
        "\u{0}\u{1}{{{",
    ] {
        let r = run::<Kudosity>(&with_body("sms-status-sent.http", body), CFG);
        assert!(
            matches!(r, Err(PluginError::BadRequest(_))),
            "{body:?}: {r:?}"
        );
    }
    let r = run::<Kudosity>(
        &with_body("sms-status-sent.http", r#"{"event_type": "VOICE_STATUS"}"#),
        CFG,
    );
    assert!(matches!(r, Err(PluginError::Unsupported(_))), "{r:?}");
    // A GET with no parameters at all.
    let r = run::<Kudosity>(
        "GET /api/v1/kudosityCallback HTTP/1.1\nHost: hooks.example.com\n\n",
        CFG,
    );
    assert!(matches!(r, Err(PluginError::BadRequest(_))), "{r:?}");
}

#[test]
fn numbers_and_odd_types_do_not_panic() {
    let body = r#"{"event_type": "SMS_STATUS", "timestamp": 12, "status": {"id": 42, "status": "DELIVERED", "type": 7, "sender": null, "recipient": ["x"]}}"#;
    let ev = run::<Kudosity>(&with_body("sms-status-sent.http", body), CFG).unwrap();
    let EventKind::DeliveryStatus(d) = &ev.events[0].kind else {
        panic!()
    };
    assert_eq!(d.message_id, "42");
    assert_eq!(d.channel, Channel::Other);
    assert_eq!(d.occurred_at, None);
}

#[test]
fn reply_is_200() {
    let info = Kudosity::describe();
    assert_eq!(info.accept_reply.status, 200);
    let out = run::<Kudosity>(&H.fixture("sms-status-sent.http"), CFG).unwrap();
    assert!(out.reply.is_none());
    assert!(
        info.routes
            .iter()
            .all(|r| r.methods.contains(&Method::Get) && r.methods.contains(&Method::Post))
    );
}

/// What the end-to-end test does with every fixture: accepted ones give an
/// event under `fixtures/config.toml`, `reject-` ones are refused.
#[test]
fn every_fixture_follows_the_naming_convention() {
    assert!(check_fixtures::<Kudosity>(env!("CARGO_MANIFEST_DIR")) >= 10);
}
