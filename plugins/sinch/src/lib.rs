//! Sinch SMS REST API: delivery reports (per recipient and per batch, SMS
//! and MMS) and inbound messages (`mo_text`, `mo_binary`, `mo_media`), JSON
//! POSTs. Unsigned. See README.md beside this file.

use serde_json::Value;
use switchboard_plugin_sdk::fields::{json_field, scalars, short_hash};
use switchboard_plugin_sdk::request::json_scalar;
use switchboard_plugin_sdk::status::{StatusTable, map_status};
use switchboard_plugin_sdk::time::parse_datetime;
use switchboard_plugin_sdk::types::{ConfigKey, Route};
use switchboard_plugin_sdk::*;

pub struct Sinch;
switchboard_plugin_sdk::export_plugin!(Sinch);

/// Delivery report `status` values.
pub const STATUSES: StatusTable = &[
    ("Queued", DeliveryState::Queued),
    ("Dispatched", DeliveryState::Sent),
    ("Delivered", DeliveryState::Delivered),
    ("Expired", DeliveryState::Expired),
    ("Failed", DeliveryState::Failed),
    ("Rejected", DeliveryState::Failed),
    ("Aborted", DeliveryState::Failed),
    ("Cancelled", DeliveryState::Failed),
    ("Deleted", DeliveryState::Failed),
    ("Unknown", DeliveryState::Unknown),
];

/// Fields of a recipient report mapped onto the event.
const RECIPIENT_FIELDS: &[&str] = &[
    "recipient",
    "status",
    "code",
    "operator_status_at",
    "client_reference",
    "applied_originator",
];
/// Fields of an inbound message mapped onto the event.
const MO_FIELDS: &[&str] = &[
    "id",
    "from",
    "to",
    "body",
    "received_at",
    "client_reference",
];

impl Plugin for Sinch {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "sinch".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Sinch SMS delivery reports (recipient and batch) and inbound SMS/MMS"
                .into(),
            routes: vec![
                Route::new(
                    &[Method::Post],
                    "/sinchCallback",
                    "delivery reports (batch callback_url)",
                ),
                Route::new(
                    &[Method::Post],
                    "/sinchIncoming/{app_code}",
                    "inbound messages (service plan callback URL)",
                ),
            ],
            config_keys: Vec::<ConfigKey>::new(),
            accept_reply: build::reply(200),
        }
    }

    fn handle(req: &Request, _config: &Config) -> Result<Outcome, PluginError> {
        let body = req.json()?;
        // One callback object, or (tolerated) an array of them.
        let items: Vec<&Value> = match &body {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut events = Vec::new();
        for item in items {
            if !item.is_object() {
                return Err(bad_request("callback is not a JSON object"));
            }
            let kind = json_field(item, "type").unwrap_or_default();
            match kind.as_str() {
                "recipient_delivery_report_sms" | "recipient_delivery_report_mms" => {
                    events.push(recipient_report(item, &kind)?)
                }
                "delivery_report_sms" | "delivery_report_mms" => {
                    events.extend(batch_report(item, &kind)?)
                }
                "mo_text" | "mo_binary" | "mo_media" => events.push(inbound(item, &kind)?),
                "" => return Err(bad_request("missing field `type`")),
                other => {
                    return Err(unsupported(format!("callback type `{other}`")));
                }
            }
        }
        if events.is_empty() {
            return Err(bad_request("no report in the callback"));
        }
        Ok(Outcome::events(events))
    }
}

fn channel_of(kind: &str) -> Channel {
    if kind.ends_with("_mms") {
        Channel::Mms
    } else {
        Channel::Sms
    }
}

/// One recipient's status. Sinch has no per-recipient message id: the
/// message is `batch_id:recipient`, so each recipient of a batch has its own
/// state.
fn recipient_report(v: &Value, kind: &str) -> Result<Event, PluginError> {
    let batch = json_field(v, "batch_id").ok_or_else(|| bad_request("missing `batch_id`"))?;
    let recipient = json_field(v, "recipient").ok_or_else(|| bad_request("missing `recipient`"))?;
    let status = json_field(v, "status").ok_or_else(|| bad_request("missing `status`"))?;
    let code = json_field(v, "code");
    let ds = delivery(
        &batch,
        Some(&recipient),
        &status,
        code.as_deref(),
        kind,
        json_field(v, "operator_status_at")
            .or_else(|| json_field(v, "at"))
            .and_then(|t| parse_datetime(&t, 0)),
        v,
    );
    Ok(Event::new(
        format!(
            "{batch}:{recipient}:{status}:{}",
            code.as_deref().unwrap_or("")
        ),
        EventKind::DeliveryStatus(ds),
    )
    .with_extra(extra_of(v, RECIPIENT_FIELDS)))
}

