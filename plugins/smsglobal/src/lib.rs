//! SMSGlobal: delivery receipts and incoming SMS, in both field sets SMSGlobal
//! sends (the legacy HTTP API's `msgid`/`dlrstatus`/`donedate` and the REST
//! API's `notifyUrl` `id`/`status`/`update_time`), by GET or POST. Unsigned.
//! See README.md beside this file.

use switchboard_plugin_sdk::fields::short_hash;
use switchboard_plugin_sdk::smpp;
use switchboard_plugin_sdk::status::{StatusTable, is_no_error, map_status};
use switchboard_plugin_sdk::time::{parse_datetime, utc_offset};
use switchboard_plugin_sdk::types::{ConfigKey, Route};
use switchboard_plugin_sdk::*;

pub struct SmsGlobal;
switchboard_plugin_sdk::export_plugin!(SmsGlobal);

/// Delivery states: the SMPP receipt words of the legacy API (`dlrstatus`)
/// and the REST API's status names (`status`), matched ignoring case.
const STATUSES: StatusTable = &[
    // Legacy HTTP API / SMPP receipt `stat` values.
    ("DELIVRD", DeliveryState::Delivered),
    ("EXPIRED", DeliveryState::Expired),
    ("UNDELIV", DeliveryState::Undelivered),
    ("REJECTD", DeliveryState::Failed),
    ("DELETED", DeliveryState::Failed),
    ("ACCEPTD", DeliveryState::Accepted),
    ("ENROUTE", DeliveryState::Sent),
    ("UNKNOWN", DeliveryState::Unknown),
    // REST API (`notifyUrl`) status names.
    ("Delivered", DeliveryState::Delivered),
    ("Sent", DeliveryState::Sent),
    ("Processing", DeliveryState::Accepted),
    ("Scheduled", DeliveryState::Accepted),
    ("Accepted", DeliveryState::Accepted),
    ("Queued", DeliveryState::Queued),
    ("Pending", DeliveryState::Queued),
    ("Undelivered", DeliveryState::Undelivered),
    ("Expired", DeliveryState::Expired),
    ("Failed", DeliveryState::Failed),
    ("Rejected", DeliveryState::Failed),
    ("Invalid Number", DeliveryState::Failed),
    ("noCredit", DeliveryState::Failed),
];

/// Delivery fields mapped onto the event (everything else goes to `extra`).
const DELIVERY_FIELDS: &[&str] = &[
    "msgid",
    "dlrstatus",
    "dlr_err",
    "donedate",
    "id",
    "status",
    "update_time",
    "to",
    "from",
    "destination",
    "origin",
];
/// Incoming-message fields mapped onto the event.
const INCOMING_FIELDS: &[&str] = &["id", "to", "from", "msg", "date"];

impl Plugin for SmsGlobal {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "smsglobal".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "SMSGlobal delivery receipts and incoming SMS (legacy HTTP and REST field sets)"
                    .into(),
            routes: vec![
                Route::new(
                    &[Method::Get, Method::Post],
                    "/smsGlobalCallback",
                    "delivery receipt (DLR postback or REST notifyUrl)",
                ),
                Route::new(
                    &[Method::Get, Method::Post],
                    "/smsGlobalIncoming/{app_code}",
                    "incoming SMS (a delivery receipt sent here is handled too)",
                ),
            ],
            config_keys: vec![
                ConfigKey::setting("utc_offset")
                    .describe("UTC offset of SMSGlobal's zone-less dates (`donedate`, incoming `date`), e.g. +10:00; default +00:00"),
            ],
            accept_reply: reply_text(200, "OK"),
        }
    }

    fn handle(req: &Request, config: &Config) -> Result<Outcome, PluginError> {
        let offset = utc_offset(config, 0)?;
        let p = fields(req)?;
        let event = if p.get_any(&["dlrstatus", "status"]).is_some() {
            delivery(&p, offset)?
        } else if p.get("msg").is_some() || p.get("from").is_some() {
            incoming(&p, offset)?
        } else if p.0.is_empty() {
            return Err(bad_request("empty callback: no query or body fields"));
        } else {
            return Err(bad_request(
                "neither a delivery receipt (`msgid`+`dlrstatus` or `id`+`status`) nor an incoming message (`from`, `msg`)",
            ));
        };
        // SMSGlobal retries until the body is exactly `OK`.
        Ok(Outcome::events(vec![event]).with_reply(reply_text(200, "OK")))
    }
}

fn delivery(p: &Params, offset: i32) -> Result<Event, PluginError> {
    let message_id = p
        .get_any(&["msgid", "id"])
        .ok_or_else(|| bad_request("delivery receipt without `msgid` (or `id`)"))?
        .trim()
        .to_owned();
    let status = p
        .get_any(&["dlrstatus", "status"])
        .unwrap_or_default()
        .trim()
        .to_owned();
    let mut extra = p.extra(DELIVERY_FIELDS);
    let mut ds = DeliveryStatus::new(&message_id, map_status(STATUSES, &status), &status);
    ds.error_code = p.opt("dlr_err").filter(|e| !is_no_error(e));
    ds.to = p.get_any(&["to", "destination"]).map(str::to_owned);
    ds.from = p.get_any(&["from", "origin"]).map(str::to_owned);
    if let Some(done) = p.opt("donedate") {
        // The carrier's `yymmddhhmm` (or `yymmddhhmmss`).
        ds.occurred_at = smpp::parse_date(&done, offset);
        if ds.occurred_at.is_none() {
            extra.push(("donedate".into(), done));
        }
    } else if let Some(updated) = p.opt("update_time") {
        ds.occurred_at = parse_datetime(&updated, offset);
        if ds.occurred_at.is_none() {
            extra.push(("update_time".into(), updated));
        }
    }
    // A resend of the same receipt is the same (message, status) pair.
    Ok(Event::new(
        format!("{message_id}:{status}"),
        EventKind::DeliveryStatus(ds),
    )
    .with_extra(extra))
}

fn incoming(p: &Params, offset: i32) -> Result<Event, PluginError> {
    let from = p.require("from")?.trim();
    let to = p.get("to").unwrap_or("").trim();
    let text = p.get("msg").unwrap_or("");
    let date = p.get("date").unwrap_or("").trim();
    let id = match p.opt("id") {
        Some(id) => id,
        // The legacy API gives incoming messages no id: derive one from what
        // identifies the message, so a resend is recognized as a duplicate.
        None => short_hash(&[from, to, date, text]),
    };
    let mut extra = p.extra(INCOMING_FIELDS);
    let mut msg = InboundMessage::new(&id, from, to, text);
    if !date.is_empty() {
        msg.occurred_at = parse_datetime(date, offset);
        if msg.occurred_at.is_none() {
            extra.push(("date".into(), date.to_owned()));
        }
    }
    Ok(Event::new(id, EventKind::InboundMessage(msg)).with_extra(extra))
}

/// The callback's fields wherever SMSGlobal put them: the query (GET), the
/// query then a form body (POST), or the query then a JSON object (the REST
/// `notifyUrl` can post JSON), as the SDK's `fields::fields` reads them;
/// XML is refused.
fn fields(req: &Request) -> Result<Params, PluginError> {
    if (req.is_get() || !req.looks_like_json()) && req.content_type().ends_with("xml") {
        return Err(unsupported(
            "XML notifications are not handled: choose form or JSON postbacks",
        ));
    }
    switchboard_plugin_sdk::fields::fields(req)
}

#[cfg(test)]
mod tests;
