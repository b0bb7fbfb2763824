use super::*;
use switchboard_plugin_sdk::testing::{Harness, check_fixtures, run};
use switchboard_plugin_sdk::time::parse_offset;

const CFG: &[(&str, &str)] = &[("utc_offset", "+10:00")];
/// Every accepted callback gets a plain `OK`: each `H` call asserts it.
const H: Harness<SmsGlobal> = Harness::new(env!("CARGO_MANIFEST_DIR"), CFG, (200, b"OK"));

#[test]
fn every_status_maps_and_unknown_keeps_the_raw_one() {
    for (raw, state) in STATUSES {
        assert_eq!(map_status(STATUSES, raw), *state, "{raw}");
    }
    let fx = H
        .fixture("dlr-legacy-delivered.http")
        .replace("DELIVRD", "TELEPORTED");
    let out = run::<SmsGlobal>(&fx, CFG).unwrap();
    let EventKind::DeliveryStatus(d) = &out.events[0].kind else {
        panic!()
    };
    assert_eq!(d.state, DeliveryState::Unknown);
    assert_eq!(d.provider_status, "TELEPORTED");
}

#[test]
fn legacy_delivered_receipt_by_get() {
    let (ev, d) = H.delivery("dlr-legacy-delivered.http");
    assert_eq!(ev.id, "6405973165004424:DELIVRD");
    assert_eq!(d.message_id, "6405973165004424");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.provider_status, "DELIVRD");
    assert_eq!(d.error_code, None, "000 is no error");
    // 2023-11-23 14:15 at +10:00
    assert_eq!(d.occurred_at, Some(1_700_712_900_000));
    assert_eq!(d.channel, Channel::Sms);
    assert!(ev.extra.is_empty(), "{:?}", ev.extra);
}

#[test]
fn legacy_undelivered_expired_rejected() {
    let (_, u) = H.delivery("dlr-legacy-undelivered.http");
    assert_eq!(
        (u.state, u.error_code.as_deref()),
        (DeliveryState::Undelivered, Some("001"))
    );
    let (_, e) = H.delivery("dlr-legacy-expired.http");
    assert_eq!(
        (e.state, e.error_code.as_deref()),
        (DeliveryState::Expired, Some("254"))
    );
    let (_, r) = H.delivery("dlr-legacy-rejected.http");
    assert_eq!(r.state, DeliveryState::Failed);
}

#[test]
fn rest_notify_url_form_and_json() {
    let (ev, d) = H.delivery("dlr-rest-delivered.http");
    assert_eq!(ev.id, "9856866448480992:Delivered");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.occurred_at, Some(1_596_770_234_000));
    assert!(
        ev.extra
            .contains(&("outgoing_id".into(), "5231184863".into()))
    );
    let (ev, d) = H.delivery("dlr-rest-json-sent.http");
    assert_eq!(d.message_id, "9856866448480993");
    assert_eq!(d.state, DeliveryState::Sent);
    assert_eq!(d.occurred_at, Some(1_596_770_222_000));
    assert!(
        ev.extra
            .contains(&("outgoing_id".into(), "5231184864".into()))
    );
}

#[test]
fn legacy_incoming_gets_a_stable_derived_id() {
    let (ev, m) = H.inbound("incoming-legacy.http");
    assert_eq!(m.from, "61400000000");
    assert_eq!(m.to, "61447100250");
    assert_eq!(m.text, "Hello World, see you at 5");
    assert_eq!(m.occurred_at, Some(1_700_713_205_000));
    assert_eq!(m.message_id.len(), 24);
    let again = run::<SmsGlobal>(&H.fixture("incoming-legacy.http"), CFG).unwrap();
    assert_eq!(ev.id, again.events[0].id);
    // Another text is another message.
    let other = H.fixture("incoming-legacy.http").replace("Hello", "Bye");
    let other = run::<SmsGlobal>(&other, CFG).unwrap();
    assert_ne!(ev.id, other.events[0].id);
}

#[test]
fn rest_incoming_uses_its_id_and_keeps_extra_fields() {
    let (ev, m) = H.inbound("incoming-rest.http");
    assert_eq!(ev.id, "4631920413");
    assert_eq!(m.message_id, "4631920413");
    assert_eq!(m.text, "STOP please ✋");
    assert!(
        ev.extra
            .contains(&("userfield".into(), "campaign-42".into()))
    );
}

