use super::*;
use switchboard_plugin_sdk::testing::{Harness, check_fixtures, has_extra, run};

const CFG: &[(&str, &str)] = &[];
const H: Harness<SmsGateway24> = Harness::new(env!("CARGO_MANIFEST_DIR"), CFG, (200, b"OK"));

/// A delivery webhook body for `status_id`.
fn status_body(status: &str) -> String {
    format!(
        "POST /api/v1/smsGateway24Callback HTTP/1.1\nHost: hooks.example.com\nContent-Type: application/json\n\n{{\"sms_id\": 1, \"status_id\": {status}, \"sendto\": \"+1\"}}\n"
    )
}

#[test]
fn every_documented_status_id_maps() {
    for (raw, state) in STATUSES {
        assert_eq!(map_status(STATUSES, raw), *state, "{raw}");
        let out = run::<SmsGateway24>(&status_body(raw), CFG).unwrap();
        let EventKind::DeliveryStatus(d) = &out.events[0].kind else {
            panic!()
        };
        assert_eq!((d.state, d.provider_status.as_str()), (*state, *raw));
    }
    let ids: Vec<&str> = STATUSES.iter().map(|(k, _)| *k).collect();
    for documented in [
        "1", "3", "2", "5", "6", "7", "8", "9", "10", "11", "12", "100", "101",
    ] {
        assert!(ids.contains(&documented), "{documented}");
    }
}

#[test]
fn unknown_status_keeps_the_raw_id() {
    let out = run::<SmsGateway24>(&status_body("42"), CFG).unwrap();
    let EventKind::DeliveryStatus(d) = &out.events[0].kind else {
        panic!()
    };
    assert_eq!(
        (d.state, d.provider_status.as_str()),
        (DeliveryState::Unknown, "42")
    );
    assert_eq!(out.events[0].id, "1:42");
}

#[test]
fn delivered_status() {
    let (ev, d) = H.delivery("status-7-delivered.http");
    assert_eq!(ev.id, "4512304:7");
    assert_eq!(d.message_id, "4512304");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.provider_status, "7");
    assert_eq!(d.to.as_deref(), Some("+79161234567"));
    assert_eq!(d.channel, Channel::Sms);
    assert_eq!(d.error_code, None);
    assert_eq!(d.occurred_at, parse_datetime("2024-03-15T12:34:14Z", 0));
    assert!(has_extra(&ev, "status_message", "SMS has been Delivered"));
    assert!(has_extra(&ev, "device_id", "2211"));
    assert!(has_extra(&ev, "channel_id", "0"));
}

#[test]
fn status_families() {
    for (name, state) in [
        ("status-1-pending.http", DeliveryState::Accepted),
        ("status-3-queued.http", DeliveryState::Queued),
        ("status-2-taken-by-phone.http", DeliveryState::Queued),
        ("status-6-sent.http", DeliveryState::Sent),
        ("status-8-not-delivered.http", DeliveryState::Undelivered),
        ("status-9-generic-failure.http", DeliveryState::Failed),
        ("status-12-radio-off.http", DeliveryState::Failed),
        ("status-100-not-allowed.http", DeliveryState::Failed),
    ] {
        assert_eq!(H.delivery(name).1.state, state, "{name}");
    }
    let (_, f) = H.delivery("status-12-radio-off.http");
    assert_eq!(f.error_code.as_deref(), Some("12"));
}

#[test]
fn whatsapp_slot_sets_the_channel() {
    let (_, d) = H.delivery("status-7-whatsapp-delivered.http");
    assert_eq!(d.channel, Channel::Whatsapp);
    // Slots are config: with none WhatsApp, it is SMS.
    let out = run::<SmsGateway24>(
        &H.fixture("status-7-whatsapp-delivered.http"),
        &[("whatsapp_channels", "7")],
    )
    .unwrap();
    let EventKind::DeliveryStatus(d) = &out.events[0].kind else {
        panic!()
    };
    assert_eq!(d.channel, Channel::Sms);
}

