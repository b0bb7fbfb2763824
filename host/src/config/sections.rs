//! Resolving the sections that set up the host itself: `[server]`,
//! `[runtime]`, `[admin]` and each `[plugins.<name>]`. Every key is
//! checked on its own, so a section's problems are all reported together;
//! a section with any resolves to `None`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::resolve::nets;
use super::{
    AdminConfig, Limits, MountSettings, Problems, Protect, QuarantineReply, Server, defaults,
    duration, raw, resolve_value, tls,
};

/// `[server]`; `--listen` takes precedence over its `listen`.
pub(super) fn server(
    p: &Problems,
    s: raw::Server,
    listen_override: Option<SocketAddr>,
    rel: &impl Fn(&str) -> PathBuf,
) -> Option<Server> {
    let listen = match listen_override {
        Some(a) => Some(a),
        None => p.check(
            "server.listen",
            s.listen
                .as_deref()
                .unwrap_or(defaults::SERVER_LISTEN)
                .parse::<SocketAddr>()
                .map_err(|e| format!("{e} (want e.g. \"127.0.0.1:8080\")")),
        ),
    };
    let route_prefix = s
        .route_prefix
        .unwrap_or_else(|| defaults::ROUTE_PREFIX.into());
    let prefix_ok =
        route_prefix.is_empty() || route_prefix.starts_with('/') && !route_prefix.ends_with('/');
    if !prefix_ok {
        p.report(
            "server.route_prefix",
            "must be empty or start with `/` and not end with `/`",
        );
    }
    let public_url_ok = match &s.public_url {
        None => true,
        Some(u) => {
            let ok = (u.starts_with("https://") || u.starts_with("http://")) && !u.ends_with('/');
            if !ok {
                p.report(
                    "server.public_url",
                    format!("`{u}`: want scheme://host[:port] with no trailing `/`"),
                );
            }
            ok
        }
    };
    let quarantine_reply = match s
        .quarantine_reply
        .as_deref()
        .unwrap_or(defaults::QUARANTINE_REPLY)
    {
        "accept" => Some(QuarantineReply::Accept),
        "retry" => Some(QuarantineReply::Retry),
        other => {
            p.report(
                "server.quarantine_reply",
                format!("`{other}`: want \"accept\" or \"retry\""),
            );
            None
        }
    };
    let header_timeout = duration(
        p,
        "server.header_timeout",
        s.header_timeout.as_deref(),
        defaults::HEADER_TIMEOUT,
    );
    let body_timeout = duration(
        p,
        "server.body_timeout",
        s.body_timeout.as_deref(),
        defaults::BODY_TIMEOUT,
    );
    let tls = tls(p, "server.tls", s.tls.as_ref(), rel);
    if !(prefix_ok && public_url_ok) {
        return None;
    }
    Some(Server {
        listen: listen?,
        route_prefix,
        public_url: s.public_url,
        max_body_bytes: s.max_body_bytes.unwrap_or(defaults::MAX_BODY_BYTES),
        header_timeout: header_timeout?,
        body_timeout: body_timeout?,
        max_connections: s.max_connections.unwrap_or(defaults::MAX_CONNECTIONS),
        quarantine_reply: quarantine_reply?,
        tls: tls?,
    })
}

/// `[runtime]`, resolved.
pub(super) struct Runtime {
    /// `pool_memory_bytes` is still the default: it depends on the plugins.
    pub limits: Limits,
    pub max_concurrent_calls: usize,
    pub plugin_dir: PathBuf,
    pub cache_dir: PathBuf,
}

/// `[runtime]`; the plugin cache defaults to a folder of `data_dir`.
pub(super) fn runtime(
    p: &Problems,
    rt: raw::Runtime,
    data_dir: &Path,
    rel: &impl Fn(&str) -> PathBuf,
) -> Option<Runtime> {
    let timeout = duration(
        p,
        "runtime.timeout",
        rt.timeout.as_deref(),
        defaults::PLUGIN_TIMEOUT,
    );
    let max_memory_bytes = match rt.max_memory_mb {
        None => Some(defaults::PLUGIN_MEMORY_BYTES),
        Some(mb) => p.check("runtime.max_memory_mb", memory_mb(mb)),
    };
    let max_concurrent_calls = rt
        .max_concurrent_calls
        .unwrap_or(defaults::MAX_CONCURRENT_CALLS)
        .clamp(1, 1024);
    // Calls run on the pipeline's executor threads (one per core, two
    // for suspect plugins), so no more instances than that are alive at
    // once, plus a few for loading (`describe`) and replay. Every slot
    // keeps up to its keep-resident size of memory after use (with 100
    // plugins, 128 slots held ~100 MB), so the pool is that small.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let limits = Limits {
        timeout: timeout?,
        max_memory_bytes: max_memory_bytes?,
        max_events: rt.max_events.unwrap_or(defaults::PLUGIN_MAX_EVENTS),
        pool_instances: (max_concurrent_calls.min(cores + 2) + 8) as u32,
        ..Limits::default()
    };
    Some(Runtime {
        limits,
        max_concurrent_calls,
        plugin_dir: rel(rt.plugin_dir.as_deref().unwrap_or(defaults::PLUGIN_DIR)),
        cache_dir: match rt.cache_dir {
            Some(d) => rel(&d),
            None => data_dir.join(defaults::CACHE_DIR_NAME),
        },
    })
}

