//! `deliveries` and `redrive`: delivery jobs (dead, pending, delivered)
//! and dead ones sent back to pending, through the admin API or, with the
//! router stopped, the store (`ops.rs` picks which).

use serde_json::json;

use super::ops::{Conn, OpsTarget, fail, print_table, store_err, text, with_query};
use crate::admin::JobFilter;
use crate::server::StartError;

pub async fn deliveries(
    t: &OpsTarget,
    state: &str,
    filter: &JobFilter<'_>,
    limit: usize,
) -> Result<(), StartError> {
    let conn = t.connect().await?;
    let jobs = match &conn {
        Conn::Api { .. } => {
            let limit = limit.to_string();
            let path = with_query(
                "/v1/deliveries",
                &[
                    ("state", Some(state)),
                    ("limit", Some(&limit)),
                    ("destination", filter.destination),
                    ("event", filter.event),
                ],
            );
            conn.call(reqwest::Method::GET, &path).await?
        }
        Conn::Store(store, _) => {
            let jobs = filter
                .list(store.as_ref(), state, limit)
                .map_err(store_err)?
                .unwrap_or_default();
            serde_json::to_value(jobs).map_err(fail)?
        }
    };
    if t.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&jobs).unwrap_or_default()
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = jobs
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|j| {
            let attempts = j["attempts"]
                .as_array()
                .map(|a| a.as_slice())
                .unwrap_or_default();
            let last = attempts.last();
            let outcome = last.map_or("-".to_owned(), |a| match a["status"].as_u64() {
                Some(s) => format!("HTTP {s}"),
                None => a["error"]
                    .as_str()
                    .unwrap_or("?")
                    .chars()
                    .take(60)
                    .collect(),
            });
            vec![
                text(&j["id"]),
                text(&j["destination"]),
                text(&j["event_id"]),
                attempts.len().to_string(),
                outcome,
            ]
        })
        .collect();
    print_table(&["JOB", "DESTINATION", "EVENT", "ATTEMPTS", "LAST"], &rows);
    Ok(())
}

pub async fn redrive(
    t: &OpsTarget,
    job: Option<u64>,
    destination: Option<&str>,
) -> Result<(), StartError> {
    if job.is_none() && destination.is_none() {
        return Err(fail("give --job ID or --destination NAME"));
    }
    let conn = t.connect().await?;
    let ids: Vec<u64> = match &conn {
        Conn::Api { .. } => {
            let job = job.map(|id| id.to_string());
            // One or the other: a job id wins.
            let destination = if job.is_some() { None } else { destination };
            let path = with_query(
                "/v1/redrive",
                &[("job", job.as_deref()), ("destination", destination)],
            );
            let v = conn.call(reqwest::Method::POST, &path).await?;
            serde_json::from_value(v["redriven"].clone()).unwrap_or_default()
        }
        Conn::Store(store, _) => {
            let mut ids = Vec::new();
            for j in store.dead_jobs().map_err(store_err)? {
                if job.is_none_or(|id| j.id == id)
                    && destination.is_none_or(|d| j.destination == d)
                    && store
                        .redrive(j.id, crate::time::now_ms())
                        .map_err(store_err)?
                        .is_some()
                {
                    ids.push(j.id);
                }
            }
            store.flush().await.map_err(store_err)?;
            ids
        }
    };
    if t.json {
        println!("{}", json!({ "redriven": ids }));
    } else if ids.is_empty() {
        println!("no dead deliveries matched");
    } else {
        println!("redrove {} deliveries: {ids:?}", ids.len());
    }
    Ok(())
}
