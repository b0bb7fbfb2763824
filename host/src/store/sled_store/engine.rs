//! The sled database behind the store, its group commit, and how it comes
//! back after an I/O fault.
//!
//! Group commit: writers apply their batch in memory and queue for the
//! flusher thread, which fsyncs once for every writer queued (one fsync
//! ~0.3 ms here; 50k+ durable writes/s at 32 concurrent writers).
//! `flush_async` from many tasks hung in tests here, so it is never used.
//!
//! Faults: after one failed write (a full or read-only disk) sled poisons
//! itself and returns that error from every later call, forever. So an I/O
//! error retires the open database: the flusher takes it away (new calls
//! fail at once, the provider gets a 503 and retries), waits for the calls
//! in flight to let go of it, drops it (its files and its lock close) and
//! opens the directory again, with a backoff, until the disk takes writes
//! again. Whatever was flushed before the fault comes back with the
//! reopened database; whatever was not was never acknowledged. Each open
//! database has a generation: a writer is told its batch is durable only
//! if the flush that succeeded was of the database it wrote to.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::rotate::{current_name, remove_leftovers};
use crate::store::{Durable, StoreError, StoreResult};

pub(super) type Waiter = oneshot::Sender<StoreResult<()>>;

/// First wait before reopening after a fault, doubled per failed try.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// What the flusher thread is asked.
pub(super) enum Msg {
    /// Answer once what was written to generation `.0` is durable.
    Flush(u64, Waiter),
    /// A call on generation `.0` hit an I/O error: reopen.
    Broken(u64),
}

/// One open sled database. Every store call borrows it for its duration;
/// only the flusher (after a fault) and a rotation replace it.
pub(super) struct Open {
    pub db: sled::Db,
    pub tree: sled::Tree,
    pub generation: u64,
    /// Its directory's name in the data dir (`db`, then `db.1`, `db.2`, ...
    /// as rotations replace it).
    pub name: String,
    /// Added to sled's id counter, which starts from zero in every
    /// database: ids keep growing across rotations.
    pub id_base: u64,
}

/// The database a rotation is filling: every write goes to it as well.
pub(super) struct Next {
    pub tree: sled::Tree,
    /// A write to it failed: the rotation gives up (the open database,
    /// which has every write, stays).
    pub failed: AtomicBool,
}

/// The database as the store and its flusher share it: open, or closed
/// after a fault (with the reason) until the flusher reopens it.
pub(super) struct Shared {
    pub(super) dir: PathBuf,
    current: RwLock<Result<Arc<Open>, String>>,
    /// Writers hold it shared for each call that writes; a rotation holds
    /// it exclusively while it copies a chunk and when it swaps databases.
    pub(super) gate: RwLock<Option<Next>>,
    next_generation: AtomicU64,
    /// Generations a rotation retired: everything written to them was
    /// flushed into their successor before the swap.
    retired: Mutex<Vec<u64>>,
    /// Size on disk after the last open or rotation (0: never rotated
    /// since start, so a bloated database is rotated once it is large).
    pub(super) baseline: AtomicU64,
}

/// A writing call's hold on the database: shared on the gate, so no
/// rotation swaps or copies in the middle of the call.
pub(super) struct Writer<'a> {
    pub next: RwLockReadGuard<'a, Option<Next>>,
    pub open: Arc<Open>,
}

impl Writer<'_> {
    /// Repeats a write on the database a rotation is filling, if any; a
    /// failure there only abandons the rotation.
    pub fn mirror(&self, write: impl FnOnce(&sled::Tree) -> sled::Result<()>) {
        if let Some(next) = &*self.next
            && write(&next.tree).is_err()
        {
            next.failed.store(true, Ordering::Relaxed);
        }
    }
}

impl Shared {
    pub fn open(dir: &Path) -> StoreResult<Arc<Shared>> {
        let name = current_name(dir)?;
        let first = open_db(dir, &name, 1)?;
        // Only now: holding sled's lock on the current database means no
        // router is running here (and so none is midway through a rotation).
        remove_leftovers(dir, &name);
        Ok(Arc::new(Shared {
            dir: dir.to_owned(),
            current: RwLock::new(Ok(Arc::new(first))),
            gate: RwLock::new(None),
            next_generation: AtomicU64::new(2),
            retired: Mutex::new(Vec::new()),
            baseline: AtomicU64::new(0),
        }))
    }

