//! Webhooks: subscriptions created, changed and removed at runtime through
//! the admin API, with seed 001's semantics (Kudosity's "Create Webhook").
//! A webhook is a config route and an HTTP destination in one record: it
//! becomes exactly those (`compile`), so its events take the same path as
//! a config destination's (outbox, retries, rate limit, breaker, dead
//! letters, signatures, metrics), under the webhook's id as the
//! destination's name.
//!
//! Records live in the store (sled, or a JetStream bucket every router
//! watches); [`registry::Registry`] applies them to the running rules and
//! dispatcher. A deleted webhook stays as a tombstone, so jobs created for
//! it before the delete (here or on another router) are dead-lettered as
//! cancelled instead of waiting forever.

mod input;
pub mod registry;
mod sample;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

use crate::config::RetrySchedule;
use crate::config::Transform;
use crate::config::{BreakerSettings, Destination, Filter, HttpDestination, RawTransform, Route};
pub use input::{Problem, create, patch};
pub use registry::{Error, Loaded, Registry};
pub use sample::sample_event;

/// A webhook as stored (JSON), and as the API shows it minus the secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    /// `wh_` + 24 hex digits; also its destination's name.
    pub id: String,
    pub name: String,
    pub url: String,
    /// Kudosity names (`SMS_STATUS`, ...).
    pub event_types: Vec<String>,
    pub filter: WebhookFilter,
    /// Requests per second; 0 = no limit beyond `concurrency` (16).
    pub rate_limit: u32,
    /// As a config route's `transform` (`"envelope"`, `"data"` or
    /// `{"template": {...}}`); `None` = the envelope.
    pub transform: Option<serde_json::Value>,
    pub headers: BTreeMap<String, String>,
    /// Per request, connect included (`"10s"`).
    pub timeout: Option<String>,
    pub retry_schedule: Option<Vec<String>>,
    pub allow_http: bool,
    pub allow_addresses: Vec<String>,
    /// `false`: paused, its events wait.
    pub enabled: bool,
    /// Newest first. An old one signs beside the new until it expires.
    pub secrets: Vec<Secret>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Set when deleted: the record stays as a tombstone.
    pub deleted_at: Option<i64>,
}

/// Seed 001's filter keys and Switchboard's own: OR within a key, AND
/// across keys, an empty key matches everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sender: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub message_ref: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub campaign_id: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provider: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_code: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channel: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipient: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Secret {
    /// `whsec_` + base64 of 32 random bytes (Standard Webhooks).
    pub key: String,
    pub created_at: i64,
    /// When a rotated-out secret stops signing.
    pub expires_at: Option<i64>,
}

impl Secret {
    pub fn generate(now: i64) -> Secret {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        Secret {
            key: format!(
                "whsec_{}",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            ),
            created_at: now,
            expires_at: None,
        }
    }

    fn active(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }
}

/// A fresh webhook id.
pub fn new_id() -> String {
    let mut bytes = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("wh_{}", hex::encode(bytes))
}

/// Seed 001's status names, and ours (`docs/event.schema.json`), onto our
/// states: Kudosity's soft bounce is a carrier's "not delivered (may be
/// temporary)", its hard bounce a failure.
pub const STATUS_ALIASES: [(&str, &str); 2] =
    [("soft_bounce", "undelivered"), ("hard_bounce", "failed")];

