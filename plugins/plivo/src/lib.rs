//! Plivo: SMS/MMS/WhatsApp message status callbacks and inbound messages
//! (form POST or GET), with the `X-Plivo-Signature-V3` check. See README.md
//! beside this file.

use switchboard_plugin_sdk::build::{reply, reply_with};
use switchboard_plugin_sdk::sign::{hmac_sha256, verify_base64};
use switchboard_plugin_sdk::status::{StatusTable, map_status};
use switchboard_plugin_sdk::time::parse_datetime;
use switchboard_plugin_sdk::types::{ConfigKey, Route};
use switchboard_plugin_sdk::*;

pub struct Plivo;
switchboard_plugin_sdk::export_plugin!(Plivo);

/// `Status` values of outbound messages.
const STATUSES: StatusTable = &[
    ("queued", DeliveryState::Queued),
    ("sent", DeliveryState::Sent),
    ("delivered", DeliveryState::Delivered),
    ("read", DeliveryState::Read),
    ("undelivered", DeliveryState::Undelivered),
    ("failed", DeliveryState::Failed),
    ("rejected", DeliveryState::Failed),
];

/// Fields mapped onto the normalized events (everything else goes to `extra`).
const MAPPED: &[&str] = &[
    "MessageUUID",
    "Status",
    "ErrorCode",
    "From",
    "To",
    "Type",
    "Text",
    "Body",
];

/// Plivo's message timestamps, most specific last.
const TIMES: &[&str] = &[
    "MessageTime",
    "QueuedTime",
    "SentTime",
    "DeliveryReportTime",
];

const EMPTY_XML: &str = "<Response></Response>";

impl Plugin for Plivo {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "plivo".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "Plivo SMS, MMS and WhatsApp message status callbacks and inbound messages".into(),
            routes: vec![
                Route::new(
                    &[Method::Post, Method::Get],
                    "/plivoCallback",
                    "message status callback (the `url` of Send Message)",
                ),
                Route::new(
                    &[Method::Post, Method::Get],
                    "/plivoIncoming/{app_code}",
                    "inbound message (the application's message_url)",
                ),
            ],
            config_keys: vec![
                ConfigKey::secret("auth_token")
                    .required()
                    .describe("(Sub)account auth token: the HMAC key of X-Plivo-Signature-V3"),
            ],
            accept_reply: reply_with(200, "application/xml", EMPTY_XML),
        }
    }

    fn handle(req: &Request, config: &Config) -> Result<Outcome, PluginError> {
        verify(req, config)?;
        let p = req.params();
        let uuid = p
            .get("MessageUUID")
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| bad_request("missing field `MessageUUID`"))?
            .to_owned();
        let status = p.get("Status").map(str::trim).unwrap_or("");
        let inbound = status.eq_ignore_ascii_case("received")
            || (status.is_empty() && (p.get("Text").is_some() || p.get("Body").is_some()));
        let channel = channel_of(p.get("Type"));
        if inbound {
            let events = inbound_events(&uuid, p, channel)?;
            return Ok(Outcome::events(events).with_reply(reply_with(
                200,
                "application/xml",
                EMPTY_XML,
            )));
        }
        if status.is_empty() {
            return Err(bad_request("neither `Status` nor an inbound `Text`/`Body`"));
        }
        let extra = p.extra(MAPPED);
        let mut ds = DeliveryStatus::new(&uuid, map_status(STATUSES, status), status);
        ds.error_code = p
            .opt("ErrorCode")
            .filter(|c| !c.trim_start_matches('0').is_empty());
        ds.from = p.opt("From");
        ds.to = p.opt("To");
        ds.channel = channel.unwrap_or(Channel::Sms);
        ds.occurred_at = occurred_at(p, ds.state);
        // Plivo resends a status with the same (uuid, status): that pair is the event.
        let event =
            Event::new(format!("{uuid}:{status}"), EventKind::DeliveryStatus(ds)).with_extra(extra);
        Ok(Outcome::events(vec![event]).with_reply(reply(200)))
    }
}

fn channel_of(kind: Option<&str>) -> Option<Channel> {
    match kind?.trim().to_ascii_lowercase().as_str() {
        "sms" => Some(Channel::Sms),
        "mms" => Some(Channel::Mms),
        "whatsapp" => Some(Channel::Whatsapp),
        "" => None,
        _ => Some(Channel::Other),
    }
}

/// The time of the state reached: the delivery report for final states,
/// the submission for `sent`, else the latest timestamp given (UTC).
fn occurred_at(p: &Params, state: DeliveryState) -> Option<i64> {
    let at = |name: &str| p.get(name).and_then(|t| parse_datetime(t, 0));
    let preferred = match state {
        DeliveryState::Sent => at("SentTime"),
        DeliveryState::Queued => at("QueuedTime"),
        s if s.is_final() => at("DeliveryReportTime"),
        _ => None,
    };
    preferred.or_else(|| TIMES.iter().rev().find_map(|t| at(t)))
}

