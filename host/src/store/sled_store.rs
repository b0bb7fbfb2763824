//! The embedded store on sled, with group commit: writers apply their batch
//! in memory and queue for the flusher thread, which fsyncs once for every
//! writer queued (one fsync ~0.3 ms here; 50k+ durable writes/s at 32
//! concurrent writers). `flush_async` from many tasks hung in tests here, so
//! it is never used.

use std::sync::mpsc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use super::*;

// One tree, keys prefixed by record type.
const CAPTURE: u8 = b'c';
const EVENT: u8 = b'e';
const STATE: u8 = b's';
const JOB: u8 = b'j';
const DELIVERED: u8 = b'd';
const DEAD: u8 = b'x';
/// Destinations disabled by a `410 Gone`, by name.
const DISABLED: u8 = b'g';

type Waiter = oneshot::Sender<StoreResult<()>>;

pub struct SledStore {
    db: sled::Db,
    tree: sled::Tree,
    flusher: Option<mpsc::Sender<Waiter>>,
    flusher_thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for SledStore {
    /// Stops the flusher (it holds the database open) before the store goes.
    fn drop(&mut self) {
        self.flusher.take();
        if let Some(t) = self.flusher_thread.take() {
            let _ = t.join();
        }
    }
}

impl SledStore {
    pub fn open(dir: &std::path::Path) -> StoreResult<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Io(format!("{}: {e}", dir.display())))?;
        let db = sled::Config::new()
            .path(dir.join("db"))
            .cache_capacity(64 << 20)
            .flush_every_ms(Some(1000))
            .open()
            .map_err(|e| StoreError::Io(format!("{}: {e}", dir.display())))?;
        let tree = db.open_tree("switchboard").map_err(io)?;
        let (tx, rx) = mpsc::channel::<Waiter>();
        let flush_db = db.clone();
        let thread = std::thread::Builder::new()
            .name("store-flusher".into())
            .spawn(move || group_commit(flush_db, rx))
            .map_err(|e| StoreError::Io(format!("flusher thread: {e}")))?;
        Ok(Self {
            db,
            tree,
            flusher: Some(tx),
            flusher_thread: Some(thread),
        })
    }

    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> StoreResult<Option<T>> {
        match self.tree.get(key).map_err(io)? {
            Some(v) => decode(key, &v).map(Some),
            None => Ok(None),
        }
    }

    fn scan<T: DeserializeOwned>(&self, prefix: u8) -> StoreResult<Vec<T>> {
        self.tree
            .scan_prefix([prefix])
            .map(|kv| {
                let (k, v) = kv.map_err(io)?;
                decode(&k, &v)
            })
            .collect()
    }

    /// Copies the job to its final place, then removes it from the pending
    /// set: a crash in between leaves it pending (sent again: at-least-once).
    /// Moves a job between lists: written to the new one first, so a crash
    /// in between leaves it in both, never in neither; `pending_jobs` skips
    /// a pending job that is also delivered or dead. (Not `apply_batch`:
    /// sled serializes batches against every other write, which stalled
    /// the callbacks' commits behind deliveries.)
    fn move_job(&self, job: &Job, from: u8, to: u8) -> StoreResult<()> {
        self.tree
            .insert(id_key(to, job.id), encode(job)?)
            .map_err(io)?;
        self.tree
            .remove(id_key(from, job.id))
            .map(|_| ())
            .map_err(io)
    }
}

/// The flusher: waits for a first writer, takes every writer queued behind
/// it, flushes once and answers them all.
fn group_commit(db: sled::Db, rx: mpsc::Receiver<Waiter>) {
    while let Ok(first) = rx.recv() {
        let mut waiters = vec![first];
        waiters.extend(rx.try_iter());
        let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
        for w in waiters {
            // A writer that went away (client hung up) needs no answer.
            let _ = w.send(result.clone().map_err(StoreError::Io));
        }
    }
}

fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

