//! Durable state: captures, events, per-message state, delivery jobs and
//! dead letters. Behind the [`Store`] trait: the embedded sled engine for
//! one router, or NATS JetStream shared by several.

mod error;
mod jetstream;
mod sled_store;

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

pub use error::{Cause, StoreError};
pub use jetstream::JetStreamStore;
pub use sled_store::SledStore;

use crate::event::{Event, State};

pub type StoreResult<T> = Result<T, StoreError>;

/// Resolves once everything committed before it is on disk.
pub type Durable = Pin<Box<dyn Future<Output = StoreResult<()>> + Send>>;
/// Resolves once [`Store::prefetch`] has read ahead (errors are left for
/// the reads themselves to report).
pub type Prefetch = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One request exactly as received, kept whatever happens next.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Capture {
    pub id: u64,
    pub plugin: String,
    pub route: String,
    pub method: String,
    pub url: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    #[serde(with = "b64")]
    pub body: Vec<u8>,
    pub params: Vec<(String, String)>,
    pub remote_addr: String,
    pub received_at: i64,
    pub status: CaptureStatus,
    /// The HTTP status the provider got.
    pub reply_status: u16,
    /// Event ids the plugin produced (including duplicates and stale ones).
    pub events: Vec<String>,
}

/// What became of a capture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum CaptureStatus {
    /// The plugin handled it; its events were recorded.
    Accepted,
    /// The plugin refused it (bad request, bad signature, unsupported).
    Rejected { reason: String },
    /// The plugin failed (trap, timeout, garbage, internal error): replay
    /// it once the plugin is fixed.
    Quarantined { reason: String },
}

/// Why an event was or was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Disposition {
    /// Matched at least one route: delivery jobs were created.
    Routed,
    /// Matched no route: kept and counted, not forwarded.
    Unmatched,
    /// An older state than the message already reached: kept, not forwarded.
    Stale,
}

/// An event as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredEvent {
    pub event: Event,
    pub disposition: Disposition,
    /// Routes that matched.
    pub routes: Vec<String>,
    /// Times the same event arrived again after the first.
    pub duplicates: u32,
}

/// The last state recorded for a message (never a regression).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageState {
    pub state: State,
    /// When it was recorded (ms): retention forgets states older than
    /// `store.retention`, as it forgets the events that dedup relies on.
    /// 0 in records of versions before it; retention stamps those.
    #[serde(default)]
    pub at: i64,
}

/// A capture id being processed: until it drops (after the callback's
/// commit, or when it is abandoned), the store counts on a record coming
/// for it.
pub struct Ticket {
    pub id: u64,
    release: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl Ticket {
    pub fn new(id: u64, release: Option<Box<dyn FnOnce() + Send + Sync>>) -> Self {
        Ticket { id, release }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

/// What the store knows of an event about to be classified.
#[derive(Debug)]
pub enum Seen {
    /// Recorded before: its record.
    Before(Box<StoredEvent>),
    /// New; the state its message reached, if any.
    New(Option<MessageState>),
}

/// One (event, destination) delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: u64,
    pub destination: String,
    pub event_id: String,
    /// Jobs with the same lane on one destination go out in order (per
    /// message id); unrelated lanes do not wait for each other.
    pub lane: String,
    /// The exact bytes to send (also what is signed); shared, because a
    /// job is copied into every attempt and sent without another copy.
    pub payload: std::sync::Arc<str>,
    pub created_at: i64,
    /// When the next attempt is due (ms since epoch).
    pub due_at: i64,
    pub attempts: Vec<Attempt>,
    /// Failed attempts that count toward the retry schedule: a breaker
    /// probe or a disabled destination does not burn one, and a redrive
    /// starts the schedule again.
    #[serde(default)]
    pub retries: u32,
}

impl Job {
    /// What the store keeps of a delivered job: everything but the payload
    /// (the event, which the store keeps anyway), without copying it.
    pub fn delivered_record(&self) -> Job {
        Job {
            id: self.id,
            destination: self.destination.clone(),
            event_id: self.event_id.clone(),
            lane: self.lane.clone(),
            payload: std::sync::Arc::from(""),
            created_at: self.created_at,
            due_at: self.due_at,
            attempts: self.attempts.clone(),
            retries: self.retries,
        }
    }
}

/// One delivery attempt, kept for the operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    pub at: i64,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: u64,
    /// First bytes of the response body.
    pub response: String,
}

/// Everything one callback changes, made durable by one flush.
#[derive(Debug, Default)]
pub struct Batch {
    pub captures: Vec<Capture>,
    /// New events, and known ones whose duplicate count went up.
    pub events: Vec<StoredEvent>,
    pub states: Vec<((String, String), MessageState)>,
    pub jobs: Vec<Job>,
}

/// What one retention pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Compacted {
    pub captures: usize,
    pub events: usize,
    pub delivered: usize,
    pub states: usize,
    /// The database was rotated to give the space back: sizes before and
    /// after, in bytes (sled only).
    pub rotated: Option<(u64, u64)>,
}

