//! Vonage (Nexmo): SMS API delivery receipts and inbound messages (GET
//! query, POST form or POST JSON) signed with the `sig` parameter, and
//! Messages API status and inbound webhooks signed with a JWT. See
//! README.md beside this file.

use serde_json::Value;
use switchboard_plugin_sdk::fields::{json_field, scalars, short_hash};
use switchboard_plugin_sdk::request::json_scalar;
use switchboard_plugin_sdk::smpp;
use switchboard_plugin_sdk::status::{StatusTable, map_status};
use switchboard_plugin_sdk::time::parse_datetime;
use switchboard_plugin_sdk::types::{ConfigKey, Route};
use switchboard_plugin_sdk::*;

pub struct Vonage;
switchboard_plugin_sdk::export_plugin!(Vonage);

/// SMS API delivery receipt `status` values.
pub const DLR_STATUSES: StatusTable = &[
    ("accepted", DeliveryState::Accepted),
    ("buffered", DeliveryState::Queued),
    ("delivered", DeliveryState::Delivered),
    ("expired", DeliveryState::Expired),
    ("failed", DeliveryState::Failed),
    ("rejected", DeliveryState::Failed),
    ("unknown", DeliveryState::Unknown),
];

/// Messages API status webhook `status` values.
pub const MESSAGES_STATUSES: StatusTable = &[
    ("submitted", DeliveryState::Sent),
    ("delivered", DeliveryState::Delivered),
    ("read", DeliveryState::Read),
    ("undeliverable", DeliveryState::Undelivered),
    ("rejected", DeliveryState::Failed),
];

/// Signature fields: checked, never part of an event.
const SIGNATURE_FIELDS: &[&str] = &["sig"];
const DLR_FIELDS: &[&str] = &[
    "messageId",
    "msisdn",
    "to",
    "status",
    "err-code",
    "scts",
    "client-ref",
    "sig",
];
const MO_FIELDS: &[&str] = &[
    "messageId",
    "msisdn",
    "to",
    "text",
    "message-timestamp",
    "sig",
];
const MESSAGES_STATUS_FIELDS: &[&str] = &[
    "message_uuid",
    "to",
    "from",
    "status",
    "timestamp",
    "channel",
    "client_ref",
    "error.title",
];
const MESSAGES_INBOUND_FIELDS: &[&str] = &[
    "message_uuid",
    "to",
    "from",
    "text",
    "timestamp",
    "channel",
    "client_ref",
];
/// Messages API inbound media objects (`image.url`, ...).
const MEDIA_KINDS: &[&str] = &["image", "audio", "video", "file", "vcard", "sticker"];

impl Plugin for Vonage {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "vonage".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Vonage SMS API delivery receipts and inbound SMS (signed `sig`), Messages API status and inbound (JWT)".into(),
            routes: vec![
                Route::new(
                    &[Method::Get, Method::Post],
                    "/vonageCallback",
                    "delivery receipt (SMS API) or message status (Messages API)",
                ),
                Route::new(
                    &[Method::Get, Method::Post],
                    "/vonageIncoming/{app_code}",
                    "inbound message (SMS API or Messages API)",
                ),
            ],
            config_keys: vec![
                ConfigKey::secret("signature_secret")
                    .describe("Signature secret: checks the SMS API `sig` parameter and the Messages API JWT; when set, unsigned requests are refused"),
                ConfigKey::setting("signature_method")
                    .describe("The account's SMS signature method: md5hash, md5, sha1, sha256 (default) or sha512"),
                ConfigKey::setting("timestamp_tolerance_secs")
                    .describe("Refuse signed requests whose timestamp is further than this from now (default 300, 0 disables)"),
            ],
            accept_reply: build::reply(200),
        }
    }

    fn handle(req: &Request, config: &Config) -> Result<Outcome, PluginError> {
        let json = if req.looks_like_json() {
            let v = req.json()?;
            if !v.is_object() {
                return Err(bad_request("webhook body is not a JSON object"));
            }
            Some(v)
        } else {
            None
        };
        let secret = config.get("signature_secret").filter(|s| !s.is_empty());
        let tolerance = tolerance(config)?;

        // Messages API: JSON with a `message_uuid`, signed with a JWT.
        if let Some(v) = json.as_ref().filter(|v| v.get("message_uuid").is_some()) {
            if let Some(secret) = secret {
                verify_jwt(req, secret, tolerance)?;
            }
            let event = if v.get("status").is_some() {
                messages_status(v)?
            } else {
                messages_inbound(v)?
            };
            return Ok(Outcome::events(vec![event]));
        }

        // SMS API: the same fields in a query, a form or a JSON object.
        let p = match &json {
            Some(v) => Params::from_json(v),
            None => req.params().clone(),
        };
        if p.0.is_empty() {
            return Err(bad_request("no parameters in the query or the body"));
        }
        if let Some(secret) = secret {
            let method = config.get("signature_method").unwrap_or("sha256");
            verify_sig(&p, secret, method, tolerance, req.received_at())?;
        }
        let event = if p.get("status").is_some() {
            sms_dlr(&p)?
        } else if p.get("msisdn").is_some() {
            sms_inbound(&p)?
        } else {
            return Err(bad_request(
                "neither a delivery receipt (`status`) nor an inbound message (`msisdn`, `text`)",
            ));
        };
        Ok(Outcome::events(vec![event]))
    }
}

