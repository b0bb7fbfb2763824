use super::*;
use crate::event::*;
use crate::time::Rfc3339;

fn base(body: EventBody) -> Event {
    Event {
        id: "evt_x".into(),
        provider: "twilio".into(),
        provider_event_id: "x".into(),
        app_code: Some("shop1".into()),
        capture_id: 1,
        received_at: Rfc3339(0),
        body,
        extra: Default::default(),
    }
}

fn status(state: State) -> Event {
    base(EventBody::DeliveryStatus(DeliveryStatus {
        message_id: "SM1".into(),
        state,
        is_final: state.is_final(),
        provider_status: state.as_str().into(),
        error_code: None,
        from: Some("+61 400 000 001".into()),
        to: Some("+61400000999".into()),
        channel: Channel::Sms,
        occurred_at: None,
        message_ref: Some("ref-1".into()),
        campaign_id: Some("camp-9".into()),
    }))
}

fn inbound() -> Event {
    base(EventBody::InboundMessage(InboundMessage {
        message_id: "SM2".into(),
        from: "+61400000999".into(),
        to: "61400000001".into(),
        text: "STOP".into(),
        media: vec![],
        channel: Channel::Sms,
        occurred_at: None,
        message_ref: Some("ref-1".into()),
        campaign_id: None,
    }))
}

fn link_hit() -> Event {
    base(EventBody::LinkHit(LinkHit {
        url: "https://x.test/a".into(),
        recipient: "+61400000999".into(),
        sender: Some("61400000001".into()),
        occurred_at: None,
        message_ref: Some("ref-1".into()),
        campaign_id: Some("camp-9".into()),
    }))
}

fn filter(pairs: &[(&str, &[&str])]) -> Filter {
    let mut f = Filter::default();
    for (k, vs) in pairs {
        let v: Vec<String> = vs.iter().map(|s| s.to_string()).collect();
        match *k {
            "provider" => f.provider = v,
            "app_code" => f.app_code = v,
            "kind" => f.kind = v,
            "state" => f.state = v,
            "channel" => f.channel = v,
            "sender" => f.sender = v,
            "recipient" => f.recipient = v,
            "message_ref" => f.message_ref = v,
            "campaign_id" => f.campaign_id = v,
            "event_types" => f.event_types = v,
            other => panic!("{other}"),
        }
    }
    f
}

fn hits(f: Filter, ev: &Event) -> bool {
    let rules = Rules::new(vec![Route {
        name: "r".into(),
        filter: f,
        to: vec!["d".into()],
        transform: Default::default(),
    }]);
    !rules.route(ev).routes.is_empty()
}

#[test]
fn matching_table() {
    let delivered = status(State::Delivered);
    let (inbound, link_hit) = (inbound(), link_hit());
    let cases: Vec<(&str, Filter, &Event, bool)> = vec![
        ("empty filter matches all", filter(&[]), &delivered, true),
        (
            "provider",
            filter(&[("provider", &["twilio"])]),
            &delivered,
            true,
        ),
        (
            "other provider",
            filter(&[("provider", &["sinch"])]),
            &delivered,
            false,
        ),
        (
            "OR in a key",
            filter(&[("state", &["failed", "delivered"])]),
            &delivered,
            true,
        ),
        (
            "AND across keys",
            filter(&[("state", &["delivered"]), ("provider", &["sinch"])]),
            &delivered,
            false,
        ),
        (
            "kind",
            filter(&[("kind", &["inbound-message"])]),
            &delivered,
            false,
        ),
        (
            "app code",
            filter(&[("app_code", &["shop1"])]),
            &delivered,
            true,
        ),
        (
            "channel",
            filter(&[("channel", &["whatsapp"])]),
            &delivered,
            false,
        ),
        (
            "sender ignores formatting",
            filter(&[("sender", &["61400000001"])]),
            &delivered,
            true,
        ),
        (
            "recipient",
            filter(&[("recipient", &["+61 400 000 999"])]),
            &delivered,
            true,
        ),
        (
            "message_ref",
            filter(&[("message_ref", &["ref-1"])]),
            &delivered,
            true,
        ),
        (
            "campaign",
            filter(&[("campaign_id", &["camp-1"])]),
            &delivered,
            false,
        ),
        // Inbound: `sender` is our number that received the message.
        (
            "inbound sender = our number",
            filter(&[("sender", &["+61400000001"])]),
            &inbound,
            true,
        ),
        (
            "inbound sender is not the handset",
            filter(&[("sender", &["61400000999"])]),
            &inbound,
            false,
        ),
        (
            "inbound last message ref",
            filter(&[("message_ref", &["ref-1"])]),
            &inbound,
            true,
        ),
        (
            "inbound has no campaign",
            filter(&[("campaign_id", &["camp-9"])]),
            &inbound,
            false,
        ),
        (
            "state filter skips inbound",
            filter(&[("state", &["delivered"])]),
            &inbound,
            false,
        ),
        // Link hit: against the source message.
        (
            "link hit sender",
            filter(&[("sender", &["61400000001"]), ("campaign_id", &["camp-9"])]),
            &link_hit,
            true,
        ),
    ];
    for (name, f, ev, want) in cases {
        assert_eq!(hits(f, ev), want, "{name}");
    }
}

