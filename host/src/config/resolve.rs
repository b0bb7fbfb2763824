//! Resolving the parts of the file that need more than a type check: the
//! server section, destinations (URLs, schedules) and routes (known
//! destinations, filter values, transforms).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use base64::Engine as _;

use super::{
    BreakerSettings, ConfigError, Destination, HttpDestination, MountSettings, Protect,
    QuarantineReply, RetrySchedule, Route, Server, Transform, duration, raw,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::event::{Channel, EventType, KINDS, State};

pub(super) fn destination(
    err: &impl Fn(&str, String) -> ConfigError,
    key: &str,
    d: raw::Destination,
    rel: &impl Fn(&str) -> PathBuf,
) -> Result<Destination, ConfigError> {
    Ok(match d {
        raw::Destination::File { path } => Destination::File { path: rel(&path) },
        raw::Destination::Http {
            url,
            allow_http,
            timeout,
            retry_schedule,
            concurrency,
            headers,
            signing_secret,
            rate_limit,
            allow_addresses,
            ca_file,
            breaker_threshold,
            breaker_cooldown,
        } => {
            let allowed = url.starts_with("https://") || (allow_http && url.starts_with("http://"));
            if !allowed {
                let why = if url.starts_with("http://") {
                    "plain http: use https, or set `allow_http = true` for a trusted network"
                } else {
                    "not an http(s) URL"
                };
                return Err(err(&format!("{key}.url"), format!("`{url}`: {why}")));
            }
            let schedule = match retry_schedule {
                None => RetrySchedule::default(),
                Some(steps) => {
                    let mut out = Vec::new();
                    for (i, s) in steps.iter().enumerate() {
                        out.push(duration(
                            err,
                            &format!("{key}.retry_schedule[{i}]"),
                            Some(s),
                            "0s",
                        )?);
                    }
                    if out.is_empty() {
                        return Err(err(
                            &format!("{key}.retry_schedule"),
                            "needs at least one attempt".into(),
                        ));
                    }
                    RetrySchedule::new(out)
                }
            };
            let mut signing_keys = Vec::new();
            for (i, v) in signing_secret
                .map(raw::OneOrMany::into_vec)
                .unwrap_or_default()
                .into_iter()
                .enumerate()
            {
                let k = format!("{key}.signing_secret[{i}]");
                let text = super::resolve_value(v).map_err(|r| err(&k, r))?;
                signing_keys.push(signing_key(&text).map_err(|r| err(&k, r))?);
            }
            if let Some(r) = rate_limit
                && !(r > 0.0 && r <= 10_000.0)
            {
                return Err(err(
                    &format!("{key}.rate_limit"),
                    format!("{r}: want requests per second in (0, 10000]"),
                ));
            }
            let mut allow = Vec::new();
            for (i, a) in allow_addresses.iter().enumerate() {
                allow.push(
                    parse_net(a).map_err(|r| err(&format!("{key}.allow_addresses[{i}]"), r))?,
                );
            }
            // A literal address is checked now; host names are checked after
            // every DNS resolution (dispatch::guard).
            if let Some(ip) = reqwest::Url::parse(&url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .and_then(|h| h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().ok())
                && let Err(why) = crate::guard::check(ip, &allow)
            {
                return Err(err(&format!("{key}.url"), format!("`{url}`: {why}")));
            }
            let ca_certs = match ca_file {
                None => Vec::new(),
                Some(_) if !url.starts_with("https://") => {
                    return Err(err(
                        &format!("{key}.ca_file"),
                        "only an https destination uses certificate authorities".into(),
                    ));
                }
                Some(f) => ca_certs(&rel(&f), &f).map_err(|r| err(&format!("{key}.ca_file"), r))?,
            };
            let threshold = breaker_threshold.unwrap_or(5);
            if threshold == 0 {
                return Err(err(
                    &format!("{key}.breaker_threshold"),
                    "want at least 1".into(),
                ));
            }
            Destination::Http(HttpDestination {
                url,
                timeout: duration(err, &format!("{key}.timeout"), timeout.as_deref(), "10s")?,
                schedule,
                concurrency: concurrency.unwrap_or(16).clamp(1, 1024),
                headers: headers.into_iter().collect(),
                signing_keys,
                rate_limit,
                allow_addresses: allow,
                ca_certs,
                breaker: BreakerSettings {
                    threshold,
                    cooldown: duration(
                        err,
                        &format!("{key}.breaker_cooldown"),
                        breaker_cooldown.as_deref(),
                        "30s",
                    )?,
                },
                paused: false,
            })
        }
    })
}

/// The certificates in the PEM file at `path` (at least one, each a CA a
/// TLS client can trust); errors name it `as_written`.
fn ca_certs(
    path: &std::path::Path,
    as_written: &str,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = format!("`{as_written}`");
    let pem = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{shown}: not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{shown}: no certificate in it"));
    }
    let mut roots = rustls::RootCertStore::empty();
    for c in &certs {
        roots
            .add(c.clone())
            .map_err(|e| format!("{shown}: not a usable CA certificate: {e}"))?;
    }
    Ok(certs)
}

pub(super) fn check_filter(
    err: &impl Fn(&str, String) -> ConfigError,
    key: &str,
    f: &raw::Filter,
) -> Result<(), ConfigError> {
    let check = |field: &str, values: &[String], allowed: &[&str]| {
        for v in values {
            if !allowed.contains(&v.as_str()) {
                return Err(err(
                    &format!("{key}.{field}"),
                    format!("`{v}`: want one of {allowed:?}"),
                ));
            }
        }
        Ok(())
    };
    check("kind", &f.kind, &KINDS)?;
    check("state", &f.state, &State::ALL.map(State::as_str))?;
    check("channel", &f.channel, &Channel::ALL.map(Channel::as_str))?;
    check("event_types", &f.event_types, &EventType::names())?;
    Ok(())
}

/// A Standard Webhooks secret: `whsec_` + base64 of the key bytes.
pub(crate) fn signing_key(text: &str) -> Result<Vec<u8>, String> {
    let b64 = text
        .strip_prefix("whsec_")
        .ok_or("want `whsec_` followed by base64 (Standard Webhooks secret)")?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("the part after `whsec_` is not base64: {e}"))?;
    if key.len() < 16 {
        return Err(format!(
            "key is {} bytes; want at least 16 (24-64 is usual)",
            key.len()
        ));
    }
    Ok(key)
}