fn id_key(prefix: u8, id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(prefix);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn str_key(prefix: u8, parts: &[&str]) -> Vec<u8> {
    let mut k = vec![prefix];
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(p.as_bytes());
    }
    k
}

fn encode<T: Serialize>(v: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| StoreError::Io(format!("encode: {e}")))
}

fn decode<T: DeserializeOwned>(key: &[u8], v: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(v).map_err(|e| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    })
}

impl Store for SledStore {
    fn next_id(&self) -> StoreResult<u64> {
        // sled persists the counter ahead of use, so ids never repeat after
        // a crash (they may skip).
        self.db.generate_id().map(|id| id + 1).map_err(io)
    }

    /// Inserts one by one, in an order that makes every crash prefix safe,
    /// instead of `apply_batch`: sled's batches take a global write lock and
    /// cut durable throughput to a third here (10k vs 29k commits/s at 64
    /// writers). Nothing is acknowledged before the flush, so a crash before
    /// it means the provider resends; by then, whatever prefix survived must
    /// not swallow the resend. Jobs go first (a surviving job is delivered;
    /// the resend may add a second one with the same `webhook-id`, which is
    /// at-least-once, never loss), then message states, then events (the
    /// dedup keys: an event is only known once its jobs are), then the
    /// capture. sled recovers a prefix of its log, so this order holds.
    fn commit(&self, batch: Batch) -> StoreResult<Durable> {
        for j in &batch.jobs {
            self.tree
                .insert(id_key(JOB, j.id), encode(j)?)
                .map_err(io)?;
        }
        for ((provider, message), s) in &batch.states {
            self.tree
                .insert(str_key(STATE, &[provider, message]), encode(s)?)
                .map_err(io)?;
        }
        for e in &batch.events {
            self.tree
                .insert(str_key(EVENT, &[&e.event.id]), encode(e)?)
                .map_err(io)?;
        }
        for c in &batch.captures {
            self.tree
                .insert(id_key(CAPTURE, c.id), encode(c)?)
                .map_err(io)?;
        }
        Ok(self.flush())
    }

    fn flush(&self) -> Durable {
        let (tx, rx) = oneshot::channel();
        let sent = self.flusher.as_ref().is_some_and(|f| f.send(tx).is_ok());
        Box::pin(async move {
            if !sent {
                return Err(StoreError::Io("store flusher stopped".into()));
            }
            rx.await
                .unwrap_or_else(|_| Err(StoreError::Io("store flusher stopped".into())))
        })
    }

    fn capture(&self, id: u64) -> StoreResult<Option<Capture>> {
        self.get(&id_key(CAPTURE, id))
    }

    fn captures(&self, before: Option<u64>, limit: usize) -> StoreResult<Vec<Capture>> {
        let end = id_key(CAPTURE, before.unwrap_or(u64::MAX));
        self.tree
            .range(id_key(CAPTURE, 0)..end)
            .rev()
            .take(limit)
            .map(|kv| {
                let (k, v) = kv.map_err(io)?;
                decode(&k, &v)
            })
            .collect()
    }

    fn event(&self, id: &str) -> StoreResult<Option<StoredEvent>> {
        self.get(&str_key(EVENT, &[id]))
    }

    fn message_state(&self, provider: &str, message_id: &str) -> StoreResult<Option<MessageState>> {
        self.get(&str_key(STATE, &[provider, message_id]))
    }

    fn pending_jobs(&self) -> StoreResult<Vec<Job>> {
        let mut out = Vec::new();
        for job in self.scan::<Job>(JOB)? {
            // Finished just before a crash: its move did not complete.
            let done = self
                .tree
                .contains_key(id_key(DELIVERED, job.id))
                .map_err(io)?
                || self.tree.contains_key(id_key(DEAD, job.id)).map_err(io)?;
            if done {
                self.tree.remove(id_key(JOB, job.id)).map_err(io)?;
            } else {
                out.push(job);
            }
        }
        Ok(out)
    }

    fn retry_job(&self, job: &Job) -> StoreResult<()> {
        self.tree
            .insert(id_key(JOB, job.id), encode(job)?)
            .map(|_| ())
            .map_err(io)
    }

