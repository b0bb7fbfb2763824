//! Callbacks the pipeline does not turn into events: refused by the
//! plugin or the mount's protection (kept for inspection, answered with a
//! 4xx) and quarantined after a plugin failure (kept for replay, answered
//! as configured).

use crate::config::QuarantineReply;
use crate::mount::Mount;
use crate::store::{Batch, Capture, CaptureStatus, StoreError};

use super::{Pipeline, Reply};

impl Pipeline {
    /// A refused callback: kept for inspection, answered with a 4xx.
    pub(super) fn reject(
        &self,
        plugin: &str,
        mut capture: Capture,
        status: u16,
        reason: String,
    ) -> Result<Reply, StoreError> {
        tracing::info!(
            plugin,
            capture = capture.id,
            status,
            "callback rejected: {reason}"
        );
        capture.status = CaptureStatus::Rejected {
            reason: reason.clone(),
        };
        capture.reply_status = status;
        // Not awaited: nothing was acknowledged.
        drop(self.store.commit(Batch {
            captures: vec![capture],
            ..Batch::default()
        })?);
        let mut reply = Reply::text(status, &reason);
        if status == 401 {
            reply.headers.push((
                "www-authenticate".into(),
                "Basic realm=\"switchboard\"".into(),
            ));
        }
        Ok(reply)
    }

    pub(super) async fn quarantine(
        &self,
        mounted: &Mount,
        mut capture: Capture,
        reason: String,
    ) -> Result<Reply, StoreError> {
        let reply = match self.quarantine_reply {
            QuarantineReply::Accept => Reply::from(mounted.plugin.info.accept_reply.clone()),
            QuarantineReply::Retry => {
                Reply::text(503, "temporarily unable to process; retry later")
            }
        };
        tracing::warn!(
            plugin = mounted.name(),
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
