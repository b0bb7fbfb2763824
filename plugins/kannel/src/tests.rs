use super::*;
use switchboard_plugin_sdk::testing::{Harness, check_fixtures, has_extra, run};
use switchboard_plugin_sdk::time::parse_datetime;

const CFG: &[(&str, &str)] = &[];
/// Kannel's requests: an empty reply.
const H: Harness<Kannel> = Harness::new(env!("CARGO_MANIFEST_DIR"), CFG, (200, b""));
/// Jasmin's requests: `ACK/Jasmin`.
const JASMIN: Harness<Kannel> = Harness::new(env!("CARGO_MANIFEST_DIR"), CFG, (200, b"ACK/Jasmin"));

fn utc(s: &str) -> i64 {
    parse_datetime(s, 0).unwrap()
}

#[test]
fn every_status_maps_and_unknown_keeps_the_raw_one() {
    for (raw, state) in STATUSES {
        assert_eq!(map_status(STATUSES, raw), *state, "{raw}");
    }
    for stat in [
        "DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD", "ENROUTE",
    ] {
        assert!(STATUSES.iter().any(|(k, _)| *k == stat), "{stat}");
    }
    let fx = H
        .fixture("dlr-delivered.http")
        .replace("stat%3ADELIVRD", "stat%3ASCHEDLD");
    let out = run::<Kannel>(&fx, CFG).unwrap();
    let EventKind::DeliveryStatus(d) = &out.events[0].kind else {
        panic!()
    };
    assert_eq!(
        (d.state, d.provider_status.as_str()),
        (DeliveryState::Unknown, "SCHEDLD")
    );
}

#[test]
fn delivered_dlr_with_smpp_receipt() {
    // Kannel gets an empty reply, which `H` asserts (a body would never be
    // sent anywhere, but an sms-service would text it back).
    let (ev, d) = H.delivery("dlr-delivered.http");
    assert_eq!(ev.id, "ORD-1001:DELIVRD");
    assert_eq!(d.message_id, "ORD-1001");
    assert_eq!(d.message_ref.as_deref(), Some("ORD-1001"));
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.provider_status, "DELIVRD");
    assert_eq!(d.error_code, None);
    assert_eq!(d.from.as_deref(), Some("MyShop"));
    assert_eq!(d.to.as_deref(), Some("+79161234567"));
    // done date 2311231415 (UTC).
    assert_eq!(d.occurred_at, Some(utc("2023-11-23T14:15:00Z")));
    assert!(has_extra(&ev, "type", "1"));
    assert!(has_extra(&ev, "smsc", "smpp-mts"));
    assert!(has_extra(
        &ev,
        "msgid",
        "b1f2e3d4-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
    ));
    assert!(has_extra(&ev, "smscid", "4a1b2c3d"));
    assert!(has_extra(&ev, "receipt.id", "4a1b2c3d"));
    assert!(has_extra(&ev, "receipt.submit_date", "2311231410"));
    assert!(has_extra(&ev, "receipt.text", "Your code is 1234"));
    assert!(
        ev.extra
            .iter()
            .any(|(k, v)| k == "answer" && v.contains("stat:DELIVRD"))
    );
}

#[test]
fn receipt_failures_expiry_and_intermediate_states() {
    for (name, state, err) in [
        ("dlr-undeliv.http", DeliveryState::Undelivered, Some("001")),
        ("dlr-expired.http", DeliveryState::Expired, None),
        ("dlr-rejectd.http", DeliveryState::Failed, Some("00B")),
        ("dlr-deleted.http", DeliveryState::Failed, None),
        ("dlr-acceptd.http", DeliveryState::Accepted, None),
        ("dlr-enroute.http", DeliveryState::Sent, None),
        ("dlr-unknown.http", DeliveryState::Unknown, None),
    ] {
        let (_, d) = H.delivery(name);
        assert_eq!((d.state, d.error_code.as_deref()), (state, err), "{name}");
    }
}

