//! The one shared `Event` type: what a plugin's output becomes once the host
//! has stamped it, what the rules match on, and (as JSON) what destinations
//! receive. Its JSON shape is documented in `docs/event.schema.json`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::time::Rfc3339;

/// A normalized event, stamped by the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stable id: the same provider event always gets the same id, so
    /// duplicates and replays are recognized (`evt_` + 26 hex chars).
    pub id: String,
    /// The plugin (provider) that produced it.
    pub provider: String,
    /// The provider's own event id (what the plugin said identifies it).
    pub provider_event_id: String,
    /// The route's `{app_code}` capture, if any.
    pub app_code: Option<String>,
    pub capture_id: u64,
    pub received_at: Rfc3339,
    #[serde(flatten)]
    pub body: EventBody,
    /// Provider fields the normalized kind does not carry, verbatim.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The kind of event and its normalized fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "kebab-case")]
pub enum EventBody {
    DeliveryStatus(DeliveryStatus),
    InboundMessage(InboundMessage),
    OptOut(OptOut),
    LinkHit(LinkHit),
    Subscription(Subscription),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Accepted,
    Queued,
    Sent,
    Delivered,
    Read,
    Undelivered,
    Failed,
    Expired,
    Unknown,
}

impl State {
    pub const ALL: [State; 9] = [
        State::Accepted,
        State::Queued,
        State::Sent,
        State::Delivered,
        State::Read,
        State::Undelivered,
        State::Failed,
        State::Expired,
        State::Unknown,
    ];

    pub fn is_final(self) -> bool {
        matches!(
            self,
            State::Delivered | State::Read | State::Undelivered | State::Failed | State::Expired
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Accepted => "accepted",
            State::Queued => "queued",
            State::Sent => "sent",
            State::Delivered => "delivered",
            State::Read => "read",
            State::Undelivered => "undelivered",
            State::Failed => "failed",
            State::Expired => "expired",
            State::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Sms,
    Mms,
    Whatsapp,
    Viber,
    Rcs,
    Other,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::Sms,
        Channel::Mms,
        Channel::Whatsapp,
        Channel::Viber,
        Channel::Rcs,
        Channel::Other,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Mms => "mms",
            Channel::Whatsapp => "whatsapp",
            Channel::Viber => "viber",
            Channel::Rcs => "rcs",
            Channel::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryStatus {
    pub message_id: String,
    pub state: State,
    /// Derived from `state`: a final state never regresses.
    #[serde(rename = "final")]
    pub is_final: bool,
    pub provider_status: String,
    pub error_code: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub channel: Channel,
    pub occurred_at: Option<Rfc3339>,
    pub message_ref: Option<String>,
    pub campaign_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Media {
    pub url: String,
    pub content_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub message_id: String,
    pub from: String,
    pub to: String,
    pub text: String,
    pub media: Vec<Media>,
    pub channel: Channel,
    pub occurred_at: Option<Rfc3339>,
    pub message_ref: Option<String>,
    pub campaign_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptOut {
    pub from: String,
    pub to: Option<String>,
    pub channel: Channel,
    pub occurred_at: Option<Rfc3339>,
    pub message_ref: Option<String>,
    pub campaign_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkHit {
    pub url: String,
    pub recipient: String,
    pub sender: Option<String>,
    pub occurred_at: Option<Rfc3339>,
    pub message_ref: Option<String>,
    pub campaign_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub subscriber: String,
    pub subscribed: bool,
    pub channel: Channel,
    pub sender: Option<String>,
    pub occurred_at: Option<Rfc3339>,
}

/// The event kinds by name, as used in rules and metrics.
pub const KINDS: [&str; 5] = [
    "delivery-status",
    "inbound-message",
    "opt-out",
    "link-hit",
    "subscription",
];

impl Event {
    /// The stable id for a provider event: same provider and provider event
    /// id, same id, across resends and replays.
    pub fn stable_id(provider: &str, provider_event_id: &str) -> String {
        let digest = Sha256::digest(format!("{provider}\0{provider_event_id}").as_bytes());
        format!("evt_{}", &hex::encode(digest)[..26])
    }

    /// Deliveries for one message go out in order; everything else is free
    /// to overtake (the dispatch lane, stored with each job).
    pub fn lane(&self) -> String {
        match self.message_id() {
            Some(m) => format!("{}:{m}", self.provider),
            None => self.id.clone(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match &self.body {
            EventBody::DeliveryStatus(_) => KINDS[0],
            EventBody::InboundMessage(_) => KINDS[1],
            EventBody::OptOut(_) => KINDS[2],
            EventBody::LinkHit(_) => KINDS[3],
            EventBody::Subscription(_) => KINDS[4],
        }
    }

    /// The message whose state this event reports, for state tracking and
    /// per-message delivery order.
    pub fn message_id(&self) -> Option<&str> {
        match &self.body {
            EventBody::DeliveryStatus(d) => Some(&d.message_id),
            EventBody::InboundMessage(m) => Some(&m.message_id),
            _ => None,
        }
    }

    pub fn state(&self) -> Option<State> {
        match &self.body {
            EventBody::DeliveryStatus(d) => Some(d.state),
            _ => None,
        }
    }

    pub fn channel(&self) -> Option<Channel> {
        match &self.body {
            EventBody::DeliveryStatus(d) => Some(d.channel),
            EventBody::InboundMessage(m) => Some(m.channel),
            EventBody::OptOut(o) => Some(o.channel),
            EventBody::Subscription(s) => Some(s.channel),
            EventBody::LinkHit(_) => None,
        }
    }

    /// Our number / sender id, whatever the direction (Kudosity's `sender`
    /// filter: for inbound events it is the number that received it).
    pub fn sender(&self) -> Option<&str> {
        match &self.body {
            EventBody::DeliveryStatus(d) => d.from.as_deref(),
            EventBody::InboundMessage(m) => Some(&m.to),
            EventBody::OptOut(o) => o.to.as_deref(),
            EventBody::LinkHit(l) => l.sender.as_deref(),
            EventBody::Subscription(s) => s.sender.as_deref(),
        }
    }

    /// The handset on the other side.
    pub fn recipient(&self) -> Option<&str> {
        match &self.body {
            EventBody::DeliveryStatus(d) => d.to.as_deref(),
            EventBody::InboundMessage(m) => Some(&m.from),
            EventBody::OptOut(o) => Some(&o.from),
            EventBody::LinkHit(l) => Some(&l.recipient),
            EventBody::Subscription(s) => Some(&s.subscriber),
        }
    }

    /// Our message reference: of the message itself (status), of the last
    /// message sent (inbound) or of the source message (link hit, opt-out).
    pub fn message_ref(&self) -> Option<&str> {
        match &self.body {
            EventBody::DeliveryStatus(d) => d.message_ref.as_deref(),
            EventBody::InboundMessage(m) => m.message_ref.as_deref(),
            EventBody::OptOut(o) => o.message_ref.as_deref(),
            EventBody::LinkHit(l) => l.message_ref.as_deref(),
            EventBody::Subscription(_) => None,
        }
    }

    pub fn campaign_id(&self) -> Option<&str> {
        match &self.body {
            EventBody::DeliveryStatus(d) => d.campaign_id.as_deref(),
            EventBody::InboundMessage(m) => m.campaign_id.as_deref(),
            EventBody::OptOut(o) => o.campaign_id.as_deref(),
            EventBody::LinkHit(l) => l.campaign_id.as_deref(),
            EventBody::Subscription(_) => None,
        }
    }
}

mod types;
pub use types::EventType;

#[cfg(test)]
mod tests;
