//! Replay: stored captures run again through the plugin version loaded now
//! (after a fixed plugin or config), oldest first so message states advance
//! in order. Normalization still applies: an event that was already
//! forwarded is a duplicate and is not sent twice.

use std::sync::Arc;

use serde::Serialize;

use crate::mount::LiveTable;
use crate::pipeline::Pipeline;
use crate::plugin::wit;
use crate::protect::REFUSAL_PREFIX;
use crate::store::{Capture, CaptureStatus, Store};

/// Which captures to replay.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    pub capture: Option<u64>,
    pub plugin: Option<String>,
    /// `accepted`, `rejected`, `quarantined`; `None` = any.
    pub status: Option<String>,
    /// Received at or after / before (ms since epoch).
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: usize,
}

/// What one capture became.
#[derive(Debug, Serialize)]
pub struct Replayed {
    pub capture: u64,
    pub plugin: String,
    pub before: String,
    pub after: String,
    pub reply_status: u16,
    pub events: usize,
    pub error: Option<String>,
}

pub fn status_name(s: &CaptureStatus) -> &'static str {
    match s {
        CaptureStatus::Accepted => "accepted",
        CaptureStatus::Rejected { .. } => "rejected",
        CaptureStatus::Quarantined { .. } => "quarantined",
    }
}

/// The matching captures, oldest first.
pub fn select(store: &dyn Store, sel: &Selection) -> crate::store::StoreResult<Vec<Capture>> {
    if let Some(id) = sel.capture {
        return Ok(store.capture(id)?.into_iter().collect());
    }
    let mut out = Vec::new();
    let mut cursor = None;
    'pages: loop {
        let page = store.captures(cursor, 500)?;
        let Some(last) = page.last() else { break };
        cursor = Some(last.id);
        for c in page {
            if sel.since.is_some_and(|t| c.received_at < t) {
                // Newest first: everything after this is older still.
                break 'pages;
            }
            let matches = sel.plugin.as_ref().is_none_or(|p| *p == c.plugin)
                && sel
                    .status
                    .as_deref()
                    .is_none_or(|s| s == status_name(&c.status))
                && sel.until.is_none_or(|t| c.received_at < t);
            if matches {
                out.push(c);
                if out.len() >= sel.limit {
                    break 'pages;
                }
            }
        }
    }
    out.reverse();
    Ok(out)
}

pub async fn replay(
    pipeline: &Pipeline,
    store: &Arc<dyn Store>,
    mounts: &LiveTable,
    capture: Capture,
) -> Replayed {
    let mut r = Replayed {
        capture: capture.id,
        plugin: capture.plugin.clone(),
        before: status_name(&capture.status).into(),
        after: status_name(&capture.status).into(),
        reply_status: capture.reply_status,
        events: 0,
        error: None,
    };
    if let CaptureStatus::Rejected { reason } = &capture.status
        && reason.starts_with(REFUSAL_PREFIX)
    {
        r.error = Some("refused by the mount's protection: not replayable".into());
        return r;
    }
    let router = mounts.current();
    let Some(mounted) = router
        .plugins()
        .into_iter()
        .find(|m| m.name() == capture.plugin)
    else {
        r.error = Some(format!("plugin `{}` is not loaded", capture.plugin));
        return r;
    };
    let Some(req) = request_of(&capture) else {
        r.error = Some(format!("unknown method {}", capture.method));
        return r;
    };
    // Same trail as a live callback: the capture id on every line.
    let span = tracing::info_span!("replay", plugin = %capture.plugin, capture = capture.id);
    match tracing::Instrument::instrument(pipeline.run(mounted, capture.id, req), span).await {
        Err(e) => r.error = Some(format!("store: {e}")),
        Ok(reply) => {
            r.reply_status = reply.status;
            if let Ok(Some(after)) = store.capture(capture.id) {
                r.after = status_name(&after.status).into();
                r.events = after.events.len();
            }
        }
    }
    tracing::info!(capture = r.capture, plugin = %r.plugin, before = %r.before, after = %r.after, events = r.events, "capture replayed");
    r
}

/// The contract request a capture was made from.
fn request_of(c: &Capture) -> Option<wit::HttpRequest> {
    // Early stores wrote the method as `METHOD::POST`.
    let method = match c.method.trim_start_matches("METHOD::") {
        "GET" => wit::Method::Get,
        "POST" => wit::Method::Post,
        "PUT" => wit::Method::Put,
        "PATCH" => wit::Method::Patch,
        "DELETE" => wit::Method::Delete,
        _ => return None,
    };
    Some(wit::HttpRequest {
        method,
        url: c.url.clone(),
        path: c.path.clone(),
        query: c.query.clone(),
        headers: c.headers.clone(),
        body: c.body.clone(),
        params: c.params.clone(),
        route: c.route.clone(),
        received_at: c.received_at,
        remote_addr: c.remote_addr.clone(),
    })
}
