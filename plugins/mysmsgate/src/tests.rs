use super::*;
use switchboard_plugin_sdk::testing::{Harness, run};

const CFG: &[(&str, &str)] = &[("secret", "fixture-secret")];
const H: Harness<MySmsGate> = Harness::new(
    env!("CARGO_MANIFEST_DIR"),
    CFG,
    (200, br#"{"status":"success"}"#),
);

#[test]
fn delivered_report() {
    let (ev, d) = H.delivery("delivered.http");
    assert_eq!(ev.id, "unique_message_identifier:delivered");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.to.as_deref(), Some("+1234567890"));
    assert_eq!(d.occurred_at, Some(1_678_886_400_000));
    assert!(
        ev.extra
            .contains(&("status_text".into(), "DELIVERED_TO_HANDSET".into()))
    );
    assert!(ev.extra.contains(&("refunded".into(), "false".into())));
}

#[test]
fn failed_and_sent_reports() {
    let (_, f) = H.delivery("failed.http");
    assert_eq!(
        (f.state, f.error_code.as_deref()),
        (DeliveryState::Failed, Some("GENERIC_FAILURE"))
    );
    assert_eq!(H.delivery("sent.http").1.state, DeliveryState::Sent);
}

#[test]
fn every_status_maps() {
    for (raw, state) in STATUSES {
        assert_eq!(map_status(STATUSES, raw), *state);
    }
    assert_eq!(map_status(STATUSES, "teleported"), DeliveryState::Unknown);
}

#[test]
fn incoming_message_has_a_stable_derived_id() {
    let a = run::<MySmsGate>(&H.fixture("incoming.http"), CFG).unwrap();
    let b = run::<MySmsGate>(&H.fixture("incoming.http"), CFG).unwrap();
    assert_eq!(a.events[0].id, b.events[0].id);
    let EventKind::InboundMessage(m) = &a.events[0].kind else {
        panic!()
    };
    assert_eq!(
        (m.from.as_str(), m.to.as_str()),
        ("+1234567890", "+1987654321")
    );
    assert_eq!(m.text, "Hello, how are you?");
    assert_eq!(m.occurred_at, Some(1_678_886_400_000));
    assert_eq!(a.reply.unwrap().status, 200);
}

#[test]
fn signature_is_checked_with_the_configured_algorithm() {
    assert!(matches!(
        run::<MySmsGate>(&H.fixture("reject-bad-signature.http"), CFG),
        Err(PluginError::Unauthorized(_))
    ));
    assert!(matches!(
        run::<MySmsGate>(&H.fixture("delivered.http"), &[("secret", "wrong")]),
        Err(PluginError::Unauthorized(_))
    ));
    // Same body signed as base64 in a custom header.
    let fx = H.fixture("delivered.http");
    let body = fx.split("\n\n").nth(1).unwrap().trim_end();
    let sig =
        switchboard_plugin_sdk::sign::base64(&hmac_sha256(b"fixture-secret", body.as_bytes()));
    let custom = fx.replace("X-Signature: ", &format!("X-Hub-Sig: {sig}\nX-Old: "));
    let cfg = [
        ("secret", "fixture-secret"),
        ("signature_header", "x-hub-sig"),
        ("signature_algorithm", "hmac-sha256-base64"),
    ];
    assert!(run::<MySmsGate>(&custom, &cfg).is_ok());
}

#[test]
fn garbage_is_a_bad_request() {
    let fx = H.fixture("delivered.http");
    let head = fx.split("\n\n").next().unwrap();
    let body = "not json";
    let sig = switchboard_plugin_sdk::sign::hex(&hmac_sha256(b"fixture-secret", body.as_bytes()));
    let head = head
        .lines()
        .map(|l| {
            if l.starts_with("X-Signature") {
                format!("X-Signature: {sig}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let r = run::<MySmsGate>(&format!("{head}\n\n{body}\n"), CFG);
    assert!(matches!(r, Err(PluginError::BadRequest(_))), "{r:?}");
}
