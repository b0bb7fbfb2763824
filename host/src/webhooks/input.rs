//! A webhook from an API body: seed 001's fields with its rules (name
//! 2-100 characters, an https URL, known event types and filter keys, a
//! rate limit up to 10,000/s) and Switchboard's own. Every problem is
//! reported at once, each with its field, so a client fixes its request in
//! one round.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{STATUS_ALIASES, Secret, Webhook, WebhookFilter, new_id};
use crate::config::parse_net;
use crate::event::{Channel, EventType, State};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub field: String,
    pub reason: String,
}

const FILTER_KEYS: [&str; 8] = [
    "sender",
    "status",
    "message_ref",
    "campaign_id",
    "provider",
    "app_code",
    "channel",
    "recipient",
];

/// `POST /v1/webhooks`: a new webhook with a fresh id and secret.
pub fn create(body: &Value, now: i64) -> Result<Webhook, Vec<Problem>> {
    let mut problems = Vec::new();
    if let Some(o) = body.as_object() {
        for required in ["name", "url", "event_types"] {
            if !o.contains_key(required) {
                problems.push(problem(required, "required"));
            }
        }
    }
    let base = Webhook {
        id: new_id(),
        name: String::new(),
        url: String::new(),
        event_types: Vec::new(),
        filter: WebhookFilter::default(),
        rate_limit: 0,
        transform: None,
        headers: Default::default(),
        timeout: None,
        retry_schedule: None,
        allow_http: false,
        allow_addresses: Vec::new(),
        enabled: true,
        secrets: vec![Secret::generate(now)],
        created_at: now,
        updated_at: now,
        deleted_at: None,
    };
    apply(base, body, now, problems)
}

/// `PATCH /v1/webhooks/{id}`: the fields given replace the current ones.
pub fn patch(current: &Webhook, body: &Value, now: i64) -> Result<Webhook, Vec<Problem>> {
    apply(current.clone(), body, now, Vec::new())
}

fn problem(field: &str, reason: impl Into<String>) -> Problem {
    Problem {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

fn apply(
    mut w: Webhook,
    body: &Value,
    now: i64,
    mut problems: Vec<Problem>,
) -> Result<Webhook, Vec<Problem>> {
    let Some(o) = body.as_object() else {
        return Err(vec![problem("(body)", "want a JSON object")]);
    };
    for (key, v) in o {
        let mut p = |reason: String| problems.push(problem(key, reason));
        match key.as_str() {
            "name" => match v.as_str().map(|s| (s, s.chars().count())) {
                Some((s, 2..=100)) => w.name = s.to_owned(),
                Some((_, n)) => p(format!("length {n}: want 2 to 100 characters")),
                None => p("want a string".into()),
            },
            "url" => match v.as_str() {
                Some(s) => w.url = s.to_owned(),
                None => p("want a string".into()),
            },
            "event_types" => match strings(v) {
                Some(list) if list.is_empty() => p("want at least one event type".into()),
                Some(list) => {
                    for t in list.iter().filter(|t| EventType::parse(t).is_none()) {
                        let known = EventType::names().join(", ");
                        p(format!("unknown event type `{t}`: want one of {known}"));
                    }
                    w.event_types = dedup(list);
                }
                None => p("want a list of event types".into()),
            },
            "filter" => match v {
                Value::Object(f) => w.filter = filter(f, &mut problems),
                Value::Null => w.filter = WebhookFilter::default(),
                _ => p("want an object".into()),
            },
            "rate_limit" => match v.as_u64() {
                Some(r @ 0..=10_000) => w.rate_limit = r as u32,
                Some(r) => p(format!("{r}: at most 10000 requests per second")),
                None if v.is_null() => w.rate_limit = 0,
                None => p("want a whole number from 0 (default) to 10000".into()),
            },
            "transform" => {
                let compiled = serde_json::from_value::<crate::config::RawTransform>(v.clone())
                    .map_err(|_| "want \"envelope\", \"data\" or {\"template\": {...}}".into())
                    .and_then(|raw| crate::config::Transform::compile(&raw));
                match (v, compiled) {
                    (Value::Null, _) => w.transform = None,
                    (_, Ok(_)) => w.transform = Some(v.clone()),
                    (_, Err(e)) => p(e),
                }
            }
            "headers" => match headers(v) {
                Ok(h) => w.headers = h,
                Err(e) => p(e),
            },
            "timeout" => match v.as_str().map(duration) {
                Some(Ok(d)) if d.is_zero() || d > std::time::Duration::from_secs(300) => {
                    p("want more than 0s and at most 5m".into())
                }
                Some(Ok(_)) => w.timeout = v.as_str().map(str::to_owned),
                Some(Err(e)) => p(e),
                None if v.is_null() => w.timeout = None,
                None => p("want a duration such as \"10s\"".into()),
            },
            "retry_schedule" => match strings(v) {
                Some(list) if list.is_empty() || list.len() > 30 => {
                    p("want 1 to 30 durations".into())
                }
                Some(list) => {
                    for e in list.iter().filter_map(|s| duration(s).err()) {
                        p(e);
                    }
                    w.retry_schedule = Some(list);
                }
                None if v.is_null() => w.retry_schedule = None,
                None => p("want a list of durations such as [\"0s\", \"5s\", \"5m\"]".into()),
            },
            "allow_http" => match v.as_bool() {
                Some(b) => w.allow_http = b,
                None => p("want true or false".into()),
            },
            "allow_addresses" => match strings(v) {
                Some(list) => {
                    for e in list.iter().filter_map(|s| parse_net(s).err()) {
                        p(e);
                    }
                    w.allow_addresses = list;
                }
                None => p("want a list of addresses or CIDRs".into()),
            },
            "enabled" => match v.as_bool() {
                Some(b) => w.enabled = b,
                None => p("want true or false".into()),
            },
            "id" | "secret" | "secrets" | "created_at" | "updated_at" => {
                p("read-only".into());
            }
            other => p(format!("unknown field `{other}`")),
        }
    }
    // The URL last: whether it is allowed depends on `allow_http` and
    // `allow_addresses`, whichever order they came in.
    let url_inputs = ["url", "allow_http", "allow_addresses"];
    if url_inputs.iter().any(|k| o.contains_key(*k))
        && let Err(e) = check_url(&w)
    {
        problems.push(problem("url", e));
    }
    w.updated_at = now;
    if problems.is_empty() {
        Ok(w)
    } else {
        Err(problems)
    }
}

fn filter(f: &Map<String, Value>, problems: &mut Vec<Problem>) -> WebhookFilter {
    let mut out = WebhookFilter::default();
    for (key, v) in f {
        let field = format!("filter.{key}");
        let Some(list) = strings(v) else {
            problems.push(problem(&field, "want a list of strings"));
            continue;
        };
        let allowed: Option<Vec<&str>> = match key.as_str() {
            "status" => Some(
                State::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .chain(STATUS_ALIASES.iter().map(|(k, _)| *k))
                    .collect(),
            ),
            "channel" => Some(Channel::ALL.iter().map(|c| c.as_str()).collect()),
            _ => None,
        };
        if let Some(allowed) = &allowed {
            for bad in list.iter().filter(|v| !allowed.contains(&v.as_str())) {
                problems.push(problem(
                    &field,
                    format!("`{bad}`: want one of {}", allowed.join(", ")),
                ));
            }
        }
        let slot = match key.as_str() {
            "sender" => &mut out.sender,
            "status" => &mut out.status,
            "message_ref" => &mut out.message_ref,
            "campaign_id" => &mut out.campaign_id,
            "provider" => &mut out.provider,
            "app_code" => &mut out.app_code,
            "channel" => &mut out.channel,
            "recipient" => &mut out.recipient,
            _ => {
                problems.push(problem(
                    &field,
                    format!("unknown filter key: want {}", FILTER_KEYS.join(", ")),
                ));
                continue;
            }
        };
        *slot = dedup(list);
    }
    out
}

/// A list of strings; a lone string counts as a list of one.
fn strings(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_owned)).collect(),
        _ => None,
    }
}

