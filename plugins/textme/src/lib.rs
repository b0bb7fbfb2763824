//! TextMe.co.il: pushed delivery reports and incoming SMS (GET query or
//! form POST, unsigned), and blocklist additions as opt-outs. See README.md
//! beside this file.

use switchboard_plugin_sdk::fields::short_hash;
use switchboard_plugin_sdk::status::{StatusTable, map_status};
use switchboard_plugin_sdk::time::{
    civil_from_days, days_from_civil, parse_datetime, parse_offset, unix_ms,
};
use switchboard_plugin_sdk::types::{ConfigKey, Route};
use switchboard_plugin_sdk::*;

pub struct TextMe;
switchboard_plugin_sdk::export_plugin!(TextMe);

/// Numeric DLR statuses (TextMe's "DLR statuses" reference). Codes not
/// listed map to `unknown` with the code kept in `provider_status`.
pub const STATUSES: StatusTable = &[
    // Sent, but the carrier returned no delivery confirmation.
    ("-1", DeliveryState::Sent),
    ("0", DeliveryState::Delivered),
    ("1", DeliveryState::Failed),
    // Timeout: no confirmation within the carrier's window (unconfirmed).
    ("2", DeliveryState::Sent),
    ("3", DeliveryState::Failed),
    // Failed at the mobile network.
    ("4", DeliveryState::Undelivered),
    ("5", DeliveryState::Failed),
    ("6", DeliveryState::Failed),
    // Failed at the network after the store-and-forward retry cycle.
    ("14", DeliveryState::Undelivered),
    // Blocked: kosher number, recipient refused this kind of SMS, illegal message.
    ("15", DeliveryState::Failed),
    ("17", DeliveryState::Failed),
    ("18", DeliveryState::Failed),
    ("101", DeliveryState::Undelivered),
    ("102", DeliveryState::Delivered),
    ("103", DeliveryState::Expired),
    // Deleted.
    ("104", DeliveryState::Failed),
];

const ID_NAMES: &[&str] = &["external_id", "externalId", "id"];
const PHONE_NAMES: &[&str] = &["phone", "destination", "to", "mobile"];
const SENDER_NAMES: &[&str] = &["phone", "from", "sender", "source", "mobile"];
const RECIPIENT_NAMES: &[&str] = &[
    "destination",
    "to",
    "shortcode",
    "number",
    "did",
    "virtual_number",
];
const TEXT_NAMES: &[&str] = &["message", "msg", "text", "body", "content"];
const INBOUND_ID_NAMES: &[&str] = &["id", "message_id", "sms_id", "incoming_id"];

impl Plugin for TextMe {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "textme".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "TextMe.co.il delivery reports, incoming SMS and blocklist additions"
                .into(),
            routes: vec![
                Route::new(
                    &[Method::Get, Method::Post],
                    "/textMeCoilCallback",
                    "delivery report (DLR push)",
                ),
                Route::new(
                    &[Method::Get, Method::Post],
                    "/textMeCoilCallback/{app_code}",
                    "incoming SMS (or a delivery report)",
                ),
                Route::new(
                    &[Method::Get, Method::Post],
                    "/textMeCoilBlacklist/{app_code}",
                    "blocklist addition (opt-out)",
                ),
            ],
            config_keys: vec![
                ConfigKey::setting("utc_offset")
                    .describe("Time zone of TextMe's dd/mm/yy hh:mm dates: `israel` (default, Asia/Jerusalem with DST) or a fixed offset such as `+02:00`"),
            ],
            accept_reply: reply_text(200, "OK"),
        }
    }

    fn handle(req: &Request, config: &Config) -> Result<Outcome, PluginError> {
        let p = req.params();
        if p.0.is_empty() {
            return Err(bad_request("no parameters in the query or the form body"));
        }
        let zone = Zone::from_config(config)?;
        let occurred_at = p
            .get_any(&["date", "datetime", "time"])
            .and_then(|d| zone.parse(d));
        let event = if req.route().starts_with("/textMeCoilBlacklist") {
            opt_out(p, occurred_at)?
        } else if p.get_any(&["status"]).is_some() && p.get_any(TEXT_NAMES).is_none() {
            delivery(p, occurred_at)?
        } else if p.get_any(TEXT_NAMES).is_some() || req.param("app_code").is_some() {
            inbound(p, occurred_at)?
        } else {
            return Err(bad_request(
                "neither a delivery report (`status`) nor an incoming message (`message`)",
            ));
        };
        Ok(Outcome::events(vec![event]).with_reply(reply_text(200, "OK")))
    }
}

