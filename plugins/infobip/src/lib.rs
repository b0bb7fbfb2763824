//! Infobip: SMS (and OTT) delivery reports, seen reports and inbound
//! messages, each a JSON POST of `{"results": [...]}` batching up to 100
//! items. Unsigned. See README.md beside this file.

use serde_json::{Map, Value};
use switchboard_plugin_sdk::build::reply;
use switchboard_plugin_sdk::fields::{flatten, flatten_object, short_hash};
use switchboard_plugin_sdk::request::json_scalar;
use switchboard_plugin_sdk::status::{StatusTable, map_status};
use switchboard_plugin_sdk::time::parse_datetime;
use switchboard_plugin_sdk::types::{ConfigKey, Route};
use switchboard_plugin_sdk::*;

pub struct Infobip;
switchboard_plugin_sdk::export_plugin!(Infobip);

/// `status.name` values, then the five `status.groupName`s, which decide
/// for any name not listed here.
const STATUSES: StatusTable = &[
    ("PENDING_ACCEPTED", DeliveryState::Accepted),
    ("PENDING_APPROVAL", DeliveryState::Queued),
    ("PENDING_ENROUTE", DeliveryState::Sent),
    ("PENDING_WAITING_DELIVERY", DeliveryState::Sent),
    ("DELIVERED_TO_HANDSET", DeliveryState::Delivered),
    ("DELIVERED_TO_OPERATOR", DeliveryState::Sent),
    (
        "UNDELIVERABLE_REJECTED_OPERATOR",
        DeliveryState::Undelivered,
    ),
    ("UNDELIVERABLE_NOT_DELIVERED", DeliveryState::Undelivered),
    ("EXPIRED_EXPIRED", DeliveryState::Expired),
    ("EXPIRED_DLR_UNKNOWN", DeliveryState::Expired),
    ("EXPIRED_UNKNOWN", DeliveryState::Expired),
    ("REJECTED_NETWORK", DeliveryState::Failed),
    ("REJECTED_DESTINATION", DeliveryState::Failed),
    ("REJECTED_NOT_ENOUGH_CREDITS", DeliveryState::Failed),
    ("SEEN", DeliveryState::Read),
    // Groups (groupId 1..5).
    ("PENDING", DeliveryState::Queued),
    ("UNDELIVERABLE", DeliveryState::Undelivered),
    ("DELIVERED", DeliveryState::Delivered),
    ("EXPIRED", DeliveryState::Expired),
    ("REJECTED", DeliveryState::Failed),
];

/// Fields of a result mapped onto the events (everything else goes to `extra`).
const DELIVERY_MAPPED: &[&str] = &[
    "messageId",
    "to",
    "from",
    "sender",
    "status.name",
    "doneAt",
    "seenAt",
    "callbackData",
    "bulkId",
    "channel",
];
const INBOUND_MAPPED: &[&str] = &[
    "messageId",
    "from",
    "to",
    "text",
    "receivedAt",
    "callbackData",
    "channel",
];

impl Plugin for Infobip {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "infobip".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "Infobip delivery reports, seen reports and inbound SMS (batched JSON results)"
                    .into(),
            routes: vec![
                Route::new(
                    &[Method::Post],
                    "/infobipCallback",
                    "delivery and seen reports (notifyUrl or subscription)",
                ),
                Route::new(
                    &[Method::Post],
                    "/infobipIncoming/{app_code}",
                    "inbound messages (number's forward-to-URL action)",
                ),
            ],
            config_keys: Vec::<ConfigKey>::new(),
            accept_reply: reply(200),
        }
    }

    fn handle(req: &Request, _config: &Config) -> Result<Outcome, PluginError> {
        let json = req.json()?;
        let doc = json
            .as_object()
            .ok_or_else(|| bad_request("body is not a JSON object"))?;
        let results = doc
            .get("results")
            .and_then(Value::as_array)
            .ok_or_else(|| bad_request("missing array `results`"))?;
        // Batch counters (`messageCount`, `pendingMessageCount`) go with every event.
        let mut batch_extra = Vec::new();
        for (k, v) in doc {
            if k != "results" {
                flatten(k, v, &[], &mut batch_extra);
            }
        }
        let mut events = Vec::with_capacity(results.len());
        for (i, result) in results.iter().enumerate() {
            let r = result
                .as_object()
                .ok_or_else(|| bad_request(format!("results[{i}] is not an object")))?;
            let event = if r.contains_key("status") || r.contains_key("seenAt") {
                delivery(r)
            } else if r.contains_key("text") || r.contains_key("receivedAt") {
                inbound(r)
            } else {
                Err(bad_request(format!(
                    "results[{i}] is neither a report (`status`, `seenAt`) nor an inbound message (`text`)"
                )))
            }
            .map_err(|e| match e {
                PluginError::BadRequest(m) => bad_request(format!("results[{i}]: {m}")),
                other => other,
            })?;
            let mut event = event;
            event.extra.extend(batch_extra.iter().cloned());
            events.push(event);
        }
        Ok(Outcome::events(events).with_reply(reply(200)))
    }
}