/// A batch report: one event per recipient listed under each status
/// (`full` reports), or one per status for the whole batch (`summary`
/// reports, which list no recipients).
fn batch_report(v: &Value, kind: &str) -> Result<Vec<Event>, PluginError> {
    let batch = json_field(v, "batch_id").ok_or_else(|| bad_request("missing `batch_id`"))?;
    let statuses = v
        .get("statuses")
        .and_then(Value::as_array)
        .ok_or_else(|| bad_request("missing `statuses`"))?;
    let base_extra = extra_of(v, &["statuses", "client_reference"]);
    let mut events = Vec::new();
    for entry in statuses {
        let status =
            json_field(entry, "status").ok_or_else(|| bad_request("status without `status`"))?;
        let code = json_field(entry, "code");
        let mut extra = base_extra.clone();
        extra.extend(
            extra_of(entry, &["status", "code", "recipients"])
                .into_iter()
                .map(|(k, val)| (format!("status.{k}"), val)),
        );
        let recipients: Vec<String> = entry
            .get("recipients")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(json_scalar).collect())
            .unwrap_or_default();
        let code_text = code.as_deref().unwrap_or("");
        if recipients.is_empty() {
            let ds = delivery(&batch, None, &status, code.as_deref(), kind, None, v);
            events.push(
                Event::new(
                    format!("{batch}:*:{status}:{code_text}"),
                    EventKind::DeliveryStatus(ds),
                )
                .with_extra(extra),
            );
            continue;
        }
        for recipient in recipients {
            let ds = delivery(
                &batch,
                Some(&recipient),
                &status,
                code.as_deref(),
                kind,
                None,
                v,
            );
            events.push(
                Event::new(
                    format!("{batch}:{recipient}:{status}:{code_text}"),
                    EventKind::DeliveryStatus(ds),
                )
                .with_extra(extra.clone()),
            );
        }
    }
    Ok(events)
}

fn delivery(
    batch: &str,
    recipient: Option<&str>,
    status: &str,
    code: Option<&str>,
    kind: &str,
    occurred_at: Option<i64>,
    v: &Value,
) -> DeliveryStatus {
    let message_id = match recipient {
        Some(r) => format!("{batch}:{r}"),
        None => batch.to_owned(),
    };
    let state = map_status(STATUSES, status);
    let mut ds = DeliveryStatus::new(&message_id, state, status);
    ds.to = recipient.map(str::to_owned);
    ds.from = json_field(v, "applied_originator");
    ds.channel = channel_of(kind);
    ds.occurred_at = occurred_at;
    ds.message_ref = json_field(v, "client_reference");
    if !matches!(
        state,
        DeliveryState::Delivered | DeliveryState::Queued | DeliveryState::Sent
    ) {
        ds.error_code = code.map(str::to_owned);
    }
    ds
}

fn inbound(v: &Value, kind: &str) -> Result<Event, PluginError> {
    let from = json_field(v, "from").ok_or_else(|| bad_request("missing `from`"))?;
    let to = json_field(v, "to").unwrap_or_default();
    let received_at = json_field(v, "received_at");
    let mut media = Vec::new();
    let body_text = match (kind, v.get("body")) {
        ("mo_binary", Some(body)) => {
            // Base64 of the 8-bit payload (UDH in `udh`): kept whole as media.
            if let Some(b64) = json_scalar(body).filter(|b| !b.trim().is_empty()) {
                media.push(Media {
                    url: format!("data:application/octet-stream;base64,{}", b64.trim()),
                    content_type: Some("application/octet-stream".into()),
                });
            }
            String::new()
        }
        ("mo_media", Some(body)) if body.is_object() => {
            for item in body
                .get("media")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(url) = json_field(item, "url") {
                    media.push(Media {
                        url,
                        content_type: json_field(item, "content_type")
                            .or_else(|| json_field(item, "contentType")),
                    });
                }
            }
            json_field(body, "message").unwrap_or_default()
        }
        (_, Some(body)) => json_scalar(body).unwrap_or_default(),
        (_, None) => String::new(),
    };
    let id = json_field(v, "id").unwrap_or_else(|| {
        short_hash(&[&from, &to, received_at.as_deref().unwrap_or(""), &body_text])
    });
    let mut msg = InboundMessage::new(&id, &from, &to, &body_text);
    msg.media = media;
    msg.channel = if kind == "mo_media" {
        Channel::Mms
    } else {
        Channel::Sms
    };
    msg.occurred_at = received_at
        .or_else(|| json_field(v, "sent_at"))
        .and_then(|t| parse_datetime(&t, 0));
    msg.message_ref = json_field(v, "client_reference");
    let mut extra = extra_of(v, MO_FIELDS);
    if kind == "mo_media"
        && let Some(body) = v.get("body")
    {
        extra.extend(
            scalars("body", body)
                .into_iter()
                .filter(|(k, _)| k != "body.message" && !k.ends_with(".url")),
        );
    }
    Ok(Event::new(id, EventKind::InboundMessage(msg)).with_extra(extra))
}

/// The fields of `v` not in `known`: scalars as text, others flattened
/// under dotted paths (`body.subject`).
fn extra_of(v: &Value, known: &[&str]) -> Vec<(String, String)> {
    v.as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .flat_map(|(k, val)| scalars(k, val))
        .collect()
}

#[cfg(test)]
mod tests;
