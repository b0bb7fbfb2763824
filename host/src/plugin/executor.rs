//! Where plugin calls run: a small pool of plain OS threads per lane.
//!
//! Not the tokio workers: wasmtime-wasi's sync bindings block on a runtime
//! for guest I/O (a `println!` in a plugin), which panics on a worker. Not
//! `spawn_blocking` either: its shared queue and thread-per-waiter wake-ups
//! cost a third of the router's throughput here. A fixed pool stays busy
//! under load and hands results back through a oneshot.

use std::panic::AssertUnwindSafe;

use tokio::sync::oneshot;

type Task = Box<dyn FnOnce() + Send>;

pub struct Executor {
    tx: crossbeam_channel::Sender<Task>,
}

impl Executor {
    pub fn new(name: &str, threads: usize) -> std::io::Result<Self> {
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
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Option<R> {
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
