use super::*;
use switchboard_plugin_sdk::testing::{Harness, check_fixtures, has_extra, run};

const CFG: &[(&str, &str)] = &[];
const H: Harness<TextMe> = Harness::new(env!("CARGO_MANIFEST_DIR"), CFG, (200, b"OK"));

fn utc(s: &str) -> i64 {
    parse_datetime(s, 0).unwrap()
}

#[test]
fn every_status_maps_and_unknown_codes_keep_the_code() {
    for (raw, state) in STATUSES {
        assert_eq!(map_status(STATUSES, raw), *state, "{raw}");
    }
    let (ev, d) = H.delivery("dlr-unknown-code.http");
    assert_eq!(d.state, DeliveryState::Unknown);
    assert_eq!(d.provider_status, "132");
    assert_eq!(ev.id, "order-10057:132");
}

#[test]
fn delivered_by_get() {
    let (ev, d) = H.delivery("dlr-delivered-get.http");
    assert_eq!(ev.id, "order-10052:102");
    assert_eq!(d.message_id, "order-10052");
    assert_eq!(d.message_ref.as_deref(), Some("order-10052"));
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.provider_status, "102");
    assert_eq!(d.to.as_deref(), Some("0521234567"));
    assert_eq!(d.error_code, None);
    // 15/03/23 16:20 in Israel, standard time (+02:00).
    assert_eq!(d.occurred_at, Some(utc("2023-03-15T14:20:00Z")));
    assert!(has_extra(&ev, "he_message", "הגיע ליעד"));
    assert!(has_extra(&ev, "en_message", "Delivered"));
    assert!(has_extra(&ev, "operator", "Cellcom"));
    assert!(
        !ev.extra
            .iter()
            .any(|(k, _)| k == "status" || k == "external_id")
    );
}

#[test]
fn delivered_by_post_in_summer_time() {
    let (_, d) = H.delivery("dlr-delivered-post.http");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.provider_status, "0");
    // 15/07/23 16:20 in Israel, summer time (+03:00).
    assert_eq!(d.occurred_at, Some(utc("2023-07-15T13:20:00Z")));
}

#[test]
fn unconfirmed_failed_and_expired() {
    let (_, u) = H.delivery("dlr-unconfirmed.http");
    assert_eq!(
        (u.state, u.error_code.as_deref()),
        (DeliveryState::Sent, None)
    );
    let (_, f) = H.delivery("dlr-network-failed.http");
    assert_eq!(
        (f.state, f.error_code.as_deref()),
        (DeliveryState::Undelivered, Some("4"))
    );
    let (_, e) = H.delivery("dlr-expired.http");
    assert_eq!(
        (e.state, e.error_code.as_deref()),
        (DeliveryState::Expired, Some("103"))
    );
}

#[test]
fn incoming_by_get_and_post() {
    let (ev, m) = H.inbound("incoming-get.http");
    assert_eq!(m.from, "0521234567");
    assert_eq!(m.to, "0376543210");
    assert_eq!(m.text, "כן, מאשר את התור ✓");
    assert_eq!(m.occurred_at, Some(utc("2023-03-15T14:25:00Z")));
    assert!(ev.extra.is_empty(), "{:?}", ev.extra);
    // No id from TextMe: a stable hash, the same on a resend.
    assert_eq!(ev.id, H.one(&H.fixture("incoming-get.http")).id);
    assert_eq!(ev.id.len(), 24);
    let (_, m) = H.inbound("incoming-post.http");
    assert_eq!((m.from.as_str(), m.text.as_str()), ("972527654321", "STOP"));
}

#[test]
fn blacklist_push_is_an_opt_out() {
    let ev = H.one(&H.fixture("blacklist.http"));
    let EventKind::OptOut(o) = &ev.kind else {
        panic!("not an opt-out")
    };
    assert_eq!(o.from, "0527654321");
    assert_eq!(o.occurred_at, Some(utc("2023-07-15T15:05:00Z")));
    assert!(ev.id.starts_with("optout:"));
}

#[test]
fn malformed_requests_are_bad_requests() {
    for name in ["reject-empty.http", "reject-dlr-without-id.http"] {
        let r = run::<TextMe>(&H.fixture(name), CFG);
        assert!(
            matches!(r, Err(PluginError::BadRequest(_))),
            "{name}: {r:?}"
        );
    }
    for body in ["", "&&&", "=", "%zz%", "\u{0}\u{1}"] {
        let fx = format!(
            "POST /api/v1/textMeCoilCallback HTTP/1.1\nHost: hooks.example.com\nContent-Type: application/x-www-form-urlencoded\n\n{body}\n"
        );
        let r = run::<TextMe>(&fx, CFG);
        assert!(
            matches!(r, Err(PluginError::BadRequest(_))),
            "{body:?}: {r:?}"
        );
    }
    // A status that is not a number is still kept, as unknown.
    let fx = "GET /api/v1/textMeCoilCallback?external_id=a&status=%F0%9F%98%80&date=99/99/99+99:99 HTTP/1.1\nHost: hooks.example.com\n\n";
    let out = run::<TextMe>(fx, CFG).unwrap();
    let EventKind::DeliveryStatus(d) = &out.events[0].kind else {
        panic!()
    };
    assert_eq!((d.state, d.occurred_at), (DeliveryState::Unknown, None));
}

#[test]
fn time_zones() {
    let z = Zone::Israel;
    // DST 2024: from Fri 29 March 02:00 to Sun 27 October 02:00.
    assert_eq!(z.parse("29/03/24 01:59"), Some(utc("2024-03-28T23:59:00Z")));
    assert_eq!(z.parse("29/03/24 03:00"), Some(utc("2024-03-29T00:00:00Z")));
    assert_eq!(
        z.parse("27/10/2024 01:00"),
        Some(utc("2024-10-26T22:00:00Z"))
    );
    assert_eq!(
        z.parse("28/10/2024 01:00:30"),
        Some(utc("2024-10-27T23:00:30Z"))
    );
    assert_eq!(
        z.parse("2023-07-15 16:20:00"),
        Some(utc("2023-07-15T13:20:00Z"))
    );
    assert_eq!(
        z.parse("2023-07-15T16:20:00Z"),
        Some(utc("2023-07-15T16:20:00Z"))
    );
    assert_eq!(z.parse("garbage"), None);
    assert_eq!(z.parse("1/2"), None);
    let fixed = Zone::from_config(&Config::new(vec![("utc_offset".into(), "+05:30".into())]));
    assert!(matches!(fixed, Ok(Zone::Fixed(330))));
    assert_eq!(
        Zone::Fixed(0).parse("15/03/23 16:20"),
        Some(utc("2023-03-15T16:20:00Z"))
    );
    assert!(matches!(
        Zone::from_config(&Config::new(vec![("utc_offset".into(), "mars".into())])),
        Err(PluginError::Internal(_))
    ));
}

#[test]
fn get_and_post_routes() {
    for r in TextMe::describe().routes {
        assert!(r.methods.contains(&Method::Get) && r.methods.contains(&Method::Post));
    }
    assert_eq!(TextMe::describe().accept_reply.status, 200);
}

/// What the end-to-end test does with every fixture: accepted ones give an
/// event under `fixtures/config.toml`, `reject-` ones are refused.
#[test]
fn every_fixture_follows_the_naming_convention() {
    assert!(check_fixtures::<TextMe>(env!("CARGO_MANIFEST_DIR")) >= 8);
}
