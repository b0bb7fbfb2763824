//! Kudosity (formerly TransmitSMS / Burst SMS): v2 webhooks (JSON POST,
//! unsigned) for SMS, MMS, WhatsApp and RCS status and inbound messages,
//! link hits and opt-outs; legacy v1 callbacks (GET, delivery receipts and
//! replies) signed with `x-transmitsms-signature`. See README.md beside this
//! file.

use serde_json::Value;
use switchboard_plugin_sdk::fields::{json_field, scalars, short_hash};
use switchboard_plugin_sdk::request::json_scalar;
use switchboard_plugin_sdk::status::{StatusTable, map_status};
use switchboard_plugin_sdk::time::parse_datetime;
use switchboard_plugin_sdk::types::{ConfigKey, Route};
use switchboard_plugin_sdk::*;

pub struct Kudosity;
switchboard_plugin_sdk::export_plugin!(Kudosity);

/// v2 `status.status` values (upper case) and legacy v1 DLR `status` values
/// (lower case, hyphenated). `OTHER` ("provided as-is from the carrier") is
/// deliberately absent: it maps to `unknown` with the raw value kept.
pub const STATUSES: StatusTable = &[
    ("ACCEPTED", DeliveryState::Accepted),
    ("SENT", DeliveryState::Sent),
    ("DELIVERED", DeliveryState::Delivered),
    ("READ", DeliveryState::Read),
    // Temporary (handset off, out of range): not delivered, kept apart from
    // a hard bounce by state, `error_code` and `provider_status`.
    ("SOFT_BOUNCE", DeliveryState::Undelivered),
    ("HARD_BOUNCE", DeliveryState::Failed),
    ("UNDELIVERED", DeliveryState::Undelivered),
    ("FAILED", DeliveryState::Failed),
    ("REJECTED", DeliveryState::Failed),
    // Legacy v1 DLR callback vocabulary.
    ("pending", DeliveryState::Sent),
    ("soft-bounce", DeliveryState::Undelivered),
    ("hard-bounce", DeliveryState::Failed),
];

/// Fields of the v2 envelope mapped onto events (the rest goes to `extra`).
const ENVELOPE: &[&str] = &["timestamp"];
const STATUS_FIELDS: &[&str] = &[
    "status.id",
    "status.status",
    "status.type",
    "status.sender",
    "status.recipient",
    "status.message_ref",
    "status.campaign_id",
    "status.error_code",
];
const MO_FIELDS: &[&str] = &[
    "mo.id",
    "mo.type",
    "mo.sender",
    "mo.recipient",
    "mo.message",
    "mo.last_message.message_ref",
    "mo.last_message.campaign_id",
];
const LINK_HIT_FIELDS: &[&str] = &[
    "link_hit.url",
    "link_hit.source_message.type",
    "link_hit.source_message.recipient",
    "link_hit.source_message.sender",
    "link_hit.source_message.message_ref",
    "link_hit.source_message.campaign_id",
];
const OPT_OUT_FIELDS: &[&str] = &[
    "opt_out.source_message.type",
    "opt_out.source_message.recipient",
    "opt_out.source_message.sender",
    "opt_out.source_message.message_ref",
    "opt_out.source_message.campaign_id",
];
impl Plugin for Kudosity {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "kudosity".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Kudosity (TransmitSMS) v2 webhooks: SMS/MMS/WhatsApp/RCS status and inbound, link hits, opt-outs; legacy v1 DLR and reply callbacks".into(),
            routes: vec![
                Route::new(
                    &[Method::Post, Method::Get],
                    "/kudosityCallback",
                    "v2 webhook (status, link hit, opt-out; any event type) or legacy v1 DLR callback (GET)",
                ),
                Route::new(
                    &[Method::Post, Method::Get],
                    "/kudosityIncoming/{app_code}",
                    "v2 webhook for inbound events (any event type) or legacy v1 reply callback (GET)",
                ),
            ],
            config_keys: vec![
                ConfigKey::secret("api_secret")
                    .describe("Account API secret: HMAC key of the legacy v1 x-transmitsms-signature (v1 callbacks are refused without it; v2 webhooks are unsigned)"),
            ],
            accept_reply: build::reply(200),
        }
    }

    fn handle(req: &Request, config: &Config) -> Result<Outcome, PluginError> {
        if req.looks_like_json() {
            return v2(req);
        }
        if req.params().0.is_empty() {
            return Err(bad_request(
                "neither a v2 JSON webhook nor legacy v1 callback parameters",
            ));
        }
        legacy::legacy(req, config)
    }
}

