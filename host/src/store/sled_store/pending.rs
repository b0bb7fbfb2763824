//! Pending jobs. A new job lives only in its callback record (`layout.rs`);
//! the record is marked `P` while any of its jobs is pending, and this
//! module remembers which ones, so that the completer removes the mark
//! with the last of them. A job whose retries changed it, or whose record
//! retention deleted, is a JSON `j` record of its own (as every pending
//! job was in the previous layout).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::engine::Open;
use super::layout::{DONE, PENDING, RECORD, Record, id_of, unpack};
use super::records::{decode, id_key};
use super::{DEAD, DELIVERED, JOB};
use crate::store::{Job, StoreError, StoreResult};

/// Jobs known to be pending, by the record that holds them.
#[derive(Default)]
pub(super) struct Outstanding {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Capture id → its record's pending jobs.
    by_capture: HashMap<u64, HashSet<u64>>,
    /// Job id → the capture whose record holds it.
    capture_of: HashMap<u64, u64>,
    /// Jobs that have a `j` record.
    stored: HashSet<u64>,
}

/// What became of a job's bookkeeping once it left the pending set.
pub(super) struct Finished {
    /// Its record has no pending job left: remove its `P` mark.
    pub emptied: Option<u64>,
    /// It had a `j` record: remove it.
    pub stored: bool,
}

impl Outstanding {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Job `job` is pending in the record of `capture`.
    pub fn add(&self, capture: u64, job: u64) {
        let mut i = self.lock();
        i.by_capture.entry(capture).or_default().insert(job);
        i.capture_of.insert(job, capture);
    }

    /// Job `job` has a `j` record.
    pub fn stored(&self, job: u64) {
        self.lock().stored.insert(job);
    }

    /// Job `job` was delivered or buried.
    pub fn finish(&self, job: u64) -> Finished {
        let mut i = self.lock();
        let stored = i.stored.remove(&job);
        let emptied = i.capture_of.remove(&job).and_then(|capture| {
            let set = i.by_capture.get_mut(&capture)?;
            set.remove(&job);
            set.is_empty().then(|| {
                i.by_capture.remove(&capture);
                capture
            })
        });
        Finished { emptied, stored }
    }

    /// The record of `capture` is going away (retention): its pending
    /// jobs, which the caller writes as `j` records.
    pub fn release(&self, capture: u64) -> Vec<u64> {
        let mut i = self.lock();
        let jobs: Vec<u64> = i
            .by_capture
            .remove(&capture)
            .map(|s| s.into_iter().collect())
            .unwrap_or_default();
        for j in &jobs {
            i.capture_of.remove(j);
            i.stored.insert(*j);
        }
        jobs
    }
}

/// Every pending job: the `j` records, then the jobs of the records marked
/// `P` that are neither delivered, dead nor a `j` record. Registers them in
/// `jobs`. Also returns the keys that a crash left stale: `j` records of
/// jobs already delivered or dead, and `P` marks with nothing pending.
pub(super) fn scan(
    db: &Open,
    jobs: &Outstanding,
    fail: &dyn Fn(sled::Error) -> StoreError,
) -> StoreResult<(Vec<Job>, Vec<Vec<u8>>)> {
    let done = |id: u64| -> StoreResult<bool> {
        for prefix in [DONE, DEAD, DELIVERED] {
            if db.tree.contains_key(id_key(prefix, id)).map_err(fail)? {
                return Ok(true);
            }
        }
        Ok(false)
    };
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
    for kv in db.tree.scan_prefix([PENDING]) {
        let (k, _) = kv.map_err(fail)?;
        let capture = id_of(&k, &k[1..])?;
        let rkey = id_key(RECORD, capture);
        let Some(v) = db.tree.get(&rkey).map_err(fail)? else {
            stale.push(k.to_vec());
            continue;
        };
        let record: Record = unpack(&rkey, &v)?;
        let mut left = 0;
        for own in record.owned().filter(|o| !o.jobs.is_empty()) {
            let event = own.event(&rkey)?;
            for job in own.jobs(&event) {
                if seen.contains(&job.id) {
                    left += 1;
                    jobs.add(capture, job.id);
                } else if !done(job.id)? {
                    left += 1;
                    jobs.add(capture, job.id);
                    out.push(job);
                }
            }
        }
        if left == 0 {
            stale.push(k.to_vec());
        }
    }
    out.sort_by_key(|j| j.id);
    Ok((out, stale))
}
