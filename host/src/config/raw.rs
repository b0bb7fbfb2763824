//! The config file as written: serde structs that refuse unknown keys.
//! `super::Config::load` resolves them (paths, durations, secrets,
//! references) into the runtime settings.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub server: Server,
    #[serde(default)]
    pub store: Store,
    #[serde(default)]
    pub runtime: Runtime,
    /// `[plugins.<name>]`: each plugin's settings, checked against the keys
    /// the plugin declares once it is loaded.
    #[serde(default)]
    pub plugins: BTreeMap<String, BTreeMap<String, Value>>,
    #[serde(default)]
    pub destinations: BTreeMap<String, Destination>,
    #[serde(default)]
    pub routes: Vec<Route>,
}

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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    pub kind: Option<String>,
    pub data_dir: Option<String>,
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

/// A plugin setting: a literal, or `{ env = "NAME", default = "..." }` so
/// secrets stay out of the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Value {
    String(String),
    Integer(i64),
    Bool(bool),
    Env(EnvRef),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvRef {
    pub env: String,
    pub default: Option<String>,
}

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
    },
    File {
        path: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub name: String,
    #[serde(rename = "match", default)]
    pub filter: Filter,
    pub to: Vec<String>,
}

/// Kudosity-style filter: OR inside one key's list, AND across keys; an
/// absent or empty key matches everything.
#[derive(Debug, Clone, Default, Deserialize)]
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
}