impl Webhook {
    /// The routes and destination this webhook runs as, at `now` (secrets
    /// that expired by then no longer sign). The record was validated when
    /// written; an error here means it was written by a newer version.
    pub fn compile(&self, now: i64) -> Result<(Vec<Route>, Destination), String> {
        let transform = Arc::new(match &self.transform {
            None => Transform::Envelope,
            Some(v) => serde_json::from_value::<RawTransform>(v.clone())
                .map_err(|e| format!("transform: {e}"))
                .and_then(|raw| Transform::compile(&raw))?,
        });
        let routes = self
            .filters()
            .into_iter()
            .map(|filter| Route {
                name: self.id.clone(),
                filter,
                to: vec![self.id.clone()],
                transform: transform.clone(),
            })
            .collect();
        let parse = |s: &str| humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e}"));
        let schedule = match &self.retry_schedule {
            None => RetrySchedule::default(),
            Some(steps) => {
                RetrySchedule::new(steps.iter().map(|s| parse(s)).collect::<Result<_, _>>()?)
            }
        };
        let signing_keys = self
            .secrets
            .iter()
            .filter(|s| s.active(now))
            .map(|s| crate::config::signing_key(&s.key))
            .collect::<Result<_, _>>()?;
        let allow_addresses = self
            .allow_addresses
            .iter()
            .map(|a| crate::config::parse_net(a))
            .collect::<Result<_, _>>()?;
        let destination = Destination::Http(HttpDestination {
            url: self.url.clone(),
            timeout: match &self.timeout {
                None => crate::config::defaults::DESTINATION_TIMEOUT,
                Some(t) => parse(t)?,
            },
            schedule,
            concurrency: crate::config::defaults::DESTINATION_CONCURRENCY,
            headers: self
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            signing_keys,
            rate_limit: (self.rate_limit > 0).then_some(f64::from(self.rate_limit)),
            allow_addresses,
            ca_certs: Vec::new(),
            breaker: BreakerSettings::default(),
            paused: !self.enabled,
        });
        Ok((routes, destination))
    }

    /// Seed 001 applies each filter key only to the event types that have
    /// it: `status` to status events; `campaign_id` to status and inbound
    /// events (the last message's, for inbound); `sender` and
    /// `message_ref` to all (for inbound, `sender` is the number that
    /// received it, which `Event::sender` already is). So the types are
    /// grouped by the keys that apply, one route filter per group; the
    /// groups' types never overlap, so an event matches one at most.
    fn filters(&self) -> Vec<Filter> {
        let f = &self.filter;
        let state: Vec<String> = f
            .status
            .iter()
            .map(|s| {
                STATUS_ALIASES
                    .iter()
                    .find(|(k, _)| k == s)
                    .map_or(s.clone(), |(_, v)| (*v).to_owned())
            })
            .collect();
        let mut groups: Vec<(Vec<String>, bool, bool)> = Vec::new();
        for name in &self.event_types {
            let Some(t) = crate::event::EventType::parse(name) else {
                continue;
            };
            let (kind, _) = t.shape();
            let keys = match kind {
                "delivery-status" => (true, true),
                "inbound-message" => (false, true),
                _ => (false, false),
            };
            match groups.iter_mut().find(|g| (g.1, g.2) == keys) {
                Some(g) => g.0.push(name.clone()),
                None => groups.push((vec![name.clone()], keys.0, keys.1)),
            }
        }
        groups
            .into_iter()
            .map(|(event_types, with_status, with_campaign)| Filter {
                provider: f.provider.clone(),
                app_code: f.app_code.clone(),
                kind: Vec::new(),
                state: if with_status {
                    state.clone()
                } else {
                    Vec::new()
                },
                channel: f.channel.clone(),
                sender: f.sender.clone(),
                recipient: f.recipient.clone(),
                message_ref: f.message_ref.clone(),
                campaign_id: if with_campaign {
                    f.campaign_id.clone()
                } else {
                    Vec::new()
                },
                event_types,
            })
            .collect()
    }

    /// When the next rotated-out secret stops signing, if any does.
    pub fn next_expiry(&self, now: i64) -> Option<i64> {
        self.secrets
            .iter()
            .filter_map(|s| s.expires_at)
            .filter(|t| *t > now)
            .min()
    }

    /// What the API shows: everything but the secrets' keys (shown once,
    /// when made).
    pub fn view(&self) -> serde_json::Value {
        let secrets: Vec<serde_json::Value> = self
            .secrets
            .iter()
            .map(|s| {
                serde_json::json!({
                    "prefix": format!("{}…", &s.key[..s.key.len().min(10)]),
                    "created_at": s.created_at,
                    "expires_at": s.expires_at,
                })
            })
            .collect();
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("secrets".into(), secrets.into());
            o.remove("deleted_at");
        }
        v
    }
}

/// Reads the stored records (a record that does not parse is logged and
/// skipped: one bad record must not stop the others).
pub fn decode_all(records: Vec<Vec<u8>>) -> Vec<Webhook> {
    records
        .into_iter()
        .filter_map(|r| match serde_json::from_slice::<Webhook>(&r) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::error!("webhook record skipped: {e}");
                None
            }
        })
        .collect()
}
