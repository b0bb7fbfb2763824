use super::*;
use switchboard_plugin_sdk::testing::{Harness, check_fixtures, run};

const CFG: &[(&str, &str)] = &[("utc_offset", "+02:00")];
const H: Harness<MStat> = Harness::new(env!("CARGO_MANIFEST_DIR"), CFG, (200, b"OK"));

#[test]
fn every_status_maps_and_unknown_keeps_the_raw_one() {
    for (raw, state) in STATUSES {
        assert_eq!(map_status(STATUSES, raw), *state, "{raw}");
    }
    let (ev, d) = H.delivery_of(
        &H.fixture("delivered-sms.http")
            .replace("Delivered", "Vaporized"),
    );
    assert_eq!(d.state, DeliveryState::Unknown);
    assert_eq!(d.provider_status, "Vaporized");
    assert_eq!(ev.id, "a3f1c2d4-1001:Vaporized");
}

#[test]
fn delivered_sms_report() {
    let (ev, d) = H.delivery("delivered-sms.http");
    assert_eq!(ev.id, "a3f1c2d4-1001:Delivered");
    assert_eq!(d.message_id, "a3f1c2d4-1001");
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.to.as_deref(), Some("380671234567"));
    assert_eq!(d.from.as_deref(), Some("MyShop"));
    assert_eq!(d.channel, Channel::Sms);
    // 16:15 Kyiv (+02:00) = 14:15 UTC
    assert_eq!(d.occurred_at, Some(1_700_748_900_000));
    assert_eq!(ev.extra, vec![("parts".to_string(), "1".to_string())]);
}

#[test]
fn viber_read_report() {
    let (_, d) = H.delivery("viber-read.http");
    assert_eq!(d.state, DeliveryState::Read);
    assert_eq!(d.channel, Channel::Viber);
    assert_eq!(d.message_ref.as_deref(), Some("pw-7781"));
    assert_eq!(d.occurred_at, Some(1_700_749_050_000));
}

#[test]
fn undelivered_form_report() {
    let (_, d) = H.delivery("undelivered-form.http");
    assert_eq!(
        (d.state, d.error_code.as_deref()),
        (DeliveryState::Undelivered, Some("27"))
    );
    assert_eq!(d.occurred_at, Some(1_700_749_200_000));
}

