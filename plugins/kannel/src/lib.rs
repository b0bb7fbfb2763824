//! Kannel and other SMPP gateways (Jasmin, ...): delivery reports from a
//! `dlr-url` with Kannel's placeholders (or Jasmin's DLR form), the SMPP
//! receipt text (`id:... stat:DELIVRD err:...`), and incoming messages from
//! a Kannel `sms-service` URL or a Jasmin HTTP client connector. See
//! README.md beside this file for the URLs to configure.

use switchboard_plugin_sdk::charset::{self, Charset, decode_ucs2_hex};
use switchboard_plugin_sdk::fields::short_hash;
use switchboard_plugin_sdk::request::unescape_form;
use switchboard_plugin_sdk::smpp::{Receipt, parse_date};
use switchboard_plugin_sdk::status::{StatusTable, is_no_error, map_status};
use switchboard_plugin_sdk::time::{parse_datetime_lenient, utc_offset};
use switchboard_plugin_sdk::types::{ConfigKey, Route};
use switchboard_plugin_sdk::*;

pub struct Kannel;
switchboard_plugin_sdk::export_plugin!(Kannel);

/// SMPP receipt `stat:` values (also Jasmin's level-2 `message_status`),
/// Kannel's `%d` DLR types, and Jasmin's level-1 success.
pub const STATUSES: StatusTable = &[
    ("DELIVRD", DeliveryState::Delivered),
    ("EXPIRED", DeliveryState::Expired),
    ("DELETED", DeliveryState::Failed),
    ("UNDELIV", DeliveryState::Undelivered),
    // SMPP's "accepted" (read on the subscriber's behalf): not a delivery.
    ("ACCEPTD", DeliveryState::Accepted),
    ("UNKNOWN", DeliveryState::Unknown),
    ("REJECTD", DeliveryState::Failed),
    ("ENROUTE", DeliveryState::Sent),
    // Other SMSCs' spellings Kannel itself recognizes.
    ("ACKED", DeliveryState::Accepted),
    ("BUFFRED", DeliveryState::Queued),
    ("BUFFERD", DeliveryState::Queued),
    // Kannel `%d`: 1 delivered, 2 delivery failure, 4 buffered at the
    // SMSC, 8 SMSC submit (ACK), 16 SMSC reject (NACK).
    ("1", DeliveryState::Delivered),
    ("2", DeliveryState::Undelivered),
    ("4", DeliveryState::Queued),
    ("8", DeliveryState::Sent),
    ("16", DeliveryState::Failed),
    // Jasmin level 1: the SMSC took the submit_sm.
    ("ESME_ROK", DeliveryState::Sent),
];

/// Names a message id may come under in a `dlr-url`, most specific first:
/// the operator's own reference, Kannel's `%I`, the SMSC's `%F`.
const DLR_ID_NAMES: &[&str] = &["ref", "msgid", "smscid"];
/// Mapped fields of a DLR, an incoming message and a Jasmin DLR (the rest,
/// including `type` and `answer`, goes to `extra`).
const DLR_FIELDS: &[&str] = &["from", "to", "time"];
const MO_FIELDS: &[&str] = &["from", "to", "text", "content", "binary", "time"];
const JASMIN_DLR_FIELDS: &[&str] = &["id", "message_status", "donedate", "err"];

const JASMIN_ACK: &str = "ACK/Jasmin";

impl Plugin for Kannel {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "kannel".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Kannel / Jasmin / SMPP gateways: DLRs (dlr-url placeholders, SMPP receipts) and incoming SMS".into(),
            routes: vec![
                Route::new(
                    &[Method::Get, Method::Post],
                    "/kannelCallback",
                    "delivery report: Kannel dlr-url (GET) or Jasmin DLR (POST/GET)",
                ),
                Route::new(
                    &[Method::Get, Method::Post],
                    "/kannelIncoming/{app_code}",
                    "incoming SMS: Kannel sms-service get-url or Jasmin HTTP client connector",
                ),
            ],
            config_keys: vec![ConfigKey::setting("utc_offset").describe(
                "Offset of the SMSC's receipt dates and Kannel's %t, e.g. `+03:00` (default UTC)",
            )],
            // Jasmin retries anything but this body; Kannel ignores it.
            accept_reply: reply_text(200, JASMIN_ACK),
        }
    }

    fn handle(req: &Request, config: &Config) -> Result<Outcome, PluginError> {
        let p = req.params();
        if p.0.is_empty() {
            return Err(bad_request("no parameters in the query or the form body"));
        }
        let offset = utc_offset(config, 0)?;
        let jasmin = is_jasmin(p);
        let event = if p.get("message_status").is_some() {
            jasmin_dlr(p, offset)?
        } else if p.get_any(&["type", "dlr"]).is_some() {
            kannel_dlr(p, offset)?
        } else if p.get_any(&["text", "content", "binary"]).is_some() {
            mo(req, p, jasmin, offset)?
        } else {
            return Err(bad_request(
                "neither a DLR (`type` / `message_status`) nor an incoming message (`text` / `content`)",
            ));
        };
        let reply = if jasmin {
            reply_text(200, JASMIN_ACK)
        } else {
            // A Kannel sms-service sends a non-empty reply body back to the
            // handset as an SMS: answer with nothing.
            build::reply(200)
        };
        Ok(Outcome::events(vec![event]).with_reply(reply))
    }
}

