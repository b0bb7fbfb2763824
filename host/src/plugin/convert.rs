//! From the contract's types (what a plugin returns) to the host's
//! [`Event`]. The conversions live here, with the bindings, so the shared
//! event type and everything that stores it never depend on the sandbox's
//! types.

use super::wit;
use crate::actions::Action;
use crate::event::*;
use crate::time::Rfc3339;

fn ms(t: Option<i64>) -> Option<Rfc3339> {
    t.map(Rfc3339)
}

impl Event {
    /// Stamps a plugin's event.
    pub fn from_plugin(
        provider: &str,
        app_code: Option<&str>,
        capture_id: u64,
        received_at_ms: i64,
        ev: wit::Event,
    ) -> Self {
        let mut extra = serde_json::Map::new();
        for (k, v) in ev.extra {
            extra.insert(k, serde_json::Value::String(v));
        }
        Event {
            id: Self::stable_id(provider, &ev.id),
            provider: provider.to_owned(),
            provider_event_id: ev.id,
            app_code: app_code.map(str::to_owned),
            capture_id,
            received_at: Rfc3339(received_at_ms),
            body: EventBody::from(ev.kind),
            extra,
        }
    }
}

/// A rough byte size of a plugin event, to bound what a plugin may return.
pub fn approx_size(ev: &wit::Event) -> usize {
    let extra: usize = ev.extra.iter().map(|(k, v)| k.len() + v.len()).sum();
    let kind = match &ev.kind {
        wit::EventKind::DeliveryStatus(d) => d.message_id.len() + d.provider_status.len() + 64,
        wit::EventKind::InboundMessage(m) => {
            m.text.len()
                + m.from.len()
                + m.to.len()
                + m.media.iter().map(|x| x.url.len() + 32).sum::<usize>()
        }
        wit::EventKind::LinkHit(l) => l.url.len() + l.recipient.len() + 64,
        _ => 64,
    };
    ev.id.len() + extra + kind
}

impl From<wit::DeliveryState> for State {
    fn from(s: wit::DeliveryState) -> Self {
        use wit::DeliveryState as D;
        match s {
            D::Accepted => State::Accepted,
            D::Queued => State::Queued,
            D::Sent => State::Sent,
            D::Delivered => State::Delivered,
            D::Read => State::Read,
            D::Undelivered => State::Undelivered,
            D::Failed => State::Failed,
            D::Expired => State::Expired,
            D::Unknown => State::Unknown,
        }
    }
}

impl From<wit::Channel> for Channel {
    fn from(c: wit::Channel) -> Self {
        use wit::Channel as C;
        match c {
            C::Sms => Channel::Sms,
            C::Mms => Channel::Mms,
            C::Whatsapp => Channel::Whatsapp,
            C::Viber => Channel::Viber,
            C::Rcs => Channel::Rcs,
            C::Other => Channel::Other,
        }
    }
}

impl From<wit::EventKind> for EventBody {
    fn from(kind: wit::EventKind) -> Self {
        match kind {
            wit::EventKind::DeliveryStatus(d) => {
                let state = State::from(d.state);
                EventBody::DeliveryStatus(DeliveryStatus {
                    message_id: d.message_id,
                    state,
                    is_final: state.is_final(),
                    provider_status: d.provider_status,
                    error_code: d.error_code,
                    from: d.from,
                    to: d.to,
                    channel: d.channel.into(),
                    occurred_at: ms(d.occurred_at),
                    message_ref: d.message_ref,
                    campaign_id: d.campaign_id,
                })
            }
            wit::EventKind::InboundMessage(m) => EventBody::InboundMessage(InboundMessage {
                message_id: m.message_id,
                from: m.from,
                to: m.to,
                text: m.text,
                media: m
                    .media
                    .into_iter()
                    .map(|x| Media {
                        url: x.url,
                        content_type: x.content_type,
                    })
                    .collect(),
                channel: m.channel.into(),
                occurred_at: ms(m.occurred_at),
                message_ref: m.message_ref,
                campaign_id: m.campaign_id,
            }),
            wit::EventKind::OptOut(o) => EventBody::OptOut(OptOut {
                from: o.from,
                to: o.to,
                channel: o.channel.into(),
                occurred_at: ms(o.occurred_at),
                message_ref: o.message_ref,
                campaign_id: o.campaign_id,
            }),
            wit::EventKind::LinkHit(l) => EventBody::LinkHit(LinkHit {
                url: l.url,
                recipient: l.recipient,
                sender: l.sender,
                occurred_at: ms(l.occurred_at),
                message_ref: l.message_ref,
                campaign_id: l.campaign_id,
            }),
            wit::EventKind::Subscription(s) => EventBody::Subscription(Subscription {
                subscriber: s.subscriber,
                subscribed: s.subscribed,
                channel: s.channel.into(),
                sender: s.sender,
                occurred_at: ms(s.occurred_at),
            }),
        }
    }
}

impl From<wit::Action> for Action {
    fn from(a: wit::Action) -> Self {
        match a {
            wit::Action::ConfirmSubscription(c) => Action::ConfirmSubscription {
                url: c.url,
                topic: c.topic,
            },
        }
    }
}
