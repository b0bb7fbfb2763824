//! Delivery reports from SMS gateways that publish no callback spec: they
//! pass on what their SMSC says, by GET or POST, under names of their own
//! choosing. Here are the usual names of each field, the usual status words
//! and codes, and [`delivery_report`], which reads a report with them and
//! fills what the fields lack from an SMPP receipt text (Kannel's `%A`) in
//! any field.

use crate::fields::Picker;
use crate::smpp::Receipt;
use crate::status::{StatusTable, is_no_error, map_status};
use crate::time::parse_any;
use crate::{DeliveryState, DeliveryStatus, Event, EventKind, Params, PluginError, bad_request};

/// Delivery states by the names and codes such gateways use: SMPP receipt
/// words, plain words, and Kannel's numeric DLR types.
pub const STATUSES: StatusTable = &[
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

/// Names of the message id.
pub const ID: &[&str] = &[
    "message_id",
    "messageid",
    "msgid",
    "msg_id",
    "sms_id",
    "smsid",
    "id",
];
/// Names of the status.
pub const STATUS: &[&str] = &[
    "status",
    "dlrstatus",
    "dlr_status",
    "delivery_status",
    "stat",
    "dlr",
    "state",
];
/// Names of the error code.
pub const ERROR: &[&str] = &[
    "err",
    "error",
    "error_code",
    "errorcode",
    "err_code",
    "dlr_err",
];
/// Names of the handset the message went to.
pub const TO: &[&str] = &[
    "to",
    "phonenumber",
    "phone",
    "mobile",
    "msisdn",
    "recipient",
    "destination",
    "number",
];
/// Names of the sender.
pub const FROM: &[&str] = &[
    "from",
    "sender_id",
    "senderid",
    "sender",
    "source",
    "originator",
];
/// Names of the time the status was reached, best first.
pub const TIME: &[&str] = &[
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
/// Names of the sender's own reference.
pub const REF: &[&str] = &[
    "reference",
    "ref",
    "client_ref",
    "customid",
    "custom_id",
    "uid",
];

/// The error for a report without a status: a `bad-request` (a plugin may
/// give its own to [`delivery_report`], e.g. for a gateway that sends no
/// incoming messages but gets one).
pub fn missing_status(_: &Params) -> PluginError {
    bad_request("delivery report without a status (`status`, `dlr`, `stat`, ...)")
}

/// Reads a delivery report: the first non-empty field of each usual name,
/// an SMPP receipt text in any field for the id, status, error and done
/// date the fields lack, zone-less dates at `offset_minutes`. A date that
/// does not parse stays in `extra` with every field not mapped. The event
/// id is `message:status`, the same for a resent report. Errors: no fields
/// or no message id (`bad-request`), no status (`no_status`).
pub fn delivery_report(
    p: &Params,
    offset_minutes: i32,
    no_status: fn(&Params) -> PluginError,
) -> Result<Event, PluginError> {
    if p.0.is_empty() {
        return Err(bad_request("empty callback: no query or body fields"));
    }
    let mut pk = Picker::new(p);
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
        .ok_or_else(|| no_status(p))?;
    let mut ds = DeliveryStatus::new(&message_id, map_status(STATUSES, &status), &status);
    ds.error_code = pk
        .pick(ERROR)
        .or_else(|| receipt.err.clone())
        .filter(|e| !is_no_error(e));
    ds.to = pk.pick(TO);
    ds.from = pk.pick(FROM);
    ds.message_ref = pk.pick(REF);
    if let Some(t) = pk.pick(TIME) {
        ds.occurred_at = parse_any(&t, offset_minutes);
        if ds.occurred_at.is_none() {
            pk.unpick();
        }
    } else {
        ds.occurred_at = receipt.done_at(offset_minutes);
    }
    // A resend of the same report is the same (message, status) pair.
    Ok(Event::new(
        format!("{message_id}:{status}"),
        EventKind::DeliveryStatus(ds),
    )
    .with_extra(pk.extra()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(pairs: &[(&str, &str)]) -> Result<(Event, DeliveryStatus), PluginError> {
        let ev = delivery_report(&Params::from_pairs(pairs), 0, missing_status)?;
        let EventKind::DeliveryStatus(d) = ev.kind.clone() else {
            panic!("not a delivery status")
        };
        Ok((ev, d))
    }

    #[test]
    fn every_status_maps() {
        for (raw, state) in STATUSES {
            assert_eq!(map_status(STATUSES, raw), *state, "{raw}");
        }
    }

    #[test]
    fn fields_by_their_usual_names() {
        let (ev, d) = report(&[
            ("MsgId", " m1 "),
            ("dlr", "1"),
            ("err", "000"),
            ("msisdn", "+100"),
            ("date", "2023-11-23 14:15"),
            ("x", "y"),
        ])
        .unwrap();
        assert_eq!(ev.id, "m1:1");
        assert_eq!(d.state, DeliveryState::Delivered);
        assert_eq!(d.error_code, None);
        assert_eq!(d.to.as_deref(), Some("+100"));
        assert_eq!(d.occurred_at, Some(1_700_748_900_000));
        assert_eq!(ev.extra, vec![("x".to_owned(), "y".to_owned())]);
        // A date that does not parse stays in `extra`.
        let (ev, d) = report(&[("id", "m"), ("status", "x"), ("time", "soon")]).unwrap();
        assert_eq!(d.state, DeliveryState::Unknown);
        assert_eq!(d.occurred_at, None);
        assert_eq!(ev.extra, vec![("time".to_owned(), "soon".to_owned())]);
    }

    #[test]
    fn a_receipt_fills_the_gaps() {
        let (ev, d) = report(&[(
            "answer",
            "id:r1 sub:001 dlvrd:001 submit date:2311231414 done date:2311231415 stat:UNDELIV err:034 text:x",
        )])
        .unwrap();
        assert_eq!(ev.id, "r1:UNDELIV");
        assert_eq!(d.state, DeliveryState::Undelivered);
        assert_eq!(d.error_code.as_deref(), Some("034"));
        assert_eq!(d.occurred_at, Some(1_700_748_900_000));
    }

    #[test]
    fn missing_fields_are_refused() {
        assert!(matches!(report(&[]), Err(PluginError::BadRequest(_))));
        assert!(matches!(
            report(&[("status", "DELIVRD")]),
            Err(PluginError::BadRequest(_))
        ));
        assert!(matches!(
            report(&[("id", "m1")]),
            Err(PluginError::BadRequest(_))
        ));
        let custom = delivery_report(&Params::from_pairs(&[("id", "m1")]), 0, |_| {
            crate::unsupported("no")
        });
        assert!(matches!(custom, Err(PluginError::Unsupported(_))));
    }
}
