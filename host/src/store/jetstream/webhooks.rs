//! The `-webhooks` bucket: one key per webhook id, its JSON record as
//! value. Every instance watches it, so a webhook created, changed or
//! deleted through any router applies on all of them (within the watch's
//! delivery time, milliseconds on a LAN).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use tokio::sync::mpsc::UnboundedSender;

use super::nats::{Nats, io};
use crate::store::StoreResult;

pub(super) async fn all(nats: &Nats) -> StoreResult<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for key in nats.keys(&nats.webhooks).await? {
        if let Some(v) = nats.webhooks.get(&key).await.map_err(io)? {
            out.push(v.to_vec());
        }
    }
    Ok(out)
}

pub(super) async fn put(nats: &Nats, id: String, record: Vec<u8>) -> StoreResult<()> {
    nats.webhooks
        .put(id, Bytes::from(record))
        .await
        .map(|_| ())
        .map_err(io)
}

/// Signals `tx` on every change to the bucket, until `tx`'s receiver is
/// gone. A broken watch (NATS restarting) is opened again, with one
/// signal, since changes may have been missed meanwhile.
pub(super) async fn watch(nats: Arc<Nats>, tx: UnboundedSender<()>) {
    loop {
        match nats.webhooks.watch_all().await {
            Ok(mut changes) => {
                // Whatever changed before the watch began (since start-up
                // read the records, or while it was broken) is read now.
                if tx.send(()).is_err() {
                    return;
                }
                while let Some(change) = changes.next().await {
                    if change.is_ok() && tx.send(()).is_err() {
                        return;
                    }
                }
            }
            Err(e) => tracing::warn!("jetstream store: cannot watch webhooks: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        if tx.send(()).is_err() {
            return;
        }
    }
}