/// A `max_memory_mb` in bytes, within what one pool slot may be.
fn memory_mb(mb: usize) -> Result<usize, String> {
    if (1..=4096).contains(&mb) {
        Ok(mb << 20)
    } else {
        Err(format!("{mb}: want 1..=4096"))
    }
}

/// `[admin]`: `Some(None)` when it is `"off"`; `--admin-listen` takes
/// precedence over its `listen`.
pub(super) fn admin(
    p: &Problems,
    a: raw::Admin,
    listen_override: Option<SocketAddr>,
    rel: &impl Fn(&str) -> PathBuf,
) -> Option<Option<AdminConfig>> {
    let listen = match (listen_override, a.listen.as_deref()) {
        (Some(addr), _) => Some(addr),
        (None, Some("off")) => return Some(None),
        (None, text) => {
            let text = text.unwrap_or(defaults::ADMIN_LISTEN);
            p.check(
                "admin.listen",
                text.parse::<SocketAddr>().map_err(|e| {
                    format!("`{text}`: {e} (want e.g. \"127.0.0.1:8081\" or \"off\")")
                }),
            )
        }
    };
    let token = match a.token {
        None => Some(None),
        Some(v) => p
            .check("admin.token", resolve_value(v))
            .map(|t| Some(t).filter(|t| !t.is_empty())),
    };
    let mut token_ok = true;
    if let (Some(listen), Some(None)) = (listen, &token)
        && !listen.ip().is_loopback()
    {
        p.report(
            "admin.token",
            format!("required when the admin API listens on {listen} (not loopback)"),
        );
        token_ok = false;
    }
    let tls = tls(p, "admin.tls", a.tls.as_ref(), rel);
    if !token_ok {
        return None;
    }
    Some(Some(AdminConfig {
        listen: listen?,
        token: token?,
        tls: tls?,
    }))
}

/// One `[plugins.<name>]`: its settings with secrets resolved, and the
/// host's side of the mount.
pub(super) fn plugin(
    p: &Problems,
    name: &str,
    section: raw::PluginSection,
) -> Option<(BTreeMap<String, String>, MountSettings)> {
    let mut settings = BTreeMap::new();
    let mut settings_ok = true;
    for (key, value) in section.settings {
        match p.check(&format!("plugins.{name}.{key}"), resolve_value(value)) {
            Some(v) => {
                settings.insert(key, v);
            }
            None => settings_ok = false,
        }
    }
    let key = |k: &str| format!("plugins.{name}.{k}");
    let protect = match section.protect {
        None => Some(None),
        Some(given) => protection(p, &key, given).map(Some),
    };
    let max_memory_bytes = match section.runtime.and_then(|r| r.max_memory_mb) {
        None => Some(None),
        Some(mb) => p
            .check(&key("runtime.max_memory_mb"), memory_mb(mb))
            .map(Some),
    };
    let confirm_subscriptions = section
        .actions
        .and_then(|a| a.confirm_subscriptions)
        .unwrap_or(defaults::CONFIRM_SUBSCRIPTIONS);
    if !settings_ok {
        return None;
    }
    let mount = MountSettings {
        protect: protect?,
        max_memory_bytes: max_memory_bytes?,
        confirm_subscriptions,
    };
    Some((settings, mount))
}

/// `[plugins.<name>.protect]`, for providers that do not sign.
fn protection(p: &Problems, key: &impl Fn(&str) -> String, given: raw::Protect) -> Option<Protect> {
    if given.token.is_none() && given.basic_auth.is_none() && given.allow_ips.is_empty() {
        p.report(
            &key("protect"),
            "set at least one of `token`, `basic_auth`, `allow_ips`",
        );
        return None;
    }
    let token = match given.token {
        None => Some(None),
        Some(v) => {
            let token = resolve_value(v).and_then(|t| {
                if t.len() < 16 {
                    Err("too short to be a secret: use at least 16 characters".to_owned())
                } else {
                    Ok(t)
                }
            });
            p.check(&key("protect.token"), token).map(Some)
        }
    };
    let basic_auth = match given.basic_auth {
        None => Some(None),
        Some(b) => p
            .check(
                &key("protect.basic_auth.password"),
                resolve_value(b.password),
            )
            .map(|password| Some((b.user, password))),
    };
    let allow_ips = nets(
        p,
        |i| key(&format!("protect.allow_ips[{i}]")),
        &given.allow_ips,
    );
    Some(Protect {
        token: token?,
        token_param: given
            .token_param
            .unwrap_or_else(|| defaults::TOKEN_PARAM.into()),
        basic_auth: basic_auth?,
        allow_ips: allow_ips?,
    })
}
