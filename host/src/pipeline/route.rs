//! Step 2: route the plugin's events into a batch. Pure: the dedup
//! verdicts and the rules in force in; the events to store, their jobs
//! and each event's disposition (for the log and the metrics) out.

use crate::event::Event;
use crate::normalize::Verdict;
use crate::outbox;
use crate::rules::Rules;
use crate::store::{Disposition, Job, StoreResult, StoredEvent};

/// A callback's events, routed.
#[derive(Debug, Default)]
pub(super) struct Routed {
    pub events: Vec<StoredEvent>,
    pub jobs: Vec<Job>,
    /// Each event's disposition label, in `events` order.
    pub labels: Vec<&'static str>,
}

impl Routed {
    /// (event, label) in order, for the metrics and the log.
    pub fn dispositions(&self) -> impl Iterator<Item = (&Event, &'static str)> {
        self.events
            .iter()
            .map(|e| &e.event)
            .zip(self.labels.iter().copied())
    }

    /// Each config route or webhook that matched, once per event routed
    /// now (a duplicate's record carries the routes of its first time).
    pub fn matched(&self) -> impl Iterator<Item = &str> {
        self.events
            .iter()
            .zip(&self.labels)
            .filter(|(_, label)| **label != "duplicate")
            .flat_map(|(e, _)| e.routes.iter().map(String::as_str))
    }
}

/// Fresh events are matched against `rules` and get one job per target;
/// duplicates keep their first record; stale ones are kept, not routed.
pub(super) fn route(
    verdicts: Vec<Verdict>,
    rules: &Rules,
    now_ms: i64,
    next_id: &mut dyn FnMut() -> StoreResult<u64>,
) -> StoreResult<Routed> {
    let mut out = Routed::default();
    for v in verdicts {
        let (record, label) = match v {
            Verdict::Duplicate(prior) => (prior, "duplicate"),
            Verdict::Stale(event) => (Verdict::stale_record(event), "stale"),
            Verdict::Fresh(event) => {
                let matched = rules.route(&event);
                let (disposition, label) = if matched.targets.is_empty() {
                    (Disposition::Unmatched, "unmatched")
                } else {
                    (Disposition::Routed, "routed")
                };
                out.jobs
                    .extend(outbox::jobs_for(&event, &matched.targets, now_ms, next_id)?);
                let record = StoredEvent {
                    event,
                    disposition,
                    routes: matched.routes,
                    duplicates: 0,
                };
                (record, label)
            }
        };
        out.events.push(record);
        out.labels.push(label);
    }
    Ok(out)
}
