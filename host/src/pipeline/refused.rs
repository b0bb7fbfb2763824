//! Callbacks the pipeline does not turn into events: refused by the
//! plugin or the mount's protection (kept for inspection, answered with a
//! 4xx) and quarantined after a plugin failure (kept for replay, answered
//! as configured).

use super::{Outcome, Pipeline, Reply};
use crate::mount::Mount;
use crate::store::{Batch, Capture, CaptureStatus, StoreError};

impl Pipeline {
    /// A refused callback (`Refused` or `Rejected`): kept for inspection.
    pub(super) fn reject(
        &self,
        plugin: &str,
        mut capture: Capture,
        outcome: Outcome,
        reason: String,
    ) -> Result<Reply, StoreError> {
        let reply = (self.answer)(&outcome);
        tracing::info!(
            plugin,
            capture = capture.id,
            status = reply.status,
            "callback rejected: {reason}"
        );
        capture.status = CaptureStatus::Rejected { reason };
        capture.reply_status = reply.status;
        // Not awaited: nothing was acknowledged.
        drop(self.store.commit(Batch {
            captures: vec![capture],
            ..Batch::default()
        })?);
        Ok(reply)
    }

    pub(super) async fn quarantine(
        &self,
        mount: &Mount,
        mut capture: Capture,
        reason: String,
    ) -> Result<Reply, StoreError> {
        let accept_reply = mount.plugin.info.accept_reply.clone();
        let reply = (self.answer)(&Outcome::Quarantined(accept_reply));
        tracing::warn!(
            plugin = mount.name(),
            capture = capture.id,
            status = reply.status,
            "callback quarantined (replayable): {reason}"
        );
        capture.status = CaptureStatus::Quarantined { reason };
        capture.reply_status = reply.status;
        self.store
            .commit(Batch {
                captures: vec![capture],
                ..Batch::default()
            })?
            .await?;
        Ok(reply)
    }
}
