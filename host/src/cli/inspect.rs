//! `plugins`, `captures`, `events` and `replay`: what came in and what it
//! became, from the admin API (or, for captures and events, the store of a
//! stopped router).

use serde_json::Value;

use super::ops::{Conn, OpsTarget, fail, print_table, store_err, text, with_query};
use crate::server::StartError;

fn print(t: &OpsTarget, rows: &Value, header: &[&str], row: impl Fn(&Value) -> Vec<String>) {
    if t.json {
        println!("{}", serde_json::to_string_pretty(rows).unwrap_or_default());
    } else {
        let table: Vec<Vec<String>> = rows
            .as_array()
            .map(|a| a.iter().map(&row).collect())
            .unwrap_or_default();
        print_table(header, &table);
    }
}

fn time(ms: &Value) -> String {
    ms.as_i64()
        .map_or("-".into(), |ms| crate::time::Rfc3339(ms).to_string())
}

pub async fn plugins(t: &OpsTarget) -> Result<(), StartError> {
    let conn = t.connect().await?;
    if matches!(conn, Conn::Store(..)) {
        return Err(fail(
            "no router answers on the admin API (`switchboard check` lists the plugins of a config)",
        ));
    }
    let rows = conn.call(reqwest::Method::GET, "/v1/plugins").await?;
    print(
        t,
        &rows,
        &["PLUGIN", "VERSION", "DIGEST", "ROUTES", "REQUESTS"],
        |p| {
            let routes: Vec<String> = p["routes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| text(&r["path"]))
                .collect();
            let requests: Vec<String> = p["requests"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(status, n)| format!("{status}:{n}"))
                .collect();
            vec![
                text(&p["name"]),
                text(&p["version"]),
                text(&p["digest"]),
                routes.join(" "),
                requests.join(" "),
            ]
        },
    );
    Ok(())
}

pub async fn captures(
    t: &OpsTarget,
    plugin: Option<&str>,
    status: Option<&str>,
    limit: usize,
) -> Result<(), StartError> {
    let conn = t.connect().await?;
    let rows = match &conn {
        Conn::Api { .. } => {
            let limit = limit.to_string();
            let path = with_query(
                "/v1/captures",
                &[
                    ("limit", Some(&limit)),
                    ("plugin", plugin),
                    ("status", status),
                ],
            );
            conn.call(reqwest::Method::GET, &path).await?
        }
        Conn::Store(store, _) => {
            let all = store.captures(None, 100_000).map_err(store_err)?;
            let picked: Vec<_> = all
                .into_iter()
                .filter(|c| plugin.is_none_or(|p| p == c.plugin))
                .filter(|c| status.is_none_or(|s| s == crate::replay::status_name(&c.status)))
                .take(limit)
                .collect();
            serde_json::to_value(picked).map_err(fail)?
        }
    };
    print(
        t,
        &rows,
        &[
            "CAPTURE", "RECEIVED", "PLUGIN", "ROUTE", "STATUS", "REPLY", "EVENTS",
        ],
        |c| {
            let status = match c["status"]["reason"].as_str() {
                Some(r) => format!(
                    "{} ({})",
                    text(&c["status"]["status"]),
                    r.chars().take(40).collect::<String>()
                ),
                None => text(&c["status"]["status"]),
            };
            vec![
                text(&c["id"]),
                time(&c["received_at"]),
                text(&c["plugin"]),
                text(&c["route"]),
                status,
                text(&c["reply_status"]),
                c["events"].as_array().map_or(0, Vec::len).to_string(),
            ]
        },
    );
    Ok(())
}

pub async fn events(t: &OpsTarget, provider: Option<&str>, limit: usize) -> Result<(), StartError> {
    let conn = t.connect().await?;
    if matches!(conn, Conn::Store(..)) {
        return Err(fail("no router answers on the admin API"));
    }
    let limit = limit.to_string();
    let path = with_query(
        "/v1/events",
        &[("limit", Some(&limit)), ("provider", provider)],
    );
    let rows = conn.call(reqwest::Method::GET, &path).await?;
    print(
        t,
        &rows,
        &[
            "EVENT",
            "PROVIDER",
            "TYPE",
            "STATE",
            "MESSAGE",
            "DISPOSITION",
            "DUPLICATES",
        ],
        |e| {
            let ev = &e["event"];
            vec![
                text(&ev["id"]),
                text(&ev["provider"]),
                text(&ev["type"]),
                text(&ev["data"]["state"]),
                text(&ev["data"]["message_id"]),
                text(&e["disposition"]),
                text(&e["duplicates"]),
            ]
        },
    );
    Ok(())
}

/// Time as RFC 3339 or milliseconds since the epoch.
fn parse_time(s: &str) -> Result<i64, StartError> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    humantime::parse_rfc3339_weak(s)
        .map_err(|e| fail(format!("`{s}`: {e} (want RFC 3339 or milliseconds)")))
        .map(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64)
        })
}

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// One capture by id.
    #[arg(long)]
    pub capture: Option<u64>,
    #[arg(long)]
    pub plugin: Option<String>,
    /// accepted, rejected, quarantined or all.
    #[arg(long)]
    pub status: Option<String>,
    /// Received at or after (RFC 3339 or ms).
    #[arg(long)]
    pub since: Option<String>,
    /// Received before (RFC 3339 or ms).
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long, default_value_t = 1000)]
    pub limit: usize,
}

pub async fn replay(t: &OpsTarget, a: &ReplayArgs) -> Result<(), StartError> {
    let conn = t.connect().await?;
    if matches!(conn, Conn::Store(..)) {
        return Err(fail(
            "replay runs in the router: start it (no router answers on the admin API)",
        ));
    }
    let since = a.since.as_deref().map(parse_time).transpose()?;
    let until = a.until.as_deref().map(parse_time).transpose()?;
    let [limit, capture, since, until] = [
        Some(a.limit.to_string()),
        a.capture.map(|c| c.to_string()),
        since.map(|t| t.to_string()),
        until.map(|t| t.to_string()),
    ];
    let path = with_query(
        "/v1/replay",
        &[
            ("limit", limit.as_deref()),
            ("capture", capture.as_deref()),
            ("plugin", a.plugin.as_deref()),
            ("status", a.status.as_deref()),
            ("since", since.as_deref()),
            ("until", until.as_deref()),
        ],
    );
    if !t.json {
        eprintln!("replaying (up to {} captures)...", a.limit);
    }
    let rows = conn.call(reqwest::Method::POST, &path).await?;
    let n = rows.as_array().map_or(0, Vec::len);
    print(
        t,
        &rows,
        &[
            "CAPTURE", "PLUGIN", "BEFORE", "AFTER", "REPLY", "EVENTS", "ERROR",
        ],
        |r| {
            vec![
                text(&r["capture"]),
                text(&r["plugin"]),
                text(&r["before"]),
                text(&r["after"]),
                text(&r["reply_status"]),
                text(&r["events"]),
                text(&r["error"]),
            ]
        },
    );
    if !t.json {
        let ok = rows
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["after"] == "accepted")
            .count();
        eprintln!("{n} captures replayed, {ok} now accepted");
    }
    Ok(())
}
