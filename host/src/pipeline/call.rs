//! Step 1: call the plugin. The scheduler (`plugin/schedule.rs`) picks
//! the pool; this step times the call and turns what came back into the
//! host's types.

use std::sync::Arc;

use super::Pipeline;
use crate::mount::Mount;
use crate::plugin::{self, Called, wit};
use crate::store::{Capture, CaptureStatus};

impl Pipeline {
    /// Runs the plugin on `req`; `None` if the call panicked in the host.
    pub(super) async fn call(
        &self,
        mount: &Arc<Mount>,
        capture_id: u64,
        req: wit::HttpRequest,
    ) -> Option<Called> {
        let m = mount.clone();
        let started = std::time::Instant::now();
        // The pool's thread logs in this callback's span too.
        let span = tracing::Span::current();
        let answer = self
            .scheduler
            .run(&mount.suspect, move || {
                let _span = span.enter();
                let result = m.plugin.handle(capture_id, &req, &m.context);
                (req, result)
            })
            .await;
        self.metrics
            .plugin_call(mount.name(), started.elapsed().as_secs_f64());
        if answer.is_none() {
            tracing::error!(
                plugin = mount.name(),
                capture = capture_id,
                "plugin call panicked in the host"
            );
        }
        answer
    }
}

/// A request as the store keeps it, before the plugin has answered.
pub fn capture_of(id: u64, plugin: &str, req: wit::HttpRequest) -> Capture {
    Capture {
        id,
        plugin: plugin.to_owned(),
        route: req.route,
        method: plugin::method_name(req.method).to_owned(),
        url: req.url,
        path: req.path,
        query: req.query,
        headers: req.headers,
        body: req.body,
        params: req.params,
        remote_addr: req.remote_addr,
        received_at: req.received_at,
        status: CaptureStatus::Accepted,
        reply_status: 0,
        events: Vec::new(),
    }
}