    fn complete_job(&self, job: &Job) -> StoreResult<()> {
        // The payload is the event, which the store keeps anyway: the
        // delivered record keeps only the attempts.
        let done = Job {
            payload: String::new(),
            ..job.clone()
        };
        self.move_job(&done, JOB, DELIVERED)
    }

    fn bury_job(&self, job: &Job) -> StoreResult<()> {
        self.move_job(job, JOB, DEAD)
    }

    fn dead_jobs(&self) -> StoreResult<Vec<Job>> {
        self.scan(DEAD)
    }

    fn redrive(&self, id: u64, now_ms: i64) -> StoreResult<Option<Job>> {
        let Some(mut job) = self.get::<Job>(&id_key(DEAD, id))? else {
            return Ok(None);
        };
        job.due_at = now_ms;
        job.retries = 0;
        self.move_job(&job, DEAD, JOB)?;
        Ok(Some(job))
    }

    fn compact(&self, cutoff_ms: i64) -> StoreResult<Compacted> {
        let mut done = Compacted::default();
        // Ids grow with time: scan from the oldest and stop at the cutoff.
        for kv in self.tree.scan_prefix([CAPTURE]) {
            let (k, v) = kv.map_err(io)?;
            let c: Capture = decode(&k, &v)?;
            if c.received_at >= cutoff_ms {
                break;
            }
            for id in &c.events {
                if self
                    .tree
                    .remove(str_key(EVENT, &[id]))
                    .map_err(io)?
                    .is_some()
                {
                    done.events += 1;
                }
            }
            self.tree.remove(k).map_err(io)?;
            done.captures += 1;
        }
        for kv in self.tree.scan_prefix([DELIVERED]) {
            let (k, v) = kv.map_err(io)?;
            let j: Job = decode(&k, &v)?;
            if j.created_at >= cutoff_ms {
                break;
            }
            self.tree.remove(k).map_err(io)?;
            done.delivered += 1;
        }
        Ok(done)
    }

    fn size_on_disk(&self) -> StoreResult<u64> {
        self.db.size_on_disk().map_err(io)
    }

    fn set_disabled(&self, destination: &str, reason: Option<&str>) -> StoreResult<()> {
        let mut key = vec![DISABLED];
        key.extend_from_slice(destination.as_bytes());
        match reason {
            Some(r) => self.tree.insert(key, encode(&r)?).map(|_| ()),
            None => self.tree.remove(key).map(|_| ()),
        }
        .map_err(io)
    }

