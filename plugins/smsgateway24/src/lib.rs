//! SMSGateway24 (Android phones as an SMS/WhatsApp gateway): delivery
//! status and incoming message webhooks (text, and WhatsApp images as
//! media). Unsigned. See README.md beside this file.

use switchboard_plugin_sdk::fields::{nested_json, short_hash};
use switchboard_plugin_sdk::status::{StatusTable, map_status};
use switchboard_plugin_sdk::time::{parse_datetime, utc_offset};
use switchboard_plugin_sdk::types::{ConfigKey, Route};
use switchboard_plugin_sdk::*;

pub struct SmsGateway24;
switchboard_plugin_sdk::export_plugin!(SmsGateway24);

/// `status_id` values, in SMSGateway24's documented order (1, 3, 2, ...).
pub const STATUSES: StatusTable = &[
    // Pending at SMSGateway24's server.
    ("1", DeliveryState::Accepted),
    // Queued for sending on the phone.
    ("3", DeliveryState::Queued),
    // Taken by the phone.
    ("2", DeliveryState::Queued),
    // "Incoming SMS": a status of received messages, not a delivery state.
    ("5", DeliveryState::Unknown),
    ("6", DeliveryState::Sent),
    ("7", DeliveryState::Delivered),
    ("8", DeliveryState::Undelivered),
    // Not sent at all: generic failure, no service, null PDU, radio off.
    ("9", DeliveryState::Failed),
    ("10", DeliveryState::Failed),
    ("11", DeliveryState::Failed),
    ("12", DeliveryState::Failed),
    // Not sent: the app has no permission to send SMS.
    ("100", DeliveryState::Failed),
    ("101", DeliveryState::Failed),
];

const DELIVERY_FIELDS: &[&str] = &["sms_id", "status_id", "sendto", "senttime"];
const INCOMING_FIELDS: &[&str] = &["sms_id", "address", "date", "body", "img_url"];

impl Plugin for SmsGateway24 {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "smsgateway24".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "SMSGateway24 delivery statuses and incoming SMS / WhatsApp text and images".into(),
            routes: vec![
                Route::new(
                    &[Method::Post],
                    "/smsGateway24Callback",
                    "delivery status webhook (device settings)",
                ),
                Route::new(
                    &[Method::Post],
                    "/smsGateway24Incoming/{app_code}",
                    "incoming message webhook (SMS, WhatsApp text and images)",
                ),
            ],
            config_keys: vec![
                ConfigKey::setting("utc_offset")
                    .describe("Offset of the gateway's date-times without a zone, e.g. `+03:00` (default UTC)"),
                ConfigKey::setting("whatsapp_channels")
                    .describe("Comma-separated channel slots that are WhatsApp (default `2,3`: WhatsApp Business, WhatsApp)"),
            ],
            accept_reply: reply_text(200, "OK"),
        }
    }

    fn handle(req: &Request, config: &Config) -> Result<Outcome, PluginError> {
        let json;
        let p = if req.looks_like_json() {
            json = req.json()?;
            if !json.is_object() {
                return Err(bad_request("webhook body is not a JSON object"));
            }
            Params::from_json(&json)
        } else {
            json = serde_json::Value::Null;
            req.params().clone()
        };
        let offset = utc_offset(config, 0)?;
        let whatsapp = whatsapp_channels(config);
        let channel = |slot: Option<&str>| match slot.map(str::trim) {
            Some(s) if whatsapp.iter().any(|w| w == s) => Channel::Whatsapp,
            _ => Channel::Sms,
        };
        let extra_of = |known: &[&str]| {
            let mut extra = p.extra(known);
            // Nested values (none documented) are kept as JSON text.
            extra.extend(nested_json(&json));
            extra
        };

        let event = if let Some(status) = p.get_any(&["status_id"]) {
            let sms_id = p.require("sms_id")?;
            let mut ds = DeliveryStatus::new(sms_id, map_status(STATUSES, status), status);
            ds.to = p.opt("sendto");
            ds.occurred_at = p.get("senttime").and_then(|t| time_ms(t, offset));
            ds.channel = channel(p.get("channel_id"));
            if matches!(ds.state, DeliveryState::Failed | DeliveryState::Undelivered) {
                ds.error_code = Some(status.trim().to_owned());
            }
            Event::new(
                format!("{sms_id}:{}", status.trim()),
                EventKind::DeliveryStatus(ds),
            )
            .with_extra(extra_of(DELIVERY_FIELDS))
        } else if p.get("address").is_some() || p.get("body").is_some() {
            let from = p.require("address")?;
            let body = p.get("body").unwrap_or("");
            let date = p.get("date").unwrap_or("");
            let id = p
                .get_any(&["sms_id", "internal_id"])
                .map(str::to_owned)
                .unwrap_or_else(|| short_hash(&[from, date, body]));
            // The gateway does not say which of our numbers received it.
            let mut msg = InboundMessage::new(&id, from, "", body);
            msg.occurred_at = time_ms(date, offset)
                .or_else(|| p.get("date_sent").and_then(|t| time_ms(t, offset)));
            msg.channel = channel(p.get("channel_id"));
            let image = p.get("type").is_some_and(|t| t.eq_ignore_ascii_case("img"));
            if let Some(url) = p.opt("img_url") {
                msg.media.push(Media {
                    content_type: image_type(&url),
                    url,
                });
            } else if image {
                return Err(bad_request("image message without `img_url`"));
            }
            if image {
                // Images come from WhatsApp / WhatsApp Business only.
                msg.channel = Channel::Whatsapp;
            }
            Event::new(id, EventKind::InboundMessage(msg)).with_extra(extra_of(INCOMING_FIELDS))
        } else {
            return Err(bad_request(
                "neither a delivery status (`status_id`) nor an incoming message (`address`, `body`)",
            ));
        };
        Ok(Outcome::events(vec![event]).with_reply(reply_text(200, "OK")))
    }
}

/// The gateway's date-time: unix seconds or milliseconds (Android stores
/// ms), or `YYYY-MM-DD hh:mm:ss` at the configured offset.
fn time_ms(s: &str, offset: i32) -> Option<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return match n {
            n if n >= 100_000_000_000 => Some(n),
            n if n > 0 => n.checked_mul(1000),
            _ => None,
        };
    }
    parse_datetime(s, offset)
}

fn whatsapp_channels(config: &Config) -> Vec<String> {
    config
        .get("whatsapp_channels")
        .unwrap_or("2,3")
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The image's content type from the URL's extension, if it has one.
fn image_type(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(
        match ext.as_str() {
            "jpg" | "jpeg" => "image/jpeg",
            "png" => "image/png",
            "gif" => "image/gif",
            "webp" => "image/webp",
            _ => return None,
        }
        .to_owned(),
    )
}

#[cfg(test)]
mod tests;
