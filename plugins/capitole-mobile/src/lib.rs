//! CapitoleMobile (France): delivery reports and incoming SMS, both by GET
//! with the fields in the query. Capitole publishes no callback spec; it
//! echoes the sender's own campaign id (up to 10 characters) and its API is
//! ISO-8859-15, so query values that are not UTF-8 are read in that charset.
//! Unsigned. See README.md beside this file.

use switchboard_plugin_sdk::charset::Charset;
use switchboard_plugin_sdk::fields::{Picker, has_any, stable_id};
use switchboard_plugin_sdk::status::{StatusTable, is_no_error, map_status};
use switchboard_plugin_sdk::time::{civil_from_days, days_from_civil, parse_any, parse_offset};
use switchboard_plugin_sdk::types::{ConfigKey, Route};
use switchboard_plugin_sdk::*;

pub struct CapitoleMobile;
switchboard_plugin_sdk::export_plugin!(CapitoleMobile);

/// Delivery states, keyed by the normalized status (lower case, accents
/// removed, `_`/`-` as spaces: `Délivré` → `delivre`), French and English.
const STATUSES: StatusTable = &[
    ("delivre", DeliveryState::Delivered),
    ("recu", DeliveryState::Delivered),
    ("delivered", DeliveryState::Delivered),
    ("delivrd", DeliveryState::Delivered),
    ("ok", DeliveryState::Delivered),
    ("envoye", DeliveryState::Sent),
    ("sent", DeliveryState::Sent),
    ("enroute", DeliveryState::Sent),
    ("en attente", DeliveryState::Queued),
    ("attente", DeliveryState::Queued),
    ("pending", DeliveryState::Queued),
    ("buffered", DeliveryState::Queued),
    ("accepte", DeliveryState::Accepted),
    ("acceptd", DeliveryState::Accepted),
    ("non delivre", DeliveryState::Undelivered),
    ("non recu", DeliveryState::Undelivered),
    ("echec", DeliveryState::Undelivered),
    ("undelivered", DeliveryState::Undelivered),
    ("undeliv", DeliveryState::Undelivered),
    ("expire", DeliveryState::Expired),
    ("expired", DeliveryState::Expired),
    ("invalide", DeliveryState::Failed),
    ("n invalide", DeliveryState::Failed),
    ("numero invalide", DeliveryState::Failed),
    ("invalid", DeliveryState::Failed),
    ("rejete", DeliveryState::Failed),
    ("rejectd", DeliveryState::Failed),
    ("erreur", DeliveryState::Failed),
    ("failed", DeliveryState::Failed),
    ("inconnu", DeliveryState::Unknown),
    ("unknown", DeliveryState::Unknown),
];

/// The sender's own campaign id, echoed by Capitole.
const CUSTOM_ID: &[&str] = &[
    "id",
    "id_campagne",
    "campagne",
    "campaign_id",
    "ref",
    "reference",
];
/// Capitole's own id of the SMS, if it sends one.
const PROVIDER_ID: &[&str] = &["msgid", "message_id", "smsid", "sms_id", "id_sms"];
const STATUS: &[&str] = &["statut", "status", "etat", "stat", "dlr", "dlrstatus"];
const ERROR: &[&str] = &["code", "erreur", "error", "err", "code_erreur"];
const HANDSET: &[&str] = &[
    "gsm",
    "numero",
    "mobile",
    "tel",
    "telephone",
    "msisdn",
    "phone",
];
const OUR_NUMBER: &[&str] = &[
    "shortcode",
    "numero_court",
    "destinataire",
    "sender",
    "expediteur",
];
const TEXT: &[&str] = &["message", "texte", "text", "msg", "sms", "contenu"];
const TIME: &[&str] = &[
    "date",
    "date_reception",
    "date_envoi",
    "datetime",
    "timestamp",
    "time",
    "heure",
];

