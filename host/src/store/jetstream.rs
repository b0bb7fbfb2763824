//! The shared store on NATS JetStream, for several router instances behind
//! one load balancer. Durable state lives in JetStream, never in an
//! instance: a capture is acknowledged to the provider only once JetStream
//! acknowledged every write of its batch.
//!
//! Layout (every name starts with `store.prefix`, `switchboard` here):
//! - stream `switchboard-jobs`, work-queue retention, subjects
//!   `switchboard.jobs.<destination>.<shard>`: the delivery queue. A job's
//!   shard is a hash of its lane (message id), so one message's jobs stay
//!   in order; each shard has one durable consumer with one message in
//!   flight, held by whichever instance pulled it (see `feed`).
//! - key-value buckets `switchboard-captures`, `-events`, `-delivered`,
//!   `-states` (kept for `store.retention`: JetStream's max age is the
//!   compaction), `-retries` (attempts of a job in flight, so another
//!   instance resumes its schedule), `-dead`, `-meta` (id leases, disabled
//!   destinations), `-instances` (heartbeats, for splitting rate limits)
//!   and `-webhooks` (the admin API's webhooks, watched by every instance).
//!
//! The [`Store`] trait is synchronous (sled answers from memory); here each
//! call is a round trip, run on the store's own small runtime so a blocked
//! caller never stalls the tasks that would answer it.

mod bridge;
mod feed;
mod nats;
mod newest;
mod read_ahead;
mod webhooks;

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::stream;
use tokio::sync::oneshot;

use super::*;
use crate::config::JetStreamConfig;
use bridge::CALL_TIMEOUT;
use nats::{ID_BLOCK, Nats, decode, get, id_key, io, put, state_key};
use newest::{Backwards, newest, newest_page};
use read_ahead::ReadAhead;

pub struct JetStreamStore {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    nats: Arc<Nats>,
    feeds: Arc<feed::Feeds>,
    /// Next id and end of the leased block.
    ids: Mutex<(u64, u64)>,
    /// Events and states of batches JetStream has not acknowledged yet,
    /// read before the buckets: a resend racing its own first commit is
    /// then seen as the duplicate it is.
    unacked: Arc<Mutex<Unacked>>,
    /// Delivery bookkeeping still being written.
    pending: Arc<AtomicUsize>,
    read_ahead: Arc<Mutex<ReadAhead>>,
}

#[derive(Default)]
struct Unacked {
    generation: u64,
    events: HashMap<String, (u64, StoredEvent)>,
    states: HashMap<(String, String), (u64, MessageState)>,
}

impl JetStreamStore {
    /// Connects and creates the streams and buckets that do not exist yet
    /// (instances starting together create the same ones: JetStream
    /// accepts an identical create).
    pub fn connect(config: &JetStreamConfig, retention: Duration) -> StoreResult<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("jetstream")
            .enable_all()
            .build()
            .map_err(|e| StoreError::file("jetstream runtime", e))?;
        let handle = runtime.handle().clone();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let cfg = config.clone();
        handle.spawn(async move {
            let _ = tx.send(Nats::connect(cfg, retention).await);
        });
        let connected = rx
            .recv()
            .unwrap_or_else(|_| Err(StoreError::unavailable("jetstream runtime stopped")));
        let nats = match connected {
            Ok(n) => Arc::new(n),
            Err(e) => {
                // Dropping a runtime inside the caller's would panic.
                runtime.shutdown_background();
                return Err(e);
            }
        };
        let feeds = feed::Feeds::new();
        handle.spawn(feed::heartbeat(nats.clone(), feeds.clone()));
        Ok(Self {
            runtime: Some(runtime),
            handle,
            nats,
            feeds,
            ids: Mutex::new((0, 0)),
            unacked: Default::default(),
            pending: Default::default(),
            read_ahead: Default::default(),
        })
    }

    fn forget(unacked: &Mutex<Unacked>, generation: u64) {
        let mut u = unacked.lock().unwrap_or_else(|p| p.into_inner());
        u.events.retain(|_, (g, _)| *g != generation);
        u.states.retain(|_, (g, _)| *g != generation);
    }
}

impl Store for JetStreamStore {
    fn next_id(&self) -> StoreResult<u64> {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        if ids.0 >= ids.1 {
            let nats = self.nats.clone();
            let start = self.wait(async move { nats.lease_ids().await })?;
            *ids = (start, start + ID_BLOCK);
        }
        ids.0 += 1;
        Ok(ids.0 - 1)
    }

