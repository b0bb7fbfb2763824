use super::*;
use switchboard_plugin_sdk::gateway::STATUSES;
use switchboard_plugin_sdk::status::map_status;
use switchboard_plugin_sdk::testing::{Harness, check_fixtures, run};

const CFG: &[(&str, &str)] = &[("utc_offset", "+00:00")];
const H: Harness<SmsAla> = Harness::new(env!("CARGO_MANIFEST_DIR"), CFG, (200, b"OK"));

#[test]
fn every_status_maps_and_unknown_keeps_the_raw_one() {
    for (raw, state) in STATUSES {
        assert_eq!(map_status(STATUSES, raw), *state, "{raw}");
    }
    let (ev, d) = H.delivery_of(
        &H.fixture("delivered.http")
            .replace("DELIVRD", "ON_THE_MOON"),
    );
    assert_eq!(d.state, DeliveryState::Unknown);
    assert_eq!(d.provider_status, "ON_THE_MOON");
    assert_eq!(ev.id, "ala-5f1c2e7a9b:ON_THE_MOON");
}

#[test]
fn delivered_by_get() {
    let (ev, d) = H.delivery("delivered.http");
    assert_eq!(ev.id, "ala-5f1c2e7a9b:DELIVRD");
    assert_eq!(d.message_id, "ala-5f1c2e7a9b");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.to.as_deref(), Some("971501234567"));
    assert_eq!(d.from.as_deref(), Some("ShopAlerts"));
    assert_eq!(d.error_code, None);
    assert_eq!(d.occurred_at, Some(1_700_748_900_000));
    assert!(ev.extra.is_empty(), "{:?}", ev.extra);
}

#[test]
fn undelivered_by_form_post_keeps_extra() {
    let (ev, d) = H.delivery("undelivered-form.http");
    assert_eq!(d.state, DeliveryState::Undelivered);
    assert_eq!(d.error_code.as_deref(), Some("001"));
    assert_eq!(d.occurred_at, Some(1_700_749_320_000));
    assert_eq!(
        ev.extra,
        vec![("operator".to_string(), "etisalat".to_string())]
    );
}

#[test]
fn expired_by_json_post() {
    let (ev, d) = H.delivery("expired-json.http");
    assert_eq!(d.state, DeliveryState::Expired);
    assert_eq!(d.error_code.as_deref(), Some("254"));
    assert_eq!(d.occurred_at, Some(1_700_814_600_000));
    assert!(ev.extra.contains(&("parts".into(), "1".into())));
}

#[test]
fn rejected_and_sent() {
    assert_eq!(H.delivery("rejected.http").1.state, DeliveryState::Failed);
    let (_, s) = H.delivery("sent-app.http");
    assert_eq!(s.state, DeliveryState::Sent);
    assert_eq!(s.occurred_at, None);
}

#[test]
fn kannel_dlr_type_and_smpp_receipt() {
    let (ev, d) = H.delivery("kannel-receipt.http");
    assert_eq!(d.message_id, "ala-5f1c2e7aa0");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.provider_status, "1");
    assert_eq!(d.occurred_at, Some(1_700_748_900_000), "receipt done date");
    assert!(
        ev.extra
            .iter()
            .any(|(k, v)| k == "answer" && v.contains("stat:DELIVRD"))
    );
    assert!(ev.extra.contains(&("smsc".into(), "ala-smpp".into())));
    // A receipt alone is enough.
    let only = "GET /api/v1/smsAlaCallback?answer=id%3A77+stat%3AUNDELIV+err%3A069+done+date%3A2311231415 HTTP/1.1\nHost: hooks.example.com\n\n";
    let (ev, d) = H.delivery_of(only);
    assert_eq!(ev.id, "77:UNDELIV");
    assert_eq!(d.state, DeliveryState::Undelivered);
    assert_eq!(d.error_code.as_deref(), Some("069"));
}

#[test]
fn unparseable_date_is_kept_verbatim() {
    let (ev, d) = H.delivery_of(
        &H.fixture("delivered.http")
            .replace("2311231415", "yesterday"),
    );
    assert_eq!(d.occurred_at, None);
    assert!(ev.extra.contains(&("donedate".into(), "yesterday".into())));
}

#[test]
fn malformed_requests_are_refused_not_panics() {
    let r = run::<SmsAla>(&H.fixture("reject-no-status.http"), CFG);
    assert!(matches!(r, Err(PluginError::BadRequest(_))), "{r:?}");
    let head = "POST /api/v1/smsAlaCallback HTTP/1.1\nHost: hooks.example.com\n";
    for (ct, body) in [
        ("application/x-www-form-urlencoded", ""),
        (
            "application/x-www-form-urlencoded",
            "\u{1}\u{2}garbage%zz&&==",
        ),
        ("application/json", "{not json"),
        ("application/json", "[1,2,3]"),
        ("text/plain", "status=DELIVRD"),
        ("text/plain", "id%3A%C3 stat%3A"),
    ] {
        let fx = format!("{head}Content-Type: {ct}\n\n{body}\n");
        let r = run::<SmsAla>(&fx, CFG);
        assert!(
            matches!(r, Err(PluginError::BadRequest(_))),
            "{body}: {r:?}"
        );
    }
    // An incoming-looking request is not something SMSAla sends.
    let mo =
        "GET /api/v1/smsAlaCallback?id=1&from=97150&text=hi HTTP/1.1\nHost: hooks.example.com\n\n";
    assert!(matches!(
        run::<SmsAla>(mo, CFG),
        Err(PluginError::Unsupported(_))
    ));
}

/// What the end-to-end test does with every fixture: accepted ones give an
/// event under `fixtures/config.toml`, `reject-` ones are refused.
#[test]
fn fixture_names_say_whether_they_are_accepted() {
    assert!(check_fixtures::<SmsAla>(env!("CARGO_MANIFEST_DIR")) >= 7);
}
