//! Step 3: commit. The capture, its events, the message states and the
//! jobs go to the store in one batch; the provider's 2xx waits for it to
//! be durable. Then the jobs are handed to dispatch, the actions run, and
//! the log follows the callback to its deliveries.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Outcome, Pipeline, Reply, route};
use crate::event::Event;
use crate::mount::Mount;
use crate::normalize;
use crate::plugin::wit;
use crate::store::{Batch, Capture, Job, StoreError};
use crate::time::now_ms;

impl Pipeline {
    /// A plugin outcome with events: record it all, then answer.
    pub(super) async fn accept(
        &self,
        mount: &Arc<Mount>,
        mut capture: Capture,
        outcome: wit::Outcome,
    ) -> Result<Reply, StoreError> {
        let plugin = mount.name();
        let app_code = capture
            .params
            .iter()
            .find(|(k, _)| k == "app_code")
            .map(|(_, v)| v.clone());
        let events: Vec<Event> = outcome
            .events
            .into_iter()
            .map(|e| {
                Event::from_plugin(
                    plugin,
                    app_code.as_deref(),
                    capture.id,
                    capture.received_at,
                    e,
                )
            })
            .collect();
        let reply = (self.answer)(&Outcome::Accepted(outcome.reply));
        capture.reply_status = reply.status;
        capture.events = events.iter().map(|e| e.id.clone()).collect();
        let capture_id = capture.id;
        let event_count = events.len();
        let jobs = self.record(capture, events).await?;
        tracing::info!(
            plugin,
            capture = capture_id,
            status = reply.status,
            events = event_count,
            jobs = jobs.len(),
            "callback accepted"
        );
        self.dispatcher.submit(jobs);
        // Side effects only once the callback is durable.
        crate::actions::perform(
            plugin,
            &mount.settings,
            capture_id,
            outcome.actions.into_iter().map(Into::into).collect(),
        );
        Ok(reply)
    }

    /// Normalize, route and write everything in one batch; returns the jobs
    /// once the batch is durable.
    async fn record(&self, capture: Capture, events: Vec<Event>) -> Result<Vec<Job>, StoreError> {
        let capture_id = capture.id;
        self.store.prefetch(&events).await;
        // (event id, disposition), logged once durable.
        let (committed, recorded, jobs) = {
            let rules = self.rules.read().unwrap_or_else(|p| p.into_inner()).clone();
            let _guard = self.normalize.lock().unwrap_or_else(|p| p.into_inner());
            let mut states = HashMap::new();
            let verdicts = normalize::classify(self.store.as_ref(), events, &mut states)?;
            let mut next_id = || self.store.next_id();
            let routed = route::route(verdicts, &rules, now_ms(), &mut next_id)?;
            let mut recorded = Vec::with_capacity(routed.labels.len());
            for (event, label) in routed.dispositions() {
                let state = event.state().map(|s| s.as_str());
                self.metrics
                    .event(&event.provider, event.kind(), state, label);
                recorded.push((event.id.clone(), label));
            }
            for r in routed.matched() {
                self.metrics.rule_match(r);
            }
            let jobs = routed.jobs.clone();
            let batch = Batch {
                captures: vec![capture],
                events: routed.events,
                states: states.into_iter().collect(),
                jobs: routed.jobs,
            };
            (self.store.commit(batch)?, recorded, jobs)
        };
        committed.await?;
        let capture = capture_id;
        // Capture -> event -> job, one line each, so one callback can be
        // followed to its deliveries (which log job, event, destination).
        for (event, disposition) in recorded {
            let to: Vec<_> = jobs.iter().filter(|j| j.event_id == event).collect();
            tracing::info!(
                capture,
                event,
                disposition,
                jobs = to.len(),
                "event recorded"
            );
            for j in to {
                tracing::info!(capture, event, job = j.id, destination = %j.destination, "delivery queued");
            }
        }
        Ok(jobs)
    }
}