impl Plugin for CapitoleMobile {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "capitole-mobile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "CapitoleMobile delivery reports and incoming SMS by GET (best-effort: no published spec)"
                    .into(),
            routes: vec![
                Route::new(&[Method::Get], "/capitoleMobileCallback", "delivery report"),
                Route::new(
                    &[Method::Get],
                    "/capitoleMobileIncoming/{app_code}",
                    "incoming SMS (a STOP also gives an opt-out)",
                ),
            ],
            config_keys: vec![
                ConfigKey::setting("utc_offset")
                    .describe("Time zone of Capitole's zone-less dates: Europe/Paris (default, with summer time) or a fixed offset such as +01:00"),
            ],
            accept_reply: reply_text(200, "OK"),
        }
    }

    fn handle(req: &Request, config: &Config) -> Result<Outcome, PluginError> {
        let zone = Zone::from_config(config)?;
        let p = Params::parse_utf8_or(req.raw().query.as_bytes(), Charset::Latin9);
        if p.0.is_empty() {
            return Err(bad_request("empty callback: no query fields"));
        }
        let events = if req.route() == "/capitoleMobileIncoming/{app_code}"
            && (has_any(&p, TEXT) || !has_any(&p, STATUS))
        {
            incoming(&p, zone)?
        } else {
            vec![delivery(&p, zone)?]
        };
        Ok(Outcome::events(events).with_reply(reply_text(200, "OK")))
    }
}

fn delivery(p: &Params, zone: Zone) -> Result<Event, PluginError> {
    let mut pk = Picker::new(p);
    let custom_id = pk.pick(CUSTOM_ID);
    let provider_id = pk.pick(PROVIDER_ID);
    let message_id = provider_id
        .clone()
        .or_else(|| custom_id.clone())
        .ok_or_else(|| bad_request("delivery report without an id (`id`, `msgid`, ...)"))?;
    let status = pk
        .pick(STATUS)
        .ok_or_else(|| bad_request("delivery report without a status (`statut`, `status`, ...)"))?;
    let to = pk.pick(HANDSET);
    let mut ds = DeliveryStatus::new(
        &message_id,
        map_status(STATUSES, &normalize(&status)),
        &status,
    );
    ds.error_code = pk.pick(ERROR).filter(|e| !is_no_error(e));
    ds.from = pk.pick(OUR_NUMBER);
    ds.to = to.clone();
    // The echoed id names a campaign (one id, many numbers).
    ds.message_ref = custom_id.clone();
    ds.campaign_id = custom_id;
    ds.occurred_at = time(&mut pk, zone);
    // Without Capitole's own id, the id is per campaign: the number tells
    // the messages of one campaign apart.
    let id = match (&provider_id, &to) {
        (None, Some(to)) => format!("{message_id}:{to}:{status}"),
        _ => format!("{message_id}:{status}"),
    };
    Ok(Event::new(id, EventKind::DeliveryStatus(ds)).with_extra(pk.extra()))
}

fn incoming(p: &Params, zone: Zone) -> Result<Vec<Event>, PluginError> {
    let mut pk = Picker::new(p);
    let from = pk
        .pick(HANDSET)
        .or_else(|| pk.pick(&["from", "emetteur"]))
        .ok_or_else(|| bad_request("incoming SMS without a sender (`gsm`, `numero`, ...)"))?;
    let to = pk
        .pick(OUR_NUMBER)
        .or_else(|| pk.pick(&["to"]))
        .unwrap_or_default();
    let text = pk.pick_raw(TEXT).unwrap_or_default();
    let provider_id = pk.pick(PROVIDER_ID).or_else(|| pk.pick(&["id"]));
    let raw_time = TIME
        .iter()
        .find_map(|n| p.get_ci(n))
        .unwrap_or_default()
        .to_owned();
    let id = provider_id.unwrap_or_else(|| stable_id(&[&from, &to, &raw_time, &text]));
    let occurred_at = time(&mut pk, zone);
    let mut msg = InboundMessage::new(&id, &from, &to, &text);
    msg.occurred_at = occurred_at;
    let extra = pk.extra();
    let mut events = Vec::new();
    if is_stop(&text) {
        // French marketing SMS carry "STOP au 36xxx": the reply is an opt-out.
        let opt_out = OptOut {
            from: from.clone(),
            to: (!to.is_empty()).then(|| to.clone()),
            channel: Channel::Sms,
            occurred_at,
            message_ref: None,
            campaign_id: None,
        };
        events.push(
            Event::new(format!("{id}:opt-out"), EventKind::OptOut(opt_out))
                .with_extra(extra.clone()),
        );
    }
    events.insert(
        0,
        Event::new(id, EventKind::InboundMessage(msg)).with_extra(extra),
    );
    Ok(events)
}

