//! The store's own access paths: records, messages and delivered jobs
//! read and written through the engine's current database, and the
//! completer's barrier. Every other file of `sled_store` goes through these.

use super::*;

impl SledStore {
    /// Runs `then` once every delivered job handed to the completer so
    /// far is recorded; false if the completer is gone.
    pub(super) fn barrier(&self, then: impl FnOnce() + Send + 'static) -> bool {
        self.completer
            .as_ref()
            .is_some_and(|c| c.send(Done::Barrier(Box::new(then))).is_ok())
    }

    /// Waits until every delivered job handed over so far is recorded.
    pub(super) fn completions(&self) {
        let (tx, rx) = mpsc::sync_channel(1);
        if self.barrier(move || {
            let _ = tx.send(());
        }) {
            let _ = rx.recv();
        }
    }

    /// The open database for one call (an error while it is being reopened).
    pub(super) fn db(&self) -> StoreResult<Arc<Open>> {
        self.shared.get()
    }

    pub(super) fn fail(&self, db: &Open, e: sled::Error) -> StoreError {
        fail(db, e, self.flusher.as_ref())
    }

    /// The open database for a call that writes (see `rotate.rs`).
    pub(super) fn writer(&self) -> StoreResult<Writer<'_>> {
        self.shared.writer()
    }

    pub(super) fn insert(&self, w: &Writer, key: Vec<u8>, value: Vec<u8>) -> StoreResult<()> {
        put(w, self.flusher.as_ref(), key, value)
    }

    /// Removes `key`; whether it was there.
    pub(super) fn remove(&self, w: &Writer, key: impl AsRef<[u8]>) -> StoreResult<bool> {
        remove(w, self.flusher.as_ref(), key)
    }

    /// Rotates the database now (see `rotate.rs`); for tests.
    pub fn rotate(&self) -> StoreResult<Rotated> {
        rotate::rotate(&self.shared)
    }

    pub(super) fn get<T: DeserializeOwned>(&self, key: &[u8]) -> StoreResult<Option<T>> {
        let db = self.db()?;
        match db.tree.get(key).map_err(|e| self.fail(&db, e))? {
            Some(v) => decode(key, &v).map(Some),
            None => Ok(None),
        }
    }

    pub(super) fn scan<T: DeserializeOwned>(&self, prefix: u8) -> StoreResult<Vec<T>> {
        let db = self.db()?;
        db.tree
            .scan_prefix([prefix])
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.fail(&db, e))?;
                decode(&k, &v)
            })
            .collect()
    }

    /// Queues for the flusher: resolves once what was written to
    /// `generation` is durable.
    pub(super) fn durable(&self, generation: u64) -> Durable {
        queue_flush(self.flusher.as_ref(), generation)
    }

    /// The callback record of capture `id`.
    pub(super) fn record(&self, id: u64) -> StoreResult<Option<Record>> {
        let db = self.db()?;
        let key = id_key(RECORD, id);
        match db.tree.get(&key).map_err(|e| self.fail(&db, e))? {
            Some(v) => unpack(&key, &v).map(Some),
            None => Ok(None),
        }
    }

    /// The message record under `key` (through the cache).
    pub(super) fn message(&self, key: &[u8]) -> StoreResult<Arc<MessageRec>> {
        let db = self.db()?;
        self.messages.get(&db, key, |e| self.fail(&db, e))
    }

    /// Event `id` as recorded by capture `capture`, with its duplicates.
    pub(super) fn recorded(
        &self,
        capture: u64,
        id: &str,
        dups: u32,
    ) -> StoreResult<Option<StoredEvent>> {
        let Some(record) = self.record(capture)? else {
            return Ok(None);
        };
        let key = id_key(RECORD, capture);
        record.own(id).map(|o| o.stored(&key, dups)).transpose()
    }

    /// A job left the pending set (dead): drops its `j` record, if any.
    pub(super) fn retire(&self, w: &Writer, id: u64) -> StoreResult<()> {
        if self.jobs.finish(id) {
            self.remove(w, id_key(JOB, id))?;
        }
        Ok(())
    }
}
