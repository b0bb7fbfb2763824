//! SMSTraffic (Russia): delivery reports and incoming SMS, form-encoded
//! POSTs. Dates are Moscow time (UTC+3, no DST since 2014) and converted to
//! UTC; incoming text may be windows-1251, decoded per the Content-Type
//! charset (or detected when none is declared). Unsigned. See README.md
//! beside this file.

use switchboard_plugin_sdk::charset::Charset;
use switchboard_plugin_sdk::fields::{Picker, has_any, stable_id};
use switchboard_plugin_sdk::status::{StatusTable, is_no_error, map_status};
use switchboard_plugin_sdk::time::{parse_any, utc_offset};
use switchboard_plugin_sdk::types::{ConfigKey, Route};
use switchboard_plugin_sdk::*;

pub struct SmsTraffic;
switchboard_plugin_sdk::export_plugin!(SmsTraffic);

/// Moscow time: UTC+3 all year.
const MOSCOW: i32 = 180;

/// SMSTraffic's delivery statuses (matched ignoring case).
const STATUSES: StatusTable = &[
    ("Delivered", DeliveryState::Delivered),
    ("Read", DeliveryState::Read),
    ("Non Delivered", DeliveryState::Undelivered),
    ("Not Delivered", DeliveryState::Undelivered),
    ("Undelivered", DeliveryState::Undelivered),
    ("Expired", DeliveryState::Expired),
    ("Rejected", DeliveryState::Failed),
    ("Deleted", DeliveryState::Failed),
    ("Failed", DeliveryState::Failed),
    ("Error", DeliveryState::Failed),
    ("Buffered", DeliveryState::Queued),
    ("Buffered SMSC", DeliveryState::Queued),
    ("Queued", DeliveryState::Queued),
    ("Enroute", DeliveryState::Sent),
    ("Sent", DeliveryState::Sent),
    ("Acknowledged", DeliveryState::Accepted),
    ("Accepted", DeliveryState::Accepted),
    ("Unknown", DeliveryState::Unknown),
];

const ID: &[&str] = &["sms_id", "smsid", "msg_id", "message_id", "id"];
const STATUS: &[&str] = &["status", "state", "dlr_status"];
const ERROR: &[&str] = &["error", "error_code", "err", "errcode"];
const HANDSET: &[&str] = &["phone", "msisdn", "from", "sender"];
const OUR_NUMBER: &[&str] = &[
    "short_number",
    "shortcode",
    "sn",
    "to",
    "number",
    "recipient",
];
const TEXT: &[&str] = &["message", "text", "msg", "sms_text", "body"];
/// When the state was reached, best first. (`send_date` and
/// `submition_date` say when the message left, not when its state changed:
/// they stay in `extra`.)
const DELIVERY_TIME: &[&str] = &[
    "delivery_date",
    "last_status_change_date",
    "status_date",
    "date",
];
const INCOMING_TIME: &[&str] = &[
    "date",
    "sms_date",
    "receive_date",
    "received_date",
    "delivery_date",
];

impl Plugin for SmsTraffic {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "smstraffic".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "SMSTraffic delivery reports and incoming SMS (form POST, Moscow time, windows-1251)"
                .into(),
            routes: vec![
                Route::new(&[Method::Post], "/smsTrafficCallback", "delivery report"),
                Route::new(
                    &[Method::Post],
                    "/smsTrafficIncoming/{app_code}",
                    "incoming SMS (if enabled on the account)",
                ),
            ],
            config_keys: vec![
                ConfigKey::setting("utc_offset").describe(
                    "UTC offset of SMSTraffic's zone-less dates; default +03:00 (Moscow)",
                ),
            ],
            accept_reply: reply_text(200, "OK"),
        }
    }

    fn handle(req: &Request, config: &Config) -> Result<Outcome, PluginError> {
        let offset = utc_offset(config, MOSCOW)?;
        let p = form_fields(req);
        if p.0.is_empty() {
            return Err(bad_request("empty callback: no form fields"));
        }
        let has = |names: &[&str]| has_any(&p, names);
        let inbound = if req.route() == "/smsTrafficIncoming/{app_code}" {
            has(TEXT) || !has(STATUS)
        } else {
            has(TEXT) && !has(STATUS)
        };
        let event = if inbound {
            incoming(&p, offset)?
        } else {
            delivery(&p, offset)?
        };
        Ok(Outcome::events(vec![event]).with_reply(reply_text(200, "OK")))
    }
}

/// The query's fields, then the form body's: decoded in the charset the
/// Content-Type names, or, when it names none, as UTF-8 where the bytes are
/// UTF-8 and as windows-1251 where they are not.
fn form_fields(req: &Request) -> Params {
    let mut p = req.query().clone();
    let body = match req.charset() {
        Some(_) => req.form().clone(),
        None => Params::parse_utf8_or(req.body(), Charset::Windows1251),
    };
    p.0.extend(body.0);
    p
}

fn delivery(p: &Params, offset: i32) -> Result<Event, PluginError> {
    let mut pk = Picker::new(p);
    let sms_id = pk
        .pick(ID)
        .ok_or_else(|| bad_request("delivery report without `sms_id`"))?;
    let status = pk
        .pick(STATUS)
        .ok_or_else(|| bad_request("delivery report without `status`"))?;
    let mut ds = DeliveryStatus::new(&sms_id, map_status(STATUSES, &status), &status);
    ds.error_code = pk.pick(ERROR).filter(|e| !is_no_error(e));
    ds.to = pk.pick(&["phone", "msisdn", "to"]);
    ds.from = pk.pick(&["originator", "sender", "from"]);
    ds.occurred_at = time(&mut pk, DELIVERY_TIME, offset);
    // A resend of the same report is the same (message, status) pair.
    Ok(
        Event::new(format!("{sms_id}:{status}"), EventKind::DeliveryStatus(ds))
            .with_extra(pk.extra()),
    )
}

fn incoming(p: &Params, offset: i32) -> Result<Event, PluginError> {
    let mut pk = Picker::new(p);
    let from = pk
        .pick(HANDSET)
        .ok_or_else(|| bad_request("incoming SMS without a sender (`phone`)"))?;
    let to = pk.pick(OUR_NUMBER).unwrap_or_default();
    let text = pk.pick_raw(TEXT).unwrap_or_default();
    let raw_time = INCOMING_TIME
        .iter()
        .find_map(|n| p.get_ci(n))
        .unwrap_or_default()
        .to_owned();
    let id = pk
        .pick(ID)
        .unwrap_or_else(|| stable_id(&[&from, &to, &raw_time, &text]));
    let mut msg = InboundMessage::new(&id, &from, &to, &text);
    msg.occurred_at = time(&mut pk, INCOMING_TIME, offset);
    Ok(Event::new(id, EventKind::InboundMessage(msg)).with_extra(pk.extra()))
}

/// The first of `names` that is set and parses, at `offset`; those that do
/// not parse are kept in `extra`.
fn time(pk: &mut Picker, names: &[&str], offset: i32) -> Option<i64> {
    for name in names {
        if let Some(raw) = pk.pick(&[name]) {
            if let Some(t) = parse_any(&raw, offset) {
                return Some(t);
            }
            pk.unpick();
        }
    }
    None
}

#[cfg(test)]
mod tests;
