//! Builders for events, replies and plugin descriptions, so a plugin fills
//! in only the fields its provider has.

use crate::types::*;

/// A reply with a status, no headers and no body.
pub fn reply(status: u16) -> HttpResponse {
    HttpResponse {
        status,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

/// A `text/plain` reply, e.g. `reply_text(200, "OK")` for SMSGlobal.
pub fn reply_text(status: u16, body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
        body: body.as_bytes().to_vec(),
    }
}

/// A reply with an explicit content type.
pub fn reply_with(status: u16, content_type: &str, body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("content-type".into(), content_type.into())],
        body: body.as_bytes().to_vec(),
    }
}

impl Route {
    pub fn new(methods: &[Method], path: &str, description: &str) -> Self {
        Route {
            methods: methods.to_vec(),
            path: path.into(),
            description: description.into(),
        }
    }
}

impl ConfigKey {
    pub fn new(name: &str, required: bool, secret: bool, description: &str) -> Self {
        ConfigKey {
            name: name.into(),
            required,
            secret,
            description: description.into(),
        }
    }
}

impl Outcome {
    /// Events with the provider's default reply (`200`, empty body).
    pub fn events(events: Vec<Event>) -> Self {
        Outcome {
            events,
            reply: None,
            actions: Vec::new(),
        }
    }
    pub fn with_reply(mut self, reply: HttpResponse) -> Self {
        self.reply = Some(reply);
        self
    }
}

impl Event {
    pub fn new(id: impl Into<String>, kind: EventKind) -> Self {
        Event {
            id: id.into(),
            kind,
            extra: Vec::new(),
        }
    }
    pub fn with_extra(mut self, extra: Vec<(String, String)>) -> Self {
        self.extra = extra;
        self
    }
}

impl DeliveryStatus {
    pub fn new(message_id: &str, state: DeliveryState, provider_status: &str) -> Self {
        DeliveryStatus {
            message_id: message_id.into(),
            state,
            provider_status: provider_status.into(),
            error_code: None,
            from: None,
            to: None,
            channel: Channel::Sms,
            occurred_at: None,
            message_ref: None,
            campaign_id: None,
        }
    }
}

impl InboundMessage {
    pub fn new(message_id: &str, from: &str, to: &str, text: &str) -> Self {
        InboundMessage {
            message_id: message_id.into(),
            from: from.into(),
            to: to.into(),
            text: text.into(),
            media: Vec::new(),
            channel: Channel::Sms,
            occurred_at: None,
            message_ref: None,
            campaign_id: None,
        }
    }
}

impl DeliveryState {
    /// Final states never regress (see `shared/reference/providers.md`).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeliveryState::Delivered
                | DeliveryState::Read
                | DeliveryState::Undelivered
                | DeliveryState::Failed
                | DeliveryState::Expired
        )
    }
}
