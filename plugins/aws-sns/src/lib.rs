//! Amazon SNS: HTTP(S) subscription deliveries carrying SMS delivery status
//! records (AWS End User Messaging SMS events and the classic SNS SMS
//! delivery status) and two-way SMS, with the RSA signature check and the
//! subscription confirmation handshake. See README.md beside this file.

use serde_json::{Map, Value};
use switchboard_plugin_sdk::build::reply;
use switchboard_plugin_sdk::fields::flatten;
use switchboard_plugin_sdk::sign::sha256_hex;
use switchboard_plugin_sdk::status::{StatusTable, map_status};
use switchboard_plugin_sdk::time::parse_datetime;
use switchboard_plugin_sdk::types::{Action, ConfigKey, Route, SubscriptionConfirmation};
use switchboard_plugin_sdk::*;

mod signature;
use signature::verify;
pub use signature::{certificate_spki, check_sns_url, rsa_keys_from_pem, string_to_sign};

pub struct AwsSns;
switchboard_plugin_sdk::export_plugin!(AwsSns);

/// Delivery statuses, by the word after the channel prefix of an End User
/// Messaging `eventType` (`TEXT_DELIVERED` → `DELIVERED`; the same words are
/// its `messageStatus`), plus the classic SNS SMS `status`.
const STATUSES: StatusTable = &[
    // Classic SNS SMS delivery status (SNS's only success state, final).
    ("SUCCESS", DeliveryState::Delivered),
    ("FAILURE", DeliveryState::Failed),
    // AWS End User Messaging SMS / MMS / RCS.
    ("QUEUED", DeliveryState::Queued),
    ("PENDING", DeliveryState::Queued),
    ("SUCCESSFUL", DeliveryState::Sent),
    ("DELIVERED", DeliveryState::Delivered),
    ("READ", DeliveryState::Read),
    ("INVALID", DeliveryState::Failed),
    ("INVALID_MESSAGE", DeliveryState::Failed),
    ("PROTECT_BLOCKED", DeliveryState::Failed),
    ("OPTED_OUT", DeliveryState::Failed),
    ("FILE_INACCESSIBLE", DeliveryState::Failed),
    ("FILE_TYPE_UNSUPPORTED", DeliveryState::Failed),
    ("FILE_SIZE_EXCEEDED", DeliveryState::Failed),
    ("UNREACHABLE", DeliveryState::Undelivered),
    ("CARRIER_UNREACHABLE", DeliveryState::Undelivered),
    ("BLOCKED", DeliveryState::Undelivered),
    ("CARRIER_BLOCKED", DeliveryState::Undelivered),
    ("SPAM", DeliveryState::Undelivered),
    ("UNKNOWN", DeliveryState::Undelivered),
    ("TTL_EXPIRED", DeliveryState::Expired),
    // Voice messages sent through the same configuration set.
    ("INITIATED", DeliveryState::Accepted),
    ("RINGING", DeliveryState::Sent),
    ("ANSWERED", DeliveryState::Sent),
    ("COMPLETED", DeliveryState::Delivered),
    ("BUSY", DeliveryState::Undelivered),
    ("NO_ANSWER", DeliveryState::Undelivered),
    ("FAILED", DeliveryState::Failed),
];

/// `eventType` prefixes and the channel they name.
const CHANNEL_PREFIXES: &[(&str, Channel)] = &[
    ("TEXT_", Channel::Sms),
    ("MEDIA_", Channel::Mms),
    ("RCS_", Channel::Rcs),
    ("VOICE_", Channel::Other),
];

/// Two-way SMS keywords that opt the handset out (AWS's defaults).
const OPT_OUT_KEYWORDS: &[&str] = &[
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "OPTOUT",
    "OPT-OUT",
    "REVOKE",
    "ARRET",
];

/// Fields of the End User Messaging / classic records mapped onto the event.
const DELIVERY_MAPPED: &[&str] = &[
    "messageId",
    "eventType",
    "messageStatus",
    "originationPhoneNumber",
    "destinationPhoneNumber",
    "eventTimestamp",
    "status",
    "notification.messageId",
    "notification.timestamp",
    "delivery.destination",
];
const INBOUND_MAPPED: &[&str] = &[
    "originationNumber",
    "destinationNumber",
    "messageBody",
    "inboundMessageId",
    "previousPublishedMessageId",
];