#[test]
fn json_array_is_a_batch() {
    let out = H.outcome(&H.fixture("batch-sent-expired.http"));
    assert_eq!(out.events.len(), 2);
    let states: Vec<_> = out
        .events
        .iter()
        .map(|e| match &e.kind {
            EventKind::DeliveryStatus(d) => (e.id.clone(), d.state, d.channel, d.occurred_at),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        states,
        vec![
            (
                "a3f1c2d4-1004:Sent".to_string(),
                DeliveryState::Sent,
                Channel::Viber,
                Some(1_700_749_260_000)
            ),
            (
                "a3f1c2d4-1005:Expired".to_string(),
                DeliveryState::Expired,
                Channel::Viber,
                Some(1_700_835_660_000)
            ),
        ]
    );
}

#[test]
fn incoming_sms_with_id() {
    let (ev, m) = H.inbound("incoming-sms.http");
    assert_eq!(ev.id, "mo-558201");
    assert_eq!(m.from, "380671234567");
    assert_eq!(m.to, "4545");
    assert_eq!(m.text, "Дякую, отримав");
    assert_eq!(m.channel, Channel::Sms);
    assert_eq!(m.occurred_at, Some(1_700_749_500_000));
    assert!(ev.extra.is_empty(), "{:?}", ev.extra);
}

#[test]
fn incoming_viber_without_id_gets_a_stable_one() {
    let (ev, m) = H.inbound("incoming-viber.http");
    assert_eq!(m.channel, Channel::Viber);
    assert_eq!(m.to, "MyShop");
    assert_eq!(m.text, "When does the sale end?");
    assert_eq!(m.occurred_at, Some(1_700_749_570_000));
    assert_eq!(ev.id.len(), 24);
    let (again, _) = H.inbound("incoming-viber.http");
    assert_eq!(ev.id, again.id);
    let other = H.fixture("incoming-viber.http").replace("sale", "party");
    let other = H.outcome(&other).events.remove(0);
    assert_ne!(ev.id, other.id);
}

#[test]
fn a_status_sent_to_the_incoming_url_is_a_report() {
    let fx = H
        .fixture("delivered-sms.http")
        .replace("/mstatCallback", "/mstatIncoming/shop1");
    assert_eq!(H.delivery_of(&fx).1.state, DeliveryState::Delivered);
}

#[test]
fn viber_subscribe_and_unsubscribe() {
    let (ev, s) = H.subscription_of(&H.fixture("viber-subscribed.http"));
    assert_eq!(s.subscriber, "380671234572");
    assert!(s.subscribed);
    assert_eq!(s.channel, Channel::Viber);
    assert_eq!(s.sender.as_deref(), Some("MyShop"));
    assert_eq!(s.occurred_at, Some(1_700_749_800_000));
    assert_eq!(ev.id.len(), 24);
    let (ev2, s2) = H.subscription_of(&H.fixture("viber-unsubscribed.http"));
    assert!(!s2.subscribed);
    assert_eq!(s2.occurred_at, Some(1_700_749_860_000));
    assert_eq!(ev2.extra, vec![("reason".to_string(), "user".to_string())]);
    // Subscribing and unsubscribing at the same moment are distinct events.
    let flipped = H
        .fixture("viber-subscribed.http")
        .replace("\"subscribed\"", "\"unsubscribed\"");
    let (ev3, s3) = H.subscription_of(&flipped);
    assert!(!s3.subscribed);
    assert_ne!(ev.id, ev3.id);
    // A provider id makes the event id.
    let with_id = H
        .fixture("viber-subscribed.http")
        .replace("{", "{\"id\":\"ev-9\",");
    assert_eq!(H.subscription_of(&with_id).0.id, "ev-9:subscribed");
}

#[test]
fn subscription_states() {
    for v in ["subscribed", "Subscribe", "1", "true", "opt-in"] {
        assert_eq!(parse_subscribed(v), Some(true), "{v}");
    }
    for v in [
        "unsubscribed",
        "UNSUBSCRIBE",
        "0",
        "false",
        "opt_out",
        "blocked",
    ] {
        assert_eq!(parse_subscribed(v), Some(false), "{v}");
    }
    assert_eq!(parse_subscribed("maybe"), None);
    let fx = H
        .fixture("viber-subscribed.http")
        .replace("\"subscribed\"", "\"maybe\"");
    assert!(matches!(
        run::<MStat>(&fx, CFG),
        Err(PluginError::BadRequest(_))
    ));
}

#[test]
fn malformed_requests_are_bad_requests_not_panics() {
    let r = run::<MStat>(&H.fixture("reject-subscription-without-phone.http"), CFG);
    assert!(matches!(r, Err(PluginError::BadRequest(_))), "{r:?}");
    for path in [
        "/mstatCallback",
        "/mstatIncoming/shop1",
        "/mstatViberSubscription/shop1",
    ] {
        for (ct, body) in [
            ("application/x-www-form-urlencoded", ""),
            (
                "application/x-www-form-urlencoded",
                "\u{1}\u{2}garbage%zz&&==",
            ),
            ("application/json", "{not json"),
            ("application/json", "[]"),
            ("application/json", "[1,2]"),
            ("application/json", "{}"),
            ("application/json", "\"text\""),
        ] {
            let fx = format!(
                "POST /api/v1{path} HTTP/1.1\nHost: hooks.example.com\nContent-Type: {ct}\n\n{body}\n"
            );
            let r = run::<MStat>(&fx, CFG);
            assert!(
                matches!(r, Err(PluginError::BadRequest(_))),
                "{path} {body}: {r:?}"
            );
        }
    }
}

/// What the end-to-end test does with every fixture: accepted ones give an
/// event under `fixtures/config.toml`, `reject-` ones are refused.
#[test]
fn fixture_names_say_whether_they_are_accepted() {
    assert!(check_fixtures::<MStat>(env!("CARGO_MANIFEST_DIR")) >= 9);
}