/// An inbound SMS/MMS/WhatsApp message; `MessageIntent=optout` (Plivo
/// matched a standard opt-out keyword) also yields an opt-out.
fn inbound_events(
    uuid: &str,
    p: &Params,
    channel: Option<Channel>,
) -> Result<Vec<Event>, PluginError> {
    let from = p.require("From")?.trim();
    let to = p.get("To").unwrap_or("").trim();
    let text = p.get("Text").or_else(|| p.get("Body")).unwrap_or("");
    let mut msg = InboundMessage::new(uuid, from, to, text);
    let mut mapped: Vec<String> = MAPPED.iter().map(|s| (*s).to_owned()).collect();
    // Media0..Media10 (Plivo's docs number them from 0 and from 1).
    for i in 0..=10 {
        let name = format!("Media{i}");
        if let Some(url) = p.opt(&name) {
            msg.media.push(Media {
                url,
                content_type: None,
            });
            mapped.push(name);
        }
    }
    msg.channel = channel.unwrap_or(if msg.media.is_empty() {
        Channel::Sms
    } else {
        Channel::Mms
    });
    msg.occurred_at = TIMES
        .iter()
        .find_map(|t| p.get(t).and_then(|t| parse_datetime(t, 0)));
    let mapped: Vec<&str> = mapped.iter().map(String::as_str).collect();
    let extra = p.extra(&mapped);
    let mut events = Vec::new();
    if p.get("MessageIntent")
        .is_some_and(|i| i.trim().eq_ignore_ascii_case("optout"))
    {
        let opt_out = OptOut {
            from: from.to_owned(),
            to: (!to.is_empty()).then(|| to.to_owned()),
            channel: msg.channel,
            occurred_at: msg.occurred_at,
            message_ref: None,
            campaign_id: None,
        };
        events.push(
            Event::new(format!("{uuid}:opt-out"), EventKind::OptOut(opt_out))
                .with_extra(extra.clone()),
        );
    }
    events.insert(
        0,
        Event::new(uuid, EventKind::InboundMessage(msg)).with_extra(extra),
    );
    Ok(events)
}

/// Checks `X-Plivo-Signature-V3` (or `X-Plivo-Signature-Ma-V3`, signed with
/// the main account's token): any of its comma-separated signatures.
fn verify(req: &Request, config: &Config) -> Result<(), PluginError> {
    let token = config.require("auth_token")?;
    let nonce = req
        .header("x-plivo-signature-v3-nonce")
        .ok_or_else(|| unauthorized("missing X-Plivo-Signature-V3-Nonce"))?;
    let headers: Vec<&str> = ["x-plivo-signature-v3", "x-plivo-signature-ma-v3"]
        .iter()
        .filter_map(|h| req.header(h))
        .collect();
    if headers.is_empty() {
        return Err(unauthorized("missing X-Plivo-Signature-V3"));
    }
    let empty = Params::default();
    let params = if req.is_get() { &empty } else { req.form() };
    let base = signed_url(req.url(), params);
    for candidate in [base.clone(), latin1_utf8(&base)] {
        let mac = signature_bytes(token, &candidate, nonce);
        let matched = headers
            .iter()
            .flat_map(|h| h.split(','))
            .any(|sig| verify_base64(sig.trim(), &mac));
        if matched {
            return Ok(());
        }
    }
    Err(unauthorized("X-Plivo-Signature-V3 does not match"))
}

/// What Plivo signs before the nonce, as its official libraries build it:
/// the URL without its query; then `?` and the query parameters sorted
/// (`k=v` joined by `&`); for a POST with parameters, `?`, that query, a
/// `.` if there was one, and every POST parameter sorted as `kv`.
pub fn signed_url(url: &str, post: &Params) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let query = sorted_pairs(&Params::parse(query.as_bytes()))
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let post = sorted_pairs(post);
    let mut out = base.to_owned();
    if post.is_empty() {
        if !query.is_empty() {
            out.push('?');
            out.push_str(&query);
        }
        return out;
    }
    out.push('?');
    if !query.is_empty() {
        out.push_str(&query);
        out.push('.');
    }
    for (k, v) in post {
        out.push_str(k);
        out.push_str(v);
    }
    out
}

/// Pairs sorted by name, then value (repeated names keep every value).
fn sorted_pairs(p: &Params) -> Vec<(&str, &str)> {
    let mut pairs: Vec<(&str, &str)> = p.iter().collect();
    pairs.sort_unstable();
    pairs
}

/// base64 HMAC-SHA256 of `signed_url.nonce` with the auth token.
pub fn signature_bytes(token: &str, signed_url: &str, nonce: &str) -> Vec<u8> {
    hmac_sha256(token.as_bytes(), format!("{signed_url}.{nonce}").as_bytes())
}

/// The UTF-8 bytes of `s` read back as Latin-1 and encoded again: what
/// Plivo's Python library signs for non-ASCII text, accepted as well.
fn latin1_utf8(s: &str) -> String {
    s.bytes().map(char::from).collect()
}

#[cfg(test)]
mod tests;
