//! The forwarded JSON matches `docs/event.schema.json`: every field the
//! schema requires is there, nothing it does not declare is, for every kind.

use super::*;
use crate::plugin::wit;
use serde_json::Value;

fn schema() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/event.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn check_object(value: &Value, schema: &Value, what: &str) {
    let obj = value
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object"));
    let props = schema["properties"].as_object().unwrap();
    for key in obj.keys() {
        assert!(
            props.contains_key(key),
            "{what}: `{key}` is not in the schema"
        );
    }
    for req in schema["required"].as_array().unwrap() {
        assert!(
            obj.contains_key(req.as_str().unwrap()),
            "{what}: required `{req}` missing"
        );
    }
    for (key, v) in obj {
        if let Some(allowed) = props[key]["enum"].as_array() {
            assert!(allowed.contains(v), "{what}.{key}: {v} not in {allowed:?}");
        }
    }
}

fn sample(kind: wit::EventKind) -> Event {
    let ev = wit::Event {
        id: "p-1".into(),
        kind,
        extra: vec![("AccountSid".into(), "AC1".into())],
    };
    Event::from_plugin("twilio", Some("shop1"), 7, 1_700_000_000_000, ev)
}

#[test]
fn every_kind_serializes_as_the_schema_says() {
    let s = schema();
    let none = || None::<String>;
    let kinds = vec![
        wit::EventKind::DeliveryStatus(wit::DeliveryStatus {
            message_id: "SM1".into(),
            state: wit::DeliveryState::Delivered,
            provider_status: "delivered".into(),
            error_code: none(),
            from: Some("+1".into()),
            to: Some("+2".into()),
            channel: wit::Channel::Sms,
            occurred_at: Some(1),
            message_ref: none(),
            campaign_id: none(),
        }),
        wit::EventKind::InboundMessage(wit::InboundMessage {
            message_id: "SM2".into(),
            from: "+2".into(),
            to: "+1".into(),
            text: "hi".into(),
            media: vec![wit::Media {
                url: "https://m".into(),
                content_type: Some("image/png".into()),
            }],
            channel: wit::Channel::Mms,
            occurred_at: None,
            message_ref: none(),
            campaign_id: none(),
        }),
        wit::EventKind::OptOut(wit::OptOut {
            from: "+2".into(),
            to: none(),
            channel: wit::Channel::Sms,
            occurred_at: None,
            message_ref: none(),
            campaign_id: none(),
        }),
        wit::EventKind::LinkHit(wit::LinkHit {
            url: "https://x".into(),
            recipient: "+2".into(),
            sender: none(),
            occurred_at: None,
            message_ref: Some("r".into()),
            campaign_id: none(),
        }),
        wit::EventKind::Subscription(wit::Subscription {
            subscriber: "+2".into(),
            subscribed: true,
            channel: wit::Channel::Viber,
            sender: none(),
            occurred_at: None,
        }),
    ];
    for kind in kinds {
        let ev = sample(kind);
        let json = serde_json::to_value(&ev).unwrap();
        check_object(&json, &s, "event");
        let ty = json["type"].as_str().unwrap();
        assert_eq!(ty, ev.kind());
        check_object(&json["data"], &s["$defs"][ty], ty);
        assert!(json["id"].as_str().unwrap().len() == 30);
        assert_eq!(json["received_at"], "2023-11-14T22:13:20.000Z");
        // What is forwarded reads back as the same event.
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), ev);
    }
}

#[test]
fn stable_ids_depend_on_provider_and_provider_event_id_only() {
    assert_eq!(
        Event::stable_id("twilio", "SM1:delivered"),
        Event::stable_id("twilio", "SM1:delivered")
    );
    assert_ne!(
        Event::stable_id("twilio", "SM1:delivered"),
        Event::stable_id("twilio", "SM1:sent")
    );
    assert_ne!(
        Event::stable_id("twilio", "x"),
        Event::stable_id("sinch", "x")
    );
}
