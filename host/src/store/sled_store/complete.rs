//! Delivered jobs are recorded off the delivery path, in batches. Moving
//! each job to a delivered list of its own was two sled writes, ~30 % of
//! the router's CPU while it drained a backlog, in the destination's actor
//! (one task). The actor hands each delivered job to this thread instead,
//! which appends a small delivered mark per job (`k`, `layout.rs`): the
//! job's payload stays where it was, in its callback record, and nothing
//! large is removed. Once a record's last job is retired, its pending
//! mark goes.
//!
//! Nothing is weakened: a completion was never flushed before the next
//! delivery anyway (it becomes durable with the next group commit or
//! sled's periodic flush), so a crash before it is recorded means the job
//! is delivered again, with the same `webhook-id` (at-least-once). Reads
//! that must see every completion handed over so far (`pending_jobs`,
//! retention, `flush`) wait for this thread first.

use std::sync::{Arc, mpsc};

use super::engine::{Msg, Open, Shared};
use super::layout::{DONE, DoneRec, PENDING, id_of, pack, unpack};
use super::pending::Outstanding;
use super::records::{decode, id_key, put, remove};
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
    pending: Arc<Outstanding>,
    flusher: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Done>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("store-completer".into())
        .spawn(move || run(&shared, &pending, &flusher, &rx))
}

/// Ends once the store is dropped and everything handed over is recorded.
fn run(
    shared: &Shared,
    pending: &Outstanding,
    flusher: &mpsc::Sender<Msg>,
    rx: &mpsc::Receiver<Done>,
) {
    while let Ok(first) = rx.recv() {
        let mut jobs = Vec::new();
        let mut barriers = Vec::new();
        for done in std::iter::once(first).chain(rx.try_iter().take(BATCH - 1)) {
            match done {
                Done::Job(job) => jobs.push(job),
                Done::Barrier(f) => barriers.push(f),
            }
        }
        if let Err(e) = record(shared, pending, flusher, &jobs) {
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

/// A delivered mark per job, then the `j` records and pending marks
/// that retiring them leaves without a purpose. A crash in between leaves
/// a stale `j` record or mark, which the next start-up removes; never a
/// job delivered twice. The first error stops the batch: sled returns it
/// from every later call.
fn record(
    shared: &Shared,
    pending: &Outstanding,
    flusher: &mpsc::Sender<Msg>,
    jobs: &[Job],
) -> StoreResult<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let w = shared.writer()?;
    for job in jobs {
        put(
            &w,
            Some(flusher),
            id_key(DONE, job.id),
            pack(&DoneRec::of(job))?,
        )?;
    }
    for job in jobs {
        let finished = pending.finish(job.id);
        if finished.stored {
            remove(&w, Some(flusher), id_key(JOB, job.id))?;
        }
        if let Some(capture) = finished.emptied {
            remove(&w, Some(flusher), id_key(PENDING, capture))?;
        }
    }
    Ok(())
}

/// Delivered jobs, most recent first: the delivered marks backwards (by
/// job id), then the records of the previous layout (batches, each read
/// backwards, then one-job records); the first `limit` that `keep` accepts.
/// `fail` turns a sled error into the store's.
pub(super) fn list(
    db: &Open,
    keep: &dyn Fn(&Job) -> bool,
    limit: usize,
    fail: impl Fn(sled::Error) -> StoreError,
) -> StoreResult<Vec<Job>> {
    let mut out = Vec::new();
    for kv in db.tree.scan_prefix([DONE]).rev() {
        let (k, v) = kv.map_err(&fail)?;
        let job = unpack::<DoneRec>(&k, &v)?.job(id_of(&k, &k[1..])?);
        if keep(&job) {
            out.push(job);
            if out.len() >= limit {
                return Ok(out);
            }
        }
    }
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
