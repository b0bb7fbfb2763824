//! Resolving the parts of the file that need more than a type check:
//! destinations (URLs, schedules, secrets, addresses) and routes (known
//! destinations, filter values, transforms). Each key is checked on its
//! own and every problem reported (`Problems`); a part with a problem
//! resolves to `None`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;

use super::{
    BreakerSettings, Destination, HttpDestination, Problems, RetrySchedule, Route, Transform,
    defaults, duration, raw,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::event::{Channel, EventType, KINDS, State};

/// One `[destinations.<name>]` (at `key`).
pub(super) fn destination(
    p: &Problems,
    key: &str,
    d: raw::Destination,
    rel: &impl Fn(&str) -> PathBuf,
) -> Option<Destination> {
    match d {
        raw::Destination::File { path } => Some(Destination::File { path: rel(&path) }),
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
            let k = |name: &str| format!("{key}.{name}");
            let https = url.starts_with("https://");
            let url_ok = https || (allow_http && url.starts_with("http://"));
            if !url_ok {
                let why = if url.starts_with("http://") {
                    "plain http: use https, or set `allow_http = true` for a trusted network"
                } else {
                    "not an http(s) URL"
                };
                p.report(&k("url"), format!("`{url}`: {why}"));
            }
            let schedule = match retry_schedule {
                None => Some(RetrySchedule::default()),
                Some(steps) if steps.is_empty() => {
                    p.report(&k("retry_schedule"), "needs at least one attempt");
                    None
                }
                Some(steps) => {
                    let parsed: Vec<_> = steps
                        .iter()
                        .enumerate()
                        .map(|(i, s)| {
                            let at = format!("{key}.retry_schedule[{i}]");
                            duration(p, &at, Some(s), Duration::ZERO)
                        })
                        .collect();
                    parsed
                        .into_iter()
                        .collect::<Option<Vec<_>>>()
                        .map(RetrySchedule::new)
                }
            };
            let secrets = signing_secret.map(raw::OneOrMany::into_vec);
            let keys: Vec<_> = secrets
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    let text = super::resolve_value(v);
                    p.check(
                        &format!("{key}.signing_secret[{i}]"),
                        text.and_then(|t| signing_key(&t)),
                    )
                })
                .collect();
            let signing_keys: Option<Vec<_>> = keys.into_iter().collect();
            let rate_ok = match rate_limit {
                Some(r) if !(r > 0.0 && r <= 10_000.0) => {
                    let reason = format!("{r}: want requests per second in (0, 10000]");
                    p.report(&k("rate_limit"), reason);
                    false
                }
                _ => true,
            };
            let allow = nets(
                p,
                |i| format!("{key}.allow_addresses[{i}]"),
                &allow_addresses,
            );
            // A literal address is checked now; host names are checked after
            // every DNS resolution (`guard.rs`). Only with a good URL and
            // allow list: otherwise their own problem says it.
            let mut address_ok = true;
            if url_ok
                && let Some(allow) = &allow
                && let Some(ip) = literal_ip(&url)
                && let Err(why) = crate::guard::check(ip, allow)
            {
                p.report(&k("url"), format!("`{url}`: {why}"));
                address_ok = false;
            }
            let ca_certs = match ca_file {
                None => Some(Vec::new()),
                Some(_) if !https => {
                    // A bad URL is reported already.
                    if url_ok {
                        let why = "only an https destination uses certificate authorities";
                        p.report(&k("ca_file"), why);
                    }
                    None
                }
                Some(f) => p.check(&k("ca_file"), ca_certs(&rel(&f), &f)),
            };
            let threshold = breaker_threshold.unwrap_or(defaults::BREAKER_THRESHOLD);
            if threshold == 0 {
                p.report(&k("breaker_threshold"), "want at least 1");
            }
            let timeout = duration(
                p,
                &k("timeout"),
                timeout.as_deref(),
                defaults::DESTINATION_TIMEOUT,
            );
            let cooldown = duration(
                p,
                &k("breaker_cooldown"),
                breaker_cooldown.as_deref(),
                defaults::BREAKER_COOLDOWN,
            );
            if !(url_ok && rate_ok && address_ok && threshold > 0) {
                return None;
            }
            Some(Destination::Http(HttpDestination {
                url,
                timeout: timeout?,
                schedule: schedule?,
                concurrency: concurrency
                    .unwrap_or(defaults::DESTINATION_CONCURRENCY)
                    .clamp(1, 1024),
                headers: headers.into_iter().collect(),
                signing_keys: signing_keys?,
                rate_limit,
                allow_addresses: allow?,
                ca_certs: ca_certs?,
                breaker: BreakerSettings {
                    threshold,
                    cooldown: cooldown?,
                },
                paused: false,
            }))
        }
    }
}

/// The host of `url` if it is an IP address literal.
fn literal_ip(url: &str) -> Option<std::net::IpAddr> {
    let url = reqwest::Url::parse(url).ok()?;
    url.host_str()?.trim_matches(['[', ']']).parse().ok()
}

/// Every entry of an address list, each bad one reported (at `key(i)`).
pub(super) fn nets(
    p: &Problems,
    key: impl Fn(usize) -> String,
    list: &[String],
) -> Option<Vec<ipnet::IpNet>> {
    let parsed: Vec<_> = list
        .iter()
        .enumerate()
        .map(|(i, a)| p.check(&key(i), parse_net(a)))
        .collect();
    parsed.into_iter().collect()
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

/// A route's `match`: every value of every key one the events can have;
/// each bad value reported. `false` if any was.
pub(super) fn check_filter(p: &Problems, key: &str, f: &raw::Filter) -> bool {
    let check = |field: &str, values: &[String], allowed: &[&str]| {
        let mut ok = true;
        for v in values.iter().filter(|v| !allowed.contains(&v.as_str())) {
            p.report(
                &format!("{key}.{field}"),
                format!("`{v}`: want one of {allowed:?}"),
            );
            ok = false;
        }
        ok
    };
    let checked = [
        check("kind", &f.kind, &KINDS),
        check("state", &f.state, &State::ALL.map(State::as_str)),
        check("channel", &f.channel, &Channel::ALL.map(Channel::as_str)),
        check("event_types", &f.event_types, &EventType::names()),
    ];
    checked.iter().all(|ok| *ok)
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

/// One `[[routes]]` entry (at `key`): it names destinations the file
/// defines (`defined`; `None` when `destinations` itself is broken, so
/// nothing can be said), a valid filter and a transform that compiles. A
/// destination that is defined but has problems of its own is no problem
/// here: those are reported once, at the destination.
pub(super) fn route(
    p: &Problems,
    key: &str,
    r: raw::Route,
    defined: Option<&[String]>,
) -> Option<Route> {
    let to_key = format!("{key}.to");
    let mut to_ok = !r.to.is_empty();
    if !to_ok {
        p.report(&to_key, "names no destination");
    }
    if let Some(all) = defined {
        for d in r.to.iter().filter(|d| !all.contains(*d)) {
            p.report(&to_key, format!("no destination `{d}` (defined: {all:?})"));
            to_ok = false;
        }
    }
    let filter_ok = check_filter(p, &format!("{key}.match"), &r.filter);
    let transform = match &r.transform {
        None => Some(Transform::default()),
        Some(t) => p.check(&format!("{key}.transform"), Transform::compile(t)),
    };
    if !(to_ok && filter_ok) {
        return None;
    }
    Some(Route {
        name: r.name,
        filter: r.filter,
        to: r.to,
        transform: Arc::new(transform?),
    })
}
