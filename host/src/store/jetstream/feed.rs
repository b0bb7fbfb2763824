//! Handing out jobs to the instances. Each (destination, shard) has one
//! durable pull consumer with explicit acks and one message in flight:
//! whichever instance pulls it holds the shard until the job is delivered
//! or dead (then the message is acked and JetStream removes it). A live
//! holder renews its lease with progress acks; if it dies, the lease (ack
//! wait) runs out and JetStream redelivers the job to another instance,
//! which resumes its retry schedule from the `retries` bucket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::{self, AckKind};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::{Job, Nats, StoreResult, decode, get, id_key, io};

/// An instance that stopped heartbeating is forgotten after this long.
pub(super) const INSTANCE_TTL: Duration = Duration::from_secs(15);
const HEARTBEAT: Duration = Duration::from_secs(5);

/// The messages this instance holds, by job id.
pub(super) struct Feeds {
    held: Mutex<HashMap<u64, Held>>,
    instance: String,
    live: AtomicUsize,
}

struct Held {
    message: Arc<jetstream::Message>,
    /// Wakes the shard's feed to pull the next job.
    next: oneshot::Sender<()>,
}

impl Feeds {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            held: Mutex::new(HashMap::new()),
            instance: format!("{:016x}", rand::random::<u64>()),
            live: AtomicUsize::new(1),
        })
    }

    pub(super) fn instances(&self) -> usize {
        self.live.load(Ordering::Relaxed).max(1)
    }

    fn hold(&self, id: u64, message: Arc<jetstream::Message>, next: oneshot::Sender<()>) {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, Held { message, next });
    }

    fn held(&self) -> Vec<Arc<jetstream::Message>> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.values().map(|h| h.message.clone()).collect()
    }

    /// The job is finished: acks its message (JetStream confirms, so the
    /// next pull cannot see it again) and lets the shard move on.
    pub(super) async fn done(&self, id: u64, retried: bool, nats: &Nats) -> StoreResult<()> {
        let held = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        let Some(held) = held else {
            return Ok(());
        };
        let acked = held.message.double_ack().await.map_err(io);
        if retried {
            // Best effort: a leftover is only read back for this job id.
            let _ = nats.retries.delete(id_key(id)).await;
        }
        let _ = held.next.send(());
        acked
    }

    /// Gives one held job back for any instance to take now.
    pub(super) async fn release_one(&self, id: u64) {
        let held = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        if let Some(h) = held {
            let _ = h.message.ack_with(AckKind::Nak(None)).await;
            let _ = h.next.send(());
        }
    }

    /// On shutdown: gives every held job back for another instance to take
    /// now rather than after the lease.
    pub(super) async fn release_all(&self, nats: &Nats) {
        let held: Vec<Held> = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, h)| h)
            .collect();
        for h in held {
            let _ = h.message.ack_with(AckKind::Nak(None)).await;
        }
        let _ = nats.instances.delete(&self.instance).await;
    }
}

/// Renews the leases of held jobs and this instance's presence, and counts
/// the live instances (for splitting rate limits).
pub(super) async fn heartbeat(nats: Arc<Nats>, feeds: Arc<Feeds>) {
    let every = (nats.config.lease / 3).min(HEARTBEAT);
    let mut last_presence = None::<tokio::time::Instant>;
    loop {
        for m in feeds.held() {
            let _ = m.ack_with(AckKind::Progress).await;
        }
        if last_presence.is_none_or(|t| t.elapsed() >= HEARTBEAT) {
            last_presence = Some(tokio::time::Instant::now());
            let now = crate::time::now_ms().to_string();
            if nats
                .instances
                .put(&feeds.instance, now.into())
                .await
                .is_ok()
                && let Ok(keys) = nats.instances.keys().await
            {
                let n = keys.filter(|k| std::future::ready(k.is_ok())).count().await;
                feeds.live.store(n.max(1), Ordering::Relaxed);
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// Pulls one shard's jobs for this instance, one at a time, until the
/// dispatcher goes away.
pub(super) async fn run(
    nats: Arc<Nats>,
    feeds: Arc<Feeds>,
    destination: String,
    shard: u32,
    tx: mpsc::UnboundedSender<Job>,
) {
    let name = format!("{destination}-{shard}");
    let config = pull::Config {
        durable_name: Some(name.clone()),
        filter_subject: format!("{}.jobs.{destination}.{shard}", nats.config.prefix),
        ack_policy: AckPolicy::Explicit,
        ack_wait: nats.config.lease,
        max_ack_pending: 1,
        max_deliver: -1,
        ..Default::default()
    };
    loop {
        let consumer = match nats
            .jobs
            .get_or_create_consumer::<pull::Config>(&name, config.clone())
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(destination, shard, "jetstream consumer: {e}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        loop {
            let batch = consumer
                .batch()
                .max_messages(1)
                .expires(Duration::from_secs(5))
                .messages()
                .await;
            let mut batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(destination, shard, "jetstream pull: {e}; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            };
            // One message per pull: the batch would otherwise stay open
            // until it expires.
            let next = batch.next().await;
            drop(batch);
            let message = match next {
                Some(Ok(m)) => m,
                // Expired with nothing to do: pull again.
                None => continue,
                Some(Err(e)) => {
                    tracing::debug!(destination, shard, "jetstream pull: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            {
                match take(&nats, &feeds, Arc::new(message)).await {
                    Ok(Some((job, next))) => {
                        let id = job.id;
                        if tx.send(job).is_err() {
                            // The destination is gone here: others may have it.
                            feeds.release_one(id).await;
                            return;
                        }
                        // The shard waits for this job: one message's
                        // deliveries go out in order.
                        let _ = next.await;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(destination, shard, "jetstream job: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }
    }
}

/// Makes a pulled message a job this instance holds, with the attempts
/// another instance recorded before it died; `None` if there is nothing to
/// do (finished just before a crash, or unreadable).
async fn take(
    nats: &Nats,
    feeds: &Feeds,
    message: Arc<jetstream::Message>,
) -> StoreResult<Option<(Job, oneshot::Receiver<()>)>> {
    let job: Job = match decode("jobs", &message.payload) {
        Ok(j) => j,
        Err(e) => {
            // Never deliverable: take it out of the queue, loudly.
            tracing::error!("unreadable job dropped from the queue: {e}");
            let _ = message.ack_with(AckKind::Term).await;
            return Ok(None);
        }
    };
    let key = id_key(job.id);
    let finished = nats.delivered.get(&key).await.map_err(io)?.is_some()
        || nats.dead.get(&key).await.map_err(io)?.is_some();
    if finished {
        message.double_ack().await.map_err(io)?;
        return Ok(None);
    }
    let job = get::<Job>(&nats.retries, &key).await?.unwrap_or(job);
    let (next_tx, next_rx) = oneshot::channel();
    feeds.hold(job.id, message, next_tx);
    Ok(Some((job, next_rx)))
}
