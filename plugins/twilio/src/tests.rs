use super::*;
use switchboard_plugin_sdk::testing::{Harness, run};

const CFG: &[(&str, &str)] = &[("auth_token", "fixture-auth-token")];
/// Status callbacks carry no reply: the host answers with `accept_reply`.
const H: Harness<Twilio> = Harness::host_reply(env!("CARGO_MANIFEST_DIR"), CFG);
/// Inbound messages get empty TwiML.
const INBOUND: Harness<Twilio> = Harness::new(
    env!("CARGO_MANIFEST_DIR"),
    CFG,
    (
        200,
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
    ),
);

#[test]
fn twilio_documented_signature_vector() {
    // From Twilio's security docs; also what the official RequestValidator computes.
    let params = Params(
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    );
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    assert!(verify_base64(
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ=",
        &signature_bytes("12345", url, &params)
    ));
    assert!(!verify_base64(
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ=",
        &signature_bytes("12346", url, &params)
    ));
    let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
    assert!(url_variants(with_port).iter().any(|u| verify_base64(
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ=",
        &signature_bytes("12345", u, &params)
    )));
}

#[test]
fn twilio_json_body_signature_vector() {
    let body = r#"{"property": "value", "boolean": true}"#;
    let hash = sha256_hex(body.as_bytes());
    assert_eq!(
        hash,
        "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    );
    let url = format!("https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256={hash}");
    assert!(verify_base64(
        "a9nBmqA0ju/hNViExpshrM61xv4=",
        &signature_bytes("12345", &url, &Params::default())
    ));
}

#[test]
fn url_variants_add_or_remove_default_port_only() {
    assert_eq!(
        url_variants("https://a.com/x?y=1"),
        vec![
            "https://a.com/x?y=1".to_string(),
            "https://a.com:443/x?y=1".to_string()
        ]
    );
    assert_eq!(url_variants("http://a.com:80/x")[1], "http://a.com/x");
    assert_eq!(url_variants("https://a.com:8443/x").len(), 1);
    assert_eq!(url_variants("https://[::1]/x")[1], "https://[::1]:443/x");
}

#[test]
fn every_status_maps_and_keeps_the_raw_one() {
    for (raw, state) in STATUSES {
        assert_eq!(map_status(STATUSES, raw), *state);
    }
    assert_eq!(
        map_status(STATUSES, "brand_new_status"),
        DeliveryState::Unknown
    );
}

#[test]
fn delivered_status_callback() {
    let (ev, d) = H.delivery("status-delivered.http");
    assert_eq!(ev.id, "SM5f3e2a1b0c9d8e7f6a5b4c3d2e1f0a9b:delivered");
    assert_eq!(d.message_id, "SM5f3e2a1b0c9d8e7f6a5b4c3d2e1f0a9b");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.provider_status, "delivered");
    assert_eq!(d.from.as_deref(), Some("+15005550006"));
    assert_eq!(d.to.as_deref(), Some("+15558675310"));
    assert_eq!(d.channel, Channel::Sms);
    // 2023-11-23 14:15 UTC
    assert_eq!(d.occurred_at, Some(1_700_748_900_000));
    assert!(
        ev.extra
            .iter()
            .any(|(k, v)| k == "AccountSid" && v.starts_with("AC"))
    );
    assert!(!ev.extra.iter().any(|(k, _)| k == "MessageStatus"));
}

#[test]
fn sent_undelivered_failed_callbacks() {
    assert_eq!(H.delivery("status-sent.http").1.state, DeliveryState::Sent);
    let (_, u) = H.delivery("status-undelivered.http");
    assert_eq!(
        (u.state, u.error_code.as_deref()),
        (DeliveryState::Undelivered, Some("30003"))
    );
    let (_, f) = H.delivery("status-failed.http");
    assert_eq!(
        (f.state, f.error_code.as_deref()),
        (DeliveryState::Failed, Some("30008"))
    );
}

#[test]
fn whatsapp_read_receipt() {
    let (_, d) = H.delivery("status-whatsapp-read.http");
    assert_eq!(d.state, DeliveryState::Read);
    assert_eq!(d.channel, Channel::Whatsapp);
    assert_eq!(d.from.as_deref(), Some("+14155238886"));
}

#[test]
fn bad_or_missing_signature_is_unauthorized() {
    let err = run::<Twilio>(&H.fixture("reject-bad-signature.http"), CFG).unwrap_err();
    assert!(matches!(err, PluginError::Unauthorized(_)), "{err:?}");
    let wrong_token = run::<Twilio>(
        &H.fixture("status-delivered.http"),
        &[("auth_token", "other")],
    )
    .unwrap_err();
    assert!(matches!(wrong_token, PluginError::Unauthorized(_)));
    let unsigned = H
        .fixture("status-delivered.http")
        .replace("X-Twilio-Signature", "X-Other");
    assert!(matches!(
        run::<Twilio>(&unsigned, CFG),
        Err(PluginError::Unauthorized(_))
    ));
    // A tampered body fails even with the original signature.
    let tampered = H
        .fixture("status-delivered.http")
        .replace("MessageStatus=delivered", "MessageStatus=failed");
    assert!(matches!(
        run::<Twilio>(&tampered, CFG),
        Err(PluginError::Unauthorized(_))
    ));
}

#[test]
fn previous_token_still_accepted_while_rotating() {
    let cfg = [
        ("auth_token", "new-token"),
        ("previous_auth_token", "fixture-auth-token"),
    ];
    assert!(run::<Twilio>(&H.fixture("status-delivered.http"), &cfg).is_ok());
}

#[test]
fn inbound_sms_gets_empty_twiml() {
    // `INBOUND` asserts the reply: 200 and the empty TwiML.
    let (ev, m) = INBOUND.inbound("inbound-sms.http");
    assert_eq!(m.from, "+15558675310");
    assert_eq!(m.to, "+15005550006");
    assert_eq!(m.text, "Hello from the handset ✓");
    assert_eq!(m.channel, Channel::Sms);
    assert!(
        ev.extra
            .iter()
            .any(|(k, v)| k == "FromCity" && v == "SAN FRANCISCO")
    );
}

#[test]
fn inbound_mms_lists_media() {
    let (_, m) = INBOUND.inbound("inbound-mms.http");
    assert_eq!(m.channel, Channel::Mms);
    assert_eq!(m.media.len(), 2);
    assert_eq!(m.media[1].content_type.as_deref(), Some("image/png"));
    assert!(m.media[0].url.ends_with("/Media/ME01"));
}

#[test]
fn inbound_whatsapp_strips_prefix() {
    let (_, m) = INBOUND.inbound("inbound-whatsapp.http");
    assert_eq!(m.channel, Channel::Whatsapp);
    assert_eq!(m.from, "+15558675310");
    assert_eq!(m.to, "+14155238886");
}