#[test]
fn incoming_text_sms() {
    let (ev, m) = H.inbound("incoming-sms.http");
    assert_eq!(ev.id, "99120031");
    assert_eq!(m.from, "+79161234567");
    assert_eq!(m.to, "");
    assert_eq!(m.text, "Да, подтверждаю запись");
    assert_eq!(m.channel, Channel::Sms);
    assert!(m.media.is_empty());
    assert_eq!(m.occurred_at, parse_datetime("2024-03-15T12:45:01Z", 0));
    assert!(has_extra(&ev, "internal_id", "1837"));
    assert!(has_extra(&ev, "device_name", "Samsung Galaxy A12"));
    assert!(has_extra(&ev, "date_sent", "2024-03-15 12:45:00"));
    assert!(has_extra(&ev, "type", "text"));
}

#[test]
fn incoming_whatsapp_text_and_image() {
    let (_, t) = H.inbound("incoming-whatsapp-text.http");
    assert_eq!(t.channel, Channel::Whatsapp);
    assert_eq!(t.text, "Hi! Is the order shipped? 📦");
    let (ev, img) = H.inbound("incoming-whatsapp-image.http");
    assert_eq!(ev.id, "99120033");
    assert_eq!(img.channel, Channel::Whatsapp);
    assert_eq!(img.text, "");
    assert_eq!(img.media.len(), 1);
    assert_eq!(
        img.media[0].url,
        "https://smsgateway24.s3.eu-central-1.amazonaws.com/incoming/2211/99120033.jpg"
    );
    assert_eq!(img.media[0].content_type.as_deref(), Some("image/jpeg"));
    assert!(has_extra(&ev, "sim", "3"));
    assert!(!ev.extra.iter().any(|(k, _)| k == "img_url"));
}

#[test]
fn times_in_seconds_millis_or_local() {
    assert_eq!(time_ms("1710506101", 0), Some(1_710_506_101_000));
    assert_eq!(time_ms("1710506101123", 0), Some(1_710_506_101_123));
    assert_eq!(
        time_ms("2024-03-15 15:45:01", 180),
        parse_datetime("2024-03-15T12:45:01Z", 0)
    );
    assert_eq!(time_ms("-5", 0), None);
    assert_eq!(time_ms("soon", 0), None);
    let out =
        run::<SmsGateway24>(&H.fixture("incoming-sms.http"), &[("utc_offset", "+03:00")]).unwrap();
    let EventKind::InboundMessage(m) = &out.events[0].kind else {
        panic!()
    };
    assert_eq!(m.occurred_at, parse_datetime("2024-03-15T09:45:01Z", 0));
    assert!(matches!(
        run::<SmsGateway24>(&H.fixture("incoming-sms.http"), &[("utc_offset", "later")]),
        Err(PluginError::Internal(_))
    ));
}

#[test]
fn form_bodies_work_too() {
    let fx = "POST /api/v1/smsGateway24Callback HTTP/1.1\nHost: hooks.example.com\nContent-Type: application/x-www-form-urlencoded\n\nsms_id=5&status_id=8&sendto=%2B1\n";
    let out = run::<SmsGateway24>(fx, CFG).unwrap();
    assert_eq!(out.events[0].id, "5:8");
}

#[test]
fn garbage_is_a_bad_request_not_a_panic() {
    for name in ["reject-not-json.http", "reject-status-without-sms-id.http"] {
        let r = run::<SmsGateway24>(&H.fixture(name), CFG);
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
        "42",
        "{\"type\": \"img\", \"address\": \"+1\"}",
        "{\"body\": \"hi\"}",
        "{\"status_id\": [7], \"sms_id\": {}}",
        "\u{0}\u{1}{{",
    ] {
        let fx = format!(
            "POST /api/v1/smsGateway24Incoming/a HTTP/1.1\nHost: hooks.example.com\nContent-Type: application/json\n\n{body}\n"
        );
        let r = run::<SmsGateway24>(&fx, CFG);
        assert!(
            matches!(r, Err(PluginError::BadRequest(_))),
            "{body:?}: {r:?}"
        );
    }
}

/// What the end-to-end test does with every fixture: accepted ones give an
/// event under `fixtures/config.toml`, `reject-` ones are refused.
#[test]
fn every_fixture_follows_the_naming_convention() {
    assert!(check_fixtures::<SmsGateway24>(env!("CARGO_MANIFEST_DIR")) >= 10);
}
