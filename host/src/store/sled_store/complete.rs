//! Delivered jobs are recorded off the delivery path, in batches. Moving
//! each job to a delivered list of its own was two sled writes, ~30 % of
//! the router's CPU while it drained a backlog, in the destination's actor
//! (one task). The actor hands each delivered job to this thread instead,
//! which appends a small delivered mark per job (`k`, `layout.rs`): the
//! job's payload stays where it was, in its callback record, and nothing
//! large is removed. After each batch it moves the pending jobs' low-water
//! mark (`pending.rs`).
//!
//! Nothing is weakened: a completion was never flushed before the next
//! delivery anyway (it becomes durable with the next group commit or
//! sled's periodic flush), so a crash before it is recorded means the job
//! is delivered again, with the same `webhook-id` (at-least-once). Reads
//! that must see every completion handed over so far (`pending_jobs`,
//! retention, `flush`) wait for this thread first.

use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use super::engine::{Msg, Open, Shared};
use super::layout::{DONE, DoneRec, RECORD, Record, id_of, pack, unpack};
use super::pending::{Outstanding, SETTLE_AFTER, WATERMARK};
use super::records::{decode, encode, id_key, put, remove};
use super::{DELIVERED, DELIVERED_BATCH, JOB};
use crate::store::{Job, StoreError, StoreResult};

/// Jobs recorded per hold of the rotation gate (a rotation waits for at
/// most one batch).
const BATCH: usize = 256;
/// Pause after a batch (a delivered record waits at most this much longer).
const LINGER: Duration = Duration::from_millis(1);
/// How often, at most, the pending jobs' mark is written (`pending.rs`).
const MARK_EVERY: Duration = Duration::from_millis(100);
/// How often long-pending jobs are written out (`pending.rs`).
const SETTLE_EVERY: Duration = Duration::from_secs(10);

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
    let (mut settled, mut marked) = (Instant::now(), Instant::now());
    loop {
        let first = match rx.recv_timeout(SETTLE_EVERY) {
            Ok(first) => Some(first),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut jobs = Vec::new();
        let mut barriers = Vec::new();
        for done in first.into_iter().chain(rx.try_iter().take(BATCH - 1)) {
            match done {
                Done::Job(job) => jobs.push(job),
                Done::Barrier(f) => barriers.push(f),
            }
        }
        if let Err(e) = record(shared, pending, flusher, &jobs) {
            // The jobs stay pending: delivered again after a restart.
            tracing::error!(jobs = jobs.len(), "cannot record deliveries: {e}");
        }
        if settled.elapsed() >= SETTLE_EVERY {
            settled = Instant::now();
            if let Err(e) = settle(shared, pending, flusher, SETTLE_AFTER) {
                tracing::warn!("cannot write long-pending jobs out: {e}");
            }
        }
        // After the marks (and `j` records) that moved it; not after every
        // delivery at a low rate (a mark that lags only means start-up
        // reads a few more records), but before a barrier returns.
        if !barriers.is_empty() || marked.elapsed() >= MARK_EVERY {
            marked = Instant::now();
            let written = shared.writer().and_then(|w| {
                pending.advance(|mark| {
                    let value = mark.to_be_bytes().to_vec();
                    put(&w, Some(flusher), WATERMARK.to_vec(), value)
                })
            });
            if let Err(e) = written {
                tracing::warn!("cannot write the pending jobs' mark: {e}");
            }
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

/// A delivered mark per job, then the `j` records retiring them leaves
/// without a purpose. A crash in between leaves a stale `j` record, which
/// the next start-up removes; never a job delivered twice. The first error
/// stops the batch: sled returns it from every later call.
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
        if pending.finish(job.id) {
            remove(&w, Some(flusher), id_key(JOB, job.id))?;
        }
    }
    Ok(())
}

/// Writes the jobs of records pending longer than `age` as `j` records
/// (before they leave the record's keeping), so that the mark can pass
/// those records.
pub(super) fn settle(
    shared: &Shared,
    pending: &Outstanding,
    flusher: &mpsc::Sender<Msg>,
    age: Duration,
) -> StoreResult<()> {
    for capture in pending.unsettled(age) {
        let w = shared.writer()?;
        let key = id_key(RECORD, capture);
        let fail = |e: sled::Error| StoreError::sled_at("settle", e);
        let wanted = pending.jobs_of(capture);
        if let Some(v) = w.open.tree.get(&key).map_err(fail)? {
            let record: Record = unpack(&key, &v)?;
            for job in record
                .jobs(&key)?
                .into_iter()
                .filter(|j| wanted.contains(&j.id))
            {
                put(&w, Some(flusher), id_key(JOB, job.id), encode(&job)?)?;
            }
        }
        pending.release(capture);
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