#[test]
fn every_reply_is_plain_ok() {
    for name in ["dlr-legacy-delivered.http", "incoming-rest.http"] {
        // Fails unless the reply is (200, "OK").
        H.outcome(&H.fixture(name));
    }
    let accept = SmsGlobal::describe().accept_reply;
    assert_eq!((accept.status, accept.body.as_slice()), (200, &b"OK"[..]));
}

#[test]
fn malformed_requests_are_bad_requests_not_panics() {
    let r = run::<SmsGlobal>(&H.fixture("reject-missing-message-id.http"), CFG);
    assert!(matches!(r, Err(PluginError::BadRequest(_))), "{r:?}");
    let head = "POST /api/v1/smsGlobalCallback HTTP/1.1\nHost: hooks.example.com\n";
    for (ct, body) in [
        ("application/x-www-form-urlencoded", ""),
        (
            "application/x-www-form-urlencoded",
            "\u{1}\u{2}garbage%zz&&==",
        ),
        ("application/json", "{not json"),
        ("application/json", "[1,2,3]"),
        ("text/plain", "dlrstatus=DELIVRD"),
    ] {
        let fx = format!("{head}Content-Type: {ct}\n\n{body}\n");
        let r = run::<SmsGlobal>(&fx, CFG);
        assert!(
            matches!(r, Err(PluginError::BadRequest(_))),
            "{body}: {r:?}"
        );
    }
    let xml = format!("{head}Content-Type: application/xml\n\n<status/>\n");
    assert!(matches!(
        run::<SmsGlobal>(&xml, CFG),
        Err(PluginError::Unsupported(_))
    ));
}

#[test]
fn unparseable_dates_are_kept_raw_not_refused() {
    let fx = H
        .fixture("dlr-legacy-delivered.http")
        .replace("2311231415", "yesterday");
    let out = run::<SmsGlobal>(&fx, CFG).unwrap();
    let EventKind::DeliveryStatus(d) = &out.events[0].kind else {
        panic!()
    };
    assert_eq!(d.occurred_at, None);
    assert!(
        out.events[0]
            .extra
            .contains(&("donedate".into(), "yesterday".into()))
    );
}

#[test]
fn non_ascii_dates_do_not_panic() {
    let fx = H
        .fixture("dlr-rest-delivered.http")
        .replace("%2B10%3A00", "%2Ba%C3%A91");
    let out = run::<SmsGlobal>(&fx, CFG).unwrap();
    let EventKind::DeliveryStatus(d) = &out.events[0].kind else {
        panic!()
    };
    assert_eq!(d.occurred_at, None);
    assert!(
        out.events[0]
            .extra
            .contains(&("update_time".into(), "2020-08-07T13:17:14+aé1".into()))
    );
}

#[test]
fn utc_offset_config() {
    assert_eq!(parse_offset("+10:00"), Some(600));
    assert_eq!(parse_offset("-0530"), Some(-330));
    assert_eq!(parse_offset("3"), Some(180));
    assert_eq!(parse_offset("UTC"), Some(0));
    assert_eq!(parse_offset("+99:00"), None);
    assert_eq!(parse_offset("Australia/Sydney"), None);
    // Without the key the dates are UTC.
    let (_, d) = {
        let out = run::<SmsGlobal>(&H.fixture("dlr-legacy-delivered.http"), &[]).unwrap();
        let EventKind::DeliveryStatus(d) = out.events[0].kind.clone() else {
            panic!()
        };
        ((), d)
    };
    assert_eq!(d.occurred_at, Some(1_700_748_900_000));
    assert!(matches!(
        run::<SmsGlobal>(
            &H.fixture("dlr-legacy-delivered.http"),
            &[("utc_offset", "soon")]
        ),
        Err(PluginError::Internal(_))
    ));
}

/// What the end-to-end test does with every fixture: accepted ones give an
/// event under `fixtures/config.toml`, `reject-` ones are refused.
#[test]
fn fixture_names_say_whether_they_are_accepted() {
    assert!(check_fixtures::<SmsGlobal>(env!("CARGO_MANIFEST_DIR")) >= 9);
}
