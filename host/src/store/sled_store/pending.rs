//! Pending jobs. A new job lives only in its callback record (`layout.rs`):
//! nothing but the record is written for it on the acknowledgement path. To
//! find the pending ones at start-up without reading every record, the
//! store keeps a **low-water mark** `W` (key `W`): no callback record below
//! it has a job that is pending and not a `j` record of its own. Start-up
//! reads the records from `W` on (and every `j` record).
//!
//! `W` is the lowest capture id that is still being processed (taken with
//! [`Outstanding::begin`], released when the pipeline's ticket drops) or
//! whose record has a pending job; the completer writes it after each batch
//! of delivered marks, so the marks that moved it are in the log before
//! it. What makes it safe whatever the timing: a commit whose record is
//! below the written `W` (a replay, a capture id taken without a ticket)
//! lowers it first, before the commit's message records, which are what
//! could make a provider's resend look like a duplicate. The tickets only
//! make that rare. A record whose jobs stay
//! pending longer than [`SETTLE_AFTER`] (a destination that is down) has
//! them written out as `j` records, so `W` stays within about a minute of
//! the newest callback and start-up reads little.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::engine::Open;
use super::layout::{DONE, RECORD, Record, id_of, unpack};
use super::records::{decode, id_key};
use super::{DEAD, DELIVERED, JOB};
use crate::store::{Job, StoreError, StoreResult};

/// Key of the low-water mark.
pub(super) const WATERMARK: &[u8] = b"W";
/// How long a record's jobs may stay pending before they are written out
/// as `j` records.
pub(super) const SETTLE_AFTER: Duration = Duration::from_secs(60);

/// Captures in progress and jobs known to be pending, by the record that
/// holds them.
#[derive(Default)]
pub(super) struct Outstanding {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Capture ids being processed (a count: a replay may hold one too).
    begun: BTreeMap<u64, usize>,
    /// The highest capture id begun or recorded so far.
    last: u64,
    /// Capture id → when it was registered and its record's pending jobs.
    by_capture: BTreeMap<u64, (Instant, HashSet<u64>)>,
    /// Job id → the capture whose record holds it.
    capture_of: HashMap<u64, u64>,
    /// Jobs that have a `j` record.
    stored: HashSet<u64>,
    /// The low-water mark as last written.
    written: u64,
}

