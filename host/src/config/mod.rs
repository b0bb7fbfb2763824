//! Configuration: one TOML file describes the pipeline (listener, store,
//! plugins, destinations, routes); CLI flags only override where it runs.
//! Parsing is strict: unknown keys, bad values and references to missing
//! plugins or destinations stop start-up with the file, the key, its line
//! and the reason of each (exit code 2), every problem at once.
//!
//! In flow order: `parse` (text to the `raw` sections), then `load`
//! resolves them with `resolve`, `sections` and `store`, reporting into
//! one `problems::Problems`. Every default lives in `defaults`.

mod raw;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// One config problem: which file, which key, why (the reason ends in
/// ` (line N)` when the file has the key).
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {reason}")]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub reason: String,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub server: Server,
    pub data_dir: PathBuf,
    pub plugin_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub limits: Limits,
    pub max_concurrent_calls: usize,
    /// `[plugins.<name>]` settings, secrets resolved.
    pub plugins: BTreeMap<String, BTreeMap<String, String>>,
    pub destinations: BTreeMap<String, Destination>,
    pub routes: Vec<Route>,
    /// Captures and delivered-job records older than this are deleted.
    pub retention: Duration,
    /// `Some` when the store is NATS JetStream instead of sled.
    pub jetstream: Option<JetStreamConfig>,
    /// The admin listener, unless `admin.listen = "off"`.
    pub admin: Option<AdminConfig>,
    /// Host-side settings per plugin (protection, actions).
    pub mounts: BTreeMap<String, MountSettings>,
}

#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    pub token: Option<String>,
    pub tls: Option<crate::tls::TlsFiles>,
}

#[derive(Debug, Clone)]
pub struct Server {
    pub listen: SocketAddr,
    pub route_prefix: String,
    /// Scheme and authority the providers call (for signatures behind a
    /// proxy); `None` = `http://` + the request's `Host`.
    pub public_url: Option<String>,
    pub max_body_bytes: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
    pub quarantine_reply: QuarantineReply,
    /// HTTPS instead of HTTP (`[server.tls]`).
    pub tls: Option<crate::tls::TlsFiles>,
}

/// What a provider hears when its callback is kept but the plugin failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuarantineReply {
    /// The plugin's `accept-reply` (2xx): the capture is safe, replay later.
    Accept,
    /// `503`, so the provider retries on its own schedule.
    Retry,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Destination {
    Http(HttpDestination),
    File { path: PathBuf },
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpDestination {
    pub url: String,
    /// Per request, connect included.
    pub timeout: Duration,
    pub schedule: RetrySchedule,
    /// Attempts in flight at once.
    pub concurrency: usize,
    /// Static headers sent with every delivery.
    pub headers: Vec<(String, String)>,
    /// Standard Webhooks keys (decoded `whsec_` secrets), newest first.
    pub signing_keys: Vec<Vec<u8>>,
    /// Requests per second, if limited.
    pub rate_limit: Option<f64>,
    /// Non-public networks this destination may reach.
    pub allow_addresses: Vec<ipnet::IpNet>,
    /// CAs trusted besides the public ones (`ca_file`).
    pub ca_certs: Vec<rustls::pki_types::CertificateDer<'static>>,
    pub breaker: BreakerSettings,
    /// Deliveries wait (a paused webhook; config destinations never are).
    pub paused: bool,
}

/// When a failing destination is paused, and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerSettings {
    /// Consecutive failed attempts that open it.
    pub threshold: u32,
    /// Wait before the first probe (doubles per failed probe, up to 16x).
    pub cooldown: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            threshold: defaults::BREAKER_THRESHOLD,
            cooldown: defaults::BREAKER_COOLDOWN,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    pub filter: raw::Filter,
    pub to: Vec<String>,
    pub transform: std::sync::Arc<Transform>,
}

pub use raw::{Filter, Transform as RawTransform};

/// Where the runtime overrides the file (`--listen`, `--data-dir`).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub admin_listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
}

/// A listener's `tls` table: both files resolved, read and checked now,
/// so a bad pair stops start-up (and `check`) with the file and reason.
/// `Some(None)` when there is no such table; `None` when it has a problem
/// (reported).
fn tls(
    p: &Problems,
    key: &str,
    raw: Option<&raw::Tls>,
    rel: &impl Fn(&str) -> PathBuf,
) -> Option<Option<crate::tls::TlsFiles>> {
    let Some(t) = raw else { return Some(None) };
    let path = |which: &str, v: &raw::Value| {
        p.check(
            &format!("{key}.{which}"),
            resolve_value(v.clone()).map(|s| rel(&s)),
        )
    };
    let (cert, private_key) = (path("cert", &t.cert), path("key", &t.key));
    let files = crate::tls::TlsFiles {
        cert: cert?,
        key: private_key?,
    };
    if let Err(e) = crate::tls::server_config(&files) {
        p.report(&format!("{key}.{}", e.key), e.to_string());
        return None;
    }
    Some(Some(files))
}

/// `value` as a duration, or `default` when the file leaves it out.
fn duration(p: &Problems, key: &str, value: Option<&str>, default: Duration) -> Option<Duration> {
    let Some(text) = value else {
        return Some(default);
    };
    p.check(
        key,
        humantime::parse_duration(text)
            .map_err(|e| format!("`{text}`: {e} (want e.g. \"5s\", \"200ms\")")),
    )
}

pub(super) fn resolve_value(v: raw::Value) -> Result<String, String> {
    Ok(match v {
        raw::Value::String(s) => s,
        raw::Value::Integer(i) => i.to_string(),
        raw::Value::Bool(b) => b.to_string(),
        raw::Value::Env(r) => match (std::env::var(&r.env), r.default) {
            (Ok(v), _) => v,
            (Err(_), Some(d)) => d,
            (Err(_), None) => return Err(format!("environment variable `{}` is not set", r.env)),
        },
    })
}

pub mod defaults;
mod load;
mod parse;
mod problems;
mod resolve;
mod sections;
mod settings;
mod store;
pub mod transform;
pub use problems::ConfigErrors;
use problems::Problems;
pub(crate) use resolve::{parse_net, signing_key};
pub use settings::{Limits, MountSettings, Protect, RetrySchedule};
pub use store::JetStreamConfig;
pub use transform::Transform;

#[cfg(test)]
mod tests;