fn delivery(p: &Params, occurred_at: Option<i64>) -> Result<Event, PluginError> {
    let status = p.get_any(&["status"]).unwrap_or("").trim();
    let external_id = p.get_any(ID_NAMES).map(str::trim);
    let phone = p.get_any(PHONE_NAMES).map(str::trim);
    let date = p.get_any(&["date", "datetime", "time"]).unwrap_or("");
    // The external id is ours (the `id` attribute of `<phone>` at send
    // time); without one, the handset is the only handle on the message.
    let message_id = external_id
        .or(phone)
        .ok_or_else(|| bad_request("missing `external_id` (and no `phone`)"))?;
    let state = map_status(STATUSES, status);
    let mut ds = DeliveryStatus::new(message_id, state, status);
    ds.to = phone.map(str::to_owned);
    ds.from = p.opt("from").or_else(|| p.opt("source"));
    ds.occurred_at = occurred_at;
    ds.message_ref = external_id.map(str::to_owned);
    if matches!(
        state,
        DeliveryState::Failed | DeliveryState::Undelivered | DeliveryState::Expired
    ) {
        ds.error_code = Some(status.to_owned());
    }
    let id = match external_id {
        Some(ext) => format!("{ext}:{status}"),
        None => format!("{}:{status}", short_hash(&[message_id, date])),
    };
    let mut known: Vec<&str> = vec!["status", "date", "from", "source"];
    known.extend(first_name(p, ID_NAMES));
    known.extend(first_name(p, PHONE_NAMES));
    Ok(Event::new(id, EventKind::DeliveryStatus(ds)).with_extra(p.extra(&known)))
}

fn inbound(p: &Params, occurred_at: Option<i64>) -> Result<Event, PluginError> {
    let from = p
        .get_any(SENDER_NAMES)
        .map(str::trim)
        .ok_or_else(|| bad_request("missing the sender (`phone`)"))?;
    let to = p.get_any(RECIPIENT_NAMES).map(str::trim).unwrap_or("");
    let text = p.get_any(TEXT_NAMES).unwrap_or("");
    let date = p.get_any(&["date", "datetime", "time"]).unwrap_or("");
    let id = p
        .get_any(INBOUND_ID_NAMES)
        .map(str::to_owned)
        .unwrap_or_else(|| short_hash(&[from, to, date, text]));
    let mut msg = InboundMessage::new(&id, from, to, text);
    msg.occurred_at = occurred_at;
    let mut known: Vec<&str> = vec!["date", "datetime", "time"];
    known.extend(first_name(p, SENDER_NAMES));
    known.extend(first_name(p, RECIPIENT_NAMES));
    known.extend(first_name(p, TEXT_NAMES));
    known.extend(first_name(p, INBOUND_ID_NAMES));
    Ok(Event::new(id, EventKind::InboundMessage(msg)).with_extra(p.extra(&known)))
}

fn opt_out(p: &Params, occurred_at: Option<i64>) -> Result<Event, PluginError> {
    let from = p
        .get_any(&["phone", "mobile", "number", "from"])
        .map(str::trim)
        .ok_or_else(|| bad_request("missing the blocked number (`phone`)"))?;
    let date = p.get_any(&["date", "datetime", "time"]).unwrap_or("");
    let oo = OptOut {
        from: from.to_owned(),
        to: p.opt("source").or_else(|| p.opt("destination")),
        channel: Channel::Sms,
        occurred_at,
        message_ref: None,
        campaign_id: None,
    };
    let mut known: Vec<&str> = vec!["date", "datetime", "time", "source", "destination"];
    known.extend(first_name(p, &["phone", "mobile", "number", "from"]));
    Ok(Event::new(
        format!("optout:{}", short_hash(&[from, date])),
        EventKind::OptOut(oo),
    )
    .with_extra(p.extra(&known)))
}

