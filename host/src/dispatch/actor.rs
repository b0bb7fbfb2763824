//! One destination's actor: owns its queue (lanes per message id), and is
//! the only place that launches its attempts, so the rate limit, the
//! concurrency bound and the circuit breaker hold across all its workers.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::control::{Breaker, BreakerState, Permit, RateLimiter};
use super::schedule::{self, Next, RetrySchedule};
use super::{DestinationStatus, Msg, Sender, Settings};
use crate::metrics::Metrics;
use crate::store::{Job, Store};
use crate::time::now_ms;

pub(super) struct Actor {
    name: String,
    sender: Arc<Sender>,
    schedule: RetrySchedule,
    concurrency: usize,
    limiter: Option<RateLimiter>,
    /// The configured limit, split between the instances sharing a store.
    rate: Option<f64>,
    instances: usize,
    breaker_config: crate::config::BreakerSettings,
    breaker: Breaker,
    disabled: Option<String>,
    paused: bool,
    /// Why every job is dead-lettered unsent (`Msg::Cancel`).
    cancelled: Option<String>,
    /// Jobs whose attempt is on the wire.
    sending: std::collections::HashSet<u64>,
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
type Done = (Job, crate::store::Attempt, Next, bool);

impl Actor {
    pub(super) fn new(
        name: &str,
        settings: Settings,
        disabled: Option<String>,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        status: Arc<Mutex<DestinationStatus>>,
    ) -> Self {
        Actor {
            name: name.to_owned(),
            sender: Arc::new(settings.sender),
            schedule: settings.schedule,
            concurrency: settings.concurrency,
            limiter: settings.rate.map(|r| RateLimiter::new(r, Instant::now())),
            rate: settings.rate,
            instances: 1,
            breaker_config: settings.breaker,
            breaker: Breaker::new(settings.breaker),
            disabled,
            paused: settings.paused,
            cancelled: None,
            sending: Default::default(),
            store,
            metrics,
            status,
            lanes: HashMap::new(),
            queued: Default::default(),
            ready: BinaryHeap::new(),
        }
    }

    /// New settings from a config reload; a breaker keeps its state unless
    /// its own settings changed.
    fn reconfigure(&mut self, s: Settings) {
        tracing::info!(destination = %self.name, "destination settings reloaded");
        self.sender = Arc::new(s.sender);
        self.schedule = s.schedule;
        self.concurrency = s.concurrency;
        if s.paused != self.paused {
            self.paused = s.paused;
            let state = if s.paused { "paused" } else { "resumed" };
            tracing::info!(destination = %self.name, "deliveries {state}");
        }
        if s.rate != self.rate {
            self.rate = s.rate;
            let n = self.instances.max(1) as f64;
            self.limiter = s.rate.map(|r| RateLimiter::new(r / n, Instant::now()));
        }
        if s.breaker != self.breaker_config {
            self.breaker_config = s.breaker;
            self.breaker = Breaker::new(s.breaker);
        }
        let mut st = self.status.lock().unwrap_or_else(|p| p.into_inner());
        st.kind = s.kind;
        st.rate_limit = s.rate;
        st.paused = self.paused;
    }

    /// Dead-letters every queued job not on the wire, with `reason` as
    /// its last attempt; from now on every job is.
    fn cancel(&mut self, reason: String) {
        tracing::warn!(destination = %self.name, jobs = self.queued.len(), "{reason}: its pending deliveries are cancelled (dead-lettered)");
        self.cancelled = Some(reason);
        let lanes = std::mem::take(&mut self.lanes);
        self.ready.clear();
        self.queued.clear();
        for (name, lane) in lanes {
            for job in lane {
                if self.sending.contains(&job.id) {
                    // Its attempt decides (`finish`); the lane stays for it.
                    self.queued.insert((job.created_at, job.id));
                    self.lanes.entry(name.clone()).or_default().push_back(job);
                } else {
                    self.bury_cancelled(job);
                }
            }
        }
    }

    fn bury_cancelled(&self, mut job: Job) {
        let reason = self.cancelled.clone().unwrap_or_default();
        job.attempts.push(crate::store::Attempt {
            at: now_ms(),
            status: None,
            error: Some(reason),
            latency_ms: 0,
            response: String::new(),
        });
        self.metrics.delivery(&self.name, "cancelled");
        if let Err(e) = self.store.bury_job(&job) {
            tracing::error!(destination = %self.name, job = job.id, event = %job.event_id, "cannot record cancelled job: {e}");
            self.metrics.store_error();
        }
    }