/// SNS's retry policies last at most an hour: a signed message older than
/// that is a replay, not a retry.
const DEFAULT_TOLERANCE_SECS: i64 = 3600;

impl Plugin for AwsSns {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "aws-sns".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Amazon SNS topic subscription: SMS delivery status (AWS End User Messaging SMS events, SNS SMS delivery status) and two-way SMS".into(),
            routes: vec![Route::new(
                &[Method::Post],
                "/awsSmsCallback",
                "SNS HTTP(S) subscription: notifications and (un)subscribe confirmations",
            )],
            config_keys: vec![
                ConfigKey::setting("allowed_topics")
                    .required()
                    .describe("Comma-separated TopicArns accepted; messages and confirmations of any other topic are refused"),
                ConfigKey::setting("certificate_pem")
                    .describe("PEM certificate(s) used instead of fetching SigningCertURL (air-gapped hosts, tests)"),
                ConfigKey::setting("timestamp_tolerance_secs")
                    .describe("Refuse messages whose signed Timestamp is further than this from arrival (default 3600; 0 disables)"),
            ],
            accept_reply: reply(200),
        }
    }

    fn handle(req: &Request, config: &Config) -> Result<Outcome, PluginError> {
        let json = req.json()?;
        let msg = json
            .as_object()
            .ok_or_else(|| bad_request("body is not a JSON object"))?;
        let kind = field(msg, "Type").ok_or_else(|| bad_request("missing field `Type`"))?;
        if let Some(header) = req.header("x-amz-sns-message-type")
            && header.trim() != kind
        {
            return Err(bad_request(format!(
                "x-amz-sns-message-type `{header}` does not match Type `{kind}`"
            )));
        }
        if !matches!(
            kind,
            "Notification" | "SubscriptionConfirmation" | "UnsubscribeConfirmation"
        ) {
            return Err(bad_request(format!("unknown SNS message Type `{kind}`")));
        }
        let topic = require(msg, "TopicArn")?;
        check_topic(topic, config)?;
        verify(req, config, msg, kind)?;
        match kind {
            "SubscriptionConfirmation" => {
                let url = require(msg, "SubscribeURL")?;
                check_sns_url(url, false)
                    .map_err(|e| unauthorized(format!("SubscribeURL refused: {e}")))?;
                Ok(Outcome {
                    events: Vec::new(),
                    reply: None,
                    actions: vec![Action::ConfirmSubscription(SubscriptionConfirmation {
                        topic: topic.to_owned(),
                        url: url.to_owned(),
                    })],
                })
            }
            // Verified and acknowledged; nothing to report.
            "UnsubscribeConfirmation" => Ok(Outcome::events(Vec::new())),
            _ => notification(msg).map(Outcome::events),
        }
    }
}

fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    obj.get(name).and_then(Value::as_str)
}

fn require<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, PluginError> {
    field(obj, name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad_request(format!("missing field `{name}`")))
}

fn check_topic(topic: &str, config: &Config) -> Result<(), PluginError> {
    let allowed = config.require("allowed_topics")?;
    if allowed
        .split(',')
        .map(str::trim)
        .any(|t| !t.is_empty() && t == topic)
    {
        Ok(())
    } else {
        Err(unauthorized(format!(
            "topic `{topic}` is not in allowed_topics"
        )))
    }
}