fn dedup(mut list: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    list.retain(|x| seen.insert(x.clone()));
    list
}

fn duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e} (want e.g. \"5s\", \"200ms\")"))
}

fn headers(v: &Value) -> Result<std::collections::BTreeMap<String, String>, String> {
    let Some(o) = v.as_object() else {
        return Err("want an object of header names to values".into());
    };
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in o {
        let value = v
            .as_str()
            .ok_or_else(|| format!("`{k}`: want a string value"))?;
        hyper::header::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("`{k}`: not a header name"))?;
        hyper::header::HeaderValue::from_str(value)
            .map_err(|_| format!("`{k}`: not a header value"))?;
        out.insert(k.to_ascii_lowercase(), value.to_owned());
    }
    Ok(out)
}

/// https (http only with `allow_http`), a host, and, for a literal
/// address, one the SSRF guard lets through. Host names are checked after
/// every DNS resolution, at delivery (`guard.rs`).
fn check_url(w: &Webhook) -> Result<(), String> {
    let url = reqwest::Url::parse(&w.url).map_err(|e| format!("`{}`: {e}", w.url))?;
    match url.scheme() {
        "https" => {}
        "http" if w.allow_http => {}
        "http" => {
            return Err(format!(
                "`{}`: plain http: use https, or set `allow_http` for a trusted network",
                w.url
            ));
        }
        other => return Err(format!("`{}`: scheme `{other}`: want https", w.url)),
    }
    let host = url.host_str().unwrap_or("");
    if host.is_empty() {
        return Err(format!("`{}`: no host", w.url));
    }
    let allow: Vec<ipnet::IpNet> = w
        .allow_addresses
        .iter()
        .filter_map(|a| parse_net(a).ok())
        .collect();
    let literal = host
        .trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .ok();
    let local = (host == "localhost" || host.ends_with(".localhost"))
        .then_some(std::net::IpAddr::from([127, 0, 0, 1]));
    if let Some(ip) = literal.or(local) {
        crate::guard::check(ip, &allow).map_err(|why| format!("`{}`: {why}", w.url))?;
    }
    Ok(())
}