// ------------------------------------------------------------- SMS API

fn sms_dlr(p: &Params) -> Result<Event, PluginError> {
    let id = p.require("messageId")?;
    let status = p.require("status")?;
    let mut ds = DeliveryStatus::new(id, map_status(DLR_STATUSES, status), status);
    ds.to = p.opt("msisdn");
    ds.from = p.opt("to");
    ds.error_code = p.opt("err-code").filter(|c| c != "0");
    ds.message_ref = p.opt("client-ref");
    // `scts`: the carrier's `YYMMDDhhmm`, UTC.
    ds.occurred_at = p
        .get("scts")
        .and_then(|t| smpp::parse_date(t, 0))
        .or_else(|| {
            p.get("message-timestamp")
                .and_then(|t| parse_datetime(t, 0))
        });
    let extra = p.extra(DLR_FIELDS);
    Ok(Event::new(
        format!("{id}:{}", status.trim().to_ascii_lowercase()),
        EventKind::DeliveryStatus(ds),
    )
    .with_extra(extra))
}

fn sms_inbound(p: &Params) -> Result<Event, PluginError> {
    let from = p.require("msisdn")?;
    let to = p.get("to").unwrap_or("");
    let text = p.get("text").unwrap_or("");
    let when = p.get("message-timestamp").unwrap_or("");
    let id = p
        .opt("messageId")
        .unwrap_or_else(|| short_hash(&[from, to, when, text]));
    let mut msg = InboundMessage::new(&id, from, to, text);
    msg.occurred_at = parse_datetime(when, 0);
    Ok(Event::new(id, EventKind::InboundMessage(msg)).with_extra(p.extra(MO_FIELDS)))
}

// ------------------------------------------------------------ Messages API

fn messages_status(v: &Value) -> Result<Event, PluginError> {
    let id = json_field(v, "message_uuid").ok_or_else(|| bad_request("missing `message_uuid`"))?;
    let status = json_field(v, "status").ok_or_else(|| bad_request("missing `status`"))?;
    let mut ds = DeliveryStatus::new(&id, map_status(MESSAGES_STATUSES, &status), &status);
    ds.to = json_field(v, "to");
    ds.from = json_field(v, "from");
    ds.channel = channel_of(json_field(v, "channel").as_deref());
    ds.occurred_at = json_field(v, "timestamp").and_then(|t| parse_datetime(&t, 0));
    ds.message_ref = json_field(v, "client_ref");
    ds.error_code = v.get("error").and_then(|e| {
        json_field(e, "title").or_else(|| {
            // `type` is a URL ending in the code.
            json_field(e, "type").and_then(|t| t.rsplit('/').next().map(str::to_owned))
        })
    });
    let extra = scalars("", v)
        .into_iter()
        .filter(|(k, _)| !MESSAGES_STATUS_FIELDS.contains(&k.as_str()))
        .collect();
    Ok(Event::new(
        format!("{id}:{}", status.to_ascii_lowercase()),
        EventKind::DeliveryStatus(ds),
    )
    .with_extra(extra))
}

fn messages_inbound(v: &Value) -> Result<Event, PluginError> {
    let id = json_field(v, "message_uuid").ok_or_else(|| bad_request("missing `message_uuid`"))?;
    let from = json_field(v, "from").ok_or_else(|| bad_request("missing `from`"))?;
    let to = json_field(v, "to").unwrap_or_default();
    let body = v.get("text").and_then(json_scalar).unwrap_or_default();
    let mut msg = InboundMessage::new(&id, &from, &to, &body);
    msg.channel = channel_of(json_field(v, "channel").as_deref());
    msg.occurred_at = json_field(v, "timestamp").and_then(|t| parse_datetime(&t, 0));
    msg.message_ref = json_field(v, "client_ref");
    let mut mapped_urls = Vec::new();
    for kind in MEDIA_KINDS {
        if let Some(url) = v.get(*kind).and_then(|m| json_field(m, "url")) {
            msg.media.push(Media {
                url,
                content_type: media_type(kind),
            });
            mapped_urls.push(format!("{kind}.url"));
        }
    }
    let extra = scalars("", v)
        .into_iter()
        .filter(|(k, _)| !MESSAGES_INBOUND_FIELDS.contains(&k.as_str()) && !mapped_urls.contains(k))
        .collect();
    Ok(Event::new(id, EventKind::InboundMessage(msg)).with_extra(extra))
}

fn media_type(kind: &str) -> Option<String> {
    match kind {
        "vcard" => Some("text/vcard".into()),
        // Only the family is known: `image`, `audio`, `video`.
        "image" | "audio" | "video" => Some(format!("{kind}/*")),
        _ => None,
    }
}

fn channel_of(channel: Option<&str>) -> Channel {
    match channel.map(str::to_ascii_lowercase).as_deref() {
        Some("sms") | None => Channel::Sms,
        Some("mms") => Channel::Mms,
        Some("whatsapp") => Channel::Whatsapp,
        Some("viber_service" | "viber") => Channel::Viber,
        Some("rcs") => Channel::Rcs,
        Some(_) => Channel::Other,
    }
}

mod signature;
pub use signature::{sig_bytes, signature_base};
use signature::{tolerance, verify_jwt, verify_sig};

#[cfg(test)]
mod tests;
