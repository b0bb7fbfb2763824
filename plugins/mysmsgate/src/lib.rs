//! MySMSGate: JSON incoming-message and delivery-report webhooks, signed
//! with a shared secret (header and algorithm configurable, since MySMSGate
//! does not publish them). See README.md beside this file.

use switchboard_plugin_sdk::build::reply_with;
use switchboard_plugin_sdk::fields::{nested_json, short_hash};
use switchboard_plugin_sdk::sign::{hmac_sha1, hmac_sha256, verify_base64, verify_hex};
use switchboard_plugin_sdk::status::{StatusTable, map_status};
use switchboard_plugin_sdk::types::{ConfigKey, Route};
use switchboard_plugin_sdk::*;

pub struct MySmsGate;
switchboard_plugin_sdk::export_plugin!(MySmsGate);

const STATUSES: StatusTable = &[
    ("pending", DeliveryState::Queued),
    ("queued", DeliveryState::Queued),
    ("accepted", DeliveryState::Accepted),
    ("sent", DeliveryState::Sent),
    ("delivered", DeliveryState::Delivered),
    ("undelivered", DeliveryState::Undelivered),
    ("failed", DeliveryState::Failed),
    ("expired", DeliveryState::Expired),
];

const DELIVERY_FIELDS: &[&str] = &["message_id", "to", "status", "timestamp"];
const INCOMING_FIELDS: &[&str] = &["from", "to", "message", "timestamp"];

impl Plugin for MySmsGate {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "mysmsgate".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "MySMSGate (Android-phone gateway) incoming SMS and delivery reports"
                .into(),
            routes: vec![
                Route::new(&[Method::Post], "/mySmsGateCallback", "delivery report"),
                Route::new(
                    &[Method::Post],
                    "/mySmsGateIncoming/{app_code}",
                    "incoming SMS",
                ),
            ],
            config_keys: vec![
                ConfigKey::secret("secret")
                    .required()
                    .describe("Shared webhook secret (HMAC key)"),
                ConfigKey::setting("signature_header")
                    .describe("Header carrying the signature (default x-signature)"),
                ConfigKey::setting("signature_algorithm")
                    .describe("hmac-sha256-hex (default), hmac-sha256-base64, hmac-sha1-hex or hmac-sha1-base64, over the raw body"),
            ],
            accept_reply: reply_with(200, "application/json", r#"{"status":"success"}"#),
        }
    }

    fn handle(req: &Request, config: &Config) -> Result<Outcome, PluginError> {
        verify(req, config)?;
        let json = req.json()?;
        let p = Params::from_json(&json);
        let extra_of = |known: &[&str]| {
            let mut extra = p.extra(known);
            // Nested values (none documented today) are kept as JSON text.
            extra.extend(nested_json(&json));
            extra
        };
        let occurred_at = p
            .get("timestamp")
            .and_then(|t| t.parse::<i64>().ok())
            .map(|s| s * 1000);
        let event = if let Some(message_id) = p.opt("message_id") {
            let status = p.require("status")?;
            let mut ds = DeliveryStatus::new(&message_id, map_status(STATUSES, status), status);
            ds.to = p.opt("to");
            ds.occurred_at = occurred_at;
            if ds.state == DeliveryState::Failed {
                ds.error_code = p.opt("status_text");
            }
            Event::new(
                format!("{message_id}:{status}"),
                EventKind::DeliveryStatus(ds),
            )
            .with_extra(extra_of(DELIVERY_FIELDS))
        } else if p.get("message").is_some() || p.get("from").is_some() {
            let from = p.require("from")?;
            let to = p.get("to").unwrap_or("");
            let text = p.get("message").unwrap_or("");
            // Incoming messages carry no id: derive one from what identifies
            // the message, so a resend is recognized as the same event.
            let id = short_hash(&[from, to, p.get("timestamp").unwrap_or(""), text]);
            let mut msg = InboundMessage::new(&id, from, to, text);
            msg.occurred_at = occurred_at;
            Event::new(id, EventKind::InboundMessage(msg)).with_extra(extra_of(INCOMING_FIELDS))
        } else {
            return Err(bad_request(
                "neither a delivery report (`message_id`) nor an incoming message (`from`, `message`)",
            ));
        };
        Ok(Outcome::events(vec![event]).with_reply(reply_with(
            200,
            "application/json",
            r#"{"status":"success"}"#,
        )))
    }
}

fn verify(req: &Request, config: &Config) -> Result<(), PluginError> {
    let secret = config.require("secret")?;
    let header = config.get("signature_header").unwrap_or("x-signature");
    let algorithm = config
        .get("signature_algorithm")
        .unwrap_or("hmac-sha256-hex");
    let received = req
        .header(header)
        .ok_or_else(|| unauthorized(format!("missing signature header `{header}`")))?;
    // Accept `sha256=<hex>` as GitHub-style senders write it.
    let received = received
        .split_once('=')
        .filter(|(k, _)| k.starts_with("sha"))
        .map_or(received, |(_, v)| v);
    let ok = match algorithm {
        "hmac-sha256-hex" => verify_hex(received, &hmac_sha256(secret.as_bytes(), req.body())),
        "hmac-sha256-base64" => {
            verify_base64(received, &hmac_sha256(secret.as_bytes(), req.body()))
        }
        "hmac-sha1-hex" => verify_hex(received, &hmac_sha1(secret.as_bytes(), req.body())),
        "hmac-sha1-base64" => verify_base64(received, &hmac_sha1(secret.as_bytes(), req.body())),
        other => {
            return Err(PluginError::Internal(format!(
                "unknown signature_algorithm `{other}`"
            )));
        }
    };
    if ok {
        Ok(())
    } else {
        Err(unauthorized("signature does not match the body"))
    }
}

#[cfg(test)]
mod tests;