/// `10.0.0.0/8`, `127.0.0.1` or `::1`.
pub(crate) fn parse_net(text: &str) -> Result<ipnet::IpNet, String> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            format!("`{text}`: want an IP address or CIDR, e.g. \"127.0.0.1\" or \"10.0.0.0/8\"")
        })
}

/// A plugin section's host-side tables: `protect` and `actions`.
pub(super) fn mount(
    err: &impl Fn(&str, String) -> ConfigError,
    name: &str,
    protect: Option<raw::Protect>,
    actions: Option<raw::Actions>,
    runtime: Option<raw::PluginRuntime>,
) -> Result<MountSettings, ConfigError> {
    let key = |k: &str| format!("plugins.{name}.{k}");
    let protect = match protect {
        None => None,
        Some(p) => {
            let token = p
                .token
                .map(super::resolve_value)
                .transpose()
                .map_err(|r| err(&key("protect.token"), r))?;
            if token.as_deref().is_some_and(|t| t.len() < 16) {
                return Err(err(
                    &key("protect.token"),
                    "too short to be a secret: use at least 16 characters".into(),
                ));
            }
            let basic_auth = match p.basic_auth {
                None => None,
                Some(b) => Some((
                    b.user,
                    super::resolve_value(b.password)
                        .map_err(|r| err(&key("protect.basic_auth.password"), r))?,
                )),
            };
            let mut allow_ips = Vec::new();
            for (i, a) in p.allow_ips.iter().enumerate() {
                allow_ips.push(
                    parse_net(a).map_err(|r| err(&key(&format!("protect.allow_ips[{i}]")), r))?,
                );
            }
            if token.is_none() && basic_auth.is_none() && allow_ips.is_empty() {
                return Err(err(
                    &key("protect"),
                    "set at least one of `token`, `basic_auth`, `allow_ips`".into(),
                ));
            }
            Some(Protect {
                token,
                token_param: p.token_param.unwrap_or_else(|| "token".into()),
                basic_auth,
                allow_ips,
            })
        }
    };
    let max_memory_bytes = match runtime.and_then(|r| r.max_memory_mb) {
        None => None,
        Some(mb @ 1..=4096) => Some(mb << 20),
        Some(mb) => {
            return Err(err(
                &key("runtime.max_memory_mb"),
                format!("{mb}: want 1..=4096"),
            ));
        }
    };
    Ok(MountSettings {
        protect,
        max_memory_bytes,
        confirm_subscriptions: actions
            .and_then(|a| a.confirm_subscriptions)
            .unwrap_or(true),
    })
}

