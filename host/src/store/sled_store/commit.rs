//! A callback's batch written in the layout of `layout.rs`: one callback
//! record (request, events, routing, jobs) and one message record per
//! message it touched. Anything a batch holds that does not belong to one
//! of its captures (a job of an event recorded elsewhere) is written as a
//! `j` record, as before.

use std::collections::HashMap;
use std::sync::Arc;

use super::JOB;
use super::SledStore;
use super::engine::Writer;
use super::layout::{
    EventRec, JobRec, MessageRec, OwnEvent, RECORD, Record, message_key, pack, state_key,
};
use super::pending::WATERMARK;
use super::records::{encode, id_key};
use crate::store::{Batch, Job, StoreError, StoreResult, StoredEvent};

impl SledStore {
    /// Inserts one by one, in an order that makes every crash prefix safe,
    /// instead of `apply_batch` (sled's batches take a global write lock and
    /// cut durable throughput to a third here). Nothing is acknowledged
    /// before the flush, so a crash before it means the provider resends;
    /// whatever prefix survived must not swallow the resend. The callback
    /// record goes first, with its jobs (a surviving job is delivered; the
    /// resend may add a second one with the same `webhook-id`: at least
    /// once, never lost), and the message records last: they are what
    /// dedup reads, so an event is only known once its jobs are (and once
    /// the pending jobs' mark covers its record, `pending.rs`). sled
    /// recovers a prefix of its log.
    pub(super) fn write_batch(&self, w: &Writer, batch: Batch) -> StoreResult<()> {
        let Batch {
            captures,
            events,
            states,
            jobs,
        } = batch;
        let mut jobs: Vec<Option<Job>> = jobs.into_iter().map(Some).collect();
        let mut pending: Vec<(u64, u64)> = Vec::new();
        for mut capture in captures {
            let id = capture.id;
            let ids = std::mem::take(&mut capture.events);
            let mut record = Record::of(capture);
            // A replay writes the record of a capture again: events it had
            // already recorded keep their jobs.
            let mut before: Option<Record> = None;
            for eid in ids {
                let own = events
                    .iter()
                    .find(|e| e.event.id == eid && e.event.capture_id == id);
                let rec = match own {
                    Some(e) if e.duplicates > 0 => {
                        if before.is_none() {
                            before = self.record(id)?;
                        }
                        match before.as_mut().and_then(|b| b.take_own(&eid)) {
                            Some(o) => EventRec::Own(o),
                            None => EventRec::Own(own_event(e, &mut jobs)?),
                        }
                    }
                    Some(e) => {
                        let o = own_event(e, &mut jobs)?;
                        for j in &o.jobs {
                            pending.push((id, j.id));
                        }
                        EventRec::Own(o)
                    }
                    None => {
                        let capture = events
                            .iter()
                            .find(|e| e.event.id == eid)
                            .map_or(0, |e| e.event.capture_id);
                        EventRec::Seen { id: eid, capture }
                    }
                };
                record.events.push(rec);
            }
            self.insert(w, id_key(RECORD, id), pack(&record)?)?;
        }
        for job in jobs.into_iter().flatten() {
            self.insert(w, id_key(JOB, job.id), encode(&job)?)?;
            self.jobs.stored(job.id);
        }
        for &(capture, job) in &pending {
            self.jobs.add(capture, job);
        }
        if let Some(lowest) = pending.iter().map(|(c, _)| *c).min() {
            self.jobs.cover(lowest, |mark| {
                self.insert(w, WATERMARK.to_vec(), mark.to_be_bytes().to_vec())
            })?;
        }
        self.write_messages(w, &events, &states)
    }

    /// The message records the batch's events and states change.
    fn write_messages(
        &self,
        w: &Writer,
        events: &[StoredEvent],
        states: &[((String, String), crate::store::MessageState)],
    ) -> StoreResult<()> {
        let now = crate::time::now_ms();
        let mut touched: HashMap<Vec<u8>, MessageRec> = HashMap::new();
        for e in events {
            let rec = self.touch(w, &mut touched, message_key(&e.event))?;
            rec.note(&e.event.id, e.event.capture_id, e.duplicates, now);
        }
        for ((provider, message), s) in states {
            let rec = self.touch(w, &mut touched, state_key(provider, message))?;
            rec.state = Some(s.state);
            rec.at = s.at;
        }
        for (key, rec) in touched {
            self.insert(w, key.clone(), pack(&rec)?)?;
            self.messages.put(&w.open, key, Arc::new(rec));
        }
        Ok(())
    }

    /// The message record under `key` as this batch has changed it so far.
    fn touch<'a>(
        &self,
        w: &Writer,
        touched: &'a mut HashMap<Vec<u8>, MessageRec>,
        key: Vec<u8>,
    ) -> StoreResult<&'a mut MessageRec> {
        if !touched.contains_key(&key) {
            let stored = self
                .messages
                .get(&w.open, &key, |e| self.fail(&w.open, e))?;
            touched.insert(key.clone(), MessageRec::clone(&stored));
        }
        Ok(touched.entry(key).or_default())
    }
}

/// The record of an event a capture produced, taking its fresh jobs out
/// of `jobs` (the ones whose payload or schedule the record cannot hold
/// stay there, for a `j` record each).
fn own_event(e: &StoredEvent, jobs: &mut [Option<Job>]) -> StoreResult<OwnEvent> {
    let json =
        serde_json::to_string(&e.event).map_err(|err| StoreError::encode("encode event", err))?;
    let lane = e.event.lane();
    let mut recs = Vec::new();
    let mut jobs_at = None;
    for slot in jobs.iter_mut() {
        let fits = slot.as_ref().is_some_and(|j| {
            j.event_id == e.event.id
                && j.attempts.is_empty()
                && j.retries == 0
                && j.due_at == j.created_at
                && jobs_at.is_none_or(|at| at == j.created_at)
                && j.lane == lane
        });
        if !fits {
            continue;
        }
        let Some(j) = slot.take() else { continue };
        jobs_at = Some(j.created_at);
        let payload = (*j.payload != *json).then(|| j.payload.to_string());
        recs.push(JobRec {
            id: j.id,
            destination: j.destination,
            payload,
        });
    }
    Ok(OwnEvent {
        id: e.event.id.clone(),
        json,
        disposition: e.disposition,
        routes: e.routes.clone(),
        jobs_at: jobs_at.unwrap_or(0),
        jobs: recs,
    })
}
