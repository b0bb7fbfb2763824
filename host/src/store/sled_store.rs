//! The embedded store on sled. Writers apply their batch in memory and
//! queue for one flusher thread, which fsyncs once for everyone queued
//! (group commit); after an I/O fault (full or read-only disk) the
//! database is closed and reopened until writes succeed again, so the
//! router stops acknowledging during the fault and recovers without a
//! restart (`engine.rs`).

mod access;
mod commit;
mod compact;
mod complete;
mod engine;
mod layout;
mod messages;
mod migrate;
mod pending;
mod records;
mod rotate;
#[cfg(test)]
mod tests;

use std::sync::{Arc, mpsc};

use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use self::complete::Done;
use self::engine::{Msg, Open, Shared, Writer, queue_flush};
use self::layout::{EventRec, MessageRec, RECORD, Record, id_of, message_key, state_key, unpack};
use self::messages::Messages;
use self::pending::Outstanding;
use self::records::{decode, encode, fail, id_key, put, remove};
pub use self::rotate::Rotated;
use super::*;

// One tree, keys prefixed by record type: those of the layout are in
// `layout.rs`; these are the JSON records kept from before it.
/// A pending job changed by its retries, or whose callback record is gone.
const JOB: u8 = b'j';
const DEAD: u8 = b'x';
/// Destinations disabled by a `410 Gone`, by name.
const DISABLED: u8 = b'g';
/// Webhooks created through the admin API, by id.
const WEBHOOK: u8 = b'w';
// The previous layout (`migrate.rs` converts the first three at open;
// delivered records are read as they are until retention deletes them).
const CAPTURE: u8 = b'c';
const EVENT: u8 = b'e';
const STATE: u8 = b's';
/// A delivered job, one record each.
const DELIVERED: u8 = b'd';
/// Delivered jobs, one record per batch: key = newest job's creation
/// time, first job's id.
const DELIVERED_BATCH: u8 = b'D';

pub struct SledStore {
    shared: Arc<Shared>,
    messages: Messages,
    jobs: Arc<Outstanding>,
    flusher: Option<mpsc::Sender<Msg>>,
    flusher_thread: Option<std::thread::JoinHandle<()>>,
    /// Records delivered jobs off the delivery path (`complete.rs`).
    completer: Option<mpsc::Sender<Done>>,
    completer_thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for SledStore {
    /// Lets the completer record what it was handed, then stops the
    /// flusher (it may be holding the database to flush it), before the
    /// store goes.
    fn drop(&mut self) {
        self.completer.take();
        if let Some(t) = self.completer_thread.take() {
            let _ = t.join();
        }
        self.flusher.take();
        if let Some(t) = self.flusher_thread.take() {
            let _ = t.join();
        }
    }
}

impl SledStore {
    pub fn open(dir: &std::path::Path) -> StoreResult<Self> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::file(dir.display().to_string(), e))?;
        let shared = Shared::open(dir)?;
        migrate::migrate(&*shared.get()?)?;
        let jobs = Arc::new(Outstanding::default());
        let (tx, rx) = mpsc::channel::<Msg>();
        let thread = engine::spawn_flusher(shared.clone(), rx)
            .map_err(|e| StoreError::file("flusher thread", e))?;
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let completer = complete::spawn(shared.clone(), jobs.clone(), tx.clone(), done_rx)
            .map_err(|e| StoreError::file("completer thread", e))?;
        Ok(Self {
            shared,
            messages: Messages::new(),
            jobs,
            flusher: Some(tx),
            flusher_thread: Some(thread),
            completer: Some(done_tx),
            completer_thread: Some(completer),
        })
    }
}

impl Store for SledStore {
    fn next_id(&self) -> StoreResult<u64> {
        // sled persists the counter ahead of use, so ids never repeat after
        // a crash or a reopen (they may skip).
        // Under the gate: a rotation sets the next database's id base.
        let w = self.writer()?;
        w.open
            .db
            .generate_id()
            .map(|id| w.open.id_base + id + 1)
            .map_err(|e| self.fail(&w.open, e))
    }

