//! The config file as written: serde structs that refuse unknown keys.
//! `super::parse` reads each section into them; `super::Config::load`
//! resolves them (paths, durations, secrets, references) into the runtime
//! settings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The file's top-level keys (in this order in messages). Each is
/// deserialized on its own (`super::parse`): `server`, `store`, `runtime`
/// and `admin` into the structs below; each `[plugins.<name>]` into a
/// `PluginSection` (the plugin's settings, checked against the keys it
/// declares once loaded, plus the host's `protect`, `actions` and
/// `runtime` tables); each `[destinations.<name>]` into a `Destination`;
/// each `[[routes]]` into a `Route`.
pub const SECTIONS: &[&str] = &[
    "server",
    "store",
    "runtime",
    "admin",
    "plugins",
    "destinations",
    "routes",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub listen: Option<String>,
    pub route_prefix: Option<String>,
    pub public_url: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub header_timeout: Option<String>,
    pub body_timeout: Option<String>,
    pub max_connections: Option<usize>,
    pub quarantine_reply: Option<String>,
    pub tls: Option<Tls>,
}

/// `[server.tls]` / `[admin.tls]`: PEM files, relative to the config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub cert: Value,
    pub key: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// `host:port`, or `"off"`.
    pub listen: Option<String>,
    pub token: Option<Value>,
    pub tls: Option<Tls>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    pub kind: Option<String>,
    pub data_dir: Option<String>,
    pub retention: Option<String>,
    // kind = "jetstream" only:
    pub servers: Option<Vec<String>>,
    pub prefix: Option<String>,
    pub replicas: Option<usize>,
    pub shards: Option<u32>,
    pub lease: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    pub plugin_dir: Option<String>,
    pub cache_dir: Option<String>,
    pub timeout: Option<String>,
    pub max_memory_mb: Option<usize>,
    pub max_events: Option<usize>,
    pub max_concurrent_calls: Option<usize>,
}

#[derive(Debug, Default)]
pub struct PluginSection {
    pub protect: Option<Protect>,
    pub actions: Option<Actions>,
    pub runtime: Option<PluginRuntime>,
    pub settings: BTreeMap<String, Value>,
}

// By hand rather than `#[serde(flatten)]`, which would lose the key path
// in errors (`plugins.twilio` instead of `plugins.twilio.auth_token`).
impl<'de> Deserialize<'de> for PluginSection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = PluginSection;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table of plugin settings")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<PluginSection, A::Error> {
                let mut out = PluginSection::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "protect" => out.protect = Some(map.next_value()?),
                        "actions" => out.actions = Some(map.next_value()?),
                        "runtime" => out.runtime = Some(map.next_value()?),
                        _ => {
                            let v = map.next_value()?;
                            out.settings.insert(key, v);
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Protection for providers that do not sign their callbacks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protect {
    pub token: Option<Value>,
    pub token_param: Option<String>,
    pub basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub allow_ips: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub user: String,
    pub password: Value,
}

/// Per-plugin runtime limits (`[plugins.NAME.runtime]`), over `[runtime]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginRuntime {
    /// A plugin whose language runtime needs more than `runtime.max_memory_mb`.
    pub max_memory_mb: Option<usize>,
}

/// Which plugin-requested side effects the host performs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actions {
    pub confirm_subscriptions: Option<bool>,
}

/// A plugin setting: a literal, or `{ env = "NAME", default = "..." }` so
/// secrets stay out of the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "a string, number, boolean or { env = \"NAME\", default = \"...\" }"
)]
pub enum Value {
    String(String),
    Integer(i64),
    Bool(bool),
    Env(EnvRef),
}

#[derive(Debug, Clone)]
pub struct EnvRef {
    pub env: String,
    pub default: Option<String>,
}

// By hand: a derived struct would also accept a list (`["A", "b"]` read as
// `env = "A", default = "b"`), which must stay an error or a list.
impl<'de> Deserialize<'de> for EnvRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = BTreeMap::<String, String>::deserialize(d)?;
        let env = table
            .remove("env")
            .ok_or_else(|| D::Error::missing_field("env"))?;
        let default = table.remove("default");
        if let Some(k) = table.keys().next() {
            return Err(D::Error::unknown_field(k, &["env", "default"]));
        }
        Ok(EnvRef { env, default })
    }
}

// Parsed once at start-up: the size difference between variants is moot.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "lowercase")]
pub enum Destination {
    Http {
        url: String,
        #[serde(default)]
        allow_http: bool,
        timeout: Option<String>,
        retry_schedule: Option<Vec<String>>,
        concurrency: Option<usize>,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// Standard Webhooks secret(s), `whsec_<base64>`; several at once
        /// while rotating.
        signing_secret: Option<OneOrMany<Value>>,
        /// Requests per second, across all of this destination's workers.
        rate_limit: Option<f64>,
        /// Private/loopback addresses (IPs or CIDRs) this destination may
        /// reach; everything non-public is refused otherwise.
        #[serde(default)]
        allow_addresses: Vec<String>,
        /// PEM file of certificate authorities trusted for this https
        /// destination besides the public ones (an internal CA).
        ca_file: Option<String>,
        /// Consecutive failures that open the circuit breaker.
        breaker_threshold: Option<u32>,
        /// How long an open breaker waits before probing.
        breaker_cooldown: Option<String>,
    },
    File {
        path: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    Many(Vec<T>),
    One(T),
}

impl<T> OneOrMany<T> {
    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub name: String,
    #[serde(rename = "match", default)]
    pub filter: Filter,
    pub to: Vec<String>,
    /// What the forwarded JSON carries: `"envelope"` (default), `"data"`,
    /// or `{ template = { field = "{data.to}", ... } }`.
    pub transform: Option<Transform>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Transform {
    Named(String),
    Template {
        template: BTreeMap<String, toml::Value>,
    },
}

/// Kudosity-style filter: OR inside one key's list, AND across keys; an
/// absent or empty key matches everything.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    #[serde(default)]
    pub provider: Vec<String>,
    #[serde(default)]
    pub app_code: Vec<String>,
    #[serde(default)]
    pub kind: Vec<String>,
    #[serde(default)]
    pub state: Vec<String>,
    #[serde(default)]
    pub channel: Vec<String>,
    #[serde(default)]
    pub sender: Vec<String>,
    #[serde(default)]
    pub recipient: Vec<String>,
    #[serde(default)]
    pub message_ref: Vec<String>,
    #[serde(default)]
    pub campaign_id: Vec<String>,
    /// Kudosity's event types (`SMS_STATUS`, `OPT_OUT`, ...): kind and
    /// channel together.
    #[serde(default)]
    pub event_types: Vec<String>,
}
