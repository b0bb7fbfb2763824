//! Message records (`layout.rs`) behind a bounded in-memory cache. A
//! message's callbacks come close together (sent, then delivered seconds
//! later), and the pipeline reads a record to classify an event and again
//! to update it in the same commit: the cache answers both without a
//! B-tree lookup. An absent record is cached as an empty one.
//!
//! The cache holds what was written to the open database, flushed or not.
//! After an I/O fault the database is reopened from what was flushed, so
//! the cache is emptied whenever the database's generation changes:
//! nothing a provider was never acknowledged for is remembered as seen.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::sync::Cache;

use super::engine::Open;
use super::layout::{MessageRec, unpack};
use crate::store::StoreResult;

/// Memory the cache may take, by the estimate of [`Bytes`]: some 16,000
/// messages, a minute of callbacks at 250/s (a message's receipts mostly
/// come within seconds). 32,768 messages took ~25 MB of RSS under load.
const BYTES: u64 = 4 << 20;

/// A cached record's weight: its bytes and the allocations behind them.
#[derive(Clone)]
struct Bytes;

impl quick_cache::Weighter<Vec<u8>, Arc<MessageRec>> for Bytes {
    fn weight(&self, key: &Vec<u8>, rec: &Arc<MessageRec>) -> u64 {
        let events: usize = rec.events.iter().map(|e| e.id.len() + 64).sum();
        (key.len() + events + 128) as u64
    }
}

pub(super) struct Messages {
    cache: Cache<Vec<u8>, Arc<MessageRec>, Bytes>,
    generation: AtomicU64,
}

impl Messages {
    pub fn new() -> Self {
        Messages {
            cache: Cache::with_weighter(BYTES as usize / 256, BYTES, Bytes),
            generation: AtomicU64::new(0),
        }
    }

    /// Empties the cache if `open` is not the database it was filled from.
    fn check(&self, open: &Open) {
        if self.generation.swap(open.generation, Ordering::AcqRel) != open.generation {
            self.cache.clear();
        }
    }

    /// The record under `key` (empty if there is none).
    pub fn get(
        &self,
        open: &Open,
        key: &[u8],
        fail: impl Fn(sled::Error) -> crate::store::StoreError,
    ) -> StoreResult<Arc<MessageRec>> {
        self.check(open);
        if let Some(rec) = self.cache.get(key) {
            return Ok(rec);
        }
        let rec = match open.tree.get(key).map_err(fail)? {
            Some(v) => Arc::new(unpack::<MessageRec>(key, &v)?),
            None => Arc::new(MessageRec::default()),
        };
        self.cache.insert(key.to_vec(), rec.clone());
        Ok(rec)
    }

    /// After `rec` was written under `key` to `open`.
    pub fn put(&self, open: &Open, key: Vec<u8>, rec: Arc<MessageRec>) {
        self.check(open);
        self.cache.insert(key, rec);
    }

    /// After the record under `key` was deleted.
    pub fn forget(&self, key: &[u8]) {
        self.cache.remove(key);
    }
}
