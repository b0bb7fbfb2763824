use super::*;
use switchboard_plugin_sdk::testing::{Harness, Sweep, extra, run, run_at, serve_certificate};

const CERT: &str = include_str!("../fixtures-src/test-cert.pem");
const OTHER_CERT: &str = include_str!("../fixtures-src/other-cert.pem");
const TOPICS: &str = "arn:aws:sns:us-east-1:123456789012:sms-delivery-status,arn:aws:sns:us-east-1:123456789012:sms-inbound";
const CERT_URL: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem";

const CFG: &[(&str, &str)] = &[("allowed_topics", TOPICS), ("certificate_pem", CERT)];
// Its outcomes carry no reply: the host answers with `accept_reply`.
const H: Harness<AwsSns> = Harness::host_reply(env!("CARGO_MANIFEST_DIR"), CFG);

fn is_unauthorized(r: Result<Outcome, PluginError>) -> bool {
    matches!(r, Err(PluginError::Unauthorized(_)))
}

#[test]
fn every_status_maps_and_unknown_keeps_the_raw_one() {
    for (raw, state) in STATUSES {
        assert_eq!(map_status(STATUSES, raw), *state);
    }
    assert_eq!(map_status(STATUSES, "TELEPORTED"), DeliveryState::Unknown);
    // An unknown eventType from a signed message: unknown, raw kept.
    let fx = H.fixture("eum-text-delivered-v1.http");
    let out = run_at::<AwsSns>(&fx, CFG, 1_700_000_000_000).unwrap();
    assert_eq!(out.events.len(), 1);
    let record = r#"{"eventType":"TEXT_TELEPORTED","messageId":"m-1"}"#;
    let events = notification(&envelope_with(record)).unwrap();
    let EventKind::DeliveryStatus(d) = &events[0].kind else {
        panic!()
    };
    assert_eq!(d.state, DeliveryState::Unknown);
    assert_eq!(d.provider_status, "TEXT_TELEPORTED");
    assert_eq!(events[0].id, "m-1:TEXT_TELEPORTED");
}

fn envelope_with(message: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("Type".into(), "Notification".into());
    m.insert("Message".into(), message.into());
    m.insert("Timestamp".into(), "2023-11-14T22:13:05.123Z".into());
    m
}

#[test]
fn end_user_messaging_delivered_signature_v1() {
    let (ev, d) = H.delivery("eum-text-delivered-v1.http");
    assert_eq!(ev.id, "0e7b0a7c-3f1d-4c6e-9a53-2b7d1c1f5a01:TEXT_DELIVERED");
    assert_eq!(d.message_id, "0e7b0a7c-3f1d-4c6e-9a53-2b7d1c1f5a01");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.provider_status, "TEXT_DELIVERED");
    assert_eq!(d.from.as_deref(), Some("+12065550152"));
    assert_eq!(d.to.as_deref(), Some("+14255550156"));
    assert_eq!(d.channel, Channel::Sms);
    assert_eq!(d.occurred_at, Some(1_699_999_984_871));
    assert_eq!(d.error_code, None);
    assert_eq!(extra(&ev, "carrierName"), Some("T-Mobile USA, Inc."));
    assert_eq!(extra(&ev, "context.order"), Some("A-1042"));
    assert_eq!(extra(&ev, "isFinal"), Some("true"));
    assert_eq!(extra(&ev, "totalMessagePrice"), Some("0.00581"));
    assert_eq!(
        extra(&ev, "sns.MessageId"),
        Some("5f0b8c7a-1111-5a2b-9c3d-000000000001")
    );
    assert_eq!(
        extra(&ev, "sns.TopicArn"),
        Some("arn:aws:sns:us-east-1:123456789012:sms-delivery-status")
    );
    assert_eq!(extra(&ev, "messageId"), None);
    assert_eq!(extra(&ev, "sns.Message"), None);
}

