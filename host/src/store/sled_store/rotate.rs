//! Rotation: sled 0.34 does not give back the space of records deleted
//! under churn (its file grew ~10 KB per callback in `bench soak` whatever
//! retention deleted; see `docs/benchmarks.md`). So once the file has grown
//! to several times its size after the last rotation, the live records are
//! copied into a fresh database that then replaces it, online:
//!
//! 1. the gate gets the new database: from then on every write goes to
//!    both (writers hold the gate shared for the length of a call);
//! 2. the records are copied in chunks, each under the exclusive gate, so
//!    no write lands halfway through one; a key a write already put in the
//!    new database is skipped (that write is newer), and a key deleted
//!    meanwhile is gone from both;
//! 3. under the exclusive gate: the id base, a flush, `CURRENT` names the
//!    new database (the commit point), and the swap;
//! 4. the old database is closed once the calls holding it let go, and
//!    deleted.
//!
//! A crash before step 3 leaves the old database, complete, and the next
//! open deletes the half-copied one. Writers that were waiting for a flush
//! of the old database are answered: what they wrote is in the new one,
//! flushed before the swap.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::engine::{Next, Open, Shared, open_db, set_id_base};
use crate::store::{StoreError, StoreResult};

/// No rotation below this size: a small database is not worth copying.
pub const FLOOR: u64 = 128 << 20;
/// Rotate once the file is this many times its size after the last one.
pub const FACTOR: u64 = 2;
/// Records copied per hold of the exclusive gate (a few ms of writes wait).
const CHUNK: usize = 2000;

/// What a rotation did.
#[derive(Debug, Clone, Copy)]
pub struct Rotated {
    pub records: u64,
    pub before: u64,
    pub after: u64,
    pub took: Duration,
}

/// Rotates if the file has grown past [`FLOOR`] and [`FACTOR`] times its
/// size after the last rotation.
pub(super) fn rotate_if_grown(shared: &Shared) -> StoreResult<Option<Rotated>> {
    let size = {
        let open = shared.get()?;
        open.db.size_on_disk().map_err(io)?
    };
    let baseline = shared.baseline.load(Ordering::Relaxed);
    if size < FLOOR.max(baseline.saturating_mul(FACTOR)) {
        return Ok(None);
    }
    match rotate(shared) {
        Ok(r) => Ok(Some(r)),
        Err(e) => {
            // Not again before it has grown as much once more (a full
            // disk, say, would fail every pass).
            shared.baseline.store(size, Ordering::Relaxed);
            Err(e)
        }
    }
}

/// Copies the live records into a fresh database and swaps it in.
pub(super) fn rotate(shared: &Shared) -> StoreResult<Rotated> {
    let started = Instant::now();
    let old = shared.get()?;
    let before = old.db.size_on_disk().map_err(io)?;
    let name = next_name(&old.name);
    let path = shared.dir.join(&name);
    if path.exists() {
        std::fs::remove_dir_all(&path).map_err(|e| io_at(&path, e))?;
    }
    let next = open_db(&shared.dir, &name, shared.new_generation())?;
    {
        let mut gate = shared.gate.write().unwrap_or_else(|p| p.into_inner());
        if gate.is_some() {
            return Err(StoreError::unavailable("a rotation is already running"));
        }
        *gate = Some(Next {
            tree: next.tree.clone(),
            failed: AtomicBool::new(false),
        });
    }
    let result = copy(shared, &old).and_then(|records| {
        let after = swap(shared, &old, next)?;
        Ok(Rotated {
            records,
            before,
            after,
            took: started.elapsed(),
        })
    });
    // The gate's handle is the last one on the new database if it failed.
    *shared.gate.write().unwrap_or_else(|p| p.into_inner()) = None;
    match result {
        Ok(r) => {
            shared.baseline.store(r.after, Ordering::Relaxed);
            let old_path = shared.dir.join(&old.name);
            close(old);
            if let Err(e) = std::fs::remove_dir_all(&old_path) {
                tracing::warn!(path = %old_path.display(), "store: cannot delete the rotated-out database (deleted at the next start): {e}");
            }
            tracing::info!(
                records = r.records,
                before_mb = r.before >> 20,
                after_mb = r.after >> 20,
                took_ms = r.took.as_millis() as u64,
                "store rotated: live records copied into a fresh database"
            );
            Ok(r)
        }
        Err(e) => {
            drop(old);
            let _ = std::fs::remove_dir_all(&path);
            tracing::warn!("store rotation abandoned, the database in use stays: {e}");
            Err(e)
        }
    }
}