#[test]
fn dlr_types_without_a_receipt() {
    let (ev, ack) = H.delivery("dlr-smsc-ack.http");
    assert_eq!(
        (ack.state, ack.provider_status.as_str()),
        (DeliveryState::Sent, "8")
    );
    assert_eq!(ev.id, "ORD-1001:8");
    // %T: unix seconds.
    assert_eq!(ack.occurred_at, Some(1_700_748_600_000));
    let (_, nack) = H.delivery("dlr-smsc-nack.http");
    assert_eq!(nack.state, DeliveryState::Failed);
    assert_eq!(nack.error_code.as_deref(), Some("0x0000000b"));
    let (ev, buffered) = H.delivery("dlr-buffered-no-receipt.http");
    assert_eq!(buffered.state, DeliveryState::Queued);
    // No `ref`: Kannel's own %I is the id.
    assert_eq!(buffered.message_id, "d3f2e3d4-5a6b-4c7d-8e9f-0a1b2c3d4e61");
    assert!(!ev.extra.iter().any(|(k, _)| k == "msgid"));
    // %t: `YYYY-MM-DD HH:MM`.
    assert_eq!(buffered.occurred_at, Some(utc("2023-11-23T14:12:00Z")));
}

#[test]
fn receipt_parsing() {
    let r = Receipt::parse(
        "id:0123456789 sub:001 dlvrd:001 submit date:2311231410 done date:231123141530 stat:DELIVRD err:000 text:stat:fake err:999",
    );
    assert_eq!(r.id.as_deref(), Some("0123456789"));
    assert_eq!(r.done_date.as_deref(), Some("231123141530"));
    assert_eq!(r.stat.as_deref(), Some("DELIVRD"));
    assert_eq!(r.err.as_deref(), Some("000"));
    // Labels inside the free text are text.
    assert_eq!(r.text.as_deref(), Some("stat:fake err:999"));
    assert_eq!(r.error_code(), None);
    assert_eq!(
        parse_date("231123141530", 0),
        Some(utc("2023-11-23T14:15:30Z"))
    );
    assert_eq!(
        parse_date("2311231415", 180),
        Some(utc("2023-11-23T11:15:00Z"))
    );
    assert_eq!(parse_date("23112314", 0), None);
    assert_eq!(parse_date("2399999999", 0), None);
    // Lower case, other order, no text.
    let r = Receipt::parse("STAT:UNDELIV ERR:0x0A ID:abc");
    assert_eq!(
        (r.id.as_deref(), r.stat.as_deref(), r.err.as_deref()),
        (Some("abc"), Some("UNDELIV"), Some("0x0A"))
    );
    assert_eq!(Receipt::parse("ACK/"), Receipt::default());
    assert_eq!(Receipt::parse(""), Receipt::default());
    assert_eq!(Receipt::parse("ßid:é stat:"), Receipt::parse("ßid:é stat:"));
}

#[test]
fn jasmin_dlrs_get_ack_jasmin() {
    // `JASMIN` asserts the `ACK/Jasmin` reply.
    let (ev, d) = JASMIN.delivery("jasmin-dlr-delivered.http");
    assert_eq!(ev.id, "4b8c7c02-ef65-4a3b-9d4f-1c3a5e7f9b21:DELIVRD");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.occurred_at, Some(utc("2023-11-23T14:15:00Z")));
    assert!(has_extra(&ev, "id_smsc", "2a4f7c1d"));
    assert!(has_extra(&ev, "level", "2"));
    let (_, l1) = JASMIN.delivery("jasmin-dlr-level1.http");
    assert_eq!(
        (l1.state, l1.provider_status.as_str()),
        (DeliveryState::Sent, "ESME_ROK")
    );
    let (_, err) = JASMIN.delivery("jasmin-dlr-level1-error.http");
    assert_eq!(err.state, DeliveryState::Failed);
    assert_eq!(err.error_code.as_deref(), Some("ESME_RINVDSTADR"));
}