    /// Held in `pending.rs` until the ticket drops, so that the pending
    /// jobs' mark stays below a capture whose record may still come.
    fn begin(&self) -> StoreResult<Ticket> {
        let id = self.next_id()?;
        self.jobs.begin(id);
        let jobs = Arc::downgrade(&self.jobs);
        Ok(Ticket::new(
            id,
            Some(Box::new(move || {
                if let Some(jobs) = jobs.upgrade() {
                    jobs.end(id);
                }
            })),
        ))
    }

    /// See `commit.rs` for the order of the writes.
    fn commit(&self, batch: Batch) -> StoreResult<Durable> {
        let w = self.writer()?;
        self.write_batch(&w, batch)?;
        Ok(self.durable(w.open.generation))
    }

    fn flush(&self) -> Durable {
        // Completions handed over so far are part of "written so far".
        let (tx, completed) = oneshot::channel::<()>();
        let barrier = self.barrier(move || {
            let _ = tx.send(());
        });
        let (flusher, shared) = (self.flusher.clone(), self.shared.clone());
        Box::pin(async move {
            if barrier {
                let _ = completed.await;
            }
            let generation = shared.get()?.generation;
            queue_flush(flusher.as_ref(), generation).await
        })
    }

    fn capture(&self, id: u64) -> StoreResult<Option<Capture>> {
        Ok(self.record(id)?.map(|r| r.capture(id)))
    }