impl Outstanding {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds capture id `id` until [`Self::end`]. (Taken before, not under
    /// this lock: taking an id holds the rotation gate, and the lock order
    /// is gate, then this. A mark computed in between may pass the id; its
    /// commit then lowers it, as any commit below the mark does.)
    pub fn begin(&self, id: u64) {
        let mut i = self.lock();
        *i.begun.entry(id).or_default() += 1;
        i.last = i.last.max(id);
    }

    pub fn end(&self, id: u64) {
        let mut i = self.lock();
        if let Some(n) = i.begun.get_mut(&id) {
            *n -= 1;
            if *n == 0 {
                i.begun.remove(&id);
            }
        }
    }

    /// Job `job` is pending in the record of `capture`.
    pub fn add(&self, capture: u64, job: u64) {
        let mut i = self.lock();
        i.by_capture
            .entry(capture)
            .or_insert_with(|| (Instant::now(), HashSet::new()))
            .1
            .insert(job);
        i.capture_of.insert(job, capture);
        i.last = i.last.max(capture);
    }

    /// Job `job` has a `j` record.
    pub fn stored(&self, job: u64) {
        self.lock().stored.insert(job);
    }

    /// Job `job` was delivered or buried: whether it had a `j` record (to
    /// remove).
    pub fn finish(&self, job: u64) -> bool {
        let mut i = self.lock();
        if let Some(capture) = i.capture_of.remove(&job)
            && let Some((_, set)) = i.by_capture.get_mut(&capture)
        {
            set.remove(&job);
            if set.is_empty() {
                i.by_capture.remove(&capture);
            }
        }
        i.stored.remove(&job)
    }

    /// The record of `capture` will not hold its pending jobs any more
    /// (they were written as `j` records first).
    pub fn release(&self, capture: u64) {
        let mut i = self.lock();
        let jobs = i.by_capture.remove(&capture).map(|(_, s)| s);
        for j in jobs.into_iter().flatten() {
            i.capture_of.remove(&j);
            i.stored.insert(j);
        }
    }

    /// The pending jobs of the record of `capture`.
    pub fn jobs_of(&self, capture: u64) -> HashSet<u64> {
        let i = self.lock();
        i.by_capture
            .get(&capture)
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    }

    /// Records whose jobs have been pending longer than `age`.
    pub fn unsettled(&self, age: Duration) -> Vec<u64> {
        let i = self.lock();
        i.by_capture
            .iter()
            .filter(|(_, (since, _))| since.elapsed() >= age)
            .map(|(c, _)| *c)
            .collect()
    }

    /// Writes the low-water mark with `write` if it moved up. The caller
    /// holds the rotation gate (a writer) already: the lock order is the
    /// gate, then this.
    pub fn advance(&self, write: impl FnOnce(u64) -> StoreResult<()>) -> StoreResult<()> {
        let mut i = self.lock();
        let mark = [i.begun.keys().next(), i.by_capture.keys().next()]
            .into_iter()
            .flatten()
            .min()
            .copied()
            .unwrap_or(i.last + 1);
        if mark > i.written {
            write(mark)?;
            i.written = mark;
        }
        Ok(())
    }

    /// Before the message records of a commit whose records start at
    /// `lowest`: lowers the mark with `write` if it is above.
    pub fn cover(
        &self,
        lowest: u64,
        write: impl FnOnce(u64) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let mut i = self.lock();
        if lowest < i.written {
            write(lowest)?;
            i.written = lowest;
        }
        Ok(())
    }

    /// The mark read at start-up.
    pub fn start_at(&self, mark: u64) {
        let mut i = self.lock();
        i.written = mark;
        i.last = i.last.max(mark.saturating_sub(1));
    }
}

/// The low-water mark in `db` (0: none written yet).
pub(super) fn watermark(db: &Open, fail: &dyn Fn(sled::Error) -> StoreError) -> StoreResult<u64> {
    match db.tree.get(WATERMARK).map_err(fail)? {
        Some(v) => id_of(WATERMARK, &v),
        None => Ok(0),
    }
}

/// Whether job `id` was delivered (either layout) or is dead.
pub(super) fn finished(
    db: &Open,
    id: u64,
    fail: &dyn Fn(sled::Error) -> StoreError,
) -> StoreResult<bool> {
    for prefix in [DONE, DEAD, DELIVERED] {
        if db.tree.contains_key(id_key(prefix, id)).map_err(fail)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Every pending job: the `j` records, then the jobs of the records from
/// the low-water mark on that are neither delivered, dead nor a `j` record.
/// Registers them in `jobs`. Also returns the `j` records a crash left
/// behind a job already delivered or dead (to remove).
pub(super) fn scan(
    db: &Open,
    jobs: &Outstanding,
    fail: &dyn Fn(sled::Error) -> StoreError,
) -> StoreResult<(Vec<Job>, Vec<Vec<u8>>)> {
    let done = |id: u64| finished(db, id, fail);
    let (mut out, mut stale) = (Vec::new(), Vec::new());
    let mut seen = HashSet::new();
    for kv in db.tree.scan_prefix([JOB]) {
        let (k, v) = kv.map_err(fail)?;
        let job: Job = decode(&k, &v)?;
        seen.insert(job.id);
        if done(job.id)? {
            stale.push(k.to_vec());
        } else {
            jobs.stored(job.id);
            out.push(job);
        }
    }
    let mark = watermark(db, fail)?;
    jobs.start_at(mark);
    for kv in db
        .tree
        .range(id_key(RECORD, mark)..id_key(RECORD, u64::MAX))
    {
        let (k, v) = kv.map_err(fail)?;
        let capture = id_of(&k, &k[1..])?;
        let record: Record = unpack(&k, &v)?;
        for job in record.jobs(&k)? {
            if seen.contains(&job.id) || done(job.id)? {
                continue;
            }
            jobs.add(capture, job.id);
            out.push(job);
        }
    }
    out.sort_by_key(|j| j.id);
    Ok((out, stale))
}
