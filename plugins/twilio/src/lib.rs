//! Twilio: SMS/MMS/WhatsApp status callbacks and inbound messages, with the
//! `X-Twilio-Signature` check. See README.md beside this file.

use switchboard_plugin_sdk::build::reply_with;
use switchboard_plugin_sdk::sign::{hmac_sha1, sha256_hex, verify_base64};
use switchboard_plugin_sdk::smpp;
use switchboard_plugin_sdk::status::{StatusTable, map_status};
use switchboard_plugin_sdk::types::{ConfigKey, Route};
use switchboard_plugin_sdk::*;

pub struct Twilio;
switchboard_plugin_sdk::export_plugin!(Twilio);

/// `MessageStatus` values of outbound messages.
const STATUSES: StatusTable = &[
    ("accepted", DeliveryState::Accepted),
    ("scheduled", DeliveryState::Accepted),
    ("queued", DeliveryState::Queued),
    ("sending", DeliveryState::Queued),
    ("sent", DeliveryState::Sent),
    ("delivered", DeliveryState::Delivered),
    ("read", DeliveryState::Read),
    ("undelivered", DeliveryState::Undelivered),
    ("partially_delivered", DeliveryState::Undelivered),
    ("failed", DeliveryState::Failed),
    ("canceled", DeliveryState::Failed),
];

/// Fields mapped onto the normalized event (everything else goes to `extra`).
const MAPPED: &[&str] = &[
    "MessageSid",
    "SmsSid",
    "SmsMessageSid",
    "MessageStatus",
    "SmsStatus",
    "ErrorCode",
    "To",
    "From",
    "Body",
    "NumMedia",
    "RawDlrDoneDate",
];

const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

impl Plugin for Twilio {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "twilio".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Twilio SMS, MMS and WhatsApp status callbacks and inbound messages"
                .into(),
            routes: vec![
                Route::new(
                    &[Method::Post],
                    "/smsCallback",
                    "status callback (per-message StatusCallback URL)",
                ),
                Route::new(
                    &[Method::Post],
                    "/smsCallback/{app_code}",
                    "inbound message (\"A message comes in\" webhook) or status callback",
                ),
            ],
            config_keys: vec![
                ConfigKey::secret("auth_token")
                    .required()
                    .describe("Account auth token: the HMAC key of X-Twilio-Signature"),
                ConfigKey::secret("previous_auth_token")
                    .describe("Old auth token still accepted while rotating"),
            ],
            accept_reply: reply_with(200, "text/xml", EMPTY_TWIML),
        }
    }

    fn handle(req: &Request, config: &Config) -> Result<Outcome, PluginError> {
        verify(req, config)?;
        let json_params;
        let p = if req.looks_like_json() {
            json_params = Params::from_json(&req.json()?);
            &json_params
        } else {
            req.params()
        };
        let sid = p
            .get_any(&["MessageSid", "SmsSid", "SmsMessageSid"])
            .ok_or_else(|| bad_request("missing field `MessageSid`"))?
            .to_owned();
        let status = p.get_any(&["MessageStatus", "SmsStatus"]).unwrap_or("");
        let inbound = matches!(status, "received" | "receiving")
            || (status.is_empty() && p.get("Body").is_some());
        let extra = p.extra(MAPPED);
        if inbound {
            let event = Event::new(&sid, EventKind::InboundMessage(inbound_message(&sid, p)?))
                .with_extra(extra);
            return Ok(Outcome::events(vec![event]).with_reply(reply_with(
                200,
                "text/xml",
                EMPTY_TWIML,
            )));
        }
        if status.is_empty() {
            return Err(bad_request("neither `MessageStatus` nor an inbound `Body`"));
        }
        let (from, from_channel) = split_address(p.get("From"));
        let (to, to_channel) = split_address(p.get("To"));
        let mut ds = DeliveryStatus::new(&sid, map_status(STATUSES, status), status);
        ds.error_code = p.opt("ErrorCode").filter(|c| c != "0");
        ds.channel = from_channel.or(to_channel).unwrap_or(Channel::Sms);
        ds.from = from;
        ds.to = to;
        // The carrier's `YYMMDDhhmm` (UTC).
        ds.occurred_at = p.get("RawDlrDoneDate").and_then(|d| smpp::parse_date(d, 0));
        // Twilio resends a status with the same (sid, status): that pair is the event.
        let event =
            Event::new(format!("{sid}:{status}"), EventKind::DeliveryStatus(ds)).with_extra(extra);
        Ok(Outcome::events(vec![event]))
    }
}

