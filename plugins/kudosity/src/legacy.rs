//! Legacy v1 callbacks (GET): delivery receipts and replies, signed with
//! `x-transmitsms-signature` over the parameters as PHP encodes them.

use switchboard_plugin_sdk::fields::short_hash;
use switchboard_plugin_sdk::sign::{hmac_sha256, verify_hex};
use switchboard_plugin_sdk::status::map_status;
use switchboard_plugin_sdk::time::parse_datetime;
use switchboard_plugin_sdk::*;

use super::{STATUSES, bounce_kind};

/// Legacy v1 fields mapped onto events.
const LEGACY_DLR_FIELDS: &[&str] = &["message_id", "mobile", "datetime", "status"];
const LEGACY_REPLY_FIELDS: &[&str] = &[
    "response_id",
    "mobile",
    "longcode",
    "datetime_entry",
    "response",
];

pub(crate) fn legacy(req: &Request, config: &Config) -> Result<Outcome, PluginError> {
    verify_legacy(req, config)?;
    let p = req.params();
    if p.get("response").is_some() {
        return legacy_reply(p);
    }
    let message_id = p.require("message_id")?;
    let status = p.require("status")?;
    let mut ds = DeliveryStatus::new(message_id, map_status(STATUSES, status), status);
    ds.to = p.opt("mobile");
    ds.occurred_at = p.get("datetime").and_then(|d| parse_datetime(d, 0));
    ds.error_code = bounce_kind(status);
    let event = Event::new(
        format!("{message_id}:{}", status.trim().to_ascii_uppercase()),
        EventKind::DeliveryStatus(ds),
    )
    .with_extra(p.extra(LEGACY_DLR_FIELDS));
    Ok(Outcome::events(vec![event]))
}

/// A legacy reply callback: the reply, plus an opt-out when Kudosity flags
/// it as one (`is_optout=yes`).
fn legacy_reply(p: &Params) -> Result<Outcome, PluginError> {
    let from = p.require("mobile")?;
    let to = p.get("longcode").unwrap_or("");
    let text = p.get("response").unwrap_or("");
    let when = p.get("datetime_entry").unwrap_or("");
    let id = p
        .opt("response_id")
        .unwrap_or_else(|| short_hash(&[from, to, text, when]));
    let occurred_at = parse_datetime(when, 0);
    let mut msg = InboundMessage::new(&id, from, to, text);
    msg.occurred_at = occurred_at;
    let extra = p.extra(LEGACY_REPLY_FIELDS);
    let mut events =
        vec![Event::new(&id, EventKind::InboundMessage(msg)).with_extra(extra.clone())];
    let opted_out = p
        .get("is_optout")
        .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "yes" | "1" | "true"));
    if opted_out {
        let oo = OptOut {
            from: from.to_owned(),
            to: (!to.is_empty()).then(|| to.to_owned()),
            channel: Channel::Sms,
            occurred_at,
            message_ref: None,
            campaign_id: None,
        };
        events.push(Event::new(format!("optout:{id}"), EventKind::OptOut(oo)).with_extra(extra));
    }
    Ok(Outcome::events(events))
}

/// Legacy v1: `x-transmitsms-signature` is the hex HMAC-SHA256, keyed by the
/// account API secret, of the callback's parameters as PHP's
/// `json_encode(parse_str(query))` writes them, in arrival order.
fn verify_legacy(req: &Request, config: &Config) -> Result<(), PluginError> {
    let secret = config
        .get("api_secret")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            unauthorized("legacy v1 callback, but `api_secret` is not set to verify its signature")
        })?;
    let signature = req
        .header("x-transmitsms-signature")
        .ok_or_else(|| unauthorized("missing x-transmitsms-signature"))?;
    let pairs = php_parse_str(req.params());
    // PHP escapes `/` and non-ASCII by default; accept the plain form too.
    for php_style in [true, false] {
        let json = php_json_object(&pairs, php_style);
        if verify_hex(signature, &hmac_sha256(secret.as_bytes(), json.as_bytes())) {
            return Ok(());
        }
    }
    Err(unauthorized("x-transmitsms-signature does not match"))
}

/// What PHP's `parse_str` makes of the pairs: `.` and space in names become
/// `_`, and a repeated name keeps its first position with its last value.
pub fn php_parse_str(params: &Params) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in params.iter() {
        let key: String = k
            .trim_start()
            .chars()
            .map(|c| if c == '.' || c == ' ' { '_' } else { c })
            .collect();
        match out.iter_mut().find(|(ek, _)| *ek == key) {
            Some(entry) => entry.1 = v.to_owned(),
            None => out.push((key, v.to_owned())),
        }
    }
    out
}

/// A JSON object of string pairs, escaped as PHP's `json_encode` does by
/// default (`\/`, `\uXXXX` for non-ASCII) or as plain JSON.
pub fn php_json_object(pairs: &[(String, String)], php_style: bool) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(&mut out, k, php_style);
        out.push(':');
        json_string(&mut out, v, php_style);
    }
    out.push('}');
    out
}

fn json_string(out: &mut String, s: &str, php_style: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if php_style => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (php_style && !c.is_ascii()) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