    pub fn writer(&self) -> StoreResult<Writer<'_>> {
        let next = self.gate.read().unwrap_or_else(|p| p.into_inner());
        let open = self.get()?;
        Ok(Writer { next, open })
    }

    pub fn new_generation(&self) -> u64 {
        self.next_generation.fetch_add(1, Ordering::Relaxed)
    }

    /// Makes `next` the open database in place of generation `old`, once
    /// `commit` (which names it in `CURRENT`) succeeded. The caller holds
    /// the gate exclusively and has flushed `next`; the lock held here
    /// keeps the flusher from reopening the old one meanwhile.
    pub(super) fn swap(
        &self,
        old: u64,
        next: Open,
        commit: impl FnOnce() -> StoreResult<()>,
    ) -> StoreResult<()> {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if !matches!(&*current, Ok(o) if o.generation == old) {
            return Err(StoreError::unavailable(
                "the store was reopened after a fault during the rotation",
            ));
        }
        commit()?;
        *current = Ok(Arc::new(next));
        let mut retired = self.retired.lock().unwrap_or_else(|p| p.into_inner());
        retired.push(old);
        let len = retired.len();
        retired.drain(..len.saturating_sub(64));
        Ok(())
    }

    /// Whether a flush of `generation` is covered: the open one is flushed
    /// by the flusher; a rotated one was flushed into its successor.
    fn covered(&self, generation: u64, open: u64) -> bool {
        generation == open
            || self
                .retired
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&generation)
    }

    /// The open database, or why there is none right now.
    pub fn get(&self) -> StoreResult<Arc<Open>> {
        match &*self.current.read().unwrap_or_else(|p| p.into_inner()) {
            Ok(open) => Ok(open.clone()),
            Err(why) => Err(StoreError::unavailable(format!(
                "store closed after an I/O error ({why}); reopening"
            ))),
        }
    }

    /// Swaps in `next`; the database that was open, if any.
    fn replace(&self, next: Result<Arc<Open>, String>) -> Option<Arc<Open>> {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *current, next).ok()
    }
}

/// The key, in sled's default tree, of the id base.
const ID_BASE: &[u8] = b"id_base";
pub(super) fn open_db(dir: &Path, name: &str, generation: u64) -> StoreResult<Open> {
    let path = dir.join(name);
    let err = |e: sled::Error| StoreError::sled_at(path.display().to_string(), e);
    let db = sled::Config::new()
        .path(&path)
        // sled's own page cache: the message records have theirs in front
        // (`messages.rs`) and records are read back rarely. 64 MB cost ~60
        // MB more RSS under load than 8, which cost no CPU in interleaved
        // `bench store` runs (42.7-50.0 µs at 16 MB, 43.0-47.8 at 8).
        .cache_capacity(8 << 20)
        .flush_every_ms(Some(1000))
        .open()
        .map_err(err)?;
    let tree = db.open_tree("switchboard").map_err(err)?;
    let id_base = match db.get(ID_BASE).map_err(err)? {
        Some(v) => <[u8; 8]>::try_from(v.as_ref())
            .map(u64::from_be_bytes)
            .map_err(|_| StoreError::Corrupt {
                key: "id_base".into(),
                reason: format!("{} bytes, want 8", v.len()),
            })?,
        None => 0,
    };
    Ok(Open {
        db,
        tree,
        generation,
        name: name.to_owned(),
        id_base,
    })
}

/// Records in `db` the id base it starts from (before it is flushed).
pub(super) fn set_id_base(db: &sled::Db, base: u64) -> sled::Result<()> {
    db.insert(ID_BASE, &base.to_be_bytes()).map(|_| ())
}

/// Opens the database closed after a fault. It must still be there: if it
/// is gone, the data volume is most likely unmounted, and an empty
/// database created in the mount point would take writes that the volume,
/// once mounted again, hides.
fn reopen_db(dir: &Path, name: &str, generation: u64) -> StoreResult<Open> {
    if !dir.join(name).join("db").is_file() {
        return Err(StoreError::unavailable(format!(
            "{}: the database is gone (data volume unmounted?)",
            dir.display()
        )));
    }
    open_db(dir, name, generation)
}

/// Starts the flusher. It holds the shared slot, never a database of its
/// own, so a reopen can close every handle.
pub(super) fn spawn_flusher(
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Msg>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("store-flusher".into())
        .spawn(move || flusher(&shared, &rx))
}