/// The name (as sent) of the first non-empty field among `names`, so
/// `extra` drops exactly the field that was mapped.
fn first_name<'a>(p: &'a Params, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| {
        p.0.iter()
            .rev()
            .find(|(k, v)| k.eq_ignore_ascii_case(n) && !v.is_empty())
            .map(|(k, _)| k.as_str())
    })
}

/// The time zone TextMe's dates are written in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    Israel,
    Fixed(i32),
}

impl Zone {
    fn from_config(config: &Config) -> Result<Self, PluginError> {
        match config.get("utc_offset").map(str::trim) {
            None | Some("") => Ok(Zone::Israel),
            Some(v) if v.eq_ignore_ascii_case("israel") || v == "Asia/Jerusalem" => {
                Ok(Zone::Israel)
            }
            Some(v) => parse_offset(v).map(Zone::Fixed).ok_or_else(|| {
                PluginError::Internal(format!("bad utc_offset `{v}` (want `israel` or `+HH:MM`)"))
            }),
        }
    }

    /// `dd/mm/yy hh:mm[:ss]`, `dd/mm/yyyy hh:mm[:ss]` or ISO 8601, local
    /// time in this zone, to ms since the epoch (UTC).
    pub fn parse(self, s: &str) -> Option<i64> {
        let (y, mo, d, h, mi, sec) = match civil(s) {
            Some(c) => c,
            None => {
                // ISO 8601: a string with its own zone reads the same at
                // any default offset; one without is local time here.
                let at_zero = parse_datetime(s, 0)?;
                if parse_datetime(s, 60) == Some(at_zero) {
                    return Some(at_zero);
                }
                return Some(at_zero - i64::from(self.offset_at(at_zero)) * 60_000);
            }
        };
        let local = unix_ms(y, mo, d, h, mi, sec, 0)?;
        Some(local - i64::from(self.offset_at(local)) * 60_000)
    }

    /// Offset in minutes for a local wall-clock time (as if it were UTC).
    fn offset_at(self, local_ms: i64) -> i32 {
        match self {
            Zone::Fixed(m) => m,
            Zone::Israel => israel_offset(local_ms),
        }
    }
}

/// Israel Standard Time +02:00, summer time +03:00 from the Friday before
/// the last Sunday of March, 02:00, to the last Sunday of October, 02:00
/// (the rule since 2013).
fn israel_offset(local_ms: i64) -> i32 {
    let secs = local_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let (y, _, _) = civil_from_days(days);
    let last_sunday = |month: u32| -> i64 {
        let end = days_from_civil(y, month, 31);
        // 1970-01-01 was a Thursday: weekday 0 = Sunday at day 3.
        let weekday = (end + 4).rem_euclid(7);
        end - weekday
    };
    let start = (last_sunday(3) - 2) * 86_400 + 2 * 3600;
    let end = last_sunday(10) * 86_400 + 2 * 3600;
    if secs >= start && secs < end {
        180
    } else {
        120
    }
}

/// `dd/mm/yy hh:mm[:ss]` or `dd/mm/yyyy hh:mm[:ss]` (also with `.` or `-`
/// between date parts).
fn civil(s: &str) -> Option<(i64, u32, u32, u32, u32, u32)> {
    let (date, time) = s.trim().split_once([' ', 'T'])?;
    let mut dp = date.split(['/', '.', '-']);
    let d: u32 = dp.next()?.parse().ok()?;
    let mo: u32 = dp.next()?.parse().ok()?;
    let y_text = dp.next()?;
    if dp.next().is_some() || !(1..=31).contains(&d) {
        return None;
    }
    let y: i64 = match y_text.len() {
        2 => 2000 + y_text.parse::<i64>().ok()?,
        4 => y_text.parse().ok()?,
        _ => return None,
    };
    let mut tp = time.trim().split(':');
    let h: u32 = tp.next()?.parse().ok()?;
    let mi: u32 = tp.next()?.parse().ok()?;
    let sec: u32 = match tp.next() {
        Some(v) => v.parse().ok()?,
        None => 0,
    };
    Some((y, mo, d, h, mi, sec))
}

#[cfg(test)]
mod tests;