/// Jasmin's forms carry names Kannel's recommended URLs do not.
fn is_jasmin(p: &Params) -> bool {
    p.get("message_status").is_some()
        || p.get("origin-connector").is_some()
        || (p.get("level").is_some() && p.get("connector").is_some())
}

// ------------------------------------------------------------ Kannel DLR

fn kannel_dlr(p: &Params, offset: i32) -> Result<Event, PluginError> {
    let dlr_type = p.get_any(&["type", "dlr"]).unwrap_or("").trim();
    let answer = p.get_any(&["answer", "reply"]).unwrap_or("");
    let receipt = Receipt::parse(answer);
    let raw = receipt.stat.as_deref().unwrap_or(dlr_type);
    let id_key = DLR_ID_NAMES
        .iter()
        .find(|k| p.get(k).is_some_and(|v| !v.trim().is_empty()));
    let message_id = id_key
        .and_then(|k| p.get(k))
        .map(|v| v.trim().to_owned())
        .or_else(|| receipt.id.clone())
        .ok_or_else(|| bad_request("missing message id (`ref`, `msgid` or `smscid`)"))?;
    let mut ds = DeliveryStatus::new(&message_id, map_status(STATUSES, raw), raw);
    ds.to = p.opt("to");
    ds.from = p.opt("from");
    ds.message_ref = p.opt("ref");
    ds.error_code = receipt.error_code().or_else(|| nack_code(answer));
    ds.occurred_at = receipt
        .done_at(offset)
        .or_else(|| p.get("time").and_then(|t| kannel_time(t, offset)));
    let mut known = DLR_FIELDS.to_vec();
    known.extend(id_key);
    let mut extra = p.extra(&known);
    extra.extend(receipt_extra(&receipt));
    Ok(Event::new(
        format!("{message_id}:{}", raw.to_ascii_uppercase()),
        EventKind::DeliveryStatus(ds),
    )
    .with_extra(extra))
}

/// `NACK/0x0000000b/Invalid Destination Address` → `0x0000000b`.
fn nack_code(answer: &str) -> Option<String> {
    let rest = answer.trim().strip_prefix("NACK/")?;
    rest.split('/')
        .next()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

// ------------------------------------------------------------ Jasmin DLR

fn jasmin_dlr(p: &Params, offset: i32) -> Result<Event, PluginError> {
    let message_id = p.require("id")?;
    let raw = p.require("message_status")?.trim();
    let mut state = map_status(STATUSES, raw);
    let mut error_code = p.opt("err").filter(|e| !is_no_error(e));
    if raw.starts_with("ESME_R") && !raw.eq_ignore_ascii_case("ESME_ROK") {
        // Level 1 error: the SMSC refused the submit_sm.
        state = DeliveryState::Failed;
        error_code = Some(raw.to_owned());
    }
    let mut ds = DeliveryStatus::new(message_id, state, raw);
    ds.error_code = error_code;
    ds.occurred_at = p.get("donedate").and_then(|d| parse_date(d, offset));
    Ok(Event::new(
        format!("{message_id}:{}", raw.to_ascii_uppercase()),
        EventKind::DeliveryStatus(ds),
    )
    .with_extra(p.extra(JASMIN_DLR_FIELDS)))
}

// ------------------------------------------------------------ incoming

fn mo(req: &Request, p: &Params, jasmin: bool, offset: i32) -> Result<Event, PluginError> {
    let from = p
        .get("from")
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .ok_or_else(|| bad_request("missing field `from`"))?;
    let to = p.get("to").map(str::trim).unwrap_or("");
    let text = mo_text(req, p, jasmin);
    let time = p.get("time").unwrap_or("");
    let id_key = ["msgid", "id"]
        .into_iter()
        .find(|k| p.get(k).is_some_and(|v| !v.trim().is_empty()));
    let id = id_key
        .and_then(|k| p.get(k))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| short_hash(&[from, to, time, &text]));
    let mut msg = InboundMessage::new(&id, from, to, &text);
    msg.occurred_at = kannel_time(time, offset);
    let mut known = MO_FIELDS.to_vec();
    known.extend(id_key);
    Ok(Event::new(id, EventKind::InboundMessage(msg)).with_extra(p.extra(&known)))
}

