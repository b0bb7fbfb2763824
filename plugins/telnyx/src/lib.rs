//! Telnyx: messaging webhooks (API v2 JSON: `message.sent`,
//! `message.finalized`, `message.received`), with the Ed25519
//! `telnyx-signature-ed25519` check. See README.md beside this file.

use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{Map, Value};
use switchboard_plugin_sdk::build::reply;
use switchboard_plugin_sdk::fields::{flatten, flatten_object, json_text};
use switchboard_plugin_sdk::request::json_scalar;
use switchboard_plugin_sdk::sign::base64_decode;
use switchboard_plugin_sdk::status::{StatusTable, map_status};
use switchboard_plugin_sdk::time::parse_datetime;
use switchboard_plugin_sdk::types::{ConfigKey, Route};
use switchboard_plugin_sdk::*;

pub struct Telnyx;
switchboard_plugin_sdk::export_plugin!(Telnyx);

/// `payload.to[].status` of outbound messages.
const STATUSES: StatusTable = &[
    ("queued", DeliveryState::Queued),
    ("sending", DeliveryState::Queued),
    ("sent", DeliveryState::Sent),
    ("delivered", DeliveryState::Delivered),
    ("delivery_unconfirmed", DeliveryState::Sent),
    ("dlr_unconfirmed", DeliveryState::Sent),
    ("dlr_timeout", DeliveryState::Sent),
    ("delivery_failed", DeliveryState::Undelivered),
    ("sending_failed", DeliveryState::Failed),
    ("gw_timeout", DeliveryState::Failed),
    ("expired", DeliveryState::Expired),
];

/// Payload fields mapped onto the events (everything else goes to `extra`).
const DELIVERY_MAPPED: &[&str] = &["id", "to", "from.phone_number", "type", "errors"];
const INBOUND_MAPPED: &[&str] = &["id", "to", "from.phone_number", "type", "text", "media"];

const DEFAULT_TOLERANCE_SECS: i64 = 300;

impl Plugin for Telnyx {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "telnyx".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Telnyx messaging webhooks: SMS/MMS delivery status (message.sent, message.finalized) and inbound messages (message.received)".into(),
            routes: vec![
                Route::new(
                    &[Method::Post],
                    "/telnyxCallback",
                    "delivery status (webhook_url of the message or messaging profile)",
                ),
                Route::new(
                    &[Method::Post],
                    "/telnyxIncoming/{app_code}",
                    "inbound message (messaging profile webhook) or delivery status",
                ),
            ],
            config_keys: vec![
                ConfigKey::setting("public_key")
                    .required()
                    .describe("Telnyx's Ed25519 public key, base64, as shown in the portal (Keys & Credentials → Public Key)"),
                ConfigKey::setting("timestamp_tolerance_secs")
                    .describe("Refuse webhooks whose telnyx-timestamp is further than this from arrival (default 300; 0 disables)"),
            ],
            accept_reply: reply(200),
        }
    }

    fn handle(req: &Request, config: &Config) -> Result<Outcome, PluginError> {
        verify(req, config)?;
        let json = req.json()?;
        let data = json
            .get("data")
            .and_then(Value::as_object)
            .ok_or_else(|| bad_request("missing object `data`"))?;
        let event_type = data.get("event_type").and_then(Value::as_str).unwrap_or("");
        let payload = data
            .get("payload")
            .and_then(Value::as_object)
            .ok_or_else(|| bad_request("missing object `data.payload`"))?;
        let occurred_at = str_at(data, "occurred_at").and_then(|t| parse_datetime(t, 0));
        let mut envelope_extra = Vec::new();
        for (k, v) in data {
            if k != "payload" {
                flatten(&format!("data.{k}"), v, &[], &mut envelope_extra);
            }
        }
        if let Some(meta) = json.get("meta") {
            flatten("meta", meta, &[], &mut envelope_extra);
        }
        let inbound =
            event_type == "message.received" || str_at(payload, "direction") == Some("inbound");
        let events = if inbound {
            vec![inbound_event(payload, occurred_at, envelope_extra)?]
        } else if event_type.starts_with("message.")
            || str_at(payload, "record_type") == Some("message")
        {
            delivery_events(payload, occurred_at, envelope_extra)?
        } else {
            return Err(unsupported(format!(
                "event type `{event_type}` is not a messaging event"
            )));
        };
        Ok(Outcome::events(events))
    }
}