fn text<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn channel_of(obj: &Map<String, Value>) -> Channel {
    match text(obj, "channel").map(str::to_ascii_uppercase).as_deref() {
        None | Some("SMS") => Channel::Sms,
        Some("MMS") => Channel::Mms,
        Some("WHATSAPP") => Channel::Whatsapp,
        Some("VIBER" | "VIBER_BM") => Channel::Viber,
        Some("RCS") => Channel::Rcs,
        Some(_) => Channel::Other,
    }
}

/// A delivery report (`status` object) or a seen report (`seenAt`).
fn delivery(r: &Map<String, Value>) -> Result<Event, PluginError> {
    let id = text(r, "messageId").ok_or_else(|| bad_request("missing field `messageId`"))?;
    let status = r.get("status");
    let (raw, state) = match status {
        Some(s) => {
            let name = s.get("name").and_then(Value::as_str).unwrap_or("").trim();
            let group = s
                .get("groupName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim();
            let state = match map_status(STATUSES, name) {
                DeliveryState::Unknown => map_status(STATUSES, group),
                known => known,
            };
            let raw = if name.is_empty() { group } else { name };
            (raw.to_owned(), state)
        }
        None => ("SEEN".to_owned(), DeliveryState::Read),
    };
    let mut ds = DeliveryStatus::new(id, state, &raw);
    ds.to = text(r, "to").map(str::to_owned);
    ds.from = text(r, "from")
        .or_else(|| text(r, "sender"))
        .map(str::to_owned);
    ds.channel = channel_of(r);
    ds.occurred_at = ["seenAt", "doneAt", "sentAt"]
        .iter()
        .find_map(|k| text(r, k).and_then(|t| parse_datetime(t, 0)));
    ds.message_ref = text(r, "callbackData").map(str::to_owned);
    ds.campaign_id = text(r, "bulkId").map(str::to_owned);
    // `error.id` 0 is NO_ERROR.
    ds.error_code = r
        .get("error")
        .and_then(|e| e.get("id"))
        .and_then(json_scalar)
        .filter(|c| !c.is_empty() && c != "0");
    let mut extra = Vec::new();
    flatten_object(r, DELIVERY_MAPPED, &mut extra);
    // Infobip resends a report with the same (messageId, status).
    Ok(Event::new(format!("{id}:{raw}"), EventKind::DeliveryStatus(ds)).with_extra(extra))
}

fn inbound(r: &Map<String, Value>) -> Result<Event, PluginError> {
    let from = text(r, "from").ok_or_else(|| bad_request("missing field `from`"))?;
    let to = text(r, "to").unwrap_or("");
    let body = r.get("text").and_then(Value::as_str).unwrap_or("");
    let received = text(r, "receivedAt");
    let id = match text(r, "messageId") {
        Some(id) => id.to_owned(),
        // No id: what identifies the message, so a resend is a duplicate.
        None => short_hash(&[from, to, received.unwrap_or(""), body]),
    };
    let mut msg = InboundMessage::new(&id, from, to, body);
    msg.channel = channel_of(r);
    msg.occurred_at = received.and_then(|t| parse_datetime(t, 0));
    msg.message_ref = text(r, "callbackData").map(str::to_owned);
    let mut extra = Vec::new();
    flatten_object(r, INBOUND_MAPPED, &mut extra);
    Ok(Event::new(&id, EventKind::InboundMessage(msg)).with_extra(extra))
}

#[cfg(test)]
mod tests;