/// A Notification's `Message`: a delivery status record or a two-way SMS.
fn notification(envelope: &Map<String, Value>) -> Result<Vec<Event>, PluginError> {
    let message = require(envelope, "Message")?;
    let record: Value = serde_json::from_str(message)
        .map_err(|_| bad_request("`Message` is not JSON: not an SMS delivery status record"))?;
    let rec = record
        .as_object()
        .ok_or_else(|| bad_request("`Message` is not a JSON object"))?;
    let sns_time = field(envelope, "Timestamp").and_then(|t| parse_datetime(t, 0));
    let mut envelope_extra = Vec::new();
    for (k, v) in envelope {
        if k != "Message" {
            flatten(&format!("sns.{k}"), v, &[], &mut envelope_extra);
        }
    }
    if rec.contains_key("inboundMessageId") || rec.contains_key("messageBody") {
        return inbound(rec, sns_time, envelope_extra);
    }
    let message_id = field(rec, "messageId")
        .or_else(|| pointer_str(&record, "/notification/messageId"))
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            bad_request(
                "`Message` has no message id: neither an SMS delivery record nor a two-way SMS",
            )
        })?;
    let (status, word, channel) = if let Some(event_type) = field(rec, "eventType") {
        let (word, channel) = CHANNEL_PREFIXES
            .iter()
            .find_map(|(p, c)| event_type.strip_prefix(p).map(|w| (w, *c)))
            .unwrap_or((event_type, Channel::Sms));
        (event_type, word, channel)
    } else {
        let s = field(rec, "status")
            .or_else(|| field(rec, "messageStatus"))
            .unwrap_or("");
        (s, s, Channel::Sms)
    };
    let mut ds = DeliveryStatus::new(message_id, map_status(STATUSES, word), status);
    ds.channel = channel;
    ds.to = field(rec, "destinationPhoneNumber")
        .or_else(|| pointer_str(&record, "/delivery/destination"))
        .map(str::to_owned);
    ds.from = field(rec, "originationPhoneNumber").map(str::to_owned);
    ds.occurred_at = rec
        .get("eventTimestamp")
        .and_then(Value::as_i64)
        .or_else(|| {
            pointer_str(&record, "/notification/timestamp").and_then(|t| parse_datetime(t, 0))
        })
        .or(sns_time);
    if matches!(
        ds.state,
        DeliveryState::Failed | DeliveryState::Undelivered | DeliveryState::Expired
    ) {
        ds.error_code = field(rec, "messageStatus")
            .or_else(|| pointer_str(&record, "/delivery/providerResponse"))
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
    }
    let mut extra = Vec::new();
    flatten("", &record, DELIVERY_MAPPED, &mut extra);
    extra.extend(envelope_extra);
    let id = format!("{message_id}:{status}");
    Ok(vec![
        Event::new(id, EventKind::DeliveryStatus(ds)).with_extra(extra),
    ])
}

/// AWS End User Messaging two-way SMS; a STOP-like keyword also yields an
/// opt-out.
fn inbound(
    rec: &Map<String, Value>,
    sns_time: Option<i64>,
    envelope_extra: Vec<(String, String)>,
) -> Result<Vec<Event>, PluginError> {
    let from = require(rec, "originationNumber")?;
    let to = field(rec, "destinationNumber").unwrap_or("");
    let text = field(rec, "messageBody").unwrap_or("");
    let id = match field(rec, "inboundMessageId").filter(|i| !i.is_empty()) {
        Some(id) => id.to_owned(),
        // No id: what identifies the message, so a resend is a duplicate.
        None => sha256_hex(format!("{from}\n{to}\n{}\n{text}", sns_time.unwrap_or(0)).as_bytes())
            .chars()
            .take(24)
            .collect(),
    };
    let message_ref = field(rec, "previousPublishedMessageId")
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    let mut msg = InboundMessage::new(&id, from, to, text);
    msg.occurred_at = sns_time;
    msg.message_ref = message_ref.clone();
    let mut extra = Vec::new();
    flatten("", &Value::Object(rec.clone()), INBOUND_MAPPED, &mut extra);
    extra.extend(envelope_extra);
    let mut events =
        vec![Event::new(&id, EventKind::InboundMessage(msg)).with_extra(extra.clone())];
    let keyword = field(rec, "messageKeyword").unwrap_or("").trim();
    if OPT_OUT_KEYWORDS
        .iter()
        .any(|k| k.eq_ignore_ascii_case(keyword))
    {
        let opt_out = OptOut {
            from: from.to_owned(),
            to: (!to.is_empty()).then(|| to.to_owned()),
            channel: Channel::Sms,
            occurred_at: sns_time,
            message_ref,
            campaign_id: None,
        };
        events.push(
            Event::new(format!("{id}:opt-out"), EventKind::OptOut(opt_out)).with_extra(extra),
        );
    }
    Ok(events)
}

fn pointer_str<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

#[cfg(test)]
mod tests;