fn str_at<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

fn channel_of(kind: Option<&str>) -> Channel {
    match kind.unwrap_or("SMS").to_ascii_uppercase().as_str() {
        "SMS" => Channel::Sms,
        "MMS" => Channel::Mms,
        "RCS" => Channel::Rcs,
        "WHATSAPP" => Channel::Whatsapp,
        _ => Channel::Other,
    }
}

/// One delivery status per recipient in `payload.to` (group MMS has several).
fn delivery_events(
    payload: &Map<String, Value>,
    occurred_at: Option<i64>,
    envelope_extra: Vec<(String, String)>,
) -> Result<Vec<Event>, PluginError> {
    let id = str_at(payload, "id")
        .filter(|i| !i.is_empty())
        .ok_or_else(|| bad_request("missing field `data.payload.id`"))?;
    let recipients = payload
        .get("to")
        .and_then(Value::as_array)
        .filter(|to| !to.is_empty())
        .ok_or_else(|| bad_request("missing recipients `data.payload.to`"))?;
    let first_error = payload
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|e| e.first());
    let error_code = first_error
        .and_then(|e| e.get("code"))
        .and_then(json_scalar)
        .filter(|c| !c.is_empty());
    let mut base_extra = Vec::new();
    flatten_object(payload, DELIVERY_MAPPED, &mut base_extra);
    if let Some(errors) = payload
        .get("errors")
        .filter(|e| e.as_array().is_some_and(|a| !a.is_empty()))
    {
        base_extra.push(("errors".into(), json_text(errors)));
    }
    base_extra.extend(envelope_extra);
    let from = payload
        .get("from")
        .and_then(|f| f.get("phone_number"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut events = Vec::new();
    for (i, r) in recipients.iter().enumerate() {
        let status = r.get("status").and_then(Value::as_str).unwrap_or("");
        let phone = r.get("phone_number").and_then(Value::as_str);
        let mut ds = DeliveryStatus::new(id, map_status(STATUSES, status), status);
        ds.to = phone.map(str::to_owned);
        ds.from = from.clone();
        ds.channel = channel_of(str_at(payload, "type"));
        ds.occurred_at = occurred_at;
        if matches!(
            ds.state,
            DeliveryState::Failed | DeliveryState::Undelivered | DeliveryState::Expired
        ) {
            ds.error_code = error_code.clone();
        }
        let mut extra = base_extra.clone();
        if let Some(obj) = r.as_object() {
            for (k, v) in obj {
                if k != "status" && k != "phone_number" {
                    flatten(&format!("to.{k}"), v, &[], &mut extra);
                }
            }
        }
        let event_id = if recipients.len() == 1 {
            format!("{id}:{status}")
        } else {
            format!("{id}:{}:{status}", phone.unwrap_or(&i.to_string()))
        };
        events.push(Event::new(event_id, EventKind::DeliveryStatus(ds)).with_extra(extra));
    }
    Ok(events)
}

fn inbound_event(
    payload: &Map<String, Value>,
    occurred_at: Option<i64>,
    envelope_extra: Vec<(String, String)>,
) -> Result<Event, PluginError> {
    let id = str_at(payload, "id")
        .filter(|i| !i.is_empty())
        .ok_or_else(|| bad_request("missing field `data.payload.id`"))?;
    let from = payload
        .get("from")
        .and_then(|f| f.get("phone_number"))
        .and_then(Value::as_str)
        .filter(|f| !f.is_empty())
        .ok_or_else(|| bad_request("missing field `data.payload.from.phone_number`"))?;
    let recipient = payload
        .get("to")
        .and_then(Value::as_array)
        .and_then(|to| to.first());
    let to = recipient
        .and_then(|r| r.get("phone_number"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let text = str_at(payload, "text").unwrap_or("");
    let mut msg = InboundMessage::new(id, from, to, text);
    for m in payload
        .get("media")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(url) = m.get("url").and_then(Value::as_str) {
            msg.media.push(Media {
                url: url.to_owned(),
                content_type: m
                    .get("content_type")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            });
        }
    }
    msg.channel = match str_at(payload, "type") {
        Some(t) => channel_of(Some(t)),
        None if !msg.media.is_empty() => Channel::Mms,
        None => Channel::Sms,
    };
    msg.occurred_at = occurred_at;
    let mut extra = Vec::new();
    flatten_object(payload, INBOUND_MAPPED, &mut extra);
    if let Some(r) = recipient {
        flatten("to.0", r, &["to.0.phone_number"], &mut extra);
    }
    // Media beyond url/content_type (size, hash) kept as JSON text.
    if let Some(media) = payload.get("media").filter(|m| !m.is_null()) {
        extra.push(("media".into(), json_text(media)));
    }
    extra.extend(envelope_extra);
    Ok(Event::new(id, EventKind::InboundMessage(msg)).with_extra(extra))
}

/// Checks `telnyx-signature-ed25519` over `telnyx-timestamp|body` with the
/// configured public key, then the timestamp's freshness.
fn verify(req: &Request, config: &Config) -> Result<(), PluginError> {
    let key = public_key(config.require("public_key")?)?;
    let signature = req
        .header("telnyx-signature-ed25519")
        .ok_or_else(|| unauthorized("missing telnyx-signature-ed25519"))?;
    let timestamp = req
        .header("telnyx-timestamp")
        .ok_or_else(|| unauthorized("missing telnyx-timestamp"))?
        .trim();
    let signature = base64_decode(signature)
        .and_then(|s| <[u8; 64]>::try_from(s.as_slice()).ok())
        .map(|s| Signature::from_bytes(&s))
        .ok_or_else(|| {
            unauthorized("telnyx-signature-ed25519 is not a base64 Ed25519 signature")
        })?;
    let mut signed = Vec::with_capacity(timestamp.len() + 1 + req.body().len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.push(b'|');
    signed.extend_from_slice(req.body());
    key.verify_strict(&signed, &signature)
        .map_err(|_| unauthorized("telnyx-signature-ed25519 does not match"))?;
    let tolerance = match config.get("timestamp_tolerance_secs") {
        Some(v) => v.trim().parse::<i64>().map_err(|_| {
            PluginError::Internal(format!("timestamp_tolerance_secs `{v}` is not a number"))
        })?,
        None => DEFAULT_TOLERANCE_SECS,
    };
    if tolerance > 0 {
        let at = timestamp
            .parse::<i64>()
            .map_err(|_| unauthorized(format!("telnyx-timestamp `{timestamp}` is not a number")))?;
        let skew = (req.received_at() / 1000)
            .saturating_sub(at)
            .saturating_abs();
        if skew > tolerance {
            return Err(unauthorized(format!(
                "telnyx-timestamp {at} is {skew}s away from arrival (tolerance {tolerance}s)"
            )));
        }
    }
    Ok(())
}

/// The portal's base64 public key (a raw 32-byte Ed25519 key; a DER
/// SubjectPublicKeyInfo, whose last 32 bytes are the key, is accepted too).
fn public_key(b64: &str) -> Result<VerifyingKey, PluginError> {
    let bytes = base64_decode(b64)
        .ok_or_else(|| PluginError::Internal("public_key is not base64".into()))?;
    let raw: Option<[u8; 32]> = match bytes.len() {
        32 => bytes.as_slice().try_into().ok(),
        44 => bytes.get(12..).and_then(|k| k.try_into().ok()),
        _ => None,
    };
    raw.and_then(|k| VerifyingKey::from_bytes(&k).ok())
        .ok_or_else(|| PluginError::Internal("public_key is not an Ed25519 public key".into()))
}

#[cfg(test)]
mod tests;