// ---------------------------------------------------------------- v2 (JSON)

fn v2(req: &Request) -> Result<Outcome, PluginError> {
    let body = req.json()?;
    if !body.is_object() {
        return Err(bad_request("webhook body is not a JSON object"));
    }
    let event_type = json_field(&body, "event_type")
        .unwrap_or_default()
        .to_ascii_uppercase();
    let occurred_at = json_field(&body, "timestamp").and_then(|t| parse_datetime(&t, 0));
    let event_channel = channel_of(event_type.split('_').next().unwrap_or(""));
    let all = scalars("", &body);
    let extra_without = |mapped: &[&str]| -> Vec<(String, String)> {
        all.iter()
            .filter(|(k, _)| {
                // Inline media bodies become the media's data URL.
                let media_body = k.starts_with("mo.media.") && k.ends_with(".content");
                let mapped = ENVELOPE.contains(&k.as_str()) || mapped.contains(&k.as_str());
                !(mapped || media_body)
            })
            .cloned()
            .collect()
    };

    let event = if let Some(status) = body.get("status").filter(|v| v.is_object()) {
        let raw =
            json_field(status, "status").ok_or_else(|| bad_request("missing `status.status`"))?;
        let id = json_field(status, "id").ok_or_else(|| bad_request("missing `status.id`"))?;
        let mut ds = DeliveryStatus::new(&id, map_status(STATUSES, &raw), &raw);
        ds.from = json_field(status, "sender");
        ds.to = json_field(status, "recipient");
        ds.channel = message_channel(status, event_channel);
        ds.occurred_at = occurred_at;
        ds.message_ref = json_field(status, "message_ref");
        ds.campaign_id = json_field(status, "campaign_id");
        ds.error_code = json_field(status, "error_code").or_else(|| bounce_kind(&raw));
        // One `status.id` carries every status of a message: the pair is the event.
        Event::new(
            format!("{id}:{}", raw.to_ascii_uppercase()),
            EventKind::DeliveryStatus(ds),
        )
        .with_extra(extra_without(STATUS_FIELDS))
    } else if let Some(mo) = body.get("mo").filter(|v| v.is_object()) {
        let from = json_field(mo, "sender").ok_or_else(|| bad_request("missing `mo.sender`"))?;
        let to = json_field(mo, "recipient").unwrap_or_default();
        let message = mo.get("message").and_then(json_scalar).unwrap_or_default();
        let id = json_field(mo, "id").unwrap_or_else(|| {
            short_hash(&[
                &from,
                &to,
                &message,
                &json_field(&body, "timestamp").unwrap_or_default(),
            ])
        });
        let mut msg = InboundMessage::new(&id, &from, &to, &message);
        msg.media = media_of(mo);
        msg.channel = message_channel(mo, event_channel);
        if msg.channel == Channel::Sms && !msg.media.is_empty() {
            msg.channel = Channel::Mms;
        }
        msg.occurred_at = occurred_at;
        if let Some(last) = mo.get("last_message") {
            msg.message_ref = json_field(last, "message_ref");
            msg.campaign_id = json_field(last, "campaign_id");
        }
        Event::new(id, EventKind::InboundMessage(msg)).with_extra(extra_without(MO_FIELDS))
    } else if let Some(hit) = body.get("link_hit").filter(|v| v.is_object()) {
        let url = json_field(hit, "url").ok_or_else(|| bad_request("missing `link_hit.url`"))?;
        let source = hit.get("source_message").unwrap_or(&Value::Null);
        let recipient = json_field(source, "recipient")
            .ok_or_else(|| bad_request("missing `link_hit.source_message.recipient`"))?;
        // `hits` is cumulative: each hit of the same link is a new event.
        let hits = json_field(hit, "hits").unwrap_or_default();
        let source_id = json_field(source, "id").unwrap_or_else(|| short_hash(&[&recipient, &url]));
        let lh = LinkHit {
            url,
            recipient,
            sender: json_field(source, "sender"),
            occurred_at,
            message_ref: json_field(source, "message_ref"),
            campaign_id: json_field(source, "campaign_id"),
        };
        Event::new(format!("link:{source_id}:{hits}"), EventKind::LinkHit(lh))
            .with_extra(extra_without(LINK_HIT_FIELDS))
    } else if let Some(opt) = body.get("opt_out").filter(|v| v.is_object()) {
        let source = opt.get("source_message").unwrap_or(&Value::Null);
        let from = json_field(source, "recipient")
            .or_else(|| json_field(opt, "mobile"))
            .or_else(|| json_field(opt, "sender"))
            .ok_or_else(|| bad_request("missing `opt_out.source_message.recipient`"))?;
        let how = json_field(opt, "source").unwrap_or_default();
        let source_id = json_field(source, "id").unwrap_or_else(|| {
            short_hash(&[&from, &json_field(&body, "timestamp").unwrap_or_default()])
        });
        let oo = OptOut {
            from: from.clone(),
            to: json_field(source, "sender"),
            channel: message_channel(source, Channel::Sms),
            occurred_at,
            message_ref: json_field(source, "message_ref"),
            campaign_id: json_field(source, "campaign_id"),
        };
        Event::new(
            format!("optout:{source_id}:{from}:{how}"),
            EventKind::OptOut(oo),
        )
        .with_extra(extra_without(OPT_OUT_FIELDS))
    } else if event_type.is_empty() {
        return Err(bad_request(
            "no `status`, `mo`, `link_hit` or `opt_out` object in the webhook",
        ));
    } else {
        return Err(unsupported(format!(
            "event type `{event_type}` carries no `status`, `mo`, `link_hit` or `opt_out` object"
        )));
    };
    Ok(Outcome::events(vec![event]))
}