#[test]
fn every_matching_route_fires_and_destinations_are_deduplicated() {
    let rules = Rules::new(vec![
        Route {
            name: "a".into(),
            filter: filter(&[]),
            to: vec!["x".into(), "y".into()],
            transform: Default::default(),
        },
        Route {
            name: "b".into(),
            filter: filter(&[("state", &["delivered"])]),
            to: vec!["y".into(), "z".into()],
            transform: Default::default(),
        },
        Route {
            name: "c".into(),
            filter: filter(&[("state", &["failed"])]),
            to: vec!["w".into()],
            transform: Default::default(),
        },
    ]);
    let m = rules.route(&status(State::Delivered));
    assert_eq!(m.routes, vec!["a", "b"]);
    let names: Vec<_> = m.targets.iter().map(|t| t.destination.as_str()).collect();
    assert_eq!(names, vec!["x", "y", "z"]);
    assert_eq!(rules.route(&status(State::Sent)).routes, vec!["a"]);
    assert_eq!(
        Rules::new(vec![]).route(&status(State::Sent)),
        Matched::default()
    );
}

#[test]
fn event_types_pair_a_kind_with_a_channel() {
    let sms_status = filter(&[("event_types", &["SMS_STATUS"])]);
    assert!(hits(sms_status.clone(), &status(State::Delivered)));
    assert!(!hits(sms_status, &inbound()));
    // OR within the list: a status or an inbound message.
    let either = filter(&[("event_types", &["SMS_STATUS", "SMS_INBOUND"])]);
    assert!(hits(either.clone(), &status(State::Sent)));
    assert!(hits(either.clone(), &inbound()));
    assert!(!hits(either, &link_hit()));
    // The channel is part of the type: an SMS status is no MMS status.
    assert!(!hits(
        filter(&[("event_types", &["MMS_STATUS"])]),
        &status(State::Delivered)
    ));
    // Link hits are any channel; AND with the other keys still holds.
    assert!(hits(filter(&[("event_types", &["LINK_HIT"])]), &link_hit()));
    assert!(!hits(
        filter(&[("event_types", &["LINK_HIT"]), ("message_ref", &["ref-2"])]),
        &link_hit()
    ));
}

#[test]
fn webhook_routes_fire_beside_config_routes_and_are_replaced_whole() {
    let route = |name: &str, to: &str, f: Filter| Route {
        name: name.into(),
        filter: f,
        to: vec![to.into()],
        transform: Default::default(),
    };
    let rules = Rules::new(vec![route("all", "file", Filter::default())]);
    let with = rules.with_webhooks(vec![route(
        "wh_1",
        "wh_1",
        filter(&[("event_types", &["SMS_STATUS"])]),
    )]);
    let m = with.route(&status(State::Delivered));
    assert_eq!(m.routes, ["all", "wh_1"]);
    assert_eq!(with.route(&inbound()).routes, ["all"]);
    // A config reload keeps the webhooks; new webhooks replace the old.
    let reloaded =
        Rules::new(vec![route("other", "file", Filter::default())]).keeping_webhooks(&with);
    assert_eq!(
        reloaded.route(&status(State::Sent)).routes,
        ["other", "wh_1"]
    );
    assert_eq!(
        reloaded
            .with_webhooks(vec![])
            .route(&status(State::Sent))
            .routes,
        ["other"]
    );
}