#[test]
fn end_user_messaging_families_signature_v2() {
    let (_, s) = H.delivery("eum-text-successful-v2.http");
    assert_eq!(s.state, DeliveryState::Sent);
    let (_, p) = H.delivery("eum-text-pending.http");
    assert_eq!(p.state, DeliveryState::Queued);
    let (_, u) = H.delivery("eum-text-carrier-unreachable.http");
    assert_eq!(
        (u.state, u.error_code.as_deref()),
        (DeliveryState::Undelivered, Some("CARRIER_UNREACHABLE"))
    );
    let (_, f) = H.delivery("eum-text-invalid.http");
    assert_eq!(
        (f.state, f.error_code.as_deref()),
        (DeliveryState::Failed, Some("INVALID"))
    );
    let (_, e) = H.delivery("eum-text-ttl-expired.http");
    assert_eq!(e.state, DeliveryState::Expired);
    let (ev, m) = H.delivery("eum-media-delivered.http");
    assert_eq!(
        (m.state, m.channel),
        (DeliveryState::Delivered, Channel::Mms)
    );
    assert_eq!(
        extra(&ev, "mediaUrls"),
        Some(r#"["s3://example-bucket/cat.jpg"]"#)
    );
}

#[test]
fn classic_sns_sms_delivery_status() {
    let (ev, d) = H.delivery("sns-sms-success.http");
    assert_eq!(ev.id, "34d9b400-c6dd-5444-820d-fbeb0f1f54cf:SUCCESS");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.to.as_deref(), Some("+15555550123"));
    // 2023-11-14 22:12:58.412 UTC
    assert_eq!(d.occurred_at, Some(1_699_999_978_412));
    assert_eq!(
        extra(&ev, "delivery.phoneCarrier"),
        Some("Verizon Wireless")
    );
    assert_eq!(extra(&ev, "delivery.priceInUSD"), Some("0.00645"));
    assert_eq!(extra(&ev, "sns.Subject"), Some("SMS delivery status"));
    let (_, f) = H.delivery("sns-sms-failure.http");
    assert_eq!(f.state, DeliveryState::Failed);
    assert_eq!(
        f.error_code.as_deref(),
        Some("Unknown error attempting to reach phone")
    );
}

#[test]
fn two_way_sms_is_an_inbound_message() {
    let (ev, m) = H.inbound("inbound-sms.http");
    assert_eq!(ev.id, "cae173d2-66b9-564c-8309-21f858e9fb84");
    assert_eq!(m.from, "+14255550182");
    assert_eq!(m.to, "+12125550101");
    assert_eq!(m.text, "Yes please, Zürich at 10 ✓");
    assert_eq!(
        m.message_ref.as_deref(),
        Some("0e7b0a7c-3f1d-4c6e-9a53-2b7d1c1f5a01")
    );
    // The SNS Timestamp: 2023-11-14T22:13:05.123Z
    assert_eq!(m.occurred_at, Some(1_699_999_985_123));
    assert_eq!(extra(&ev, "messageKeyword"), Some("JOIN"));
}

#[test]
fn stop_keyword_is_also_an_opt_out() {
    let events = H.events("inbound-stop-opt-out.http");
    assert_eq!(events.len(), 2);
    assert!(matches!(events[0].kind, EventKind::InboundMessage(_)));
    let EventKind::OptOut(o) = &events[1].kind else {
        panic!()
    };
    assert_eq!(events[1].id, "d1e2f3a4-66b9-564c-8309-21f858e9fb85:opt-out");
    assert_eq!(o.from, "+14255550183");
    assert_eq!(o.to.as_deref(), Some("+12125550101"));
    assert_eq!(
        o.message_ref.as_deref(),
        Some("7a1c2e3f-0000-4b4b-8c8c-0000000000a5")
    );
}

