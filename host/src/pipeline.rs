//! One callback through the stages after ingress, in three steps:
//! `call.rs` calls the plugin (after the mount's protection), `route.rs`
//! turns its events into a batch (pure: dedup verdicts in, events and
//! jobs out), `commit.rs` makes the batch durable and logs it. Refused and
//! quarantined callbacks are kept by `refused.rs`. Replay of a capture
//! runs through here too.
//!
//! What came of a callback is a typed [`Outcome`]; which status the
//! provider hears for it is ingress's decision (`ingress::answer`), handed
//! in at construction because the capture records that status.

mod call;
mod commit;
mod refused;
mod route;

use std::sync::Arc;

use tracing::Instrument;

use crate::dispatch::Dispatcher;
use crate::metrics::Metrics;
use crate::mount::Mount;
use crate::plugin::{Scheduler, wit};
use crate::protect::Refusal;
use crate::rules::Rules;
use crate::store::{Store, StoreError};

pub use call::capture_of;

/// The reply for the provider.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(status: u16, body: &str) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
        }
    }
}

impl From<wit::HttpResponse> for Reply {
    fn from(r: wit::HttpResponse) -> Self {
        Reply {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }
    }
}

/// What came of one callback.
#[derive(Debug)]
pub enum Outcome {
    /// Durable, its events routed; the plugin's reply, if it gave one.
    Accepted(Option<wit::HttpResponse>),
    /// Refused by the mount's protection; kept for inspection.
    Refused(Refusal),
    /// Refused by the plugin (`bad-request`, `unauthorized`,
    /// `unsupported`); kept for inspection.
    Rejected(wit::PluginError),
    /// The plugin failed (trap, timeout, error, bad output); kept for
    /// replay. The plugin's `accept-reply`, for ingress to use or not.
    Quarantined(wit::HttpResponse),
    /// The store could not keep it: nothing is acknowledged.
    NotStored(StoreError),
    /// The host task died with the request: nothing is acknowledged.
    Crashed,
}

/// How ingress answers an outcome (`ingress::answer`).
pub type Answerer = Arc<dyn Fn(&Outcome) -> Reply + Send + Sync>;

pub struct Pipeline {
    pub store: Arc<dyn Store>,
    /// The routes in force (swapped by a config reload).
    rules: std::sync::RwLock<Arc<Rules>>,
    pub dispatcher: Arc<Dispatcher>,
    pub metrics: Arc<Metrics>,
    answer: Answerer,
    scheduler: Scheduler,
    /// Serializes the read-check-write of dedup and message state (a few
    /// microseconds; the fsync wait happens outside it).
    normalize: std::sync::Mutex<()>,
}

impl Pipeline {
    pub fn new(
        store: Arc<dyn Store>,
        rules: Rules,
        dispatcher: Arc<Dispatcher>,
        metrics: Arc<Metrics>,
        answer: Answerer,
        max_concurrent_calls: usize,
    ) -> std::io::Result<Self> {
        Ok(Self {
            store,
            rules: std::sync::RwLock::new(Arc::new(rules)),
            dispatcher,
            metrics,
            answer,
            scheduler: Scheduler::new(max_concurrent_calls)?,
            normalize: std::sync::Mutex::new(()),
        })
    }

    /// Handles one callback and returns what the provider should hear.
    /// Every log line about it is in a `callback` span carrying the
    /// plugin and the capture id, so one callback can be followed.
    pub async fn handle(&self, mount: Arc<Mount>, req: wit::HttpRequest) -> Reply {
        let plugin = mount.name().to_owned();
        let route = req.route.clone();
        let span =
            tracing::info_span!("callback", plugin = %plugin, capture = tracing::field::Empty);
        let reply = match self.process(mount, req).instrument(span.clone()).await {
            Ok(reply) => reply,
            Err(e) => {
                span.in_scope(|| {
                    tracing::error!(
                        "not acknowledged, store failed: {}",
                        crate::error::chain(&e)
                    )
                });
                self.metrics.store_error();
                (self.answer)(&Outcome::NotStored(e))
            }
        };
        self.metrics.request(&plugin, &route, reply.status);
        reply
    }

    async fn process(
        &self,
        mount: Arc<Mount>,
        mut req: wit::HttpRequest,
    ) -> Result<Reply, StoreError> {
        // Held until the callback is recorded (or abandoned): see `Ticket`.
        let ticket = self.store.begin()?;
        let capture_id = ticket.id;
        tracing::Span::current().record("capture", capture_id);
        if let Some(protect) = &mount.settings.protect
            && let Err(refusal) = protect.check(&mut req)
        {
            let capture = capture_of(capture_id, mount.name(), req);
            let reason = refusal.to_string();
            return self.reject(mount.name(), capture, Outcome::Refused(refusal), reason);
        }
        self.run(mount, capture_id, req).await
    }

    /// Calls the plugin on `req` as capture `capture_id` and records what
    /// came of it (also how a replay runs a stored capture again).
    pub(crate) async fn run(
        &self,
        mount: Arc<Mount>,
        capture_id: u64,
        req: wit::HttpRequest,
    ) -> Result<Reply, StoreError> {
        let Some((req, result)) = self.call(&mount, capture_id, req).await else {
            return Ok((self.answer)(&Outcome::Crashed));
        };
        let capture = capture_of(capture_id, mount.name(), req);
        let plugin = mount.name();
        match result {
            Ok(Ok(outcome)) => self.accept(&mount, capture, outcome).await,
            Ok(Err(wit::PluginError::Internal(reason))) => {
                // Quarantined like a trap, so counted like one.
                self.metrics.plugin_failure(plugin, "error");
                self.quarantine(&mount, capture, format!("plugin error: {reason}"))
                    .await
            }
            Ok(Err(e)) => {
                let reason = match &e {
                    wit::PluginError::BadRequest(r)
                    | wit::PluginError::Unauthorized(r)
                    | wit::PluginError::Unsupported(r)
                    | wit::PluginError::Internal(r) => r.clone(),
                };
                self.reject(plugin, capture, Outcome::Rejected(e), reason)
            }
            Err(e) => {
                self.metrics.plugin_failure(plugin, e.kind());
                self.quarantine(&mount, capture, format!("plugin {e}"))
                    .await
            }
        }
    }

    /// New config routes for every callback from now on (the webhooks'
    /// stay).
    pub fn set_rules(&self, rules: Rules) {
        let mut current = self.rules.write().unwrap_or_else(|p| p.into_inner());
        *current = Arc::new(rules.keeping_webhooks(&current));
    }

    /// New webhook routes for every callback from now on.
    pub fn set_webhooks(&self, routes: Vec<crate::config::Route>) {
        let mut current = self.rules.write().unwrap_or_else(|p| p.into_inner());
        *current = Arc::new(current.with_webhooks(routes));
    }
}
