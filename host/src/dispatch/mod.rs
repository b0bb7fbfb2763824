//! Stage 6b: dispatch. One actor task per destination owns that
//! destination's queue: jobs are grouped in lanes (one per message id), only
//! the head of a lane is eligible, so deliveries for one message go out in
//! order while unrelated messages proceed side by side. The actor is the
//! only place that launches attempts, so its rate limit, concurrency bound
//! and circuit breaker hold across all of its workers. Every state change is
//! written to the store, so a restart resumes exactly where it stopped.

pub mod control;
pub mod guard;
pub mod schedule;
mod send;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::config::Destination;
use crate::metrics::Metrics;
use crate::store::{Job, Store, StoreResult};
use crate::time::now_ms;
use control::{Breaker, BreakerState, Permit, RateLimiter};
use schedule::{RetrySchedule, Verdict};
pub use send::{Sender, error_chain, parse_retry_after, signature};

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
    /// When the oldest waiting job was created (ms since epoch).
    pub oldest_created_at: Option<i64>,
}

enum Msg {
    Job(Job),
    Enable,
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
    ) -> anyhow::Result<Arc<Self>> {
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
    pub fn add(&self, name: &str, d: &Destination) -> anyhow::Result<()> {
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

    fn spawn_actor(&self, name: &str, d: &Destination) -> anyhow::Result<()> {
        let disabled: HashMap<String, String> = self.store.disabled()?.into_iter().collect();
        let (sender, schedule, concurrency, rate, breaker, kind) = match d {
            Destination::Http(h) => (
                Sender::http(h)?,
                h.schedule.clone(),
                h.concurrency,
                h.rate_limit,
                h.breaker,
                "http",
            ),
            // One writer keeps the file in event order; retries for a
            // full or broken disk back off like an HTTP destination.
            Destination::File { path } => (
                Sender::file(path.clone()),
                RetrySchedule::new(schedule::DEFAULT_SCHEDULE.to_vec()),
                1,
                None,
                crate::config::Breaker::default(),
                "file",
            ),
        };
        let status = Arc::new(Mutex::new(DestinationStatus {
            name: name.to_owned(),
            kind,
            breaker: BreakerState::Closed,
            disabled: disabled.get(name).cloned(),
            backlog: 0,
            inflight: 0,
            consecutive_failures: 0,
            probe_in_ms: None,
            rate_limit: rate,
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
        let actor = Actor {
            name: name.to_owned(),
            sender: Arc::new(sender),
            schedule,
            concurrency,
            limiter: rate.map(|r| RateLimiter::new(r, Instant::now())),
            rate,
            instances: 1,
            breaker: Breaker::new(breaker),
            disabled: disabled.get(name).cloned(),
            store: self.store.clone(),
            metrics: self.metrics.clone(),
            status: status.clone(),
            lanes: HashMap::new(),
            queued: Default::default(),
            ready: BinaryHeap::new(),
        };
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

struct Actor {
    name: String,
    sender: Arc<Sender>,
    schedule: RetrySchedule,
    concurrency: usize,
    limiter: Option<RateLimiter>,
    /// The configured limit, split between the instances sharing a store.
    rate: Option<f64>,
    instances: usize,
    breaker: Breaker,
    disabled: Option<String>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    status: Arc<Mutex<DestinationStatus>>,
    lanes: HashMap<String, VecDeque<Job>>,
    /// Jobs in all lanes, by (created, id): the count and the oldest.
    queued: std::collections::BTreeSet<(i64, u64)>,
    /// Heads of lanes that are not in flight: (due, job id, lane).
    ready: BinaryHeap<Reverse<(i64, u64, String)>>,
}

/// A finished attempt: the job, what happened, and whether it was a probe.
type Done = (Job, crate::store::Attempt, Verdict, bool);

impl Actor {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Msg>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut inflight: JoinSet<Done> = JoinSet::new();
        loop {
            let wait = self.launch_due(&mut inflight);
            self.publish(inflight.len());
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Job(job)) => self.enqueue(job),
                    Some(Msg::Enable) => {
                        tracing::info!(destination = %self.name, "destination re-enabled");
                        self.disabled = None;
                    }
                    None => break,
                },
                Some(done) = inflight.join_next(), if !inflight.is_empty() => match done {
                    Ok(done) => self.finish(done),
                    Err(e) => tracing::error!(destination = %self.name, "delivery task failed: {e}"),
                },
                _ = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(3600))), if wait.is_some() => {}
                _ = shutdown.changed() => break,
            }
        }
        // Let attempts already on the wire finish and record their result.
        while let Some(done) = inflight.join_next().await {
            if let Ok(done) = done {
                self.finish(done);
            }
        }
        self.publish(0);
    }

    fn publish(&self, inflight: usize) {
        let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
        s.breaker = self.breaker.state();
        s.disabled.clone_from(&self.disabled);
        s.backlog = self.queued.len();
        s.oldest_created_at = self.queued.first().map(|(t, _)| *t);
        s.inflight = inflight;
        s.consecutive_failures = self.breaker.consecutive_failures();
        s.probe_in_ms = self
            .breaker
            .open_until()
            .map(|t| t.saturating_duration_since(Instant::now()).as_millis() as u64);
    }

    fn enqueue(&mut self, job: Job) {
        let lane = self.lanes.entry(job.lane.clone()).or_default();
        if lane.iter().any(|j| j.id == job.id) {
            return;
        }
        if lane.is_empty() {
            self.ready
                .push(Reverse((job.due_at, job.id, job.lane.clone())));
        }
        self.queued.insert((job.created_at, job.id));
        lane.push_back(job);
    }

    /// Launches every attempt that is due and allowed; returns how long to
    /// sleep before something may become launchable (`None`: only a new
    /// job, a finished attempt or an enable can change anything).
    fn launch_due(&mut self, inflight: &mut JoinSet<Done>) -> Option<Duration> {
        if self.disabled.is_some() {
            return None;
        }
        let instances = self.store.instances();
        if instances != self.instances {
            self.instances = instances;
            self.limiter = self
                .rate
                .map(|r| RateLimiter::new(r / instances as f64, Instant::now()));
        }
        while inflight.len() < self.concurrency {
            let Reverse((due, _, _)) = self.ready.peek()?;
            let now_wall = now_ms();
            if *due > now_wall {
                return Some(Duration::from_millis((*due - now_wall) as u64));
            }
            let now = Instant::now();
            let probe = match self.breaker.permit(now) {
                Permit::Go => false,
                Permit::Probe => true,
                Permit::Wait(until) => return until.map(|t| t.saturating_duration_since(now)),
            };
            if let Some(limiter) = &mut self.limiter
                && let Err(wait) = limiter.take(now)
            {
                return Some(wait);
            }
            let Reverse((_, id, lane)) = self.ready.pop()?;
            let Some(job) = self
                .lanes
                .get(&lane)
                .and_then(|l| l.front())
                .filter(|j| j.id == id)
                .cloned()
            else {
                continue;
            };
            if probe {
                self.breaker.probing();
                tracing::info!(destination = %self.name, job = job.id, event = %job.event_id, "circuit breaker: probing");
            }
            let sender = self.sender.clone();
            inflight.spawn(async move {
                let (attempt, verdict) = sender.attempt(&job).await;
                (job, attempt, verdict, probe)
            });
        }
        None
    }

    fn finish(&mut self, (mut job, attempt, verdict, probe): Done) {
        let outcome = match verdict {
            Verdict::Delivered => "delivered",
            Verdict::Retry(_) => "retry",
            Verdict::GiveUp => "rejected",
            Verdict::Disable => "gone",
        };
        self.metrics.delivery(&self.name, outcome);
        self.metrics
            .delivery_latency(&self.name, attempt.latency_ms as f64 / 1000.0);
        let status = attempt.status;
        // One line per attempt, with the job, its event and the
        // destination: the end of a callback's trail in the log.
        let (n, latency_ms) = (job.attempts.len() + 1, attempt.latency_ms);
        let (job_id, event) = (job.id, job.event_id.as_str());
        let error = attempt.error.as_deref().unwrap_or("");
        match verdict {
            Verdict::Delivered => {
                tracing::info!(destination = %self.name, job = job_id, event, attempt = n, status, latency_ms, "delivered")
            }
            _ => {
                tracing::info!(destination = %self.name, job = job_id, event, attempt = n, status, latency_ms, error, outcome, "attempt failed")
            }
        }
        job.attempts.push(attempt);
        // A 4xx answer means the destination is up: only transport errors,
        // 5xx and throttling count against the breaker.
        let healthy = !matches!(verdict, Verdict::Retry(_));
        if self.breaker.record(healthy, probe, Instant::now()) {
            match self.breaker.state() {
                BreakerState::Open => tracing::warn!(
                    destination = %self.name,
                    failures = self.breaker.consecutive_failures(),
                    "circuit breaker open: deliveries paused, jobs wait"
                ),
                state => {
                    tracing::info!(destination = %self.name, ?state, "circuit breaker closed: delivering again")
                }
            }
        }
        let result = match verdict {
            Verdict::Delivered => self.store.complete_job(&job),
            Verdict::Disable => {
                let why = format!("410 Gone at {}", crate::time::Rfc3339(now_ms()));
                tracing::error!(destination = %self.name, job = job.id, event = %job.event_id, "destination answered 410 Gone: disabled, deliveries wait for `switchboard destinations enable {}`", self.name);
                if let Err(e) = self.store.set_disabled(&self.name, Some(&why)) {
                    tracing::error!(destination = %self.name, "cannot record disabled state: {e}");
                }
                self.disabled = Some(why);
                return self.requeue_head(job);
            }
            Verdict::Retry(after) => {
                // A failed probe is the breaker's business: the job keeps
                // its place in the schedule.
                let delay = if probe {
                    Some(Duration::ZERO)
                } else {
                    job.retries += 1;
                    after.or_else(|| {
                        self.schedule
                            .delay(job.retries as usize, rand::random::<f64>())
                    })
                };
                if let Some(delay) = delay {
                    job.due_at = now_ms() + delay.as_millis() as i64;
                    return self.requeue_head(job);
                }
                tracing::warn!(destination = %self.name, job = job.id, event = %job.event_id, attempts = job.attempts.len(), last_status = ?status, "delivery dead-lettered");
                self.metrics.delivery(&self.name, "dead");
                self.store.bury_job(&job)
            }
            Verdict::GiveUp => {
                tracing::warn!(destination = %self.name, job = job.id, event = %job.event_id, ?status, "delivery refused by the destination; dead-lettered");
                self.metrics.delivery(&self.name, "dead");
                self.store.bury_job(&job)
            }
        };
        if let Err(e) = result {
            tracing::error!(destination = %self.name, job = job.id, event = %job.event_id, "cannot record delivery result: {e}");
        }
        // The lane moves on to its next job.
        if let Some(lane) = self.lanes.get_mut(&job.lane) {
            lane.pop_front();
            self.queued.remove(&(job.created_at, job.id));
            match lane.front() {
                Some(next) => self
                    .ready
                    .push(Reverse((next.due_at, next.id, next.lane.clone()))),
                None => {
                    self.lanes.remove(&job.lane);
                }
            }
        }
    }

    /// Records the attempt and puts the job back at the head of its lane.
    fn requeue_head(&mut self, job: Job) {
        if let Err(e) = self.store.retry_job(&job) {
            tracing::error!(destination = %self.name, job = job.id, event = %job.event_id, "cannot record retry: {e}");
        }
        if let Some(front) = self.lanes.get_mut(&job.lane).and_then(|l| l.front_mut()) {
            *front = job.clone();
        }
        self.ready.push(Reverse((job.due_at, job.id, job.lane)));
    }
}