/// `STOP`, `Stop SMS`, `stop.`: an unsubscribe request.
pub fn is_stop(text: &str) -> bool {
    let t = text.trim().trim_end_matches(['.', '!']);
    let first = t.split_whitespace().next().unwrap_or("");
    first.eq_ignore_ascii_case("stop") && t.split_whitespace().count() <= 2
}

/// Status as looked up in [`STATUSES`]: lower case, French accents and
/// `°` removed, `_`, `-` and `.` as spaces, spaces collapsed.
pub fn normalize(status: &str) -> String {
    let mapped: String = status
        .chars()
        .filter(|c| *c != '°')
        .map(|c| match c {
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'e',
            'à' | 'â' | 'À' | 'Â' => 'a',
            'ç' | 'Ç' => 'c',
            'ù' | 'û' | 'Ù' | 'Û' => 'u',
            'î' | 'ï' | 'Î' | 'Ï' => 'i',
            'ô' | 'Ô' => 'o',
            '_' | '-' | '.' => ' ',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    mapped.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The zone of zone-less dates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    /// Central European Time with EU summer time (last Sunday of March to
    /// last Sunday of October, switching at 01:00 UTC).
    Paris,
    Fixed(i32),
}

impl Zone {
    fn from_config(config: &Config) -> Result<Self, PluginError> {
        match config.get("utc_offset").map(str::trim) {
            None => Ok(Zone::Paris),
            Some(v) if v.eq_ignore_ascii_case("europe/paris") => Ok(Zone::Paris),
            Some(v) => parse_offset(v).map(Zone::Fixed).ok_or_else(|| {
                PluginError::Internal(format!(
                    "config `utc_offset` = `{v}` is neither Europe/Paris nor an offset like +01:00"
                ))
            }),
        }
    }

    /// Milliseconds since the epoch for a local date in this zone; dates
    /// that carry their own zone (or are unix times) are kept as they are.
    pub fn parse(self, s: &str) -> Option<i64> {
        let as_utc = parse_any(s, 0)?;
        if parse_any(s, 60) == Some(as_utc) {
            return Some(as_utc);
        }
        let offset_ms = match self {
            Zone::Fixed(m) => i64::from(m) * 60_000,
            Zone::Paris => {
                let summer = as_utc - 7_200_000;
                if in_eu_summer_time(summer) {
                    7_200_000
                } else {
                    3_600_000
                }
            }
        };
        Some(as_utc - offset_ms)
    }
}

/// True if the UTC instant falls in EU summer time.
fn in_eu_summer_time(utc_ms: i64) -> bool {
    let days = utc_ms.div_euclid(86_400_000);
    let (year, _, _) = civil_from_days(days);
    let last_sunday = |month: u32| {
        let d = days_from_civil(year, month, 31);
        // 1970-01-01 was a Thursday; (d + 4) mod 7 is 0 on Sundays.
        d - (d + 4).rem_euclid(7)
    };
    let start = last_sunday(3) * 86_400_000 + 3_600_000;
    let end = last_sunday(10) * 86_400_000 + 3_600_000;
    (start..end).contains(&utc_ms)
}

fn time(pk: &mut Picker, zone: Zone) -> Option<i64> {
    let raw = pk.pick(TIME)?;
    let t = zone.parse(&raw);
    if t.is_none() {
        pk.unpick();
    }
    t
}

#[cfg(test)]
mod tests;
