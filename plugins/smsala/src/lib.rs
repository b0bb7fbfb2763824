//! SMSAla: delivery reports to the callback URL sent with each message, by
//! GET or POST (query, form or JSON). SMSAla publishes no callback spec and
//! does not support incoming SMS; fields are read by their usual names.
//! Unsigned. See README.md beside this file.

use switchboard_plugin_sdk::fields::{Picker, fields};
use switchboard_plugin_sdk::smpp::Receipt;
use switchboard_plugin_sdk::status::{StatusTable, is_no_error, map_status};
use switchboard_plugin_sdk::time::{parse_any, utc_offset};
use switchboard_plugin_sdk::types::{ConfigKey, Route};
use switchboard_plugin_sdk::*;

pub struct SmsAla;
switchboard_plugin_sdk::export_plugin!(SmsAla);

/// Delivery states by the names and codes SMS gateways of SMSAla's kind use:
/// SMPP receipt words, plain words, and Kannel's numeric DLR types.
const STATUSES: StatusTable = &[
    ("DELIVRD", DeliveryState::Delivered),
    ("Delivered", DeliveryState::Delivered),
    ("Success", DeliveryState::Delivered),
    ("ACCEPTD", DeliveryState::Accepted),
    ("Accepted", DeliveryState::Accepted),
    ("Submitted", DeliveryState::Sent),
    ("ENROUTE", DeliveryState::Sent),
    ("Sent", DeliveryState::Sent),
    ("Pending", DeliveryState::Queued),
    ("Queued", DeliveryState::Queued),
    ("Buffered", DeliveryState::Queued),
    ("UNDELIV", DeliveryState::Undelivered),
    ("Undelivered", DeliveryState::Undelivered),
    ("EXPIRED", DeliveryState::Expired),
    ("REJECTD", DeliveryState::Failed),
    ("Rejected", DeliveryState::Failed),
    ("DELETED", DeliveryState::Failed),
    ("Failed", DeliveryState::Failed),
    ("Error", DeliveryState::Failed),
    ("UNKNOWN", DeliveryState::Unknown),
    // Kannel `dlr-mask` types: 1 delivered, 2 failed at the phone,
    // 4 buffered, 8 SMSC accepted, 16 SMSC rejected.
    ("1", DeliveryState::Delivered),
    ("2", DeliveryState::Undelivered),
    ("4", DeliveryState::Queued),
    ("8", DeliveryState::Sent),
    ("16", DeliveryState::Failed),
];

const ID: &[&str] = &[
    "message_id",
    "messageid",
    "msgid",
    "msg_id",
    "sms_id",
    "smsid",
    "id",
];
const STATUS: &[&str] = &[
    "status",
    "dlrstatus",
    "dlr_status",
    "delivery_status",
    "stat",
    "dlr",
    "state",
];
const ERROR: &[&str] = &[
    "err",
    "error",
    "error_code",
    "errorcode",
    "err_code",
    "dlr_err",
];
const TO: &[&str] = &[
    "to",
    "phonenumber",
    "phone",
    "mobile",
    "msisdn",
    "recipient",
    "destination",
    "number",
];
const FROM: &[&str] = &[
    "from",
    "sender_id",
    "senderid",
    "sender",
    "source",
    "originator",
];
const TIME: &[&str] = &[
    "donedate",
    "done_date",
    "delivery_date",
    "deliverydate",
    "delivered_at",
    "dlr_date",
    "date",
    "datetime",
    "timestamp",
    "time",
];
const REF: &[&str] = &[
    "reference",
    "ref",
    "client_ref",
    "customid",
    "custom_id",
    "uid",
];

impl Plugin for SmsAla {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "smsala".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "SMSAla delivery reports (best-effort: no published callback spec)".into(),
            routes: vec![
                Route::new(
                    &[Method::Get, Method::Post],
                    "/smsAlaCallback",
                    "delivery report (callback URL sent with each message)",
                ),
                Route::new(
                    &[Method::Get, Method::Post],
                    "/smsAlaCallback/{app_code}",
                    "delivery report for an application",
                ),
            ],
            config_keys: vec![ConfigKey::new(
                "utc_offset",
                false,
                false,
                "UTC offset of SMSAla's zone-less dates, e.g. +04:00; default +00:00",
            )],
            accept_reply: reply_text(200, "OK"),
        }
    }

    fn handle(req: &Request, config: &Config) -> Result<Outcome, PluginError> {
        let offset = utc_offset(config, 0)?;
        let p = fields(req)?;
        if p.0.is_empty() {
            return Err(bad_request("empty callback: no query or body fields"));
        }
        let mut pk = Picker::new(&p);
        // An SMPP receipt text (Kannel's `%A`) fills in what the fields lack.
        let receipt = p
            .iter()
            .find_map(|(_, v)| Receipt::detect(v))
            .unwrap_or_default();
        let message_id = pk.pick(ID).or_else(|| receipt.id.clone()).ok_or_else(|| {
            bad_request("delivery report without a message id (`message_id`, `msgid`, `id`, ...)")
        })?;
        let status = pk
            .pick(STATUS)
            .or_else(|| receipt.stat.clone())
            .ok_or_else(|| {
                if pk.has(&["text", "message", "msg"]) {
                    unsupported("SMSAla sends no incoming SMS: this is not a delivery report")
                } else {
                    bad_request("delivery report without a status (`status`, `dlr`, `stat`, ...)")
                }
            })?;
        let mut ds = DeliveryStatus::new(&message_id, map_status(STATUSES, &status), &status);
        ds.error_code = pk
            .pick(ERROR)
            .or_else(|| receipt.err.clone())
            .filter(|e| !is_no_error(e));
        ds.to = pk.pick(TO);
        ds.from = pk.pick(FROM);
        ds.message_ref = pk.pick(REF);
        if let Some(t) = pk.pick(TIME) {
            ds.occurred_at = parse_any(&t, offset);
            if ds.occurred_at.is_none() {
                pk.unpick();
            }
        } else {
            ds.occurred_at = receipt.done_at(offset);
        }
        let extra = pk.extra();
        // A resend of the same report is the same (message, status) pair.
        let event = Event::new(
            format!("{message_id}:{status}"),
            EventKind::DeliveryStatus(ds),
        )
        .with_extra(extra);
        Ok(Outcome::events(vec![event]).with_reply(reply_text(200, "OK")))
    }
}

#[cfg(test)]
mod tests;