/// `SOFT_BOUNCE` / `soft-bounce` → `soft_bounce` (and hard alike), so rules
/// can tell the two apart by error code as well as by state.
fn bounce_kind(raw: &str) -> Option<String> {
    let norm = raw.trim().to_ascii_lowercase().replace('-', "_");
    matches!(norm.as_str(), "soft_bounce" | "hard_bounce").then_some(norm)
}

/// The channel of a message object by its `type`, else the event type's.
fn message_channel(obj: &Value, fallback: Channel) -> Channel {
    match json_field(obj, "type") {
        Some(t) => channel_of(&t.to_ascii_uppercase()),
        None => fallback,
    }
}

fn channel_of(kind: &str) -> Channel {
    match kind {
        "SMS" | "" => Channel::Sms,
        "MMS" => Channel::Mms,
        "WHATSAPP" => Channel::Whatsapp,
        "RCS" => Channel::Rcs,
        "VIBER" => Channel::Viber,
        _ => Channel::Other,
    }
}

/// Inbound media: inline `{name, content}` (base64, what Kudosity really
/// sends) become `data:` URLs; `url` / `content_urls` entries are kept as is.
fn media_of(mo: &Value) -> Vec<Media> {
    let mut out = Vec::new();
    if let Some(items) = mo.get("media").and_then(Value::as_array) {
        for item in items {
            let name = json_field(item, "name").unwrap_or_default();
            let content_type = json_field(item, "content_type").or_else(|| mime_of(&name));
            if let Some(url) = json_field(item, "url") {
                out.push(Media { url, content_type });
            } else if let Some(content) = json_field(item, "content") {
                let mime = content_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".into());
                out.push(Media {
                    url: format!("data:{mime};base64,{}", content.trim()),
                    content_type,
                });
            }
        }
    }
    if let Some(urls) = mo.get("content_urls").and_then(Value::as_array) {
        for url in urls.iter().filter_map(Value::as_str) {
            let name = url.rsplit('/').next().unwrap_or("");
            out.push(Media {
                url: url.to_owned(),
                content_type: mime_of(name),
            });
        }
    }
    out
}

/// A content type guessed from a file name (Kudosity sends none).
fn mime_of(name: &str) -> Option<String> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(
        match ext.as_str() {
            "jpg" | "jpeg" => "image/jpeg",
            "png" => "image/png",
            "gif" => "image/gif",
            "webp" => "image/webp",
            "bmp" => "image/bmp",
            "mp4" => "video/mp4",
            "3gp" => "video/3gpp",
            "mp3" => "audio/mpeg",
            "amr" => "audio/amr",
            "txt" => "text/plain",
            "vcf" => "text/vcard",
            "pdf" => "application/pdf",
            "smil" => "application/smil",
            _ => return None,
        }
        .to_owned(),
    )
}

mod legacy;
pub use legacy::{php_json_object, php_parse_str};

#[cfg(test)]
mod tests;
