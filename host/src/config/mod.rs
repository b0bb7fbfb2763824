//! Configuration: one TOML file describes the pipeline (listener, store,
//! plugins, destinations, routes); CLI flags only override where it runs.
//! Parsing is strict: an unknown key, a bad value or a reference to a
//! missing plugin or destination stops start-up with the file, the key and
//! the reason (exit code 2).

mod raw;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A config problem: which file, which key, why.
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
            threshold: 5,
            cooldown: Duration::from_secs(30),
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

impl Config {
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let err = |key: &str, reason: String| ConfigError {
            file: file.clone(),
            key: key.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err("(file)", e.to_string()))?;
        let de = toml::Deserializer::new(&text);
        let raw: raw::File = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let line = inner
                .span()
                .map(|s| format!(" (line {})", text[..s.start].matches('\n').count() + 1))
                .unwrap_or_default();
            err(
                if key == "." { "(file)" } else { &key },
                format!("{}{line}", inner.message()),
            )
        })?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let rel = |p: &str| {
            let p = PathBuf::from(p);
            if p.is_absolute() { p } else { base.join(p) }
        };

        let server_tls = tls(&err, "server.tls", raw.server.tls.as_ref(), &rel)?;
        let mut server = resolve::server(&err, raw.server, overrides.listen)?;
        server.tls = server_tls;

        let jetstream = store::resolve(&err, &raw.store)?;
        let data_dir = match &overrides.data_dir {
            Some(d) => d.clone(),
            None => rel(raw.store.data_dir.as_deref().unwrap_or("data")),
        };

        let rt = raw.runtime;
        let mut limits = Limits {
            timeout: duration(&err, "runtime.timeout", rt.timeout.as_deref(), "200ms")?,
            ..Limits::default()
        };
        if let Some(mb) = rt.max_memory_mb {
            if !(1..=4096).contains(&mb) {
                return Err(err("runtime.max_memory_mb", format!("{mb}: want 1..=4096")));
            }
            limits.max_memory_bytes = mb << 20;
        }
        if let Some(n) = rt.max_events {
            limits.max_events = n;
        }
        let max_concurrent_calls = rt.max_concurrent_calls.unwrap_or(32).clamp(1, 1024);
        // Calls run on the pipeline's executor threads (one per core, two
        // for suspect plugins), so no more instances than that are alive at
        // once, plus a few for loading (`describe`) and replay. Every slot
        // keeps up to its keep-resident size of memory after use (with 100
        // plugins, 128 slots held ~100 MB), so the pool is that small.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        limits.pool_instances = (max_concurrent_calls.min(cores + 2) + 8) as u32;
        let plugin_dir = rel(rt.plugin_dir.as_deref().unwrap_or("dist/plugins"));
        let cache_dir = match rt.cache_dir {
            Some(d) => rel(&d),
            None => data_dir.join("plugin-cache"),
        };

        let mut plugins = BTreeMap::new();
        let mut mounts = BTreeMap::new();
        for (name, section) in raw.plugins {
            let mut resolved = BTreeMap::new();
            for (key, value) in section.settings {
                let path = format!("plugins.{name}.{key}");
                resolved.insert(key, resolve_value(value).map_err(|r| err(&path, r))?);
            }
            plugins.insert(name.clone(), resolved);
            let settings = resolve::mount(
                &err,
                &name,
                section.protect,
                section.actions,
                section.runtime,
            )?;
            mounts.insert(name, settings);
        }

        // The pool's memory slots fit the largest cap any plugin has.
        limits.pool_memory_bytes = mounts
            .values()
            .filter_map(|m: &MountSettings| m.max_memory_bytes)
            .fold(limits.max_memory_bytes, usize::max);

        let mut destinations = BTreeMap::new();
        for (name, d) in raw.destinations {
            let key = format!("destinations.{name}");
            if jetstream.is_some() && !store::is_token(&name) {
                // The name is a token of the jobs' subjects.
                return Err(err(
                    &key,
                    format!(
                        "`{name}`: with store.kind = \"jetstream\", use letters, digits, `-` and `_` only"
                    ),
                ));
            }
            destinations.insert(name, destination(&err, &key, d, &rel)?);
        }

        let routes = resolve::routes(&err, raw.routes, &destinations)?;

        let admin_listen = match (overrides.admin_listen, raw.admin.listen.as_deref()) {
            (Some(a), _) => Some(a),
            (None, Some("off")) => None,
            (None, text) => {
                let text = text.unwrap_or("127.0.0.1:8081");
                Some(text.parse::<SocketAddr>().map_err(|e| {
                    err(
                        "admin.listen",
                        format!("`{text}`: {e} (want e.g. \"127.0.0.1:8081\" or \"off\")"),
                    )
                })?)
            }
        };
        let admin = match admin_listen {
            None => None,
            Some(listen) => {
                let token = raw
                    .admin
                    .token
                    .map(resolve_value)
                    .transpose()
                    .map_err(|r| err("admin.token", r))?
                    .filter(|t| !t.is_empty());
                if token.is_none() && !listen.ip().is_loopback() {
                    return Err(err(
                        "admin.token",
                        format!("required when the admin API listens on {listen} (not loopback)"),
                    ));
                }
                let tls = tls(&err, "admin.tls", raw.admin.tls.as_ref(), &rel)?;
                Some(AdminConfig { listen, token, tls })
            }
        };

        let retention = duration(
            &err,
            "store.retention",
            raw.store.retention.as_deref(),
            "7d",
        )?;
        if retention < Duration::from_secs(1) {
            return Err(err("store.retention", "want at least 1s".into()));
        }
        Ok(Config {
            retention,
            jetstream,
            admin,
            mounts,
            file: path.to_path_buf(),
            server,
            data_dir,
            plugin_dir,
            cache_dir,
            limits,
            max_concurrent_calls,
            plugins,
            destinations,
            routes,
        })
    }
}

/// A listener's `tls` table: both files resolved, read and checked now,
/// so a bad pair stops start-up (and `check`) with the file and reason.
fn tls(
    err: &impl Fn(&str, String) -> ConfigError,
    key: &str,
    raw: Option<&raw::Tls>,
    rel: &impl Fn(&str) -> PathBuf,
) -> Result<Option<crate::tls::TlsFiles>, ConfigError> {
    let Some(t) = raw else { return Ok(None) };
    let path = |which: &str, v: &raw::Value| {
        resolve_value(v.clone())
            .map(|p| rel(&p))
            .map_err(|r| err(&format!("{key}.{which}"), r))
    };
    let files = crate::tls::TlsFiles {
        cert: path("cert", &t.cert)?,
        key: path("key", &t.key)?,
    };
    crate::tls::server_config(&files)
        .map_err(|e| err(&format!("{key}.{}", e.key), e.to_string()))?;
    Ok(Some(files))
}

fn duration(
    err: &impl Fn(&str, String) -> ConfigError,
    key: &str,
    value: Option<&str>,
    default: &str,
) -> Result<Duration, ConfigError> {
    let text = value.unwrap_or(default);
    humantime::parse_duration(text)
        .map_err(|e| err(key, format!("`{text}`: {e} (want e.g. \"5s\", \"200ms\")")))
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
mod resolve;
mod settings;
mod store;
pub mod transform;
use resolve::destination;
pub(crate) use resolve::{parse_net, signing_key};
pub use settings::{Limits, MountSettings, Protect, RetrySchedule};
pub use store::JetStreamConfig;
pub use transform::Transform;

#[cfg(test)]
mod tests;
