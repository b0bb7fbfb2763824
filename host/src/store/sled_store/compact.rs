//! Retention: callback records received before the cutoff (with their
//! events), delivered marks and records older than it, and
//! message records untouched since; pending and dead jobs are kept.

use super::SledStore;
use super::layout::{DONE, DoneRec, MESSAGE, MessageRec, RECORD, Record};
use super::layout::{id_of, unpack};
use super::pending::finished;
use super::records::{batch_newest, decode, encode, id_key};
use super::{DELIVERED, DELIVERED_BATCH, JOB};
use crate::store::{Compacted, Job, StoreResult};

impl SledStore {
    pub(super) fn retention(&self, cutoff_ms: i64) -> StoreResult<Compacted> {
        let db = self.db()?;
        let fail = |e| self.fail(&db, e);
        let mut done = Compacted::default();
        // Below the pending jobs' mark every job is delivered, dead or a
        // `j` record already.
        let mark = super::pending::watermark(&db, &fail)?;
        // Ids grow with time: scan from the oldest and stop at the cutoff.
        for kv in db.tree.scan_prefix([RECORD]) {
            let (k, v) = kv.map_err(fail)?;
            let record: Record = unpack(&k, &v)?;
            if record.received_at >= cutoff_ms {
                break;
            }
            let capture = id_of(&k, &k[1..])?;
            // A writer per record: a long hold of the gate would stall a
            // rotation and, behind it, every writer.
            let w = self.writer()?;
            // Its pending jobs outlive it, as `j` records of their own
            // (written before the record goes).
            if capture >= mark {
                for job in record.jobs(&k)? {
                    let stored = db.tree.contains_key(id_key(JOB, job.id)).map_err(fail)?;
                    if !stored && !finished(&db, job.id, &fail)? {
                        self.insert(&w, id_key(JOB, job.id), encode(&job)?)?;
                    }
                }
                self.jobs.release(capture);
            }
            done.events += record.owned().count();
            self.remove(&w, k)?;
            done.captures += 1;
        }
        for kv in db.tree.scan_prefix([DONE]) {
            let (k, v) = kv.map_err(fail)?;
            if unpack::<DoneRec>(&k, &v)?.created_at >= cutoff_ms {
                break;
            }
            self.remove(&self.writer()?, k)?;
            done.delivered += 1;
        }
        for kv in db.tree.scan_prefix([DELIVERED]) {
            let (k, v) = kv.map_err(fail)?;
            let j: Job = decode(&k, &v)?;
            if j.created_at >= cutoff_ms {
                break;
            }
            self.remove(&self.writer()?, k)?;
            done.delivered += 1;
        }
        for kv in db.tree.scan_prefix([DELIVERED_BATCH]) {
            let (k, v) = kv.map_err(fail)?;
            if batch_newest(&k).is_some_and(|newest| newest >= cutoff_ms) {
                break;
            }
            let jobs: Vec<Job> = decode(&k, &v)?;
            self.remove(&self.writer()?, k)?;
            done.delivered += jobs.len();
        }
        // Message records: keyed by message, so every one is read. Removed
        // only if unchanged since it was read: a callback may touch it now.
        for kv in db.tree.scan_prefix([MESSAGE]) {
            let (k, v) = kv.map_err(fail)?;
            let rec: MessageRec = unpack(&k, &v)?;
            if rec.at >= cutoff_ms {
                continue;
            }
            let w = self.writer()?;
            w.mirror(|t| t.compare_and_swap(&k, Some(&v), None::<&[u8]>).map(|_| ()));
            let swapped = w
                .open
                .tree
                .compare_and_swap(&k, Some(&v), None::<&[u8]>)
                .map_err(|e| self.fail(&w.open, e))?;
            if swapped.is_ok() {
                self.messages.forget(&k);
                done.states += usize::from(rec.state.is_some());
            }
        }
        Ok(done)
    }
}