#[test]
fn subscription_confirmation_asks_the_host_to_confirm() {
    let out = H.outcome(&H.fixture("subscription-confirmation.http"));
    assert!(out.events.is_empty());
    assert_eq!(out.actions.len(), 1);
    let Action::ConfirmSubscription(c) = &out.actions[0];
    assert_eq!(
        c.topic,
        "arn:aws:sns:us-east-1:123456789012:sms-delivery-status"
    );
    assert!(
        c.url
            .starts_with("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&")
    );
    let unsub = H.outcome(&H.fixture("ack-unsubscribe-confirmation.http"));
    assert!(unsub.events.is_empty() && unsub.actions.is_empty());
}

#[test]
fn confirmation_with_a_foreign_subscribe_url_is_refused() {
    let r = run::<AwsSns>(&H.fixture("reject-subscribe-url-not-sns.http"), CFG);
    assert!(is_unauthorized(r));
}

#[test]
fn tampered_message_is_refused() {
    assert!(is_unauthorized(run::<AwsSns>(
        &H.fixture("reject-tampered-message.http"),
        CFG
    )));
    // The same fixture untouched is fine; change one character: refused.
    let fx = H
        .fixture("eum-text-delivered-v1.http")
        .replace("+14255550156", "+14255550157");
    assert!(is_unauthorized(run::<AwsSns>(&fx, CFG)));
    // Claiming SHA256 for a SHA1 signature fails; unknown versions too.
    let v2 = H.fixture("eum-text-delivered-v1.http").replace(
        "\"SignatureVersion\" : \"1\"",
        "\"SignatureVersion\" : \"2\"",
    );
    assert!(is_unauthorized(run::<AwsSns>(&v2, CFG)));
    let v3 = H.fixture("eum-text-delivered-v1.http").replace(
        "\"SignatureVersion\" : \"1\"",
        "\"SignatureVersion\" : \"3\"",
    );
    assert!(is_unauthorized(run::<AwsSns>(&v3, CFG)));
}

#[test]
fn wrong_certificate_is_refused() {
    let other = [("allowed_topics", TOPICS), ("certificate_pem", OTHER_CERT)];
    assert!(is_unauthorized(run::<AwsSns>(
        &H.fixture("eum-text-delivered-v1.http"),
        &other
    )));
    // Rotation: several pinned certificates, one of them right.
    let both = format!("{OTHER_CERT}\n{CERT}");
    let rotating = [
        ("allowed_topics", TOPICS),
        ("certificate_pem", both.as_str()),
    ];
    assert!(run::<AwsSns>(&H.fixture("eum-text-delivered-v1.http"), &rotating).is_ok());
}

#[test]
fn certificate_is_fetched_through_the_host_when_not_pinned() {
    let fetched = [("allowed_topics", TOPICS)];
    // Nothing served yet: the host could not fetch it, the capture is kept for replay.
    assert!(matches!(
        run::<AwsSns>(&H.fixture("eum-text-successful-v2.http"), &fetched),
        Err(PluginError::Internal(_))
    ));
    serve_certificate(CERT_URL, CERT);
    assert!(run::<AwsSns>(&H.fixture("eum-text-successful-v2.http"), &fetched).is_ok());
    assert!(run::<AwsSns>(&H.fixture("eum-text-delivered-v1.http"), &fetched).is_ok());
    serve_certificate(CERT_URL, "not a certificate");
    assert!(is_unauthorized(run::<AwsSns>(
        &H.fixture("eum-text-delivered-v1.http"),
        &fetched
    )));
}

#[test]
fn cert_url_must_be_sns() {
    assert!(is_unauthorized(run::<AwsSns>(
        &H.fixture("reject-cert-url-not-sns.http"),
        CFG
    )));
    for good in [
        CERT_URL,
        "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-x.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-x.pem",
    ] {
        assert!(check_sns_url(good, true).is_ok(), "{good}");
    }
    for bad in [
        "https://sns.evil.com/SimpleNotificationService-x.pem",
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
        "https://sns.us-east-1.amazonaws.com@evil.com/x.pem",
        "https://evil.com@sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com:8443/x.pem",
        "https://sns.us-east-1.amazonaws.com.evil.com/x.pem",
        "https://sns.s3.amazonaws.com/x.pem",
        "https://bucket.s3.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com/x.pem?x=1",
        "https://sns.us-east-1.amazonaws.com/x.txt",
        "https://sns.us-east-1.amazonaws.com/a/../x.pem",
        "https://SNS.US-EAST-1.AMAZONAWS.COM/x.pem",
        "https://sns.us-east-1.amazonaws.com",
        "https://sns.%75s-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com\\@evil.com/x.pem",
        "",
    ] {
        assert!(check_sns_url(bad, true).is_err(), "{bad}");
    }
    assert!(
        check_sns_url(
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=t",
            false
        )
        .is_ok()
    );
}

