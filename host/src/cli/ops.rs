//! Operational commands (`destinations` here, `deliveries` and `redrive` in
//! `deliveries.rs`): they talk to a running router's admin API, or, when
//! none answers, open the store directly (the router is stopped; sled's
//! lock makes sure of it).

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::config::{Config, Overrides};
use crate::server::StartError;
use crate::store::Store;

#[derive(clap::Args)]
pub struct OpsTarget {
    /// The config file (for the admin address, token and data directory).
    #[arg(long, short, default_value = "config.toml", env = "SWITCHBOARD_CONFIG")]
    pub config: PathBuf,
    /// Admin API base URL, overriding the config's `admin.listen`.
    #[arg(long, env = "SWITCHBOARD_ADMIN")]
    pub admin: Option<String>,
    /// Data directory, overriding `store.data_dir` (used when the router is stopped).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Where operations go: a running router, or the store of a stopped one.
pub(super) enum Conn {
    Api {
        base: String,
        token: Option<String>,
        client: reqwest::Client,
    },
    Store(std::sync::Arc<dyn Store>, Box<Config>),
}

pub(super) fn fail(msg: impl std::fmt::Display) -> StartError {
    StartError::Other(anyhow::anyhow!("{msg}"))
}

impl OpsTarget {
    pub(super) async fn connect(&self) -> Result<Conn, StartError> {
        let config = Config::load(
            &self.config,
            &Overrides {
                data_dir: self.data_dir.clone(),
                ..Overrides::default()
            },
        )?;
        let base = self.admin.clone().or_else(|| {
            config
                .admin
                .as_ref()
                .map(|a| format!("http://{}", a.listen))
        });
        if let Some(base) = base {
            let client = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .map_err(fail)?;
            let token = config.admin.as_ref().and_then(|a| a.token.clone());
            let probe = client.get(format!("{base}/healthz")).send().await;
            match probe {
                Ok(_) => {
                    return Ok(Conn::Api {
                        base,
                        token,
                        client,
                    });
                }
                Err(e) if e.is_connect() => {}
                Err(e) => return Err(fail(format!("admin API at {base}: {e}"))),
            }
        }
        let store = crate::store::open(&config).map_err(|e| {
            fail(format!(
                "no router answers on the admin API, and the store cannot be opened ({e}); \
                 is a router running with another admin address? (use --admin)"
            ))
        })?;
        Ok(Conn::Store(store, Box::new(config)))
    }
}

impl Conn {
    pub(super) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<Value, StartError> {
        self.send(method, path, None).await
    }

    /// A call with a JSON body. A `422` lists every problem, a line each.
    pub(super) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        json_body: Option<&Value>,
    ) -> Result<Value, StartError> {
        let Conn::Api {
            base,
            token,
            client,
        } = self
        else {
            return Err(fail("not connected to an admin API"));
        };
        let mut req = client.request(method, format!("{base}{path}"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = json_body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| fail(format!("admin API: {e}")))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| fail(format!("admin API: {e}")))?;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            let problems: Vec<String> = body["problems"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| format!("\n  {}: {}", text(&p["field"]), text(&p["reason"])))
                .collect();
            return Err(fail(format!(
                "admin API answered {status}: {}{}",
                body["error"].as_str().unwrap_or("?"),
                problems.concat()
            )));
        }
        Ok(body)
    }
}

/// `path?k=v&...` with each value URL-encoded (a destination, a plugin or
/// an event id may hold `&`, `#` or spaces); pairs without a value left out.
pub(super) fn with_query(path: &str, pairs: &[(&str, Option<&str>)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    let q = q.finish();
    if q.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{q}")
    }
}

/// One URL path segment, percent-encoded (the admin API decodes it).
pub(super) fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub(super) fn store_err(e: crate::store::StoreError) -> StartError {
    fail(e)
}

pub async fn destinations(t: &OpsTarget, enable: Option<&str>) -> Result<(), StartError> {
    let conn = t.connect().await?;
    if let Some(name) = enable {
        match &conn {
            Conn::Api { .. } => {
                conn.call(
                    reqwest::Method::POST,
                    &format!("/v1/destinations/{}/enable", segment(name)),
                )
                .await?;
            }
            Conn::Store(store, config) => {
                if !config.destinations.contains_key(name) {
                    return Err(fail(format!(
                        "no destination `{name}` in {}",
                        config.file.display()
                    )));
                }
                store.set_disabled(name, None).map_err(store_err)?;
            }
        }
        println!("destination {name} enabled");
        return Ok(());
    }
    let rows = match &conn {
        Conn::Api { .. } => conn.call(reqwest::Method::GET, "/v1/destinations").await?,
        Conn::Store(store, config) => {
            let pending = store.pending_jobs().map_err(store_err)?;
            let disabled = store.disabled().map_err(store_err)?;
            let dead = store.dead_jobs().map_err(store_err)?;
            Value::Array(
                config
                    .destinations
                    .keys()
                    .map(|name| {
                        json!({
                            "name": name,
                            "breaker": "stopped",
                            "disabled": disabled.iter().find(|(d, _)| d == name).map(|(_, r)| r),
                            "backlog": pending.iter().filter(|j| &j.destination == name).count(),
                            "dead": dead.iter().filter(|j| &j.destination == name).count(),
                            "inflight": 0,
                        })
                    })
                    .collect(),
            )
        }
    };
    if t.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(());
    }
    let table: Vec<Vec<String>> = rows
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let state = match r["disabled"].as_str() {
                Some(why) => format!("disabled ({why})"),
                None => r["breaker"].as_str().unwrap_or("?").to_owned(),
            };
            vec![
                text(&r["name"]),
                state,
                text(&r["backlog"]),
                text(&r["inflight"]),
            ]
        })
        .collect();
    print_table(&["DESTINATION", "STATE", "BACKLOG", "IN FLIGHT"], &table);
    Ok(())
}

pub(super) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

pub(super) fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_and_path_segments_are_encoded() {
        let path = with_query(
            "/v1/deliveries",
            &[
                ("state", Some("dead")),
                ("destination", Some("crm & co #2")),
                ("event", None),
            ],
        );
        assert_eq!(
            path,
            "/v1/deliveries?state=dead&destination=crm+%26+co+%232"
        );
        assert_eq!(
            with_query("/v1/events", &[("provider", None)]),
            "/v1/events"
        );
        let seg = segment("crm & co/west");
        assert_eq!(seg, "crm%20%26%20co%2Fwest");
        let back = percent_encoding::percent_decode_str(&seg).decode_utf8_lossy();
        assert_eq!(back, "crm & co/west");
    }
}
