//! MStat: SMS and Viber delivery reports, incoming messages and Viber
//! subscription changes, each POSTed (JSON or form) to its own URL. MStat
//! publishes no callback spec: fields are read by their usual names, and a
//! JSON array is a batch. Unsigned. See README.md beside this file.

use switchboard_plugin_sdk::fields::{Picker, has_any, records, stable_id};
use switchboard_plugin_sdk::status::{StatusTable, is_no_error, map_status};
use switchboard_plugin_sdk::time::{parse_any, utc_offset};
use switchboard_plugin_sdk::types::{ConfigKey, Route};
use switchboard_plugin_sdk::*;

pub struct MStat;
switchboard_plugin_sdk::export_plugin!(MStat);

/// SMS and Viber delivery states (SMPP receipt words and plain words).
const STATUSES: StatusTable = &[
    ("DELIVRD", DeliveryState::Delivered),
    ("Delivered", DeliveryState::Delivered),
    ("Read", DeliveryState::Read),
    ("Seen", DeliveryState::Read),
    ("Viewed", DeliveryState::Read),
    ("ACCEPTD", DeliveryState::Accepted),
    ("Accepted", DeliveryState::Accepted),
    ("New", DeliveryState::Accepted),
    ("Queued", DeliveryState::Queued),
    ("Pending", DeliveryState::Queued),
    ("Scheduled", DeliveryState::Queued),
    ("Buffered", DeliveryState::Queued),
    ("ENROUTE", DeliveryState::Sent),
    ("Sent", DeliveryState::Sent),
    ("Submitted", DeliveryState::Sent),
    ("UNDELIV", DeliveryState::Undelivered),
    ("Undelivered", DeliveryState::Undelivered),
    ("Not delivered", DeliveryState::Undelivered),
    ("EXPIRED", DeliveryState::Expired),
    ("Expired", DeliveryState::Expired),
    ("REJECTD", DeliveryState::Failed),
    ("Rejected", DeliveryState::Failed),
    ("DELETED", DeliveryState::Failed),
    ("Failed", DeliveryState::Failed),
    ("Error", DeliveryState::Failed),
    ("Blocked", DeliveryState::Failed),
    ("UNKNOWN", DeliveryState::Unknown),
];

const ID: &[&str] = &["message_id", "messageid", "msgid", "msg_id", "sms_id", "id"];
const STATUS: &[&str] = &["status", "dlrstatus", "dlr_status", "stat", "state", "dlr"];
const ERROR: &[&str] = &["err", "error", "error_code", "errorcode", "err_code"];
const HANDSET: &[&str] = &["phone", "msisdn", "subscriber", "number"];
const SENDER: &[&str] = &[
    "sender",
    "alpha_name",
    "alphaname",
    "sender_id",
    "originator",
    "source",
];
const TEXT: &[&str] = &["text", "message", "msg", "body", "content"];
const CHANNEL: &[&str] = &["channel", "transport", "type"];
const TIME: &[&str] = &[
    "date",
    "datetime",
    "timestamp",
    "time",
    "done_date",
    "donedate",
    "delivery_date",
    "status_date",
    "received_at",
    "created_at",
];
const REF: &[&str] = &[
    "reference",
    "ref",
    "client_ref",
    "external_id",
    "extra_id",
    "custom_id",
];
const SUBSCRIBED: &[&str] = &[
    "subscribed",
    "subscription",
    "status",
    "action",
    "event",
    "state",
];

impl Plugin for MStat {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "mstat".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "MStat SMS/Viber delivery reports, incoming messages and Viber subscriptions (best-effort: no published spec)"
                    .into(),
            routes: vec![
                Route::new(&[Method::Post], "/mstatCallback", "delivery report"),
                Route::new(
                    &[Method::Post],
                    "/mstatIncoming/{app_code}",
                    "incoming SMS or Viber message",
                ),
                Route::new(
                    &[Method::Post],
                    "/mstatViberSubscription/{app_code}",
                    "Viber subscribe / unsubscribe",
                ),
            ],
            config_keys: vec![
                ConfigKey::setting("utc_offset")
                    .describe("UTC offset of MStat's zone-less dates, e.g. +02:00; default +00:00"),
            ],
            accept_reply: reply_text(200, "OK"),
        }
    }

    fn handle(req: &Request, config: &Config) -> Result<Outcome, PluginError> {
        let offset = utc_offset(config, 0)?;
        let mut events = Vec::new();
        for p in records(req)? {
            if p.0.is_empty() {
                return Err(bad_request("empty callback: no query or body fields"));
            }
            let event = match req.route() {
                "/mstatViberSubscription/{app_code}" => subscription(&p, offset)?,
                // An incoming URL that receives a status (no text) gets a report.
                "/mstatIncoming/{app_code}" if has_any(&p, TEXT) || !has_status(&p) => {
                    incoming(&p, offset)?
                }
                _ => delivery(&p, offset)?,
            };
            events.push(event);
        }
        Ok(Outcome::events(events).with_reply(reply_text(200, "OK")))
    }
}

fn has_status(p: &Params) -> bool {
    STATUS
        .iter()
        .any(|n| p.get_ci(n).is_some_and(|v| !v.trim().is_empty()))
}

