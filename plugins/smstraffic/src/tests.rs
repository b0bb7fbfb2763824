use super::*;
use switchboard_plugin_sdk::testing::{Harness, RECEIVED_AT, check_fixtures, run, run_at};

const CFG: &[(&str, &str)] = &[("utc_offset", "+03:00")];
const H: Harness<SmsTraffic> = Harness::new(env!("CARGO_MANIFEST_DIR"), CFG, (200, b"OK"));

#[test]
fn every_status_maps_and_unknown_keeps_the_raw_one() {
    for (raw, state) in STATUSES {
        assert_eq!(map_status(STATUSES, raw), *state, "{raw}");
    }
    let (ev, d) = H.delivery_of(
        &H.fixture("dlr-delivered.http")
            .replace("=Delivered", "=Eaten+by+bears"),
    );
    assert_eq!(d.state, DeliveryState::Unknown);
    assert_eq!(d.provider_status, "Eaten by bears");
    assert_eq!(ev.id, "1000482317:Eaten by bears");
}

#[test]
fn delivered_report_in_moscow_time() {
    let (ev, d) = H.delivery("dlr-delivered.http");
    assert_eq!(ev.id, "1000482317:Delivered");
    assert_eq!(d.message_id, "1000482317");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.to.as_deref(), Some("79161234567"));
    // 17:15 Moscow = 14:15 UTC
    assert_eq!(d.occurred_at, Some(1_700_748_900_000));
    // The send date has no place in the event: kept as sent.
    assert_eq!(
        ev.extra,
        vec![("send_date".to_string(), "2023-11-23 17:14:52".to_string())]
    );
}

#[test]
fn non_delivered_expired_buffered_rejected() {
    let (_, n) = H.delivery("dlr-non-delivered.http");
    assert_eq!(
        (n.state, n.error_code.as_deref()),
        (DeliveryState::Undelivered, Some("11"))
    );
    assert_eq!(n.occurred_at, Some(1_700_749_320_000));
    let (_, e) = H.delivery("dlr-expired.http");
    assert_eq!(
        (e.state, e.occurred_at),
        (DeliveryState::Expired, Some(1_700_835_300_000))
    );
    let (_, b) = H.delivery("dlr-buffered.http");
    assert_eq!(
        (b.state, b.provider_status.as_str()),
        (DeliveryState::Queued, "Buffered SMSC")
    );
    let (_, r) = H.delivery("dlr-rejected.http");
    assert_eq!(
        (r.state, r.error_code.as_deref()),
        (DeliveryState::Failed, Some("88"))
    );
}

#[test]
fn moscow_is_the_default_zone() {
    let out = run::<SmsTraffic>(&H.fixture("dlr-delivered.http"), &[]).unwrap();
    let EventKind::DeliveryStatus(d) = &out.events[0].kind else {
        panic!()
    };
    assert_eq!(d.occurred_at, Some(1_700_748_900_000));
    let utc =
        run::<SmsTraffic>(&H.fixture("dlr-delivered.http"), &[("utc_offset", "UTC")]).unwrap();
    let EventKind::DeliveryStatus(d) = &utc.events[0].kind else {
        panic!()
    };
    assert_eq!(d.occurred_at, Some(1_700_748_900_000 + 3 * 3_600_000));
}

#[test]
fn incoming_in_declared_windows_1251() {
    let (ev, m) = H.inbound("incoming-cp1251.http");
    assert_eq!(ev.id, "77012345");
    assert_eq!(m.from, "79161234567");
    assert_eq!(m.to, "4446");
    assert_eq!(m.text, "Привет, заказ №123 получен");
    assert_eq!(m.occurred_at, Some(1_700_749_205_000));
    assert_eq!(ev.extra, vec![("operator".to_string(), "MTS".to_string())]);
}

