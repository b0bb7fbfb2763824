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

/// Config keys read as what they are:
/// `ConfigKey::secret("auth_token").required().describe("...")` or
/// `ConfigKey::setting("utc_offset").describe("...")`. A key starts optional
/// and without a description.
impl ConfigKey {
    /// A secret (token, signing key, password): the host never logs its
    /// value or shows it in the admin API.
    #[must_use]
    pub fn secret(name: &str) -> Self {
        ConfigKey {
            name: name.into(),
            required: false,
            secret: true,
            description: String::new(),
        }
    }

    /// A plain setting (UTC offset, header name, tolerance): not secret, so
    /// the host may log its value and show it in the admin API.
    #[must_use]
    pub fn setting(name: &str) -> Self {
        ConfigKey {
            name: name.into(),
            required: false,
            secret: false,
            description: String::new(),
        }
    }

    /// Makes the key required: when it is missing from the plugin's config
    /// section, the host refuses to start (and to reload). A plugin that
    /// verifies signatures requires its verification material, which is
    /// also what makes the host count its mounts as protected.
    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// What the key is for, shown to operators (and in the start-up error
    /// when a required key is missing).
    #[must_use]
    pub fn describe(mut self, description: &str) -> Self {
        self.description = description.into();
        self
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The record's fields in their WIT order.
    fn fields(key: &ConfigKey) -> (&str, bool, bool, &str) {
        (
            key.name.as_str(),
            key.required,
            key.secret,
            key.description.as_str(),
        )
    }

    #[test]
    fn config_key_builder_sets_the_flags() {
        let key = ConfigKey::secret("auth_token").required().describe("x");
        assert_eq!(fields(&key), ("auth_token", true, true, "x"));
        let key = ConfigKey::secret("previous_auth_token").describe("old");
        assert_eq!(fields(&key), ("previous_auth_token", false, true, "old"));
        let key = ConfigKey::setting("allowed_topics").required();
        assert_eq!(fields(&key), ("allowed_topics", true, false, ""));
        let key = ConfigKey::setting("utc_offset");
        assert_eq!(fields(&key), ("utc_offset", false, false, ""));
    }
}
