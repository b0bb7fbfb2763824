//! SMSGlobal: delivery receipts and incoming SMS, in both field sets SMSGlobal
//! sends (the legacy HTTP API's `msgid`/`dlrstatus`/`donedate` and the REST
//! API's `notifyUrl` `id`/`status`/`update_time`), by GET or POST. Unsigned.
//! See README.md beside this file.

use switchboard_plugin_sdk::request::json_scalar;
use switchboard_plugin_sdk::sign::sha256_hex;
use switchboard_plugin_sdk::status::{StatusTable, map_status};
use switchboard_plugin_sdk::time::{parse_datetime, unix_ms};
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
            config_keys: vec![ConfigKey::new(
                "utc_offset",
                false,
                false,
                "UTC offset of SMSGlobal's zone-less dates (`donedate`, incoming `date`), e.g. +10:00; default +00:00",
            )],
            accept_reply: reply_text(200, "OK"),
        }
    }

    fn handle(req: &Request, config: &Config) -> Result<Outcome, PluginError> {
        let offset = utc_offset(config)?;
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
    // `000` / `0` is "no error".
    ds.error_code = p.opt("dlr_err").filter(|e| !e.bytes().all(|b| b == b'0'));
    ds.to = p.get_any(&["to", "destination"]).map(str::to_owned);
    ds.from = p.get_any(&["from", "origin"]).map(str::to_owned);
    if let Some(done) = p.opt("donedate") {
        ds.occurred_at = parse_done_date(&done, offset);
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
        None => stable_id(&[from, to, date, text]),
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
/// `notifyUrl` can post JSON). Nested JSON values are kept as JSON text.
fn fields(req: &Request) -> Result<Params, PluginError> {
    if req.is_get() || !req.looks_like_json() {
        if req.content_type().ends_with("xml") {
            return Err(unsupported(
                "XML notifications are not handled: choose form or JSON postbacks",
            ));
        }
        return Ok(req.params().clone());
    }
    let json = req.json()?;
    let obj = json
        .as_object()
        .ok_or_else(|| bad_request("JSON body is not an object"))?;
    let mut p = req.query().clone();
    for (k, v) in obj {
        match json_scalar(v) {
            Some(s) => p.0.push((k.clone(), s)),
            None if !v.is_null() => p.0.push((k.clone(), v.to_string())),
            None => {}
        }
    }
    Ok(p)
}

/// `donedate`: the carrier's `yymmddhhmm` (or `yymmddhhmmss`) at `offset`.
fn parse_done_date(s: &str, offset: i32) -> Option<i64> {
    if !matches!(s.len(), 10 | 12) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |i: usize| s.get(i..i + 2)?.parse::<u32>().ok();
    let secs = if s.len() == 12 { n(10)? } else { 0 };
    unix_ms(
        2000 + i64::from(n(0)?),
        n(2)?,
        n(4)?,
        n(6)?,
        n(8)?,
        secs,
        offset,
    )
}

/// The configured `utc_offset` in minutes (`+10:00`, `-0530`, `+3`, `Z`).
fn utc_offset(config: &Config) -> Result<i32, PluginError> {
    match config.get("utc_offset") {
        None => Ok(0),
        Some(v) => parse_offset(v).ok_or_else(|| {
            PluginError::Internal(format!(
                "config `utc_offset` = `{v}` is not an offset like +10:00"
            ))
        }),
    }
}

pub fn parse_offset(v: &str) -> Option<i32> {
    let v = v.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("z") || v.eq_ignore_ascii_case("utc") {
        return Some(0);
    }
    let (sign, rest) = match v.as_bytes().first()? {
        b'+' => (1, v.get(1..)?),
        b'-' => (-1, v.get(1..)?),
        _ => (1, v),
    };
    let digits = rest.replace(':', "");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits.get(..2)?.parse().ok()?,
            digits.get(2..)?.parse().ok()?,
        ),
        _ => return None,
    };
    (h <= 14 && m < 60).then_some(sign * (h * 60 + m))
}

/// A short hash of the fields that identify a message.
fn stable_id(parts: &[&str]) -> String {
    let hash = sha256_hex(parts.join("\n").as_bytes());
    hash.get(..24).unwrap_or(&hash).to_owned()
}

#[cfg(test)]
mod tests;
