//! When and where plugin calls run. At most `runtime.max_concurrent_calls`
//! at once (they are CPU-bound: more than a few per core only queues), on a
//! small pool of plain OS threads; a plugin that timed out in the last
//! minute is a *suspect* and runs on its own small pool, so a looping
//! plugin ties up those threads, never the ones serving the healthy ones.
//!
//! Not the tokio workers: wasmtime-wasi's sync bindings block on a runtime
//! for guest I/O (a `println!` in a plugin), which panics on a worker. Not
//! `spawn_blocking` either: its shared queue and thread-per-waiter wake-ups
//! cost a third of the router's throughput here. A fixed pool stays busy
//! under load and hands results back through a oneshot.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::{Semaphore, oneshot};

use super::{CallError, wit};
use crate::time::now_ms;

/// How long a plugin that timed out runs on the suspects' pool.
const SUSPECT_MS: i64 = 60_000;

/// What a call gives back: the request (kept as the capture) and the
/// plugin's answer, or why there is none.
pub type Called = (
    wit::HttpRequest,
    Result<Result<wit::Outcome, wit::PluginError>, CallError>,
);

pub struct Scheduler {
    calls: Semaphore,
    healthy: Executor,
    suspects: Executor,
}

/// A plugin's standing with the scheduler: until when (ms) its calls run
/// on the suspects' pool. One per mount.
#[derive(Debug, Default)]
pub struct Suspect(AtomicI64);

impl Suspect {
    fn is(&self, now_ms: i64) -> bool {
        self.0.load(Ordering::Relaxed) > now_ms
    }

    fn mark(&self, until_ms: i64) {
        self.0.fetch_max(until_ms, Ordering::Relaxed);
    }
}

impl Scheduler {
    pub fn new(max_concurrent_calls: usize) -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            calls: Semaphore::new(max_concurrent_calls),
            healthy: Executor::new("plugin", cores)?,
            suspects: Executor::new("plugin-suspect", 2)?,
        })
    }

    /// Runs `call` (one plugin call) on the pool its plugin's standing
    /// picks, and marks the plugin a suspect when the call timed out.
    /// `None` if the call panicked in the host.
    pub async fn run(
        &self,
        suspect: &Suspect,
        call: impl FnOnce() -> Called + Send + 'static,
    ) -> Option<Called> {
        let _permit = self.calls.acquire().await;
        let pool = if suspect.is(now_ms()) {
            &self.suspects
        } else {
            &self.healthy
        };
        let answer = pool.run(call).await;
        if let Some((_, Err(CallError::Timeout(_)))) = &answer {
            suspect.mark(now_ms() + SUSPECT_MS);
        }
        answer
    }
}

type Task = Box<dyn FnOnce() + Send>;

struct Executor {
    tx: crossbeam_channel::Sender<Task>,
}

impl Executor {
    fn new(name: &str, threads: usize) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::unbounded::<Task>();
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    while let Ok(task) = rx.recv() {
                        task();
                    }
                })?;
        }
        Ok(Self { tx })
    }

    /// Runs `f` on the pool; `None` if it panicked (a host bug: the caller
    /// must not acknowledge what it could not process).
    async fn run<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
        let (tx, rx) = oneshot::channel();
        let task: Task = Box::new(move || {
            let result = std::panic::catch_unwind(AssertUnwindSafe(f));
            if let Ok(r) = result {
                let _ = tx.send(r);
            }
        });
        self.tx.send(task).ok()?;
        rx.await.ok()
    }
}
