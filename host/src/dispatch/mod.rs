//! Stage 7: dispatch. One actor task per destination owns that
//! destination's queue: jobs are grouped in lanes (one per message id), only
//! the head of a lane is eligible, so deliveries for one message go out in
//! order while unrelated messages proceed side by side. The actor is the
//! only place that launches attempts, so its rate limit, concurrency bound
//! and circuit breaker hold across all of its workers. Every state change is
//! written to the store, so a restart resumes exactly where it stopped.

mod actor;
use actor::Actor;
mod client;
pub mod control;
pub mod schedule;
mod send;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::config::Destination;
use crate::metrics::Metrics;
use crate::store::{Job, Store, StoreResult};
use crate::time::now_ms;
use control::BreakerState;
use schedule::RetrySchedule;
pub use send::Sender;

/// Why a destination could not be started or changed.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Client(#[from] client::ClientError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("no destination `{0}` is running")]
    NotRunning(String),
    #[error("destination `{0}` stopped")]
    Stopped(String),
}

/// What the operator sees of one destination.
#[derive(Debug, Clone, Serialize)]
pub struct DestinationStatus {
    pub name: String,
    pub kind: &'static str,
    pub breaker: BreakerState,
    /// Why the destination is disabled (a `410 Gone`), if it is.
    pub disabled: Option<String>,
    /// Jobs waiting (including retries not yet due).
    pub backlog: usize,
    pub inflight: usize,
    pub consecutive_failures: u32,
    /// Milliseconds until an open breaker lets a probe through.
    pub probe_in_ms: Option<u64>,
    pub rate_limit: Option<f64>,
    /// A paused webhook: its deliveries wait.
    pub paused: bool,
    /// When the oldest waiting job was created (ms since epoch).
    pub oldest_created_at: Option<i64>,
}

enum Msg {
    Job(Job),
    Enable,
    Reconfigure(Box<Settings>),
    /// The destination is gone for good (a deleted webhook): every job it
    /// has or is handed from now on is dead-lettered with this reason.
    Cancel(String),
    Stop,
}

/// What a destination's config decides about its deliveries.
struct Settings {
    sender: Sender,
    schedule: RetrySchedule,
    concurrency: usize,
    rate: Option<f64>,
    breaker: crate::config::BreakerSettings,
    kind: &'static str,
    paused: bool,
}

impl Settings {
    fn of(d: &Destination) -> Result<Self, DispatchError> {
        Ok(match d {
            Destination::Http(h) => Settings {
                sender: Sender::http(h)?,
                schedule: h.schedule.clone(),
                concurrency: h.concurrency,
                rate: h.rate_limit,
                breaker: h.breaker,
                kind: "http",
                paused: h.paused,
            },
            // One writer keeps the file in event order; retries for a
            // full or broken disk back off like an HTTP destination.
            Destination::File { path } => Settings {
                sender: Sender::file(path.clone()),
                schedule: RetrySchedule::default(),
                concurrency: 1,
                rate: None,
                breaker: crate::config::BreakerSettings::default(),
                kind: "file",
                paused: false,
            },
        })
    }
}

