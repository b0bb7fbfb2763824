//! Delivery jobs as the operator sees them (`/v1/deliveries`, and
//! `switchboard deliveries` on a stopped router's store): dead, pending or
//! delivered, filtered by destination and event.

use serde::Serialize;

use crate::store::{Job, Store, StoreResult};

/// A job as the API shows it: the payload is the event, parsed back so the
/// listing is readable JSON rather than a string of JSON (`null` for a
/// delivered job: its record keeps no payload, the event is in the store).
#[derive(Serialize)]
pub struct JobView {
    #[serde(flatten)]
    pub job: Job,
    pub event: Option<serde_json::Value>,
}

impl JobView {
    pub fn new(mut job: Job) -> Self {
        let event = serde_json::from_str(&job.payload).ok();
        job.payload = std::sync::Arc::from("");
        Self { job, event }
    }
}

/// Which jobs a listing keeps.
#[derive(Default)]
pub struct JobFilter<'a> {
    pub destination: Option<&'a str>,
    pub event: Option<&'a str>,
}

impl JobFilter<'_> {
    pub fn keeps(&self, j: &Job) -> bool {
        self.destination.is_none_or(|d| j.destination == d)
            && self.event.is_none_or(|e| j.event_id == e)
    }

    /// Up to `limit` jobs in `state` (`dead`, `pending` or `delivered`)
    /// that pass; `None` for another state.
    pub fn list(
        &self,
        store: &dyn Store,
        state: &str,
        limit: usize,
    ) -> StoreResult<Option<Vec<JobView>>> {
        let jobs = match state {
            "dead" => store.dead_jobs()?,
            "pending" => store.pending_jobs()?,
            // The store filters and stops at `limit` itself: the delivered
            // list grows with every delivery.
            "delivered" => store.delivered_jobs(&|j| self.keeps(j), limit)?,
            _ => return Ok(None),
        };
        let kept = jobs.into_iter().filter(|j| self.keeps(j)).take(limit);
        Ok(Some(kept.map(JobView::new).collect()))
    }
}