#[test]
fn incoming_in_undeclared_windows_1251_gets_a_stable_id() {
    let (ev, m) = H.inbound("incoming-cp1251-undeclared.http");
    assert_eq!(m.text, "СТОП");
    assert_eq!(m.occurred_at, Some(1_700_749_260_000));
    assert_eq!(ev.id.len(), 24);
    assert_eq!(H.inbound("incoming-cp1251-undeclared.http").0.id, ev.id);
    // UTF-8 without a declared charset is read as UTF-8.
    let utf8 = H
        .fixture("incoming-cp1251-undeclared.http")
        .replace("%D1%D2%CE%CF", "%D0%A1%D0%A2%D0%9E%D0%9F");
    let ev2 = H.outcome(&utf8).events.remove(0);
    let EventKind::InboundMessage(m2) = &ev2.kind else {
        panic!()
    };
    assert_eq!(m2.text, "СТОП");
    assert_eq!(ev2.id, ev.id, "same message whatever the encoding");
}

#[test]
fn raw_windows_1251_bytes_in_the_body() {
    // Some senders do not percent-encode: the bytes arrive as they are.
    let mut fx = b"POST /api/v1/smsTrafficIncoming/shop1 HTTP/1.1\nHost: hooks.example.com\nContent-Type: application/x-www-form-urlencoded; charset=windows-1251\n\nphone=79161234567&message=".to_vec();
    fx.extend_from_slice(&[0xCF, 0xF0, 0xE8, 0xE2, 0xE5, 0xF2]);
    fx.push(b'\n');
    let out = run_at::<SmsTraffic>(&fx, CFG, RECEIVED_AT).unwrap();
    let EventKind::InboundMessage(m) = &out.events[0].kind else {
        panic!()
    };
    assert_eq!(m.text, "Привет");
}

#[test]
fn a_report_sent_to_the_incoming_url_is_a_report() {
    let fx = H
        .fixture("dlr-delivered.http")
        .replace("/smsTrafficCallback", "/smsTrafficIncoming/shop1");
    assert_eq!(H.delivery_of(&fx).1.state, DeliveryState::Delivered);
    // And an incoming SMS sent to the report URL is an incoming SMS.
    let fx = H
        .fixture("incoming-cp1251.http")
        .replace("/smsTrafficIncoming/shop1", "/smsTrafficCallback");
    assert!(matches!(
        H.outcome(&fx).events[0].kind,
        EventKind::InboundMessage(_)
    ));
}

#[test]
fn malformed_requests_are_bad_requests_not_panics() {
    let r = run::<SmsTraffic>(&H.fixture("reject-no-sms-id.http"), CFG);
    assert!(matches!(r, Err(PluginError::BadRequest(_))), "{r:?}");
    for path in ["/smsTrafficCallback", "/smsTrafficIncoming/shop1"] {
        for (ct, body) in [
            ("application/x-www-form-urlencoded", ""),
            (
                "application/x-www-form-urlencoded",
                "\u{1}\u{2}garbage%zz&&==",
            ),
            (
                "application/x-www-form-urlencoded; charset=windows-1251",
                "%FF%FE=%00",
            ),
            ("application/x-www-form-urlencoded", "sms_id=1"),
            ("application/json", "{\"sms_id\":1}"),
        ] {
            let fx = format!(
                "POST /api/v1{path} HTTP/1.1\nHost: hooks.example.com\nContent-Type: {ct}\n\n{body}\n"
            );
            let r = run::<SmsTraffic>(&fx, CFG);
            assert!(
                matches!(r, Err(PluginError::BadRequest(_))),
                "{path} {body}: {r:?}"
            );
        }
    }
    let odd_date = H.fixture("dlr-delivered.http").replace(
        "2023-11-23+17%3A15%3A00",
        "%D0%B7%D0%B0%D0%B2%D1%82%D1%80%D0%B0",
    );
    let (ev, d) = H.delivery_of(&odd_date);
    assert_eq!(
        d.occurred_at, None,
        "the send date is not the delivery date"
    );
    assert!(
        ev.extra
            .contains(&("delivery_date".into(), "завтра".into()))
    );
    let with_status_date = odd_date.replace(
        "&send_date",
        "&last_status_change_date=2023-11-23+17%3A15%3A00&send_date",
    );
    assert_eq!(
        H.delivery_of(&with_status_date).1.occurred_at,
        Some(1_700_748_900_000)
    );
}

/// What the end-to-end test does with every fixture: accepted ones give an
/// event under `fixtures/config.toml`, `reject-` ones are refused.
#[test]
fn fixture_names_say_whether_they_are_accepted() {
    assert!(check_fixtures::<SmsTraffic>(env!("CARGO_MANIFEST_DIR")) >= 8);
}
