//! The bridge between the synchronous [`Store`] trait and NATS: every call
//! is a round trip, run on the store's own small runtime so that a blocked
//! caller never stalls the tasks that would answer it; delivery
//! bookkeeping runs there in the background; and at the end, what this
//! instance holds goes back to the others.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::JetStreamStore;
use crate::store::{StoreError, StoreResult};

/// Longest a store call waits for NATS before it fails (the provider then
/// gets a 5xx and retries).
pub(super) const CALL_TIMEOUT: Duration = Duration::from_secs(10);

impl JetStreamStore {
    /// Runs `work` on the store's runtime and waits for it.
    pub(super) fn wait<T: Send + 'static>(
        &self,
        work: impl Future<Output = StoreResult<T>> + Send + 'static,
    ) -> StoreResult<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let result = tokio::time::timeout(CALL_TIMEOUT, work)
                .await
                .unwrap_or_else(|_| Err(StoreError::unavailable("NATS did not answer in time")));
            let _ = tx.send(result);
        });
        rx.recv()
            .map_err(|_| StoreError::unavailable("jetstream runtime stopped"))?
    }

    /// Runs `work` in the background, logging a failure: for the delivery
    /// bookkeeping, which must not hold a destination's actor up for a round
    /// trip (a lost write means a job is delivered again: at-least-once).
    pub(super) fn background(
        &self,
        what: &'static str,
        work: impl Future<Output = StoreResult<()>> + Send + 'static,
    ) {
        let pending = self.pending.clone();
        pending.fetch_add(1, Ordering::SeqCst);
        self.handle.spawn(async move {
            if let Err(e) = work.await {
                tracing::error!("jetstream store: {what}: {e}");
            }
            pending.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// Lets the background writes finish, then hands back what this
    /// instance holds (instead of after the lease).
    pub(super) fn release_held(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while self.pending.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let (feeds, nats) = (self.feeds.clone(), self.nats.clone());
        let _ = self.wait(async move {
            feeds.release_all(&nats).await;
            Ok(())
        });
    }
}

impl Drop for JetStreamStore {
    /// Hands back what this instance still holds, then stops the store's
    /// runtime.
    fn drop(&mut self) {
        self.release_held();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
