//! How the store's records are keyed and written: one tree, keys prefixed
//! by record type (the prefixes are in `sled_store.rs` and `layout.rs`);
//! the JSON encoding of the records kept from the previous layout; every
//! write also goes to the database a rotation is filling.

use std::sync::mpsc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::engine::{Msg, Open, Writer};
use crate::store::{StoreError, StoreResult};

/// Turns a sled error into ours. Any error but a misuse means this
/// database may be poisoned (sled returns the first I/O error from every
/// later call), so the flusher is told to reopen it.
pub(super) fn fail(db: &Open, e: sled::Error, flusher: Option<&mpsc::Sender<Msg>>) -> StoreError {
    let misuse = matches!(
        e,
        sled::Error::CollectionNotFound(_) | sled::Error::Unsupported(_)
    );
    if !misuse && let Some(f) = flusher {
        let _ = f.send(Msg::Broken(db.generation));
    }
    StoreError::sled(e)
}

/// Writes `key` to the open database and to the one a rotation fills.
pub(super) fn put(
    w: &Writer,
    flusher: Option<&mpsc::Sender<Msg>>,
    key: Vec<u8>,
    value: Vec<u8>,
) -> StoreResult<()> {
    let value = sled::IVec::from(value);
    w.mirror(|t| t.insert(&key, value.clone()).map(|_| ()));
    w.open
        .tree
        .insert(key, value)
        .map(|_| ())
        .map_err(|e| fail(&w.open, e, flusher))
}

/// Removes `key` from both; whether it was there.
pub(super) fn remove(
    w: &Writer,
    flusher: Option<&mpsc::Sender<Msg>>,
    key: impl AsRef<[u8]>,
) -> StoreResult<bool> {
    w.mirror(|t| t.remove(key.as_ref()).map(|_| ()));
    w.open
        .tree
        .remove(key)
        .map(|v| v.is_some())
        .map_err(|e| fail(&w.open, e, flusher))
}

pub(super) fn id_key(prefix: u8, id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(prefix);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

#[cfg(test)]
pub(super) fn batch_key(newest_ms: i64, first: u64) -> Vec<u8> {
    let mut k = id_key(super::DELIVERED_BATCH, newest_ms.max(0) as u64);
    k.extend_from_slice(&first.to_be_bytes());
    k
}

/// The newest job's creation time in a [`batch_key`].
pub(super) fn batch_newest(key: &[u8]) -> Option<i64> {
    let b = <[u8; 8]>::try_from(key.get(1..9)?).ok()?;
    Some(u64::from_be_bytes(b) as i64)
}

pub(super) fn str_key(prefix: u8, parts: &[&str]) -> Vec<u8> {
    let mut k = vec![prefix];
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(p.as_bytes());
    }
    k
}

pub(super) fn encode<T: Serialize>(v: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| StoreError::encode("encode", e))
}

pub(super) fn decode<T: DeserializeOwned>(key: &[u8], v: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(v).map_err(|e| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    })
}