/// `[server]`; `--listen` takes precedence over its `listen`.
pub(super) fn server(
    err: &impl Fn(&str, String) -> ConfigError,
    s: raw::Server,
    listen_override: Option<SocketAddr>,
) -> Result<Server, ConfigError> {
    let listen = match listen_override {
        Some(a) => a,
        None => s
            .listen
            .as_deref()
            .unwrap_or("127.0.0.1:8080")
            .parse()
            .map_err(|e| {
                err(
                    "server.listen",
                    format!("{e} (want e.g. \"127.0.0.1:8080\")"),
                )
            })?,
    };
    let route_prefix = s.route_prefix.unwrap_or_else(|| "/api/v1".into());
    if !(route_prefix.is_empty() || route_prefix.starts_with('/') && !route_prefix.ends_with('/')) {
        return Err(err(
            "server.route_prefix",
            "must be empty or start with `/` and not end with `/`".into(),
        ));
    }
    if let Some(u) = &s.public_url {
        let ok = (u.starts_with("https://") || u.starts_with("http://")) && !u.ends_with('/');
        if !ok {
            return Err(err(
                "server.public_url",
                format!("`{u}`: want scheme://host[:port] with no trailing `/`"),
            ));
        }
    }
    let quarantine_reply = match s.quarantine_reply.as_deref().unwrap_or("accept") {
        "accept" => QuarantineReply::Accept,
        "retry" => QuarantineReply::Retry,
        other => {
            return Err(err(
                "server.quarantine_reply",
                format!("`{other}`: want \"accept\" or \"retry\""),
            ));
        }
    };
    Ok(Server {
        listen,
        route_prefix,
        public_url: s.public_url,
        max_body_bytes: s.max_body_bytes.unwrap_or(1 << 20),
        header_timeout: duration(
            &err,
            "server.header_timeout",
            s.header_timeout.as_deref(),
            "10s",
        )?,
        body_timeout: duration(
            &err,
            "server.body_timeout",
            s.body_timeout.as_deref(),
            "30s",
        )?,
        max_connections: s.max_connections.unwrap_or(10_000),
        quarantine_reply,
        tls: None,
    })
}

/// `[[routes]]`: each names destinations that exist, a valid filter and a
/// transform that compiles.
pub(super) fn routes(
    err: &impl Fn(&str, String) -> ConfigError,
    raw_routes: Vec<raw::Route>,
    destinations: &BTreeMap<String, Destination>,
) -> Result<Vec<Route>, ConfigError> {
    let mut routes = Vec::new();
    for (i, r) in raw_routes.into_iter().enumerate() {
        let key = format!("routes[{i}]");
        if r.to.is_empty() {
            return Err(err(&format!("{key}.to"), "names no destination".into()));
        }
        for d in &r.to {
            if !destinations.contains_key(d) {
                let known: Vec<_> = destinations.keys().cloned().collect();
                return Err(err(
                    &format!("{key}.to"),
                    format!("no destination `{d}` (defined: {known:?})"),
                ));
            }
        }
        check_filter(&err, &format!("{key}.match"), &r.filter)?;
        let transform = match &r.transform {
            None => Default::default(),
            Some(t) => Transform::compile(t).map_err(|e| err(&format!("{key}.transform"), e))?,
        };
        routes.push(Route {
            name: r.name,
            filter: r.filter,
            to: r.to,
            transform: std::sync::Arc::new(transform),
        });
    }
    Ok(routes)
}
