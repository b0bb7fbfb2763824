//! Delivered jobs are recorded off the delivery path, in batches. Moving
//! each job to a delivered list of its own was two sled writes, ~30 % of
//! the router's CPU while it drained a backlog, in the destination's actor
//! (one task). The actor hands each delivered job to this thread instead,
//! which removes it from the pending list and writes one delivered record
//! for the whole batch: one write per job, on the other core.
//!
//! Nothing is weakened: a completion was never flushed before the next
//! delivery anyway (it becomes durable with the next group commit or
//! sled's periodic flush), so a crash before it is recorded means the job
//! is delivered again, with the same `webhook-id` (at-least-once). Reads
//! that must see every completion handed over so far (`pending_jobs`,
//! retention, `flush`) wait for this thread first.

use std::sync::{Arc, mpsc};

use super::engine::{Msg, Open, Shared};
use super::records::{batch_key, decode, encode, id_key, put, remove};
use super::{DELIVERED, DELIVERED_BATCH, JOB};
use crate::store::{Job, StoreError, StoreResult};

/// Jobs recorded per hold of the rotation gate (a rotation waits for at
/// most one batch).
const BATCH: usize = 256;
/// Pause after a batch (a delivered record waits at most this much longer).
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

pub(super) enum Done {
    /// This job was delivered.
    Job(Job),
    /// Call this once everything handed over before it is recorded.
    Barrier(Box<dyn FnOnce() + Send>),
}

pub(super) fn spawn(
    shared: Arc<Shared>,
    flusher: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Done>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("store-completer".into())
        .spawn(move || run(&shared, &flusher, &rx))
}

/// Ends once the store is dropped and everything handed over is recorded.
fn run(shared: &Shared, flusher: &mpsc::Sender<Msg>, rx: &mpsc::Receiver<Done>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = Vec::new();
        let mut barriers = Vec::new();
        for done in std::iter::once(first).chain(rx.try_iter().take(BATCH - 1)) {
            match done {
                Done::Job(job) => jobs.push(job),
                Done::Barrier(f) => barriers.push(f),
            }
        }
        if let Err(e) = record(shared, flusher, &jobs) {
            // The jobs stay pending: delivered again after a restart.
            tracing::error!(jobs = jobs.len(), "cannot record deliveries: {e}");
        }
        for f in barriers {
            f();
        }
        if !jobs.is_empty() {
            // Let the next batch gather: a sender wakes this thread only
            // if it is waiting on the channel, and a futex wake-up per
            // delivered job cost ~10 % of a backlog's drain.
            std::thread::sleep(LINGER);
        }
    }
}

/// One delivered record per batch, keyed by the newest job's creation
/// time (retention keeps a batch until its newest job is past the
/// cutoff). The jobs leave the pending list first: a crash in between
/// loses a delivered record, never delivers a job twice. The first error
/// stops the batch: sled returns it from every later call.
fn record(shared: &Shared, flusher: &mpsc::Sender<Msg>, jobs: &[Job]) -> StoreResult<()> {
    let Some(first) = jobs.first() else {
        return Ok(());
    };
    let w = shared.writer()?;
    for job in jobs {
        remove(&w, Some(flusher), id_key(JOB, job.id))?;
    }
    let newest = jobs.iter().map(|j| j.created_at).max().unwrap_or(0);
    put(
        &w,
        Some(flusher),
        batch_key(newest, first.id),
        encode(&jobs)?,
    )
}

/// Delivered jobs, most recent first: the batches backwards (their keys
/// sort by their newest job), each read backwards, then the one-job
/// records of older versions; the first `limit` that `keep` accepts.
/// `fail` turns a sled error into the store's.
pub(super) fn list(
    db: &Open,
    keep: &dyn Fn(&Job) -> bool,
    limit: usize,
    fail: impl Fn(sled::Error) -> StoreError,
) -> StoreResult<Vec<Job>> {
    let mut out = Vec::new();
    for kv in db.tree.scan_prefix([DELIVERED_BATCH]).rev() {
        let (k, v) = kv.map_err(&fail)?;
        let batch: Vec<Job> = decode(&k, &v)?;
        out.extend(batch.into_iter().rev().filter(|j| keep(j)));
        if out.len() >= limit {
            out.truncate(limit);
            return Ok(out);
        }
    }
    for kv in db.tree.scan_prefix([DELIVERED]).rev() {
        let (k, v) = kv.map_err(&fail)?;
        let job: Job = decode(&k, &v)?;
        if keep(&job) {
            out.push(job);
            if out.len() >= limit {
                break;
            }
        }
    }
    Ok(out)
}
