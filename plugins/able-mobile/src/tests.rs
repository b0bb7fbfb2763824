use super::*;
use switchboard_plugin_sdk::gateway::STATUSES;
use switchboard_plugin_sdk::status::map_status;
use switchboard_plugin_sdk::testing::{Harness, check_fixtures, run};

const CFG: &[(&str, &str)] = &[("utc_offset", "+00:00")];
const H: Harness<AbleMobile> = Harness::new(env!("CARGO_MANIFEST_DIR"), CFG, (200, b"OK"));

#[test]
fn every_status_maps_and_unknown_keeps_the_raw_one() {
    for (raw, state) in STATUSES {
        assert_eq!(map_status(STATUSES, raw), *state, "{raw}");
    }
    let (ev, d) = H.delivery_of(
        &H.fixture("delivered-get.http")
            .replace("DELIVRD", "LOST_IN_SPACE"),
    );
    assert_eq!(d.state, DeliveryState::Unknown);
    assert_eq!(d.provider_status, "LOST_IN_SPACE");
    assert_eq!(ev.id, "AM-20231123-000481:LOST_IN_SPACE");
}

#[test]
fn delivered_by_get() {
    let (ev, d) = H.delivery("delivered-get.http");
    assert_eq!(ev.id, "AM-20231123-000481:DELIVRD");
    assert_eq!(d.message_id, "AM-20231123-000481");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.to.as_deref(), Some("4527123456"));
    assert_eq!(d.from.as_deref(), Some("AbleShop"));
    assert_eq!(d.error_code, None);
    assert_eq!(d.occurred_at, Some(1_700_748_900_000));
    assert!(ev.extra.is_empty(), "{:?}", ev.extra);
}

#[test]
fn the_same_report_by_post_is_the_same_event() {
    let get = H.delivery("delivered-get.http");
    let post = "POST /api/v1/amSmsCallback HTTP/1.1\nHost: hooks.example.com\nContent-Type: application/x-www-form-urlencoded\n\nmsgid=AM-20231123-000481&status=DELIVRD&msisdn=4527123456&sender=AbleShop&err=000&donedate=2311231415\n";
    let post = H.delivery_of(post);
    assert_eq!(get.0.id, post.0.id);
    assert_eq!(format!("{:?}", get.1), format!("{:?}", post.1));
}

#[test]
fn undelivered_expired_rejected() {
    let (ev, u) = H.delivery("undelivered-post.http");
    assert_eq!(
        (u.state, u.error_code.as_deref()),
        (DeliveryState::Undelivered, Some("001"))
    );
    assert_eq!(u.occurred_at, Some(1_700_749_320_000));
    assert_eq!(ev.extra, vec![("network".to_string(), "23801".to_string())]);
    let (_, e) = H.delivery("expired-post.http");
    assert_eq!(
        (e.state, e.error_code.as_deref()),
        (DeliveryState::Expired, Some("254"))
    );
    assert_eq!(
        H.delivery("rejected-get.http").1.state,
        DeliveryState::Failed
    );
}

#[test]
fn json_batch_gives_one_event_per_report() {
    let out = H.outcome(&H.fixture("batch-json.http"));
    let got: Vec<_> = out
        .events
        .iter()
        .map(|e| match &e.kind {
            EventKind::DeliveryStatus(d) => (e.id.as_str(), d.state, d.occurred_at),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "AM-20231123-000485:ACCEPTD",
                DeliveryState::Accepted,
                Some(1_700_748_840_000)
            ),
            (
                "AM-20231123-000485:DELIVRD",
                DeliveryState::Delivered,
                Some(1_700_748_900_000)
            ),
        ]
    );
}

#[test]
fn kannel_dlr_types_and_receipts() {
    let (ev, d) = H.delivery("kannel-receipt.http");
    assert_eq!(d.state, DeliveryState::Sent);
    assert_eq!(d.provider_status, "8");
    assert!(ev.extra.contains(&("answer".into(), "ACK/".into())));
    let only = "GET /api/v1/amSmsCallback?report=id%3A9912+sub%3A001+dlvrd%3A000+submit+date%3A2311231414+done+date%3A2311231415+stat%3AEXPIRED+err%3A254+text%3A HTTP/1.1\nHost: hooks.example.com\n\n";
    let (ev, d) = H.delivery_of(only);
    assert_eq!(ev.id, "9912:EXPIRED");
    assert_eq!(d.state, DeliveryState::Expired);
    assert_eq!(d.error_code.as_deref(), Some("254"));
    assert_eq!(d.occurred_at, Some(1_700_748_900_000));
}

#[test]
fn malformed_requests_are_bad_requests_not_panics() {
    let r = run::<AbleMobile>(&H.fixture("reject-empty.http"), CFG);
    assert!(matches!(r, Err(PluginError::BadRequest(_))), "{r:?}");
    let head = "POST /api/v1/amSmsCallback HTTP/1.1\nHost: hooks.example.com\n";
    for (ct, body) in [
        (
            "application/x-www-form-urlencoded",
            "\u{1}\u{2}garbage%zz&&==",
        ),
        ("application/x-www-form-urlencoded", "msgid=1"),
        ("application/x-www-form-urlencoded", "status=DELIVRD"),
        ("application/json", "{not json"),
        ("application/json", "[]"),
        (
            "application/json",
            "[{\"msgid\":\"1\",\"status\":\"DELIVRD\"},7]",
        ),
        (
            "application/json",
            "[{\"msgid\":\"1\",\"status\":\"DELIVRD\"},{}]",
        ),
        ("text/plain", "id:1 stat:"),
    ] {
        let fx = format!("{head}Content-Type: {ct}\n\n{body}\n");
        let r = run::<AbleMobile>(&fx, CFG);
        assert!(
            matches!(r, Err(PluginError::BadRequest(_))),
            "{body}: {r:?}"
        );
    }
    let get = "GET /api/v1/amSmsCallback HTTP/1.1\nHost: hooks.example.com\n\n";
    assert!(matches!(
        run::<AbleMobile>(get, CFG),
        Err(PluginError::BadRequest(_))
    ));
}

/// What the end-to-end test does with every fixture: accepted ones give an
/// event under `fixtures/config.toml`, `reject-` ones are refused.
#[test]
fn fixture_names_say_whether_they_are_accepted() {
    assert!(check_fixtures::<AbleMobile>(env!("CARGO_MANIFEST_DIR")) >= 7);
}