    fn captures(&self, before: Option<u64>, limit: usize) -> StoreResult<Vec<Capture>> {
        let db = self.db()?;
        let end = id_key(RECORD, before.unwrap_or(u64::MAX));
        db.tree
            .range(id_key(RECORD, 0)..end)
            .rev()
            .take(limit)
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.fail(&db, e))?;
                let record: Record = unpack(&k, &v)?;
                Ok(record.capture(id_of(&k, &k[1..])?))
            })
            .collect()
    }

    /// Not indexed (an index entry per event cost a fifth of a callback's
    /// store CPU): the message records are searched.
    fn event(&self, id: &str) -> StoreResult<Option<StoredEvent>> {
        let db = self.db()?;
        for kv in db.tree.scan_prefix([layout::MESSAGE]) {
            let (k, v) = kv.map_err(|e| self.fail(&db, e))?;
            let rec: MessageRec = unpack(&k, &v)?;
            if let Some(s) = rec.seen(id) {
                return self.recorded(s.capture, id, s.duplicates);
            }
        }
        Ok(None)
    }

    fn events_of(&self, capture: &Capture) -> StoreResult<Vec<StoredEvent>> {
        let Some(record) = self.record(capture.id)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in &record.events {
            let stored = match e {
                EventRec::Own(own) => Some(own.stored(&id_key(RECORD, capture.id), 0)?),
                EventRec::Seen { id, capture } => self.recorded(*capture, id, 0)?,
            };
            if let Some(mut stored) = stored {
                let message = self.message(&message_key(&stored.event))?;
                stored.duplicates = message.seen(&stored.event.id).map_or(0, |s| s.duplicates);
                out.push(stored);
            }
        }
        Ok(out)
    }

    fn message_state(&self, provider: &str, message_id: &str) -> StoreResult<Option<MessageState>> {
        Ok(self.message(&state_key(provider, message_id))?.state())
    }

    /// One message record (mostly from the cache) answers both questions.
    fn seen(&self, event: &Event) -> StoreResult<Seen> {
        let message = self.message(&message_key(event))?;
        if let Some(s) = message.seen(&event.id)
            && let Some(prior) = self.recorded(s.capture, &event.id, s.duplicates)?
        {
            return Ok(Seen::Before(Box::new(prior)));
        }
        // Retention deleted the event's record: it is new again.
        Ok(Seen::New(message.state()))
    }

    fn pending_jobs(&self) -> StoreResult<Vec<Job>> {
        self.completions();
        let db = self.db()?;
        let (jobs, stale) = pending::scan(&db, &self.jobs, &|e| self.fail(&db, e))?;
        if !stale.is_empty() {
            let w = self.writer()?;
            for key in stale {
                self.remove(&w, key)?;
            }
        }
        Ok(jobs)
    }

    fn retry_job(&self, job: &Job) -> StoreResult<()> {
        self.insert(&self.writer()?, id_key(JOB, job.id), encode(job)?)?;
        self.jobs.stored(job.id);
        Ok(())
    }

    fn complete_job(&self, job: &Job) -> StoreResult<()> {
        match &self.completer {
            Some(c) if c.send(Done::Job(job.delivered_record())).is_ok() => Ok(()),
            _ => Err(StoreError::unavailable("store completer stopped")),
        }
    }

    /// The dead letter is written before the job leaves the pending set: a
    /// crash in between leaves it in both, and start-up drops the pending one.
    fn bury_job(&self, job: &Job) -> StoreResult<()> {
        let w = self.writer()?;
        self.insert(&w, id_key(DEAD, job.id), encode(job)?)?;
        self.retire(&w, job.id)
    }

    fn dead_jobs(&self) -> StoreResult<Vec<Job>> {
        self.scan(DEAD)
    }

    fn delivered_jobs(&self, keep: &dyn Fn(&Job) -> bool, limit: usize) -> StoreResult<Vec<Job>> {
        self.completions();
        let db = self.db()?;
        complete::list(&db, keep, limit, |e| self.fail(&db, e))
    }

    fn redrive(&self, id: u64, now_ms: i64) -> StoreResult<Option<Job>> {
        let Some(mut job) = self.get::<Job>(&id_key(DEAD, id))? else {
            return Ok(None);
        };
        job.due_at = now_ms;
        job.retries = 0;
        let w = self.writer()?;
        self.insert(&w, id_key(JOB, job.id), encode(&job)?)?;
        self.jobs.stored(job.id);
        self.remove(&w, id_key(DEAD, job.id))?;
        Ok(Some(job))
    }

    fn compact(&self, cutoff_ms: i64) -> StoreResult<Compacted> {
        self.completions();
        let mut done = self.retention(cutoff_ms)?;
        // Deleting gives no space back in sled: rotate when it has grown.
        if let Ok(Some(r)) = rotate::rotate_if_grown(&self.shared) {
            done.rotated = Some((r.before, r.after));
        }
        Ok(done)
    }

    fn size_on_disk(&self) -> StoreResult<u64> {
        let db = self.db()?;
        db.db.size_on_disk().map_err(|e| self.fail(&db, e))
    }

    fn set_disabled(&self, destination: &str, reason: Option<&str>) -> StoreResult<()> {
        let w = self.writer()?;
        let mut key = vec![DISABLED];
        key.extend_from_slice(destination.as_bytes());
        match reason {
            Some(r) => self.insert(&w, key, encode(&r)?),
            None => self.remove(&w, key).map(|_| ()),
        }
    }

    fn disabled(&self) -> StoreResult<Vec<(String, String)>> {
        let db = self.db()?;
        db.tree
            .scan_prefix([DISABLED])
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.fail(&db, e))?;
                let name = String::from_utf8_lossy(&k[1..]).into_owned();
                Ok((name, decode(&k, &v)?))
            })
            .collect()
    }

    fn webhooks(&self) -> StoreResult<Vec<Vec<u8>>> {
        let db = self.db()?;
        db.tree
            .scan_prefix([WEBHOOK])
            .map(|kv| Ok(kv.map_err(|e| self.fail(&db, e))?.1.to_vec()))
            .collect()
    }

    fn put_webhook(&self, id: &str, record: &[u8]) -> StoreResult<()> {
        let w = self.writer()?;
        let mut key = vec![WEBHOOK];
        key.extend_from_slice(id.as_bytes());
        self.insert(&w, key, record.to_vec())
    }
}
