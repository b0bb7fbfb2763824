//! AbleMobile: delivery reports by GET or POST (query, form or JSON; a JSON
//! array is a batch) to one URL. AbleMobile publishes no callback spec:
//! fields are read by their usual names. Unsigned. See README.md beside this
//! file.

use switchboard_plugin_sdk::fields::{Picker, records};
use switchboard_plugin_sdk::smpp::Receipt;
use switchboard_plugin_sdk::status::{StatusTable, is_no_error, map_status};
use switchboard_plugin_sdk::time::{parse_any, utc_offset};
use switchboard_plugin_sdk::types::{ConfigKey, Route};
use switchboard_plugin_sdk::*;

pub struct AbleMobile;
switchboard_plugin_sdk::export_plugin!(AbleMobile);

/// Delivery states by the names and codes SMS gateways of AbleMobile's kind use:
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

impl Plugin for AbleMobile {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "able-mobile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "AbleMobile delivery reports by GET or POST (best-effort: no published callback spec)"
                .into(),
            routes: vec![Route::new(
                &[Method::Get, Method::Post],
                "/amSmsCallback",
                "delivery report",
            )],
            config_keys: vec![ConfigKey::new(
                "utc_offset",
                false,
                false,
                "UTC offset of AbleMobile's zone-less dates, e.g. +02:00; default +00:00",
            )],
            accept_reply: reply_text(200, "OK"),
        }
    }

    fn handle(req: &Request, config: &Config) -> Result<Outcome, PluginError> {
        let offset = utc_offset(config, 0)?;
        let events = records(req)?
            .iter()
            .map(|p| delivery(p, offset))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Outcome::events(events).with_reply(reply_text(200, "OK")))
    }
}

fn delivery(p: &Params, offset: i32) -> Result<Event, PluginError> {
    if p.0.is_empty() {
        return Err(bad_request("empty callback: no query or body fields"));
    }
    let mut pk = Picker::new(p);
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
            bad_request("delivery report without a status (`status`, `dlr`, `stat`, ...)")
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
    // A resend of the same report is the same (message, status) pair.
    Ok(Event::new(
        format!("{message_id}:{status}"),
        EventKind::DeliveryStatus(ds),
    )
    .with_extra(pk.extra()))
}

#[cfg(test)]
mod tests;
