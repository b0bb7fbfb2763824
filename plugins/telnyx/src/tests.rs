use super::*;
use ed25519_dalek::{Signer, SigningKey};
use switchboard_plugin_sdk::sign::base64;
use switchboard_plugin_sdk::testing::{Harness, Sweep, extra, run, run_at};

/// The public key of `fixtures-src/test-key.pem` (see `fixtures/config.toml`).
const PUBLIC_KEY: &str = "zBJUaWVeXfkPN9pbRgyv/cXeklSybVTV2DiaSL/dvK4=";
const CFG: &[(&str, &str)] = &[("public_key", PUBLIC_KEY)];
// Its outcomes carry no reply: the host answers with `accept_reply`.
const H: Harness<Telnyx> = Harness::host_reply(env!("CARGO_MANIFEST_DIR"), CFG);

/// A request signed by a key made here, with its config.
fn signed(body: &str, timestamp: i64) -> (String, Vec<(&'static str, String)>) {
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let sig = key.sign(format!("{timestamp}|{body}").as_bytes());
    let text = format!(
        "POST /api/v1/telnyxCallback HTTP/1.1\nHost: hooks.example.com\nContent-Type: application/json\ntelnyx-signature-ed25519: {}\ntelnyx-timestamp: {timestamp}\n\n{body}\n",
        base64(&sig.to_bytes())
    );
    let cfg = vec![("public_key", base64(key.verifying_key().as_bytes()))];
    (text, cfg)
}

fn run_signed(body: &str) -> Result<Outcome, PluginError> {
    let (text, cfg) = signed(body, 1_700_000_000);
    let cfg: Vec<(&str, &str)> = cfg.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run::<Telnyx>(&text, &cfg)
}

fn is_unauthorized(r: Result<Outcome, PluginError>) -> bool {
    matches!(r, Err(PluginError::Unauthorized(_)))
}

#[test]
fn every_status_maps_and_unknown_keeps_the_raw_one() {
    for (raw, state) in STATUSES {
        assert_eq!(map_status(STATUSES, raw), *state);
    }
    let body = r#"{"data":{"event_type":"message.finalized","payload":{"id":"m1","to":[{"phone_number":"+1","status":"teleported"}]}}}"#;
    let out = run_signed(body).unwrap();
    let EventKind::DeliveryStatus(d) = &out.events[0].kind else {
        panic!()
    };
    assert_eq!(
        (d.state, d.provider_status.as_str()),
        (DeliveryState::Unknown, "teleported")
    );
    assert_eq!(out.events[0].id, "m1:teleported");
}

#[test]
fn message_sent() {
    let (ev, d) = H.delivery("message-sent.http");
    assert_eq!(ev.id, "40385f64-5717-4562-b3fc-2c963f66afa6:sent");
    assert_eq!(d.state, DeliveryState::Sent);
    assert_eq!(d.from.as_deref(), Some("+13125550100"));
    assert_eq!(d.to.as_deref(), Some("+13125550124"));
    // occurred_at 2023-11-14T22:12:55.540+00:00
    assert_eq!(d.occurred_at, Some(1_699_999_975_540));
}

#[test]
fn message_finalized_delivered() {
    let (ev, d) = H.delivery("message-finalized-delivered.http");
    assert_eq!(ev.id, "40385f64-5717-4562-b3fc-2c963f66afa6:delivered");
    assert_eq!(d.message_id, "40385f64-5717-4562-b3fc-2c963f66afa6");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.provider_status, "delivered");
    assert_eq!(d.channel, Channel::Sms);
    assert_eq!(d.error_code, None);
    assert_eq!(d.occurred_at, Some(1_699_999_978_221));
    assert_eq!(extra(&ev, "to.carrier"), Some("T-MOBILE USA, INC."));
    assert_eq!(extra(&ev, "cost.amount"), Some("0.0040"));
    assert_eq!(extra(&ev, "tags"), Some(r#"["order-1042"]"#));
    assert_eq!(extra(&ev, "from.carrier"), Some("TELNYX LLC"));
    assert_eq!(extra(&ev, "data.event_type"), Some("message.finalized"));
    assert_eq!(extra(&ev, "meta.attempt"), Some("1"));
    assert_eq!(extra(&ev, "id"), None);
}

#[test]
fn failures_carry_the_error_code() {
    let (ev, u) = H.delivery("message-finalized-delivery-failed.http");
    assert_eq!(
        (u.state, u.error_code.as_deref()),
        (DeliveryState::Undelivered, Some("40008"))
    );
    assert!(extra(&ev, "errors").unwrap().contains("Undeliverable"));
    let (_, f) = H.delivery("message-finalized-sending-failed.http");
    assert_eq!(
        (f.state, f.error_code.as_deref()),
        (DeliveryState::Failed, Some("40300"))
    );
}

#[test]
fn group_mms_gives_one_status_per_recipient() {
    let events = H.events("message-finalized-group-mms.http");
    assert_eq!(events.len(), 2);
    let states: Vec<_> = events
        .iter()
        .map(|e| match &e.kind {
            EventKind::DeliveryStatus(d) => (e.id.clone(), d.to.clone(), d.state, d.channel),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        states[0],
        (
            "3f5a7c9e-1b3d-4f6a-8c0e-2a4c6e8a0c2e:+13125550124:delivered".into(),
            Some("+13125550124".into()),
            DeliveryState::Delivered,
            Channel::Mms
        )
    );
    assert_eq!(states[1].2, DeliveryState::Sent);
    assert_eq!(states[1].1.as_deref(), Some("+13125550125"));
}

#[test]
fn message_received() {
    // One event, and no reply of its own.
    let (ev, m) = H.inbound("message-received-sms.http");
    assert_eq!(ev.id, "b0c7e8cb-6227-4c74-9f32-c7f80c30934b");
    assert_eq!(m.from, "+13125550124");
    assert_eq!(m.to, "+13125550100");
    assert_eq!(m.text, "Danke! Kommt es bis Freitag? 📦");
    assert_eq!(m.channel, Channel::Sms);
    assert_eq!(m.occurred_at, Some(1_699_999_986_123));
    assert_eq!(extra(&ev, "to.0.status"), Some("webhook_delivered"));
    assert_eq!(extra(&ev, "encoding"), Some("UCS-2"));
    let (mms, m) = H.inbound("message-received-mms.http");
    assert_eq!(m.channel, Channel::Mms);
    assert_eq!(m.media.len(), 1);
    assert_eq!(m.media[0].content_type.as_deref(), Some("image/jpeg"));
    assert!(m.media[0].url.ends_with("/box.jpg"));
    assert!(extra(&mms, "media").unwrap().contains("48213"));
}

#[test]
fn signature_accept_and_reject() {
    for bad in ["reject-bad-signature.http", "reject-tampered-body.http"] {
        assert!(
            is_unauthorized(run::<Telnyx>(&H.fixture(bad), CFG)),
            "{bad}"
        );
    }
    let other_key = base64(
        SigningKey::from_bytes(&[9u8; 32])
            .verifying_key()
            .as_bytes(),
    );
    assert!(is_unauthorized(run::<Telnyx>(
        &H.fixture("message-sent.http"),
        &[("public_key", other_key.as_str())]
    )));
    let fx = H.fixture("message-sent.http");
    for header in ["telnyx-signature-ed25519:", "telnyx-timestamp:"] {
        let missing = fx.replace(header, "x-other:");
        assert!(is_unauthorized(run::<Telnyx>(&missing, CFG)), "{header}");
    }
    // The timestamp is signed too.
    let moved = fx.replace(
        "telnyx-timestamp: 1699999975",
        "telnyx-timestamp: 1699999976",
    );
    assert!(is_unauthorized(run::<Telnyx>(&moved, CFG)));
    let garbage_sig = fx.replace("telnyx-signature-ed25519: ", "telnyx-signature-ed25519: !!");
    assert!(is_unauthorized(run::<Telnyx>(&garbage_sig, CFG)));
    // A DER SubjectPublicKeyInfo key works as well as the raw one.
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend(base64_decode(PUBLIC_KEY).unwrap());
    let der = base64(&der);
    assert!(run::<Telnyx>(&fx, &[("public_key", der.as_str())]).is_ok());
    assert!(matches!(
        run::<Telnyx>(&fx, &[("public_key", "bm90IGEga2V5")]),
        Err(PluginError::Internal(_))
    ));
}

#[test]
fn timestamp_tolerance() {
    let fx = H.fixture("message-sent.http");
    let signed_at = 1_699_999_975_000;
    assert!(run_at::<Telnyx>(&fx, CFG, signed_at + 300_000).is_ok());
    assert!(is_unauthorized(run_at::<Telnyx>(
        &fx,
        CFG,
        signed_at + 301_000
    )));
    assert!(is_unauthorized(run_at::<Telnyx>(
        &fx,
        CFG,
        signed_at - 301_000
    )));
    let wide = [
        ("public_key", PUBLIC_KEY),
        ("timestamp_tolerance_secs", "3600"),
    ];
    assert!(run_at::<Telnyx>(&fx, &wide, signed_at + 3_000_000).is_ok());
    let off = [
        ("public_key", PUBLIC_KEY),
        ("timestamp_tolerance_secs", "0"),
    ];
    assert!(run_at::<Telnyx>(&fx, &off, signed_at + 86_400_000 * 365).is_ok());
    // A signed but non-numeric timestamp cannot be checked.
    let (text, cfg) = signed("{}", 0);
    let text = text.replace("telnyx-timestamp: 0", "telnyx-timestamp: soon");
    let cfg: Vec<(&str, &str)> = cfg.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert!(is_unauthorized(run::<Telnyx>(&text, &cfg)));
}

#[test]
fn garbage_is_a_bad_request_not_a_panic() {
    for body in [
        "",
        "not json",
        "[]",
        "{}",
        r#"{"data":{}}"#,
        r#"{"data":{"event_type":"message.finalized","payload":{}}}"#,
        r#"{"data":{"event_type":"message.finalized","payload":{"id":"m","to":[]}}}"#,
        r#"{"data":{"event_type":"message.received","payload":{"id":"m","from":{}}}}"#,
    ] {
        let r = run_signed(body);
        assert!(
            matches!(r, Err(PluginError::BadRequest(_))),
            "{body}: {r:?}"
        );
    }
    let other =
        run_signed(r#"{"data":{"event_type":"call.initiated","payload":{"call_control_id":"x"}}}"#);
    assert!(
        matches!(other, Err(PluginError::Unsupported(_))),
        "{other:?}"
    );
}

#[test]
fn reply_and_routes() {
    let info = Telnyx::describe();
    assert_eq!(info.accept_reply.status, 200);
    assert!(info.accept_reply.body.is_empty());
    assert!(
        info.config_keys
            .iter()
            .any(|k| k.name == "public_key" && k.required)
    );
    assert!(
        run::<Telnyx>(&H.fixture("message-sent.http"), CFG)
            .unwrap()
            .reply
            .is_none()
    );
}

/// What the end-to-end test does with every fixture: accepted ones give an
/// event under `fixtures/config.toml`, `reject-` ones are refused.
#[test]
fn every_fixture_follows_the_naming_convention() {
    assert_eq!(
        H.fixture("config.toml"),
        format!("public_key = \"{PUBLIC_KEY}\"\ntimestamp_tolerance_secs = \"0\"\n")
    );
    // A fixed "now" years after signing: the e2e router's clock.
    let sweep = Sweep {
        received_at: 1_900_000_000_000,
        ..Sweep::default()
    };
    assert_eq!(sweep.check::<Telnyx>(env!("CARGO_MANIFEST_DIR")), 9);
}
