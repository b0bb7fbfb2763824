//! Kudosity's event types (seed 001): a webhook subscribes to
//! `SMS_STATUS`, `OPT_OUT`, ... Each names an event kind and, for status
//! and inbound events, a channel; link hits and opt-outs are any channel.

use super::{Channel, Event, EventBody};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventType {
    pub name: &'static str,
    kind: Kind,
    channel: Option<Channel>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Status,
    Inbound,
    LinkHit,
    OptOut,
}

const fn t(name: &'static str, kind: Kind, channel: Option<Channel>) -> EventType {
    EventType {
        name,
        kind,
        channel,
    }
}

impl EventType {
    /// Every type, in seed 001's order of channels.
    pub const ALL: [EventType; 10] = [
        t("SMS_STATUS", Kind::Status, Some(Channel::Sms)),
        t("SMS_INBOUND", Kind::Inbound, Some(Channel::Sms)),
        t("MMS_STATUS", Kind::Status, Some(Channel::Mms)),
        t("MMS_INBOUND", Kind::Inbound, Some(Channel::Mms)),
        t("WHATSAPP_STATUS", Kind::Status, Some(Channel::Whatsapp)),
        t("WHATSAPP_INBOUND", Kind::Inbound, Some(Channel::Whatsapp)),
        t("RCS_STATUS", Kind::Status, Some(Channel::Rcs)),
        t("RCS_INBOUND", Kind::Inbound, Some(Channel::Rcs)),
        t("LINK_HIT", Kind::LinkHit, None),
        t("OPT_OUT", Kind::OptOut, None),
    ];

    pub fn parse(name: &str) -> Option<EventType> {
        Self::ALL.into_iter().find(|t| t.name == name)
    }

    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|t| t.name).collect()
    }

    /// Whether `ev` is of this type. Subscription events (SNS
    /// confirmations and the like) belong to no Kudosity type.
    pub fn matches(&self, ev: &Event) -> bool {
        let (kind, channel) = match &ev.body {
            EventBody::DeliveryStatus(d) => (Kind::Status, d.channel),
            EventBody::InboundMessage(m) => (Kind::Inbound, m.channel),
            EventBody::LinkHit(_) => (Kind::LinkHit, Channel::Other),
            EventBody::OptOut(o) => (Kind::OptOut, o.channel),
            EventBody::Subscription(_) => return false,
        };
        kind == self.kind && self.channel.is_none_or(|c| c == channel)
    }

    /// The kind (as in [`super::KINDS`]) and channel of this type's
    /// events: what a sample event for it is made of.
    pub fn shape(&self) -> (&'static str, Channel) {
        let kind = match self.kind {
            Kind::Status => super::KINDS[0],
            Kind::Inbound => super::KINDS[1],
            Kind::OptOut => super::KINDS[2],
            Kind::LinkHit => super::KINDS[3],
        };
        (kind, self.channel.unwrap_or(Channel::Sms))
    }
}
