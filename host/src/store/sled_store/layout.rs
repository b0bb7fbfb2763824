//! The records of the store's layout for its workload (binary, postcard):
//!
//! - `C` + capture id: one **callback record**, written once per callback:
//!   the request as received, each event the plugin produced (as the JSON
//!   destinations receive, which is also the stored event), how it was
//!   routed and its delivery jobs. A job's payload is stored only when a
//!   transform made it differ from that JSON: it is never a second copy.
//! - `M` + provider + message: one **message record** per message (or per
//!   event without a message id): its state and the events of it seen so
//!   far with where they are, so dedup and the no-regression check are one
//!   read (mostly from the cache in `messages.rs`) and one write.
//! - `W`: the pending jobs' low-water mark: start-up reads the callback
//!   records from there on to find them (`pending.rs`).
//! - `k` + job id: a delivered job, appended: where it went and its
//!   attempts, without the payload. Nothing large is removed to retire it.
//!
//! Rare records stay JSON `Job`s as before: `j` (a pending job whose
//! retries changed it, or whose callback record retention deleted) and `x`
//! (dead letters). Records of the previous layout are converted when the
//! store opens (`migrate.rs`).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::event::{Event, State};
use crate::store::{Attempt, Capture, CaptureStatus, Disposition, Job, StoreError, StoreResult};
use crate::store::{MessageState, StoredEvent};

pub(super) const RECORD: u8 = b'C';
pub(super) const MESSAGE: u8 = b'M';
pub(super) const DONE: u8 = b'k';

/// One callback: the request, its outcome, its events and their jobs.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Record {
    pub plugin: String,
    pub route: String,
    pub method: String,
    pub url: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    pub params: Vec<(String, String)>,
    pub remote_addr: String,
    pub received_at: i64,
    pub status: Status,
    pub reply_status: u16,
    pub events: Vec<EventRec>,
}