fn delivery(p: &Params, offset: i32) -> Result<Event, PluginError> {
    let mut pk = Picker::new(p);
    let message_id = pk.pick(ID).ok_or_else(|| {
        bad_request("delivery report without a message id (`message_id`, `id`, ...)")
    })?;
    let status = pk
        .pick(STATUS)
        .ok_or_else(|| bad_request("delivery report without a status (`status`, ...)"))?;
    let mut ds = DeliveryStatus::new(&message_id, map_status(STATUSES, &status), &status);
    ds.error_code = pk.pick(ERROR).filter(|e| !is_no_error(e));
    ds.to = pk.pick(&[
        "to",
        "phone",
        "msisdn",
        "recipient",
        "destination",
        "number",
    ]);
    ds.from = pk.pick(&["from"]).or_else(|| pk.pick(SENDER));
    ds.message_ref = pk.pick(REF);
    ds.channel = channel(&mut pk);
    ds.occurred_at = time(&mut pk, offset);
    Ok(Event::new(
        format!("{message_id}:{status}"),
        EventKind::DeliveryStatus(ds),
    )
    .with_extra(pk.extra()))
}

fn incoming(p: &Params, offset: i32) -> Result<Event, PluginError> {
    let mut pk = Picker::new(p);
    let from = pk
        .pick(&["from", "phone", "msisdn", "source", "originator"])
        .ok_or_else(|| bad_request("incoming message without a sender (`from`, `phone`, ...)"))?;
    let to = pk
        .pick(&[
            "to",
            "shortcode",
            "short_number",
            "service_number",
            "destination",
            "recipient",
        ])
        .or_else(|| pk.pick(SENDER))
        .unwrap_or_default();
    let text = pk.pick_raw(TEXT).unwrap_or_default();
    let provider_id = pk.pick(ID);
    let channel = channel(&mut pk);
    let raw_time = p
        .iter()
        .find(|(k, _)| TIME.iter().any(|n| k.eq_ignore_ascii_case(n)))
        .map_or("", |(_, v)| v);
    let id = provider_id.unwrap_or_else(|| stable_id(&[&from, &to, raw_time, &text]));
    let mut msg = InboundMessage::new(&id, &from, &to, &text);
    msg.channel = channel;
    msg.message_ref = pk.pick(REF);
    msg.occurred_at = time(&mut pk, offset);
    Ok(Event::new(id, EventKind::InboundMessage(msg)).with_extra(pk.extra()))
}

fn subscription(p: &Params, offset: i32) -> Result<Event, PluginError> {
    let mut pk = Picker::new(p);
    let subscriber = pk
        .pick(HANDSET)
        .or_else(|| pk.pick(&["from", "user"]))
        .ok_or_else(|| {
            bad_request("subscription without a phone number (`phone`, `msisdn`, ...)")
        })?;
    let action = pk.pick(SUBSCRIBED).ok_or_else(|| {
        bad_request("subscription without `status` / `action` (subscribed or unsubscribed)")
    })?;
    let subscribed = parse_subscribed(&action).ok_or_else(|| {
        bad_request(format!(
            "subscription state `{action}` is neither subscribed nor unsubscribed"
        ))
    })?;
    let sender = pk.pick(SENDER).or_else(|| pk.pick(&["to", "service"]));
    let provider_id = pk.pick(&["id", "event_id"]);
    let mut channel = channel(&mut pk);
    if channel == Channel::Sms {
        // The route is MStat's Viber subscription URL.
        channel = Channel::Viber;
    }
    let raw_time = p
        .iter()
        .find(|(k, _)| TIME.iter().any(|n| k.eq_ignore_ascii_case(n)))
        .map_or("", |(_, v)| v);
    let state = if subscribed {
        "subscribed"
    } else {
        "unsubscribed"
    };
    let id = match provider_id {
        Some(id) => format!("{id}:{state}"),
        None => stable_id(&[
            &subscriber,
            sender.as_deref().unwrap_or(""),
            state,
            raw_time,
        ]),
    };
    let sub = Subscription {
        subscriber,
        subscribed,
        channel,
        sender,
        occurred_at: time(&mut pk, offset),
    };
    Ok(Event::new(id, EventKind::Subscription(sub)).with_extra(pk.extra()))
}

/// `subscribed`/`unsubscribed` and their usual spellings.
pub fn parse_subscribed(v: &str) -> Option<bool> {
    let v = v.trim().to_ascii_lowercase().replace(['-', ' '], "_");
    match v.as_str() {
        "subscribed" | "subscribe" | "sub" | "on" | "1" | "true" | "yes" | "active" | "opt_in"
        | "optin" | "opted_in" => Some(true),
        "unsubscribed" | "unsubscribe" | "unsub" | "off" | "0" | "false" | "no" | "inactive"
        | "opt_out" | "optout" | "opted_out" | "blocked" | "stop" => Some(false),
        _ => None,
    }
}

/// The channel field (`viber`, `sms`, ...); SMS when absent.
fn channel(pk: &mut Picker) -> Channel {
    let Some(v) = pk.pick(CHANNEL) else {
        return Channel::Sms;
    };
    match v.to_ascii_lowercase().as_str() {
        "sms" => Channel::Sms,
        "viber" => Channel::Viber,
        "mms" => Channel::Mms,
        "whatsapp" => Channel::Whatsapp,
        "rcs" => Channel::Rcs,
        _ => {
            // Not a channel name: keep the field for the consumer.
            pk.unpick();
            Channel::Sms
        }
    }
}

/// The first date field, parsed; kept in `extra` when it does not parse.
fn time(pk: &mut Picker, offset: i32) -> Option<i64> {
    let raw = pk.pick(TIME)?;
    let t = parse_any(&raw, offset);
    if t.is_none() {
        pk.unpick();
    }
    t
}

#[cfg(test)]
mod tests;