    pub(super) async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Msg>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut inflight: JoinSet<Done> = JoinSet::new();
        let mut stopped = false;
        loop {
            let wait = self.launch_due(&mut inflight);
            self.publish(inflight.len());
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Job(job)) if self.cancelled.is_some() => self.bury_cancelled(job),
                    Some(Msg::Job(job)) => self.enqueue(job),
                    Some(Msg::Cancel(reason)) => self.cancel(reason),
                    Some(Msg::Enable) => {
                        tracing::info!(destination = %self.name, "destination re-enabled");
                        self.disabled = None;
                    }
                    Some(Msg::Reconfigure(s)) => self.reconfigure(*s),
                    Some(Msg::Stop) => {
                        tracing::info!(destination = %self.name, jobs = self.queued.len(), "destination removed from the config: stopped, its jobs stay pending");
                        stopped = true;
                        break;
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
        if stopped {
            self.release_queued();
        }
        self.publish(0);
    }

    /// Hands the jobs still queued (after the last attempt finished) back
    /// to a shared store; a private one keeps them pending anyway.
    fn release_queued(&self) {
        for lane in self.lanes.values() {
            for job in lane {
                self.store.release(job);
            }
        }
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
        if self.disabled.is_some() || self.paused || self.cancelled.is_some() {
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
            self.sending.insert(job.id);
            inflight.spawn(async move {
                let (attempt, verdict) = sender.attempt(&job).await;
                (job, attempt, verdict, probe)
            });
        }
        None
    }

    fn finish(&mut self, (mut job, attempt, verdict, probe): Done) {
        self.sending.remove(&job.id);
        let outcome = match verdict {
            Next::Delivered => "delivered",
            Next::Retry(_) => "retry",
            Next::GiveUp => "rejected",
            Next::Disable => "gone",
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
            Next::Delivered => {
                tracing::info!(destination = %self.name, job = job_id, event, attempt = n, status, latency_ms, "delivered")
            }
            _ => {
                tracing::info!(destination = %self.name, job = job_id, event, attempt = n, status, latency_ms, error, outcome, "attempt failed")
            }
        }
        job.attempts.push(attempt);
        // A 4xx answer means the destination is up: only transport errors,
        // 5xx and throttling count against the breaker.
        let healthy = !matches!(verdict, Next::Retry(_));
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
            Next::Delivered => self.store.complete_job(&job),
            // Cancelled while on the wire, and not delivered: no retry.
            _ if self.cancelled.is_some() => {
                self.bury_cancelled(job.clone());
                Ok(())
            }
            Next::Disable => {
                let why = format!("410 Gone at {}", crate::time::Rfc3339(now_ms()));
                tracing::error!(destination = %self.name, job = job.id, event = %job.event_id, "destination answered 410 Gone: disabled, deliveries wait for `switchboard destinations enable {}`", self.name);
                if let Err(e) = self.store.set_disabled(&self.name, Some(&why)) {
                    tracing::error!(destination = %self.name, "cannot record disabled state: {e}");
                    self.metrics.store_error();
                }
                self.disabled = Some(why);
                return self.requeue_head(job);
            }
            Next::Retry(after) => {
                // A failed probe is the breaker's business: the job keeps
                // its place in the schedule.
                let delay = if probe {
                    Some(Duration::ZERO)
                } else {
                    job.retries += 1;
                    after.or_else(|| {
                        schedule::delay(&self.schedule, job.retries as usize, rand::random())
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
            Next::GiveUp => {
                tracing::warn!(destination = %self.name, job = job.id, event = %job.event_id, ?status, "delivery refused by the destination; dead-lettered");
                self.metrics.delivery(&self.name, "dead");
                self.store.bury_job(&job)
            }
        };
        if let Err(e) = result {
            tracing::error!(destination = %self.name, job = job.id, event = %job.event_id, "cannot record delivery result: {e}");
            self.metrics.store_error();
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
            self.metrics.store_error();
        }
        if let Some(front) = self.lanes.get_mut(&job.lane).and_then(|l| l.front_mut()) {
            *front = job.clone();
        }
        self.ready.push(Reverse((job.due_at, job.id, job.lane)));
    }
}
