//! Stage 6b: dispatch. One actor task per destination owns that
//! destination's queue: jobs are grouped in lanes (one per message id), only
//! the head of a lane is eligible, so deliveries for one message go out in
//! order while unrelated messages proceed side by side. Every state change
//! is written to the store, so a restart resumes exactly where it stopped.

pub mod schedule;
mod send;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::config::Destination;
use crate::metrics::Metrics;
use crate::store::{Job, Store};
use crate::time::now_ms;
use schedule::{RetrySchedule, Verdict};
pub use send::{Sender, parse_retry_after};

/// Hands jobs to the destination actors.
pub struct Dispatcher {
    queues: HashMap<String, mpsc::UnboundedSender<Job>>,
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Dispatcher {
    /// Starts one actor per destination and loads every pending job.
    pub fn start(
        destinations: &BTreeMap<String, Destination>,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Arc<Self>> {
        let mut queues = HashMap::new();
        let mut tasks = Vec::new();
        for (name, d) in destinations {
            let (sender, schedule, concurrency) = match d {
                Destination::Http {
                    url,
                    timeout,
                    schedule,
                    concurrency,
                    headers,
                } => (
                    Sender::http(url.clone(), *timeout, headers.clone())?,
                    schedule.clone(),
                    *concurrency,
                ),
                // One writer keeps the file in event order; retries for a
                // full or broken disk back off like an HTTP destination.
                Destination::File { path } => (
                    Sender::file(path.clone()),
                    RetrySchedule::new(schedule::DEFAULT_SCHEDULE.to_vec()),
                    1,
                ),
            };
            let (tx, rx) = mpsc::unbounded_channel();
            let actor = Actor {
                name: name.clone(),
                sender: Arc::new(sender),
                schedule,
                concurrency,
                store: store.clone(),
                metrics: metrics.clone(),
                lanes: HashMap::new(),
                ready: BinaryHeap::new(),
            };
            tasks.push(tokio::spawn(actor.run(rx, shutdown.clone())));
            queues.insert(name.clone(), tx);
        }
        let dispatcher = Arc::new(Self {
            queues,
            tasks: std::sync::Mutex::new(tasks),
        });
        let pending = store.pending_jobs()?;
        if !pending.is_empty() {
            tracing::info!(jobs = pending.len(), "resuming pending deliveries");
        }
        dispatcher.submit(pending);
        Ok(dispatcher)
    }

    /// Queues durable jobs for delivery (in id order within a lane).
    pub fn submit(&self, jobs: Vec<Job>) {
        for job in jobs {
            match self.queues.get(&job.destination) {
                Some(q) => {
                    if q.send(job).is_err() {
                        tracing::warn!("dispatcher stopped; job stays in the store");
                    }
                }
                // Left in the store: it resumes when the destination is
                // configured again.
                None => {
                    tracing::warn!(job = job.id, destination = %job.destination, "no such destination; job kept pending")
                }
            }
        }
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
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    lanes: HashMap<String, VecDeque<Job>>,
    /// Heads of lanes that are not in flight: (due, job id, lane).
    ready: BinaryHeap<Reverse<(i64, u64, String)>>,
}

type Done = (Job, crate::store::Attempt, Verdict);

impl Actor {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Job>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut inflight: JoinSet<Done> = JoinSet::new();
        loop {
            self.launch_due(&mut inflight);
            let next_due = self.ready.peek().map(|Reverse((due, _, _))| *due);
            let wait = next_due
                .filter(|_| inflight.len() < self.concurrency)
                .map(|due| Duration::from_millis((due - now_ms()).max(0) as u64));
            tokio::select! {
                job = rx.recv() => match job {
                    Some(job) => self.enqueue(job),
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
        lane.push_back(job);
    }

    fn launch_due(&mut self, inflight: &mut JoinSet<Done>) {
        let now = now_ms();
        while inflight.len() < self.concurrency {
            let Some(Reverse((due, _, _))) = self.ready.peek() else {
                break;
            };
            if *due > now {
                break;
            }
            let Some(Reverse((_, id, lane))) = self.ready.pop() else {
                break;
            };
            let Some(job) = self
                .lanes
                .get(&lane)
                .and_then(|l| l.front())
                .filter(|j| j.id == id)
                .cloned()
            else {
                continue;
            };
            let sender = self.sender.clone();
            inflight.spawn(async move {
                let (attempt, verdict) = sender.attempt(&job).await;
                (job, attempt, verdict)
            });
        }
    }

    fn finish(&mut self, (mut job, attempt, verdict): Done) {
        let outcome = match verdict {
            Verdict::Delivered => "delivered",
            Verdict::Retry(_) => "retry",
            Verdict::GiveUp => "rejected",
        };
        self.metrics.delivery(&self.name, outcome);
        if let Some(e) = &attempt.error {
            tracing::debug!(destination = %self.name, job = job.id, "attempt failed: {e}");
        }
        job.attempts.push(attempt);
        let next_delay = match verdict {
            Verdict::Delivered => None,
            Verdict::GiveUp => None,
            Verdict::Retry(after) => after.or_else(|| {
                self.schedule
                    .delay(job.attempts.len(), rand::random::<f64>())
            }),
        };
        let result = match (verdict, next_delay) {
            (Verdict::Delivered, _) => self.store.complete_job(&job),
            (_, Some(delay)) => {
                job.due_at = now_ms() + delay.as_millis() as i64;
                let r = self.store.retry_job(&job);
                if let Some(front) = self.lanes.get_mut(&job.lane).and_then(|l| l.front_mut()) {
                    *front = job.clone();
                }
                self.ready
                    .push(Reverse((job.due_at, job.id, job.lane.clone())));
                if let Err(e) = r {
                    tracing::error!(destination = %self.name, job = job.id, "cannot record retry: {e}");
                }
                return;
            }
            _ => {
                tracing::warn!(destination = %self.name, job = job.id, attempts = job.attempts.len(), "delivery dead-lettered");
                self.metrics.delivery(&self.name, "dead");
                self.store.bury_job(&job)
            }
        };
        if let Err(e) = result {
            tracing::error!(destination = %self.name, job = job.id, "cannot record delivery result: {e}");
        }
        // The lane moves on to its next job.
        if let Some(lane) = self.lanes.get_mut(&job.lane) {
            lane.pop_front();
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
}