/// [`CaptureStatus`], in a shape postcard can encode (it has no tags).
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Status {
    Accepted,
    Rejected(String),
    Quarantined(String),
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) enum EventRec {
    /// An event this callback produced.
    Own(OwnEvent),
    /// An event this callback repeated, recorded by capture `capture`.
    Seen { id: String, capture: u64 },
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct OwnEvent {
    pub id: String,
    /// The event as JSON: what the envelope transform sends.
    pub json: String,
    pub disposition: Disposition,
    pub routes: Vec<String>,
    /// When its jobs were created (ms).
    pub jobs_at: i64,
    pub jobs: Vec<JobRec>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct JobRec {
    pub id: u64,
    pub destination: String,
    /// `None`: the event's JSON (the envelope), not stored twice.
    pub payload: Option<String>,
}

/// A message's state and the events of it seen so far.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct MessageRec {
    pub state: Option<State>,
    /// When it last changed (ms): retention forgets it `store.retention`
    /// later, with the dedup of its events.
    pub at: i64,
    pub events: Vec<SeenRec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SeenRec {
    pub id: String,
    /// The capture whose record holds the event.
    pub capture: u64,
    /// Times it came again after the first.
    pub duplicates: u32,
}

impl MessageRec {
    pub fn state(&self) -> Option<MessageState> {
        self.state.map(|state| MessageState { state, at: self.at })
    }

    pub fn seen(&self, id: &str) -> Option<&SeenRec> {
        self.events.iter().find(|s| s.id == id)
    }

    /// Records event `id` (in `capture`) with its duplicate count.
    pub fn note(&mut self, id: &str, capture: u64, duplicates: u32, now: i64) {
        match self.events.iter_mut().find(|s| s.id == id) {
            Some(s) => s.duplicates = s.duplicates.max(duplicates),
            None => self.events.push(SeenRec {
                id: id.to_owned(),
                capture,
                duplicates,
            }),
        }
        self.at = self.at.max(now);
    }
}

/// A delivered job as kept: everything but the payload.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct DoneRec {
    pub destination: String,
    pub event_id: String,
    pub lane: String,
    pub created_at: i64,
    pub due_at: i64,
    /// (postcard writes fields in order: a change to `Attempt` or `State`
    /// is a change of this layout.)
    pub attempts: Vec<Attempt>,
    pub retries: u32,
}

impl DoneRec {
    pub fn of(job: &Job) -> Self {
        DoneRec {
            destination: job.destination.clone(),
            event_id: job.event_id.clone(),
            lane: job.lane.clone(),
            created_at: job.created_at,
            due_at: job.due_at,
            attempts: job.attempts.clone(),
            retries: job.retries,
        }
    }

    pub fn job(self, id: u64) -> Job {
        Job {
            id,
            destination: self.destination,
            event_id: self.event_id,
            lane: self.lane,
            payload: std::sync::Arc::from(""),
            created_at: self.created_at,
            due_at: self.due_at,
            attempts: self.attempts,
            retries: self.retries,
        }
    }
}

impl Record {
    /// The record of `capture` with no events (the caller adds them).
    pub fn of(c: Capture) -> Self {
        Record {
            plugin: c.plugin,
            route: c.route,
            method: c.method,
            url: c.url,
            path: c.path,
            query: c.query,
            headers: c.headers,
            body: c.body,
            params: c.params,
            remote_addr: c.remote_addr,
            received_at: c.received_at,
            status: match c.status {
                CaptureStatus::Accepted => Status::Accepted,
                CaptureStatus::Rejected { reason } => Status::Rejected(reason),
                CaptureStatus::Quarantined { reason } => Status::Quarantined(reason),
            },
            reply_status: c.reply_status,
            events: Vec::new(),
        }
    }

    /// The capture as the store's users see it.
    pub fn capture(self, id: u64) -> Capture {
        let events = self.events.iter().map(|e| e.id().to_owned()).collect();
        Capture {
            id,
            plugin: self.plugin,
            route: self.route,
            method: self.method,
            url: self.url,
            path: self.path,
            query: self.query,
            headers: self.headers,
            body: self.body,
            params: self.params,
            remote_addr: self.remote_addr,
            received_at: self.received_at,
            status: match self.status {
                Status::Accepted => CaptureStatus::Accepted,
                Status::Rejected(reason) => CaptureStatus::Rejected { reason },
                Status::Quarantined(reason) => CaptureStatus::Quarantined { reason },
            },
            reply_status: self.reply_status,
            events,
        }
    }

    pub fn own(&self, id: &str) -> Option<&OwnEvent> {
        self.events.iter().find_map(|e| match e {
            EventRec::Own(o) if o.id == id => Some(o),
            _ => None,
        })
    }

    /// Takes event `id`'s record out of this one.
    pub fn take_own(&mut self, id: &str) -> Option<OwnEvent> {
        let at = self
            .events
            .iter()
            .position(|e| matches!(e, EventRec::Own(o) if o.id == id))?;
        match self.events.swap_remove(at) {
            EventRec::Own(o) => Some(o),
            EventRec::Seen { .. } => None,
        }
    }

    pub fn owned(&self) -> impl Iterator<Item = &OwnEvent> {
        self.events.iter().filter_map(|e| match e {
            EventRec::Own(o) => Some(o),
            EventRec::Seen { .. } => None,
        })
    }

    /// Every job this record holds, as the dispatcher takes them (`key`:
    /// the record's, for errors).
    pub fn jobs(&self, key: &[u8]) -> StoreResult<Vec<Job>> {
        let mut out = Vec::new();
        for own in self.owned().filter(|o| !o.jobs.is_empty()) {
            let event = own.event(key)?;
            out.extend(own.jobs(&event));
        }
        Ok(out)
    }
}

impl EventRec {
    pub fn id(&self) -> &str {
        match self {
            EventRec::Own(o) => &o.id,
            EventRec::Seen { id, .. } => id,
        }
    }
}

impl OwnEvent {
    pub fn event(&self, key: &[u8]) -> StoreResult<Event> {
        serde_json::from_str(&self.json).map_err(|e| corrupt(key, e))
    }

    pub fn stored(&self, key: &[u8], duplicates: u32) -> StoreResult<StoredEvent> {
        Ok(StoredEvent {
            event: self.event(key)?,
            disposition: self.disposition,
            routes: self.routes.clone(),
            duplicates,
        })
    }

    /// Its jobs as the dispatcher takes them (`event` is this one).
    pub fn jobs<'a>(&'a self, event: &'a Event) -> impl Iterator<Item = Job> + 'a {
        self.jobs.iter().map(move |j| Job {
            id: j.id,
            destination: j.destination.clone(),
            event_id: self.id.clone(),
            lane: event.lane(),
            payload: std::sync::Arc::from(j.payload.as_deref().unwrap_or(&self.json)),
            created_at: self.jobs_at,
            due_at: self.jobs_at,
            attempts: Vec::new(),
            retries: 0,
        })
    }
}

/// The message record's key of an event: its message, or the event itself
/// when it belongs to none.
pub(super) fn message_key(event: &Event) -> Vec<u8> {
    match event.message_id() {
        Some(m) => state_key(&event.provider, m),
        None => key3(&event.provider, b'e', &event.id),
    }
}

/// The message record's key of `provider`'s message `message`.
pub(super) fn state_key(provider: &str, message: &str) -> Vec<u8> {
    key3(provider, b'm', message)
}

fn key3(provider: &str, kind: u8, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(3 + provider.len() + id.len());
    k.push(MESSAGE);
    k.extend_from_slice(provider.as_bytes());
    k.push(0);
    k.push(kind);
    k.extend_from_slice(id.as_bytes());
    k
}

pub(super) fn pack<T: Serialize>(v: &T) -> StoreResult<Vec<u8>> {
    postcard::to_stdvec(v).map_err(|e| StoreError::encode("encode", e))
}

pub(super) fn unpack<T: DeserializeOwned>(key: &[u8], v: &[u8]) -> StoreResult<T> {
    postcard::from_bytes(v).map_err(|e| corrupt(key, e))
}

/// The capture id an 8-byte value or key suffix holds.
pub(super) fn id_of(key: &[u8], bytes: &[u8]) -> StoreResult<u64> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| corrupt(key, format!("{} bytes, want 8", bytes.len())))
}

fn corrupt(key: &[u8], e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    }
}