/// Waits for a first writer, takes every writer queued behind it, flushes
/// once and answers them all; reopens the database after a fault. Ends
/// when the store is dropped.
fn flusher(shared: &Shared, rx: &mpsc::Receiver<Msg>) {
    let mut backoff = RETRY_MIN;
    while let Ok(first) = rx.recv() {
        let open = match shared.get() {
            Ok(open) => open,
            // Only this thread closes the database, and it reopens it
            // before it takes the next message.
            Err(e) => {
                answer_closed(first, &e.to_string());
                continue;
            }
        };
        let mut waiters = Vec::new();
        let mut broken = false;
        for msg in std::iter::once(first).chain(rx.try_iter()) {
            match msg {
                Msg::Flush(generation, w) => waiters.push((generation, w)),
                Msg::Broken(generation) => broken |= generation == open.generation,
            }
        }
        // Shared: every writer it answers gets the same sled error.
        let result = if waiters.is_empty() {
            Ok(())
        } else {
            open.db.flush().map(|_| ()).map_err(Arc::new)
        };
        for (generation, w) in waiters {
            let r = if shared.covered(generation, open.generation) {
                result.clone().map_err(StoreError::sled)
            } else {
                Err(StoreError::unavailable(
                    "written to a database closed after an I/O error: not durable",
                ))
            };
            // A writer that went away (client hung up) needs no answer.
            let _ = w.send(r);
        }
        let why = match result {
            Ok(()) if !broken => {
                backoff = RETRY_MIN;
                continue;
            }
            Ok(()) => "a store call hit an I/O error".to_owned(),
            Err(e) => e.to_string(),
        };
        drop(open);
        if !reopen(shared, rx, &why, &mut backoff) {
            return;
        }
    }
}

/// Takes the failed database away, waits for the calls in flight to let
/// go of it (they fail fast on a poisoned sled), closes it and opens the
/// directory again, retrying with backoff. False if the store was dropped
/// meanwhile.
fn reopen(shared: &Shared, rx: &mpsc::Receiver<Msg>, why: &str, backoff: &mut Duration) -> bool {
    let dir = shared.dir.display().to_string();
    tracing::error!(%dir, "store I/O failed ({why}): nothing is acknowledged until it can be reopened");
    let mut old = shared.replace(Err(why.to_owned()));
    let started = Instant::now();
    let mut warned = false;
    while let Some(o) = old.take() {
        match Arc::try_unwrap(o) {
            // sled's lock on the directory goes with the last handle.
            Ok(o) => drop(o),
            Err(o) => {
                old = Some(o);
                if !warned && started.elapsed() > Duration::from_secs(5) {
                    warned = true;
                    tracing::warn!(%dir, "store: a call still holds the failed database");
                }
                if !idle(rx, Duration::from_millis(1)) {
                    return false;
                }
            }
        }
    }
    let mut attempt = 0u64;
    loop {
        attempt += 1;
        if !idle(rx, *backoff) {
            return false;
        }
        *backoff = (*backoff * 2).min(RETRY_MAX);
        let reopened = current_name(&shared.dir)
            .and_then(|name| reopen_db(&shared.dir, &name, shared.new_generation()));
        match reopened {
            Ok(open) => {
                shared.replace(Ok(Arc::new(open)));
                let after_ms = started.elapsed().as_millis() as u64;
                tracing::warn!(%dir, attempt, after_ms, "store reopened: acknowledging again");
                return true;
            }
            // Once, then now and then: a full disk may last for hours.
            Err(e) if attempt == 1 || attempt.is_multiple_of(30) => {
                tracing::warn!(%dir, attempt, "store cannot be reopened yet: {e}")
            }
            Err(_) => {}
        }
    }
}

/// Waits `span`, answering the writers that queue meanwhile: nothing is
/// durable while the database is closed. False if the store was dropped.
fn idle(rx: &mpsc::Receiver<Msg>, span: Duration) -> bool {
    let until = Instant::now() + span;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(msg) => answer_closed(msg, "store closed after an I/O error; reopening"),
            Err(RecvTimeoutError::Timeout) => return true,
            Err(RecvTimeoutError::Disconnected) => return false,
        }
    }
}

fn answer_closed(msg: Msg, why: &str) {
    if let Msg::Flush(_, w) = msg {
        let _ = w.send(Err(StoreError::unavailable(why)));
    }
}

/// Queues for the flusher: resolves once what was written to `generation`
/// is durable (an error if it was closed before it could be flushed).
pub(super) fn queue_flush(flusher: Option<&mpsc::Sender<Msg>>, generation: u64) -> Durable {
    let (tx, rx) = oneshot::channel();
    let sent = flusher.is_some_and(|f| f.send(Msg::Flush(generation, tx)).is_ok());
    Box::pin(async move {
        if !sent {
            return Err(StoreError::unavailable("store flusher stopped"));
        }
        rx.await
            .unwrap_or_else(|_| Err(StoreError::unavailable("store flusher stopped")))
    })
}
