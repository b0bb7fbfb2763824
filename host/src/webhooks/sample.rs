//! Sample events for `POST /v1/webhooks/{id}/test`: one per event type,
//! shaped like a real one, marked `extra.test = "true"` and from the
//! provider `switchboard`, so a receiver can tell them from real traffic.

use crate::event::{
    Channel, DeliveryStatus, Event, EventBody, EventType, InboundMessage, LinkHit, OptOut, State,
};
use crate::time::Rfc3339;

const OURS: &str = "+61400000001";
const HANDSET: &str = "+61400000002";

pub fn sample_event(t: EventType, now: i64) -> Event {
    let (kind, channel) = t.shape();
    let n: u64 = rand::random();
    let provider_event_id = format!("test-{n:016x}");
    let message_id = format!("test-msg-{n:016x}");
    let at = Some(Rfc3339(now));
    let body = match kind {
        "delivery-status" => EventBody::DeliveryStatus(DeliveryStatus {
            message_id,
            state: State::Delivered,
            is_final: State::Delivered.is_final(),
            provider_status: "DELIVRD".into(),
            error_code: None,
            from: Some(OURS.into()),
            to: Some(HANDSET.into()),
            channel,
            occurred_at: at,
            message_ref: Some("test-ref".into()),
            campaign_id: None,
        }),
        "inbound-message" => EventBody::InboundMessage(InboundMessage {
            message_id,
            from: HANDSET.into(),
            to: OURS.into(),
            text: "This is a test message from Switchboard".into(),
            media: Vec::new(),
            channel,
            occurred_at: at,
            message_ref: None,
            campaign_id: None,
        }),
        "opt-out" => EventBody::OptOut(OptOut {
            from: HANDSET.into(),
            to: Some(OURS.into()),
            channel: Channel::Sms,
            occurred_at: at,
            message_ref: Some("test-ref".into()),
            campaign_id: None,
        }),
        _ => EventBody::LinkHit(LinkHit {
            url: "https://example.com/offer".into(),
            recipient: HANDSET.into(),
            sender: Some(OURS.into()),
            occurred_at: at,
            message_ref: Some("test-ref".into()),
            campaign_id: None,
        }),
    };
    let mut extra = serde_json::Map::new();
    // Extra values are strings (docs/event.schema.json).
    extra.insert("test".into(), "true".into());
    extra.insert("event_type".into(), t.name.into());
    Event {
        id: Event::stable_id("switchboard", &provider_event_id),
        provider: "switchboard".into(),
        provider_event_id,
        app_code: None,
        capture_id: 0,
        received_at: Rfc3339(now),
        body,
        extra,
    }
}