#[test]
fn topic_not_allowed_is_refused() {
    assert!(is_unauthorized(run::<AwsSns>(
        &H.fixture("reject-topic-not-allowed.http"),
        CFG
    )));
    let only_inbound = [
        (
            "allowed_topics",
            "arn:aws:sns:us-east-1:123456789012:sms-inbound",
        ),
        ("certificate_pem", CERT),
    ];
    assert!(is_unauthorized(run::<AwsSns>(
        &H.fixture("eum-text-delivered-v1.http"),
        &only_inbound
    )));
    assert!(is_unauthorized(run::<AwsSns>(
        &H.fixture("subscription-confirmation.http"),
        &only_inbound
    )));
    assert!(run::<AwsSns>(&H.fixture("inbound-sms.http"), &only_inbound).is_ok());
}

#[test]
fn timestamp_tolerance() {
    let fx = H.fixture("eum-text-delivered-v1.http");
    // Signed at 2023-11-14T22:13:05.123Z.
    let signed = 1_699_999_985_123;
    assert!(run_at::<AwsSns>(&fx, CFG, signed + 3_600_000).is_ok());
    assert!(is_unauthorized(run_at::<AwsSns>(
        &fx,
        CFG,
        signed + 3_601_000
    )));
    assert!(is_unauthorized(run_at::<AwsSns>(
        &fx,
        CFG,
        signed - 3_601_000
    )));
    let strict = [
        ("allowed_topics", TOPICS),
        ("certificate_pem", CERT),
        ("timestamp_tolerance_secs", "300"),
    ];
    assert!(run_at::<AwsSns>(&fx, &strict, signed + 299_000).is_ok());
    assert!(is_unauthorized(run_at::<AwsSns>(
        &fx,
        &strict,
        signed + 301_000
    )));
    let off = [
        ("allowed_topics", TOPICS),
        ("certificate_pem", CERT),
        ("timestamp_tolerance_secs", "0"),
    ];
    assert!(run_at::<AwsSns>(&fx, &off, signed + 86_400_000 * 365).is_ok());
}

#[test]
fn garbage_is_a_bad_request_not_a_panic() {
    let head = H
        .fixture("eum-text-delivered-v1.http")
        .split("\n\n")
        .next()
        .unwrap()
        .to_owned();
    for body in [
        "",
        "not json",
        "[]",
        "{}",
        r#"{"Type":"Notification"}"#,
        r#"{"Type":"Bogus","TopicArn":"x"}"#,
        "{\"Type\":\"Notification\",\"TopicArn\":\"arn:aws:sns:us-east-1:123456789012:sms-delivery-status\",\"Message\":\"x\",\"Signature\":\"\u{0}\",",
    ] {
        let r = run::<AwsSns>(&format!("{head}\n\n{body}\n"), CFG);
        assert!(
            matches!(r, Err(PluginError::BadRequest(_))),
            "{body}: {r:?}"
        );
    }
    // Header and body disagree on the Type.
    let fx = H.fixture("eum-text-delivered-v1.http").replace(
        "x-amz-sns-message-type: Notification",
        "x-amz-sns-message-type: SubscriptionConfirmation",
    );
    assert!(matches!(
        run::<AwsSns>(&fx, CFG),
        Err(PluginError::BadRequest(_))
    ));
    // Missing signature fields: unauthorized.
    let unsigned = H
        .fixture("eum-text-delivered-v1.http")
        .replace("\"Signature\" :", "\"Sig\" :");
    assert!(is_unauthorized(run::<AwsSns>(&unsigned, CFG)));
}