/// The message text, decoded the way the gateway coded it: UCS-2 (Kannel
/// `coding=2`, Jasmin `coding=8`, or a UTF-16 charset) as hex or as raw
/// bytes, a declared 8-bit charset, else UTF-8.
fn mo_text(req: &Request, p: &Params, jasmin: bool) -> String {
    let coding = p.get("coding").and_then(|c| c.trim().parse::<u32>().ok());
    let charset = p.get("charset").map(|c| c.trim().to_ascii_lowercase());
    let ucs2 = (jasmin && coding == Some(8))
        || (!jasmin && coding == Some(2))
        || matches!(
            charset.as_deref(),
            Some("utf-16be" | "ucs-2" | "ucs2" | "utf-16")
        );
    let key = if p.get("text").is_some() {
        "text"
    } else {
        "content"
    };
    if ucs2 {
        if let Some(text) = p.get("binary").and_then(decode_ucs2_hex) {
            return text;
        }
        if let Some(raw) = raw_param(req, key) {
            let looks_hex = !raw.is_empty()
                && raw.len().is_multiple_of(4)
                && raw.iter().all(u8::is_ascii_hexdigit);
            let as_hex = std::str::from_utf8(&raw).ok().and_then(decode_ucs2_hex);
            if let (true, Some(text)) = (looks_hex, as_hex) {
                return text;
            }
            return Charset::Utf16Be.decode(&raw);
        }
    } else if let (Some(cs), Some(raw)) = (
        charset
            .as_deref()
            .filter(|c| !matches!(*c, "utf-8" | "utf8")),
        raw_param(req, key),
    ) {
        return charset::decode(&raw, Some(cs));
    }
    match p.get(key) {
        Some(text) => text.to_owned(),
        // Only `binary` (hex of the 8-bit data): show it as Latin-1.
        None => p
            .get("binary")
            .and_then(hex_bytes)
            .map(|b| Charset::Latin1.decode(&b))
            .unwrap_or_default(),
    }
}

/// The raw bytes of a parameter (query, then form body), percent-decoded
/// but not interpreted as UTF-8; the last occurrence wins.
fn raw_param(req: &Request, name: &str) -> Option<Vec<u8>> {
    let mut found = None;
    let body: &[u8] = if req.is_get() || req.looks_like_json() {
        b""
    } else {
        req.body()
    };
    for source in [req.raw().query.as_bytes(), body] {
        for pair in source.split(|&b| b == b'&') {
            let mut kv = pair.splitn(2, |&b| b == b'=');
            let k = unescape_form(kv.next().unwrap_or_default());
            if k == name.as_bytes() {
                found = Some(unescape_form(kv.next().unwrap_or_default()));
            }
        }
    }
    found
}

fn hex_bytes(h: &str) -> Option<Vec<u8>> {
    let h = h.trim();
    if !h.len().is_multiple_of(2) {
        return None;
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
        .collect()
}

// ------------------------------------------------------------ receipts

/// The receipt's fields other than `stat` (mapped) for `extra`, as
/// `receipt.id`, `receipt.done_date`, ...
fn receipt_extra(r: &Receipt) -> Vec<(String, String)> {
    r.pairs()
        .into_iter()
        .filter(|(k, _)| *k != "stat")
        .map(|(k, v)| (format!("receipt.{k}"), v.to_owned()))
        .collect()
}

/// Kannel's `%T` (unix seconds) or `%t` (`YYYY-MM-DD HH:MM`, at `offset`).
pub fn kannel_time(s: &str, offset: i32) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().ok()?.checked_mul(1000);
    }
    parse_datetime_lenient(s, offset)
}

#[cfg(test)]
mod tests;