/// Hands jobs to the destination actors.
pub struct Dispatcher {
    queues: std::sync::RwLock<HashMap<String, mpsc::UnboundedSender<Msg>>>,
    status: std::sync::RwLock<BTreeMap<String, Arc<Mutex<DestinationStatus>>>>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Dispatcher {
    /// Starts one actor per destination and loads every pending job.
    pub fn start(
        destinations: &BTreeMap<String, Destination>,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Arc<Self>, DispatchError> {
        let dispatcher = Arc::new(Self {
            queues: Default::default(),
            status: Default::default(),
            store: store.clone(),
            metrics,
            shutdown,
            tasks: Mutex::new(Vec::new()),
        });
        for (name, d) in destinations {
            dispatcher.spawn_actor(name, d)?;
        }
        if store.shared() {
            // The actors' feeds hand out the shared queue.
            return Ok(dispatcher);
        }
        let pending = store.pending_jobs()?;
        if !pending.is_empty() {
            tracing::info!(jobs = pending.len(), "resuming pending deliveries");
        }
        dispatcher.submit(pending);
        Ok(dispatcher)
    }

    /// Adds a destination while running (config reload) and queues the
    /// jobs already waiting for it in the store.
    pub fn add(&self, name: &str, d: &Destination) -> Result<(), DispatchError> {
        self.spawn_actor(name, d)?;
        if self.store.shared() {
            return Ok(());
        }
        let pending: Vec<Job> = self
            .store
            .pending_jobs()?
            .into_iter()
            .filter(|j| j.destination == name)
            .collect();
        self.submit(pending);
        Ok(())
    }

    fn spawn_actor(&self, name: &str, d: &Destination) -> Result<(), DispatchError> {
        let disabled: HashMap<String, String> = self.store.disabled()?.into_iter().collect();
        let settings = Settings::of(d)?;
        let status = Arc::new(Mutex::new(DestinationStatus {
            name: name.to_owned(),
            kind: settings.kind,
            breaker: BreakerState::Closed,
            disabled: disabled.get(name).cloned(),
            backlog: 0,
            inflight: 0,
            consecutive_failures: 0,
            probe_in_ms: None,
            rate_limit: settings.rate,
            paused: settings.paused,
            oldest_created_at: None,
        }));
        if let Some(why) = disabled.get(name) {
            tracing::warn!(destination = %name, "destination is disabled ({why}); its deliveries wait: `switchboard destinations enable {name}`");
        }
        let (tx, rx) = mpsc::unbounded_channel();
        if let Some(mut feed) = self.store.feed(name) {
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(job) = feed.recv().await {
                    if tx.send(Msg::Job(job)).is_err() {
                        break;
                    }
                }
            });
        }
        let actor = Actor::new(
            name,
            settings,
            disabled.get(name).cloned(),
            self.store.clone(),
            self.metrics.clone(),
            status.clone(),
        );
        let task = tokio::spawn(actor.run(rx, self.shutdown.clone()));
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
        self.queues
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), tx);
        self.status
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), status);
        Ok(())
    }

    /// Applies a changed destination (config reload): the actor keeps its
    /// queue and breaker state; attempts in flight finish with the old
    /// settings, the next ones use the new.
    pub fn update(&self, name: &str, d: &Destination) -> Result<(), DispatchError> {
        let settings = Settings::of(d)?;
        let queues = self.queues.read().unwrap_or_else(|p| p.into_inner());
        let q = queues
            .get(name)
            .ok_or_else(|| DispatchError::NotRunning(name.to_owned()))?;
        // What the operator sees changes now, not when the actor gets to it.
        if let Some(s) = self
            .status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
            s.paused = settings.paused;
            s.rate_limit = settings.rate;
        }
        q.send(Msg::Reconfigure(Box::new(settings)))
            .map_err(|_| DispatchError::Stopped(name.to_owned()))
    }

    /// Stops a destination removed from the config once its attempts in
    /// flight are done. Its other jobs stay pending in the store (on a
    /// shared store, for another instance that still has it) and resume if
    /// it is configured again.
    pub fn remove(&self, name: &str) {
        let q = self
            .queues
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        self.status
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        if let Some(q) = q {
            let _ = q.send(Msg::Stop);
        }
    }

    /// Ends a destination for good (a deleted webhook): its jobs, queued
    /// now or handed to it later, are dead-lettered as cancelled, never
    /// dropped. It leaves the status list; its actor stays to cancel late
    /// jobs (on a shared store, those other instances still publish).
    pub fn cancel(&self, name: &str, reason: &str) {
        self.status
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        if let Some(q) = self
            .queues
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            let _ = q.send(Msg::Cancel(reason.to_owned()));
        }
    }

    /// Whether a destination of that name has an actor (running or
    /// cancelling).
    pub fn has(&self, name: &str) -> bool {
        self.queues
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(name)
    }

    /// Queues durable jobs for delivery (in id order within a lane). A
    /// shared store hands its jobs out itself.
    pub fn submit(&self, jobs: Vec<Job>) {
        if self.store.shared() {
            return;
        }
        let queues = self.queues.read().unwrap_or_else(|p| p.into_inner());
        for job in jobs {
            match queues.get(&job.destination) {
                Some(q) => {
                    if q.send(Msg::Job(job)).is_err() {
                        tracing::warn!("dispatcher stopped; job stays in the store");
                    }
                }
                // Left in the store: it resumes when the destination is
                // configured again.
                None => {
                    tracing::warn!(job = job.id, event = %job.event_id, destination = %job.destination, "no such destination; job kept pending")
                }
            }
        }
    }

    /// Every destination's state, by name.
    pub fn status(&self) -> Vec<DestinationStatus> {
        self.status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .collect()
    }

    /// What the `/metrics` gauges show of every destination.
    pub fn gauges(&self) -> Vec<crate::metrics::DestinationGauges> {
        self.status()
            .into_iter()
            .map(|s| crate::metrics::DestinationGauges {
                breaker_open: s.breaker != BreakerState::Closed,
                name: s.name,
                backlog: s.backlog,
                oldest_created_at: s.oldest_created_at,
            })
            .collect()
    }

    /// One destination's state, if it runs (and is not cancelled).
    pub fn status_of(&self, name: &str) -> Option<DestinationStatus> {
        self.status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// Re-enables a destination disabled by a `410`; false if unknown.
    pub fn enable(&self, name: &str) -> StoreResult<bool> {
        let Some(q) = self
            .queues
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
        else {
            return Ok(false);
        };
        self.store.set_disabled(name, None)?;
        let _ = q.send(Msg::Enable);
        Ok(true)
    }

    /// Moves dead jobs back to pending and queues them: one job by id, or
    /// every dead job of a destination. Returns the jobs redriven.
    pub fn redrive(&self, job: Option<u64>, destination: Option<&str>) -> StoreResult<Vec<Job>> {
        let ids: Vec<u64> = self
            .store
            .dead_jobs()?
            .into_iter()
            .filter(|j| job.is_none_or(|id| j.id == id))
            .filter(|j| destination.is_none_or(|d| j.destination == d))
            .map(|j| j.id)
            .collect();
        let mut out = Vec::new();
        for id in ids {
            if let Some(j) = self.store.redrive(id, now_ms())? {
                out.push(j);
            }
        }
        self.submit(out.clone());
        Ok(out)
    }

    /// Waits for the actors to finish their in-flight attempts.
    pub async fn join(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            let _ = t.await;
        }
    }
}