fn inbound_message(sid: &str, p: &Params) -> Result<InboundMessage, PluginError> {
    let (from, from_channel) = split_address(p.get("From"));
    let (to, _) = split_address(p.get("To"));
    let from = from.ok_or_else(|| bad_request("missing field `From`"))?;
    let mut msg = InboundMessage::new(
        sid,
        &from,
        &to.unwrap_or_default(),
        p.get("Body").unwrap_or(""),
    );
    let num_media: usize = p.get("NumMedia").and_then(|n| n.parse().ok()).unwrap_or(0);
    // Twilio allows at most 10 media per message; never trust a bigger count.
    for i in 0..num_media.min(10) {
        if let Some(url) = p.opt(&format!("MediaUrl{i}")) {
            msg.media.push(Media {
                url,
                content_type: p.opt(&format!("MediaContentType{i}")),
            });
        }
    }
    msg.channel = from_channel.unwrap_or(if msg.media.is_empty() {
        Channel::Sms
    } else {
        Channel::Mms
    });
    Ok(msg)
}

/// `whatsapp:+1555...` → (`+1555...`, WhatsApp); plain numbers have no channel.
fn split_address(addr: Option<&str>) -> (Option<String>, Option<Channel>) {
    let Some(addr) = addr.map(str::trim).filter(|a| !a.is_empty()) else {
        return (None, None);
    };
    for (prefix, channel) in [
        ("whatsapp:", Channel::Whatsapp),
        ("rcs:", Channel::Rcs),
        ("messenger:", Channel::Other),
    ] {
        if let Some(rest) = addr.strip_prefix(prefix) {
            return (Some(rest.to_owned()), Some(channel));
        }
    }
    (Some(addr.to_owned()), None)
}

/// Checks `X-Twilio-Signature` against the current and the previous token.
fn verify(req: &Request, config: &Config) -> Result<(), PluginError> {
    let signature = req
        .header("x-twilio-signature")
        .ok_or_else(|| unauthorized("missing X-Twilio-Signature"))?;
    let tokens = [
        Some(config.require("auth_token")?),
        config.get("previous_auth_token"),
    ];
    let empty = Params::default();
    let params = if req.looks_like_json() || req.is_get() {
        &empty
    } else {
        req.form()
    };
    if req.looks_like_json() {
        let declared = req
            .query()
            .get("bodySHA256")
            .ok_or_else(|| unauthorized("JSON body without bodySHA256"))?;
        if !declared.eq_ignore_ascii_case(&sha256_hex(req.body())) {
            return Err(unauthorized("bodySHA256 does not match the body"));
        }
    }
    for token in tokens.into_iter().flatten() {
        for url in url_variants(req.url()) {
            if verify_base64(signature, &signature_bytes(token, &url, params)) {
                return Ok(());
            }
        }
    }
    Err(unauthorized("X-Twilio-Signature does not match"))
}

/// HMAC-SHA1 over the URL followed by every POST parameter name and value,
/// sorted by name (values of a repeated name sorted too), as Twilio does.
pub fn signature_bytes(token: &str, url: &str, params: &Params) -> Vec<u8> {
    let mut pairs: Vec<(&str, &str)> = params.iter().collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut msg = url.to_owned();
    for (k, v) in pairs {
        msg.push_str(k);
        msg.push_str(v);
    }
    hmac_sha1(token.as_bytes(), msg.as_bytes())
}

/// The URL as called, plus the same URL with the default port added or
/// removed: proxies differ, and Twilio's own validators accept both.
fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return out;
    };
    let default_port = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return out,
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    // A port is the part after the last `:` outside an IPv6 literal.
    let port_sep = hostport
        .rfind(':')
        .filter(|i| !hostport[*i..].contains(']'));
    let alt = match port_sep {
        Some(i) if &hostport[i + 1..] == default_port => {
            format!("{scheme}://{userinfo}{}{tail}", &hostport[..i])
        }
        Some(_) => return out,
        None => format!("{scheme}://{userinfo}{hostport}:{default_port}{tail}"),
    };
    out.push(alt);
    out
}

#[cfg(test)]
mod tests;
