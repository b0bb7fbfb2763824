//! Resolving the parts of the file that need more than a type check:
//! destinations (URLs, schedules) and route filters (known values).

use std::path::PathBuf;

use super::{ConfigError, Destination, duration, raw};
use crate::dispatch::schedule::{DEFAULT_SCHEDULE, RetrySchedule};
use crate::event::{Channel, KINDS, State};

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
                None => RetrySchedule::new(DEFAULT_SCHEDULE.to_vec()),
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
            Destination::Http {
                url,
                timeout: duration(err, &format!("{key}.timeout"), timeout.as_deref(), "10s")?,
                schedule,
                concurrency: concurrency.unwrap_or(16).clamp(1, 1024),
                headers: headers.into_iter().collect(),
            }
        }
    })
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
    Ok(())
}