    fn commit(&self, batch: Batch) -> StoreResult<Durable> {
        let generation = {
            let mut u = self.unacked.lock().unwrap_or_else(|p| p.into_inner());
            u.generation += 1;
            let g = u.generation;
            for e in &batch.events {
                u.events.insert(e.event.id.clone(), (g, e.clone()));
            }
            for (k, s) in &batch.states {
                u.states.insert(k.clone(), (g, *s));
            }
            g
        };
        let (nats, unacked) = (self.nats.clone(), self.unacked.clone());
        let (tx, rx) = oneshot::channel();
        self.handle.spawn(async move {
            let result = tokio::time::timeout(CALL_TIMEOUT, nats.commit(&batch))
                .await
                .unwrap_or_else(|_| {
                    Err(StoreError::unavailable("NATS did not acknowledge in time"))
                });
            // Acknowledged or failed (the provider then resends): either way
            // the buckets now say what is true.
            Self::forget(&unacked, generation);
            let _ = tx.send(result);
        });
        Ok(Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err(StoreError::unavailable("jetstream store stopped")))
        }))
    }

    fn capture(&self, id: u64) -> StoreResult<Option<Capture>> {
        let nats = self.nats.clone();
        self.wait(async move { get(&nats.captures, &id_key(id)).await })
    }

    fn captures(&self, before: Option<u64>, limit: usize) -> StoreResult<Vec<Capture>> {
        let nats = self.nats.clone();
        let mut out = self.wait(async move {
            newest(&nats.captures, limit, |c: &Capture| {
                before.is_none_or(|b| c.id < b)
            })
            .await
        })?;
        out.sort_by_key(|c| std::cmp::Reverse(c.id));
        Ok(out)
    }

    fn event(&self, id: &str) -> StoreResult<Option<StoredEvent>> {
        if let Some((_, e)) = self
            .unacked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .events
            .get(id)
        {
            return Ok(Some(e.clone()));
        }
        let read = self
            .read_ahead
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .event(id);
        if let Some(e) = read {
            return Ok(e);
        }
        let (nats, id) = (self.nats.clone(), id.to_owned());
        self.wait(async move { get(&nats.events, &id).await })
    }

    fn message_state(&self, provider: &str, message_id: &str) -> StoreResult<Option<MessageState>> {
        let key = (provider.to_owned(), message_id.to_owned());
        if let Some((_, s)) = self
            .unacked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .states
            .get(&key)
        {
            return Ok(Some(*s));
        }
        let read = self
            .read_ahead
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .state(&key);
        if let Some(s) = read {
            return Ok(s);
        }
        let nats = self.nats.clone();
        self.wait(async move { get(&nats.states, &state_key(&key.0, &key.1)).await })
    }

    /// Reads the queue without taking anything from it (for the operator).
    fn pending_jobs(&self) -> StoreResult<Vec<Job>> {
        let nats = self.nats.clone();
        self.wait(async move {
            let state = nats.jobs.get_info().await.map_err(io)?.state;
            let mut out = Vec::new();
            for seq in state.first_sequence.max(1)..=state.last_sequence {
                match nats.jobs.get_raw_message(seq).await {
                    Ok(m) => {
                        let job: Job = decode(&format!("jobs/{seq}"), &m.payload)?;
                        let retried = get(&nats.retries, &id_key(job.id)).await?;
                        out.push(retried.unwrap_or(job));
                    }
                    Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => {}
                    Err(e) => return Err(io(e)),
                }
            }
            Ok(out)
        })
    }

    fn retry_job(&self, job: &Job) -> StoreResult<()> {
        let (nats, job) = (self.nats.clone(), job.clone());
        self.background("record retry", async move {
            put(&nats.retries, id_key(job.id), &job).await
        });
        Ok(())
    }

    fn complete_job(&self, job: &Job) -> StoreResult<()> {
        let done = job.delivered_record();
        let (nats, feeds) = (self.nats.clone(), self.feeds.clone());
        self.background("record delivery", async move {
            put(&nats.delivered, id_key(done.id), &done).await?;
            feeds.done(done.id, done.attempts.len() > 1, &nats).await
        });
        Ok(())
    }

    fn bury_job(&self, job: &Job) -> StoreResult<()> {
        let (nats, feeds, job) = (self.nats.clone(), self.feeds.clone(), job.clone());
        self.background("record dead letter", async move {
            put(&nats.dead, id_key(job.id), &job).await?;
            feeds.done(job.id, true, &nats).await
        });
        Ok(())
    }

    fn dead_jobs(&self) -> StoreResult<Vec<Job>> {
        let nats = self.nats.clone();
        let mut jobs: Vec<Job> = self
            .wait(async move { nats.all(&nats.dead).await })?
            .into_iter()
            .map(|(_, j)| j)
            .collect();
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }

    /// Most recently delivered first: the bucket's stream read backwards a
    /// page at a time (one `wait` each, as `keep` stays on this thread),
    /// until `limit` are kept.
    fn delivered_jobs(&self, keep: &dyn Fn(&Job) -> bool, limit: usize) -> StoreResult<Vec<Job>> {
        let mut back = Backwards::default();
        let mut out = Vec::new();
        while out.len() < limit && !back.done {
            let nats = self.nats.clone();
            let (page, after) = self.wait(async move {
                let page: Vec<Job> = newest_page(&nats.delivered, &mut back, 64).await?;
                Ok((page, back))
            })?;
            back = after;
            out.extend(page.into_iter().filter(|j| keep(j)));
        }
        out.truncate(limit);
        Ok(out)
    }

    fn redrive(&self, id: u64, now_ms: i64) -> StoreResult<Option<Job>> {
        let nats = self.nats.clone();
        self.wait(async move {
            let Some(mut job) = get::<Job>(&nats.dead, &id_key(id)).await? else {
                return Ok(None);
            };
            job.due_at = now_ms;
            job.retries = 0;
            // Out of the dead list first: the feed drops a job it finds there.
            nats.dead.delete(id_key(id)).await.map_err(io)?;
            let msg_id = format!("{}.{}.redrive.{now_ms}", job.event_id, job.destination);
            if let Err(e) = nats.publish_job(&job, msg_id).await {
                put(&nats.dead, id_key(id), &job).await?;
                return Err(e);
            }
            Ok(Some(job))
        })
    }

    fn set_disabled(&self, destination: &str, reason: Option<&str>) -> StoreResult<()> {
        let nats = self.nats.clone();
        let key = format!("disabled.{destination}");
        let reason = reason.map(str::to_owned);
        self.wait(async move {
            match reason {
                Some(r) => put(&nats.meta, key, &r).await,
                None => nats.meta.delete(key).await.map_err(io),
            }
        })
    }

    fn disabled(&self) -> StoreResult<Vec<(String, String)>> {
        let nats = self.nats.clone();
        let all = self.wait(async move { nats.all::<serde_json::Value>(&nats.meta).await })?;
        Ok(all
            .into_iter()
            .filter_map(|(k, v)| {
                let name = k.strip_prefix("disabled.")?;
                Some((name.to_owned(), v.as_str()?.to_owned()))
            })
            .collect())
    }

    fn webhooks(&self) -> StoreResult<Vec<Vec<u8>>> {
        let nats = self.nats.clone();
        self.wait(async move { webhooks::all(&nats).await })
    }

    fn put_webhook(&self, id: &str, record: &[u8]) -> StoreResult<()> {
        let (nats, id, record) = (self.nats.clone(), id.to_owned(), record.to_vec());
        self.wait(async move { webhooks::put(&nats, id, record).await })
    }

    fn webhook_changes(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<()>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.handle.spawn(webhooks::watch(self.nats.clone(), tx));
        Some(rx)
    }

    /// JetStream expires captures, events and delivered records itself
    /// (the buckets' max age is `store.retention`).
    fn compact(&self, _cutoff_ms: i64) -> StoreResult<Compacted> {
        Ok(Compacted::default())
    }

    fn size_on_disk(&self) -> StoreResult<u64> {
        let nats = self.nats.clone();
        self.wait(async move { nats.bytes().await })
    }

    /// Every commit is acknowledged by JetStream before it resolves.
    fn flush(&self) -> Durable {
        Box::pin(async { Ok(()) })
    }

    fn shared(&self) -> bool {
        true
    }

    fn feed(&self, destination: &str) -> Option<tokio::sync::mpsc::UnboundedReceiver<Job>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        for shard in 0..self.nats.config.shards {
            self.handle.spawn(feed::run(
                self.nats.clone(),
                self.feeds.clone(),
                destination.to_owned(),
                shard,
                tx.clone(),
            ));
        }
        Some(rx)
    }

    fn instances(&self) -> usize {
        self.feeds.instances()
    }

    fn close(&self) {
        self.release_held();
    }

    fn release(&self, job: &Job) {
        let (feeds, id) = (self.feeds.clone(), job.id);
        self.background("release job", async move {
            feeds.release_one(id).await;
            Ok(())
        });
    }

    fn prefetch(&self, events: &[Event]) -> Prefetch {
        let fetch = read_ahead::fetch(self.nats.clone(), self.read_ahead.clone(), events);
        let (tx, rx) = oneshot::channel();
        self.handle.spawn(async move {
            fetch.await;
            let _ = tx.send(());
        });
        Box::pin(async move {
            let _ = tokio::time::timeout(CALL_TIMEOUT, rx).await;
        })
    }
}