    fn disabled(&self) -> StoreResult<Vec<(String, String)>> {
        self.tree
            .scan_prefix([DISABLED])
            .map(|kv| {
                let (k, v) = kv.map_err(io)?;
                let name = String::from_utf8_lossy(&k[1..]).into_owned();
                Ok((name, decode(&k, &v)?))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(id: u64) -> Capture {
        Capture {
            id,
            plugin: "twilio".into(),
            route: "/smsCallback".into(),
            method: "POST".into(),
            url: "https://h/api/v1/smsCallback".into(),
            path: "/smsCallback".into(),
            query: String::new(),
            headers: vec![("x-twilio-signature".into(), "abc".into())],
            body: vec![0, 159, 146, 150, b'a'],
            params: vec![],
            remote_addr: "127.0.0.1".into(),
            received_at: 1,
            status: CaptureStatus::Accepted,
            reply_status: 200,
            events: vec![],
        }
    }

    fn job(id: u64) -> Job {
        Job {
            id,
            destination: "d".into(),
            event_id: format!("evt_{id}"),
            lane: "twilio:SM1".into(),
            payload: "{}".into(),
            created_at: 0,
            due_at: 0,
            attempts: vec![],
            retries: 0,
        }
    }

    #[tokio::test]
    async fn captures_round_trip_newest_first_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let first_id;
        {
            let s = SledStore::open(dir.path()).unwrap();
            first_id = s.next_id().unwrap();
            for id in [first_id, first_id + 1, first_id + 2] {
                s.commit(Batch {
                    captures: vec![capture(id)],
                    ..Batch::default()
                })
                .unwrap()
                .await
                .unwrap();
            }
            let got = s.capture(first_id).unwrap().unwrap();
            assert_eq!(got.body, vec![0, 159, 146, 150, b'a']);
            let ids: Vec<u64> = s.captures(None, 2).unwrap().iter().map(|c| c.id).collect();
            assert_eq!(ids, vec![first_id + 2, first_id + 1]);
            let ids: Vec<u64> = s
                .captures(Some(first_id + 1), 10)
                .unwrap()
                .iter()
                .map(|c| c.id)
                .collect();
            assert_eq!(ids, vec![first_id]);
        }
        let s = SledStore::open(dir.path()).unwrap();
        assert!(s.capture(first_id + 2).unwrap().is_some());
        assert!(
            s.next_id().unwrap() > first_id,
            "ids must not repeat after a restart"
        );
    }

    #[tokio::test]
    async fn jobs_move_from_pending_to_delivered_or_dead() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path()).unwrap();
        s.commit(Batch {
            jobs: vec![job(1), job(2), job(3)],
            ..Batch::default()
        })
        .unwrap()
        .await
        .unwrap();
        let mut j2 = job(2);
        j2.due_at = 99;
        s.retry_job(&j2).unwrap();
        s.complete_job(&job(1)).unwrap();
        s.bury_job(&job(3)).unwrap();
        let pending = s.pending_jobs().unwrap();
        assert_eq!(
            pending.iter().map(|j| (j.id, j.due_at)).collect::<Vec<_>>(),
            vec![(2, 99)]
        );
        assert_eq!(
            s.dead_jobs()
                .unwrap()
                .iter()
                .map(|j| j.id)
                .collect::<Vec<_>>(),
            vec![3]
        );
    }

    #[tokio::test]
    async fn a_move_cut_short_by_a_crash_is_not_delivered_again() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path()).unwrap();
        s.commit(Batch {
            jobs: vec![job(1), job(2)],
            ..Batch::default()
        })
        .unwrap()
        .await
        .unwrap();
        // The crash came after the delivered record, before the removal.
        s.tree
            .insert(id_key(DELIVERED, 1), encode(&job(1)).unwrap())
            .unwrap();
        let pending: Vec<u64> = s.pending_jobs().unwrap().iter().map(|j| j.id).collect();
        assert_eq!(pending, vec![2]);
        assert!(!s.tree.contains_key(id_key(JOB, 1)).unwrap(), "cleaned up");
    }

    #[tokio::test]
    async fn compaction_removes_old_captures_events_and_delivered_records_only() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path()).unwrap();
        let mut old = capture(1);
        old.received_at = 100;
        old.events = vec!["evt_old".into()];
        let mut new = capture(2);
        new.received_at = 5_000;
        let mut delivered_old = job(3);
        delivered_old.created_at = 100;
        let mut delivered_new = job(4);
        delivered_new.created_at = 5_000;
        let pending = job(5);
        s.commit(Batch {
            captures: vec![old, new],
            jobs: vec![delivered_old.clone(), delivered_new.clone(), pending],
            ..Batch::default()
        })
        .unwrap()
        .await
        .unwrap();
        s.tree
            .insert(str_key(EVENT, &["evt_old"]), b"{}".to_vec())
            .unwrap();
        s.complete_job(&delivered_old).unwrap();
        s.complete_job(&delivered_new).unwrap();
        let done = s.compact(1_000).unwrap();
        assert_eq!(
            done,
            Compacted {
                captures: 1,
                events: 1,
                delivered: 1
            }
        );
        assert!(s.capture(1).unwrap().is_none() && s.capture(2).unwrap().is_some());
        assert_eq!(s.pending_jobs().unwrap().len(), 1);
        assert_eq!(s.compact(1_000).unwrap(), Compacted::default());
    }
}