#[test]
fn notification_shapes_without_an_id_are_bad_requests() {
    for message in ["plain text", "[1,2]", r#"{"status":"SUCCESS"}"#, "{}"] {
        assert!(
            matches!(
                notification(&envelope_with(message)),
                Err(PluginError::BadRequest(_))
            ),
            "{message}"
        );
    }
    // An unrecognized record that still names a message: unknown, kept.
    let events = notification(&envelope_with(r#"{"messageId":"m-2","x":{"y":1}}"#)).unwrap();
    let EventKind::DeliveryStatus(d) = &events[0].kind else {
        panic!()
    };
    assert_eq!(
        (d.state, d.provider_status.as_str()),
        (DeliveryState::Unknown, "")
    );
    assert!(events[0].extra.contains(&("x.y".into(), "1".into())));
    // No explicit event time: the SNS Timestamp.
    assert_eq!(d.occurred_at, Some(1_699_999_985_123));
}

#[test]
fn string_to_sign_orders_keys_and_skips_absent_subject() {
    let mut m = envelope_with("hi");
    m.insert("MessageId".into(), "id".into());
    m.insert("TopicArn".into(), "arn".into());
    assert_eq!(
        string_to_sign(&m, "Notification").unwrap(),
        "Message\nhi\nMessageId\nid\nTimestamp\n2023-11-14T22:13:05.123Z\nTopicArn\narn\nType\nNotification\n"
    );
    m.insert("Subject".into(), "s".into());
    assert!(
        string_to_sign(&m, "Notification")
            .unwrap()
            .contains("MessageId\nid\nSubject\ns\nTimestamp\n")
    );
    assert!(matches!(
        string_to_sign(&m, "SubscriptionConfirmation"),
        Err(PluginError::BadRequest(_))
    ));
}

#[test]
fn reply_and_description() {
    let info = AwsSns::describe();
    assert_eq!(info.name, "aws-sns");
    assert_eq!(info.accept_reply.status, 200);
    assert!(info.accept_reply.body.is_empty());
    assert_eq!(info.routes[0].path, "/awsSmsCallback");
    assert!(
        info.config_keys
            .iter()
            .any(|k| k.name == "allowed_topics" && k.required)
    );
}

#[test]
fn certificate_parsing_never_panics() {
    assert_eq!(rsa_keys_from_pem(CERT).len(), 1);
    assert!(rsa_keys_from_pem("").is_empty());
    assert!(rsa_keys_from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n").is_empty());
    assert!(
        rsa_keys_from_pem("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----").is_empty()
    );
    for der in [
        &[][..],
        &[0x30],
        &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        &[0x30, 0x80],
    ] {
        assert!(certificate_spki(der).is_none());
    }
}

/// What the end-to-end test does with every fixture: accepted ones give an
/// event under `fixtures/config.toml`, `reject-` ones are refused.
#[test]
fn every_fixture_follows_the_naming_convention() {
    // A fixed "now" years after signing: the e2e router's clock.
    let sweep = Sweep {
        received_at: 1_900_000_000_000,
        ..Sweep::default()
    };
    assert_eq!(sweep.check::<AwsSns>(env!("CARGO_MANIFEST_DIR")), 17);
}

#[test]
fn non_ascii_times_do_not_panic() {
    let record = r#"{"notification":{"messageId":"m-3","timestamp":"2023-11-14 22:12:58+0é0"},"status":"SUCCESS"}"#;
    let mut env = envelope_with(record);
    env.insert("Timestamp".into(), "2023-11-14T22:13:05+0é0".into());
    let events = notification(&env).unwrap();
    let EventKind::DeliveryStatus(d) = &events[0].kind else {
        panic!()
    };
    assert_eq!(d.occurred_at, None);
    assert_eq!(
        parse_datetime("2023-11-14T22:13:05.123Z", 0),
        Some(1_699_999_985_123)
    );
}