/// Step 2: every record of `old` into the gate's database, chunk by chunk.
fn copy(shared: &Shared, old: &Open) -> StoreResult<u64> {
    let mut last: Option<sled::IVec> = None;
    let mut records = 0;
    loop {
        let gate = shared.gate.write().unwrap_or_else(|p| p.into_inner());
        let next = gate
            .as_ref()
            .ok_or_else(|| io_msg("rotation lost its database"))?;
        if next.failed.load(Ordering::Relaxed) {
            return Err(io_msg("a write to the new database failed"));
        }
        let from = match &last {
            Some(k) => Bound::Excluded(k.clone()),
            None => Bound::Unbounded,
        };
        let mut copied = 0;
        for kv in old
            .tree
            .range::<sled::IVec, _>((from, Bound::Unbounded))
            .take(CHUNK)
        {
            let (k, v) = kv.map_err(io)?;
            if !next.tree.contains_key(&k).map_err(io)? {
                next.tree.insert(&k, v).map_err(io)?;
            }
            last = Some(k);
            copied += 1;
        }
        records += copied as u64;
        if copied < CHUNK {
            return Ok(records);
        }
    }
}

/// Step 3: id base, flush, `CURRENT`, swap; the new database's size.
fn swap(shared: &Shared, old: &Open, next: Open) -> StoreResult<u64> {
    let gate = shared.gate.write().unwrap_or_else(|p| p.into_inner());
    if gate
        .as_ref()
        .is_none_or(|n| n.failed.load(Ordering::Relaxed))
    {
        return Err(io_msg("a write to the new database failed"));
    }
    // Nobody writes (exclusive gate), so nobody takes an id meanwhile.
    let base = old.id_base + old.db.generate_id().map_err(io)? + 1;
    set_id_base(&next.db, base).map_err(io)?;
    next.db.flush().map_err(io)?;
    let after = next.db.size_on_disk().map_err(io)?;
    let next = Open {
        id_base: base,
        ..next
    };
    let name = next.name.clone();
    shared.swap(old.generation, next, || {
        set_current(&shared.dir, &name).map_err(|e| io_at(&shared.dir.join("CURRENT"), e))
    })?;
    drop(gate);
    Ok(after)
}

/// Waits for the calls still holding `old` to let go, then closes it.
fn close(old: Arc<Open>) {
    let started = Instant::now();
    let mut old = old;
    loop {
        match Arc::try_unwrap(old) {
            Ok(o) => return drop(o),
            Err(o) if started.elapsed() < Duration::from_secs(30) => {
                old = o;
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(_) => {
                tracing::warn!("store: a call still holds the rotated-out database after 30 s");
                return;
            }
        }
    }
}

/// Names the open database's directory; written (atomically) only when a
/// rotation has flushed its successor, so it is the rotation's commit point.
const CURRENT: &str = "CURRENT";

/// The open database's directory name (`db` before any rotation).
pub(super) fn current_name(dir: &Path) -> StoreResult<String> {
    match std::fs::read_to_string(dir.join(CURRENT)) {
        Ok(s) => Ok(s.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok("db".into()),
        Err(e) => Err(io_at(&dir.join(CURRENT), e)),
    }
}

/// Points `CURRENT` at `name`: written aside, synced, renamed over, and
/// the directory synced, so a crash leaves the old name or the new one.
pub(super) fn set_current(dir: &Path, name: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join("CURRENT.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(name.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(CURRENT))?;
    std::fs::File::open(dir)?.sync_all()
}

/// Deletes databases other than the current one: a rotation that crashed
/// before its swap, or an old one that could not be deleted after it.
pub(super) fn remove_leftovers(dir: &Path, current: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name == "db"
            || name
                .strip_prefix("db.")
                .is_some_and(|n| n.parse::<u64>().is_ok());
        if ours && name != current {
            match std::fs::remove_dir_all(e.path()) {
                Ok(()) => {
                    tracing::info!(database = %name, "store: removed a database left by an unfinished rotation")
                }
                Err(err) => {
                    tracing::warn!(database = %name, "store: cannot remove a stale database: {err}")
                }
            }
        }
    }
}

/// `db` → `db.1`, `db.N` → `db.N+1`.
pub(super) fn next_name(name: &str) -> String {
    let n = name
        .strip_prefix("db.")
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    format!("db.{}", n + 1)
}

fn io(e: sled::Error) -> StoreError {
    StoreError::sled(e)
}

fn io_msg(m: &str) -> StoreError {
    StoreError::unavailable(m)
}

fn io_at(path: &std::path::Path, e: std::io::Error) -> StoreError {
    StoreError::file(path.display().to_string(), e)
}

#[cfg(test)]
mod tests;
