//! Upgrades a data directory written in the previous layout (JSON: a
//! capture, an event and a message state record each, under `c`, `e` and
//! `s`) to the one of `layout.rs`, when the store opens: each capture
//! becomes a callback record holding the events it produced, and each
//! message's state and seen events one message record. Pending (`j`),
//! dead (`x`) and delivered (`d`, `D`) records keep their format and are
//! read as they are.
//!
//! Each capture is converted before its old record is removed, and
//! converting again what a crash left half done gives the same records:
//! an interrupted upgrade finishes at the next start. Message records are
//! stamped with the time of the upgrade, so dedup and states are kept one
//! full retention period from then.

use super::engine::Open;
use super::layout::{
    EventRec, MessageRec, OwnEvent, RECORD, Record, message_key, pack, state_key, unpack,
};
use super::records::{decode, id_key, str_key};
use super::{CAPTURE, EVENT, STATE};
use crate::store::{Capture, MessageState, StoreError, StoreResult, StoredEvent};

pub(super) fn migrate(open: &Open) -> StoreResult<()> {
    let tree = &open.tree;
    let io = |e: sled::Error| StoreError::sled_at("upgrading the store", e);
    let old = |p: u8| tree.scan_prefix([p]).next().is_some();
    if !(old(CAPTURE) || old(EVENT) || old(STATE)) {
        return Ok(());
    }
    let started = std::time::Instant::now();
    tracing::info!(db = %open.name, "store: converting the records of the previous layout");
    let now = crate::time::now_ms();
    let (mut captures, mut states) = (0u64, 0u64);
    for kv in tree.scan_prefix([CAPTURE]) {
        let (k, v) = kv.map_err(io)?;
        let capture: Capture = decode(&k, &v)?;
        let id = capture.id;
        let ids = capture.events.clone();
        let mut record = Record::of(capture);
        for eid in ids {
            let ekey = str_key(EVENT, &[&eid]);
            let Some(ev) = tree.get(&ekey).map_err(io)? else {
                // Retention had deleted it with the capture that made it.
                record.events.push(EventRec::Seen {
                    id: eid,
                    capture: 0,
                });
                continue;
            };
            let e: StoredEvent = decode(&ekey, &ev)?;
            update(tree, &message_key(&e.event), |m| {
                m.note(&eid, e.event.capture_id, e.duplicates, now)
            })?;
            if e.event.capture_id != id {
                let capture = e.event.capture_id;
                record.events.push(EventRec::Seen { id: eid, capture });
                continue;
            }
            let json = serde_json::to_string(&e.event)
                .map_err(|err| StoreError::encode("encode event", err))?;
            record.events.push(EventRec::Own(OwnEvent {
                id: eid,
                json,
                disposition: e.disposition,
                routes: e.routes,
                // Its jobs are `j` records of the previous layout.
                jobs_at: 0,
                jobs: Vec::new(),
            }));
        }
        tree.insert(id_key(RECORD, id), pack(&record)?)
            .map_err(io)?;
        tree.remove(&k).map_err(io)?;
        captures += 1;
    }
    // Every event left is in a record now (or had lost its capture).
    for kv in tree.scan_prefix([EVENT]) {
        let (k, _) = kv.map_err(io)?;
        tree.remove(k).map_err(io)?;
    }
    for kv in tree.scan_prefix([STATE]) {
        let (k, v) = kv.map_err(io)?;
        let s: MessageState = decode(&k, &v)?;
        let mut parts = k[1..].splitn(2, |b| *b == 0);
        let (Some(provider), Some(message)) = (parts.next(), parts.next()) else {
            return Err(StoreError::Corrupt {
                key: String::from_utf8_lossy(&k).into_owned(),
                reason: "not provider\\0message".into(),
            });
        };
        let (provider, message) = (
            String::from_utf8_lossy(provider),
            String::from_utf8_lossy(message),
        );
        update(tree, &state_key(&provider, &message), |m| {
            m.state = Some(s.state);
            // Versions before `at` did not stamp states.
            m.at = m.at.max(if s.at == 0 { now } else { s.at });
        })?;
        tree.remove(&k).map_err(io)?;
        states += 1;
    }
    open.db.flush().map_err(io)?;
    let took_ms = started.elapsed().as_millis() as u64;
    tracing::info!(
        captures,
        states,
        took_ms,
        "store: upgraded to the current layout"
    );
    Ok(())
}

/// Reads, changes and writes back the message record under `key`.
fn update(tree: &sled::Tree, key: &[u8], change: impl FnOnce(&mut MessageRec)) -> StoreResult<()> {
    let io = |e: sled::Error| StoreError::sled_at("upgrading the store", e);
    let mut rec = match tree.get(key).map_err(io)? {
        Some(v) => unpack::<MessageRec>(key, &v)?,
        None => MessageRec::default(),
    };
    change(&mut rec);
    tree.insert(key, pack(&rec)?).map_err(io)?;
    Ok(())
}