/// The storage engine.
pub trait Store: Send + Sync + 'static {
    /// A fresh id, unique and increasing across restarts.
    fn next_id(&self) -> StoreResult<u64>;
    /// A fresh capture id for a callback about to be processed, held until
    /// the ticket drops.
    fn begin(&self) -> StoreResult<Ticket> {
        Ok(Ticket::new(self.next_id()?, None))
    }
    /// Applies a batch (so that any crash before it is durable leaves a
    /// state in which the provider's resend is neither lost nor swallowed)
    /// and returns a future that resolves when it is durable (commits of
    /// concurrent callers share one flush).
    fn commit(&self, batch: Batch) -> StoreResult<Durable>;

    fn capture(&self, id: u64) -> StoreResult<Option<Capture>>;
    /// Captures, newest first, after `before` (exclusive), at most `limit`.
    fn captures(&self, before: Option<u64>, limit: usize) -> StoreResult<Vec<Capture>>;
    /// An event by its id alone. The router's own paths do not need it
    /// (dedup goes through [`Store::seen`], listings through
    /// [`Store::events_of`]), so a store may answer it slowly.
    fn event(&self, id: &str) -> StoreResult<Option<StoredEvent>>;
    /// The events a capture produced or repeated, in its order (those
    /// retention deleted are left out).
    fn events_of(&self, capture: &Capture) -> StoreResult<Vec<StoredEvent>> {
        let mut out = Vec::new();
        for id in &capture.events {
            out.extend(self.event(id)?);
        }
        Ok(out)
    }
    fn message_state(&self, provider: &str, message_id: &str) -> StoreResult<Option<MessageState>>;
    /// Dedup and the state check of one event: its record if it was
    /// recorded before, else its message's state (for a delivery status).
    fn seen(&self, event: &Event) -> StoreResult<Seen> {
        if let Some(prior) = self.event(&event.id)? {
            return Ok(Seen::Before(Box::new(prior)));
        }
        Ok(Seen::New(match (event.state(), event.message_id()) {
            (Some(_), Some(m)) => self.message_state(&event.provider, m)?,
            _ => None,
        }))
    }

    /// Every job not yet delivered or dead, oldest first (for start-up).
    fn pending_jobs(&self) -> StoreResult<Vec<Job>>;
    /// Records a failed attempt and the next due time.
    fn retry_job(&self, job: &Job) -> StoreResult<()>;
    /// The job was delivered: moves it out of the pending set.
    fn complete_job(&self, job: &Job) -> StoreResult<()>;
    /// The job gave up: moves it to the dead-letter list.
    fn bury_job(&self, job: &Job) -> StoreResult<()>;
    fn dead_jobs(&self) -> StoreResult<Vec<Job>>;
    /// Delivered jobs (kept for `store.retention`, without their payload),
    /// most recent first: the first `limit` that `keep` accepts.
    fn delivered_jobs(&self, keep: &dyn Fn(&Job) -> bool, limit: usize) -> StoreResult<Vec<Job>>;
    /// Moves a dead job back to pending, due at `now_ms`, with a fresh retry
    /// schedule (its attempt history is kept); `None` if no such dead job.
    fn redrive(&self, id: u64, now_ms: i64) -> StoreResult<Option<Job>>;
    /// Marks a destination disabled (`Some(reason)`) or enabled (`None`).
    fn set_disabled(&self, destination: &str, reason: Option<&str>) -> StoreResult<()>;
    /// Disabled destinations and why.
    fn disabled(&self) -> StoreResult<Vec<(String, String)>>;
    /// Every webhook record (`webhooks.rs`; JSON, deleted ones kept as
    /// tombstones so their late jobs are still cancelled).
    fn webhooks(&self) -> StoreResult<Vec<Vec<u8>>>;
    /// Writes one webhook record (durable once [`Store::flush`] resolves).
    fn put_webhook(&self, id: &str, record: &[u8]) -> StoreResult<()>;
    /// A shared store: a signal each time a webhook record changes,
    /// whichever instance changed it.
    fn webhook_changes(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<()>> {
        None
    }
    /// Retention: deletes captures received before `cutoff_ms` (with the
    /// events they produced) and delivered-job records created before it.
    /// Pending and dead jobs, and message states, are kept.
    fn compact(&self, cutoff_ms: i64) -> StoreResult<Compacted>;
    /// Bytes the store takes on disk.
    fn size_on_disk(&self) -> StoreResult<u64>;
    /// Waits until everything written so far is durable.
    fn flush(&self) -> Durable;

    /// Whether other router instances share this store. A shared store
    /// hands out jobs through [`Store::feed`] (so no two instances deliver
    /// the same one); a private one is read with [`Store::pending_jobs`] at
    /// start-up and fed by the pipeline.
    fn shared(&self) -> bool {
        false
    }
    /// A shared store's jobs for one destination, each held by this
    /// instance until it is completed, buried or the instance dies.
    fn feed(&self, _destination: &str) -> Option<tokio::sync::mpsc::UnboundedReceiver<Job>> {
        None
    }
    /// Router instances alive on this store (a rate limit is split
    /// between them).
    fn instances(&self) -> usize {
        1
    }
    /// A shared store's job that this instance will not deliver after all
    /// (its destination was removed here): back to the queue for others.
    fn release(&self, _job: &Job) {}
    /// At shutdown, after the last delivery attempt: a shared store hands
    /// the jobs this instance holds back to the others at once.
    fn close(&self) {}
    /// Reads ahead what classifying `events` will ask for (their records
    /// and their messages' states), before the pipeline takes its
    /// classification lock: a store whose reads are network round trips
    /// then answers them from memory under the lock.
    fn prefetch(&self, _events: &[Event]) -> Prefetch {
        Box::pin(std::future::ready(()))
    }
}

/// Opens the store the config names.
pub fn open(config: &crate::config::Config) -> StoreResult<std::sync::Arc<dyn Store>> {
    Ok(match &config.jetstream {
        Some(js) => std::sync::Arc::new(JetStreamStore::connect(js, config.retention)?),
        None => std::sync::Arc::new(SledStore::open(&config.data_dir).map_err(|e| {
            StoreError::Open {
                dir: config.data_dir.clone(),
                source: Box::new(e),
            }
        })?),
    })
}

/// Bodies are kept as base64 in the JSON records.
mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}