#[test]
fn kannel_mo_by_get() {
    // `H` asserts the empty reply.
    let (ev, m) = H.inbound("mo-sms.http");
    assert_eq!(ev.id, "e4a5b6c7-d8e9-4f0a-9b1c-2d3e4f5a6b7c");
    assert_eq!(m.from, "+79161234567");
    assert_eq!(m.to, "4545");
    assert_eq!(m.text, "Hello, is my order ready?");
    assert_eq!(m.occurred_at, Some(1_700_749_000_000));
    assert!(has_extra(&ev, "smsc", "smpp-mts"));
    assert!(has_extra(&ev, "keyword", "hello"));
    assert!(has_extra(&ev, "coding", "0"));
}

#[test]
fn ucs2_as_hex_or_raw_bytes_and_latin1() {
    assert_eq!(H.inbound("mo-ucs2-hex.http").1.text, "Привет 👋");
    assert_eq!(H.inbound("mo-ucs2-raw.http").1.text, "Да, спасибо");
    assert_eq!(H.inbound("mo-latin1.http").1.text, "Réservé à 14h, merci");
}

#[test]
fn jasmin_mo_gets_ack_jasmin() {
    // `JASMIN` asserts the `ACK/Jasmin` reply.
    let (ev, m) = JASMIN.inbound("jasmin-mo.http");
    assert_eq!(ev.id, "1e2f3a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b");
    assert_eq!(m.text, "Готово ✓");
    assert_eq!((m.from.as_str(), m.to.as_str()), ("+79161234567", "4545"));
    assert!(has_extra(&ev, "origin-connector", "smppcc_1"));
}

#[test]
fn mo_without_id_has_a_stable_hash() {
    let fx = "GET /api/v1/kannelIncoming/a?from=1&to=2&text=hi&time=1700000000 HTTP/1.1\nHost: hooks.example.com\n\n";
    let a = run::<Kannel>(fx, CFG).unwrap();
    let b = run::<Kannel>(fx, CFG).unwrap();
    assert_eq!(a.events[0].id, b.events[0].id);
    assert_eq!(a.events[0].id.len(), 24);
}

#[test]
fn malformed_requests_are_bad_requests() {
    for name in [
        "reject-empty.http",
        "reject-dlr-without-id.http",
        "reject-mo-without-from.http",
    ] {
        let r = run::<Kannel>(&H.fixture(name), CFG);
        assert!(
            matches!(r, Err(PluginError::BadRequest(_))),
            "{name}: {r:?}"
        );
    }
    for q in [
        "type=",
        "foo=bar",
        "type=1&answer=%FF%FE",
        "message_status=DELIVRD",
        "text=%zz&coding=2&from=1",
        "coding=2&text=%D8&from=1",
        "from=1&binary=zz",
    ] {
        let fx = format!("GET /api/v1/kannelCallback?{q} HTTP/1.1\nHost: hooks.example.com\n\n");
        match run::<Kannel>(&fx, CFG) {
            Ok(out) => assert_eq!(out.events.len(), 1, "{q}"),
            Err(e) => assert!(matches!(e, PluginError::BadRequest(_)), "{q}: {e:?}"),
        }
    }
}

#[test]
fn utc_offset_applies_to_receipt_dates() {
    let out = run::<Kannel>(
        &H.fixture("dlr-delivered.http"),
        &[("utc_offset", "+03:00")],
    )
    .unwrap();
    let EventKind::DeliveryStatus(d) = &out.events[0].kind else {
        panic!()
    };
    assert_eq!(d.occurred_at, Some(utc("2023-11-23T11:15:00Z")));
    assert!(matches!(
        run::<Kannel>(&H.fixture("dlr-delivered.http"), &[("utc_offset", "soon")]),
        Err(PluginError::Internal(_))
    ));
}

#[test]
fn get_and_post_routes() {
    let info = Kannel::describe();
    for r in &info.routes {
        assert!(r.methods.contains(&Method::Get) && r.methods.contains(&Method::Post));
    }
    assert_eq!(info.accept_reply.body, b"ACK/Jasmin");
}

/// What the end-to-end test does with every fixture: accepted ones give an
/// event under `fixtures/config.toml`, `reject-` ones are refused.
#[test]
fn every_fixture_follows_the_naming_convention() {
    assert!(check_fixtures::<Kannel>(env!("CARGO_MANIFEST_DIR")) >= 15);
}
