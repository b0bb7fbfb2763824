//! One callback through the stages after ingress: plugin → normalize →
//! rules → outbox, with the raw request captured in the same atomic batch
//! and made durable before the provider gets its 2xx. Replay of a capture
//! runs through here too. Refused and quarantined callbacks: `refused.rs`.

mod refused;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::config::QuarantineReply;
use crate::dispatch::Dispatcher;
use crate::event::Event;
use crate::metrics::Metrics;
use crate::mount::Mount;
use crate::normalize::{self, Verdict};
use crate::outbox;
use crate::plugin::{CallError, Executor, wit};
use crate::rules::Rules;
use crate::store::{Batch, Capture, CaptureStatus, Disposition, Store, StoreError, StoredEvent};
use crate::time::now_ms;

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

/// How long a plugin that timed out runs on the blocking pool.
const SUSPECT_MS: i64 = 60_000;

pub struct Pipeline {
    pub store: Arc<dyn Store>,
    /// The routes in force (swapped by a config reload).
    rules: std::sync::RwLock<Arc<Rules>>,
    pub dispatcher: Arc<Dispatcher>,
    pub metrics: Arc<Metrics>,
    pub quarantine_reply: QuarantineReply,
    /// Bounds concurrent plugin calls: they are CPU-bound, more than a few
    /// per core only queues.
    calls: Semaphore,
    healthy: Executor,
    suspects: Executor,
    /// Serializes the read-check-write of dedup and message state (a few
    /// microseconds; the fsync wait happens outside it).
    normalize: std::sync::Mutex<()>,
}

/// Reason prefix of captures refused by the mount's protection (never
/// replayed: the request did not prove it came from the provider).
pub const PROTECT_PREFIX: &str = "protect: ";

impl Pipeline {
    pub fn new(
        store: Arc<dyn Store>,
        rules: Rules,
        dispatcher: Arc<Dispatcher>,
        metrics: Arc<Metrics>,
        quarantine_reply: QuarantineReply,
        max_concurrent_calls: usize,
    ) -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Ok(Self {
            store,
            rules: std::sync::RwLock::new(Arc::new(rules)),
            dispatcher,
            metrics,
            quarantine_reply,
            calls: Semaphore::new(max_concurrent_calls),
            healthy: Executor::new("plugin", cores)?,
            suspects: Executor::new("plugin-suspect", 2)?,
            normalize: std::sync::Mutex::new(()),
        })
    }

    /// Handles one callback and returns what the provider should hear.
    /// Every log line about it is in a `callback` span carrying the
    /// plugin and the capture id, so one callback can be followed.
    pub async fn handle(&self, mounted: Arc<Mount>, req: wit::HttpRequest) -> Reply {
        let plugin = mounted.name().to_owned();
        let route = req.route.clone();
        let span =
            tracing::info_span!("callback", plugin = %plugin, capture = tracing::field::Empty);
        let reply = match self.process(mounted, req).instrument(span.clone()).await {
            Ok(reply) => reply,
            // The store could not keep it: say so, so the provider retries.
            Err(e) => {
                span.in_scope(|| tracing::error!("not acknowledged, store failed: {e}"));
                self.metrics.store_error();
                Reply::text(503, "temporarily unable to store the callback; retry later")
            }
        };
        self.metrics.request(&plugin, &route, reply.status);
        reply
    }

    async fn process(
        &self,
        mounted: Arc<Mount>,
        mut req: wit::HttpRequest,
    ) -> Result<Reply, StoreError> {
        // Held until the callback is recorded (or abandoned): see `Ticket`.
        let ticket = self.store.begin()?;
        let capture_id = ticket.id;
        tracing::Span::current().record("capture", capture_id);
        if let Some(protect) = &mounted.settings.protect
            && let Err(refusal) = protect.check(&mut req)
        {
            let capture = capture_of(capture_id, mounted.name(), req);
            let reason = format!("{PROTECT_PREFIX}{}", refusal.reason);
            return self.reject(mounted.name(), capture, refusal.status, reason);
        }
        self.run(mounted, capture_id, req).await
    }

    /// Calls the plugin on `req` as capture `capture_id` and records what
    /// came of it (also how a replay runs a stored capture again).
    pub(crate) async fn run(
        &self,
        mounted: Arc<Mount>,
        capture_id: u64,
        req: wit::HttpRequest,
    ) -> Result<Reply, StoreError> {
        let Some((req, result)) = self.call(&mounted, capture_id, req).await else {
            // The host task died with the request: do not acknowledge it.
            return Ok(Reply::text(500, "internal error; retry later"));
        };
        let mut capture = capture_of(capture_id, mounted.name(), req);
        let plugin = mounted.name();
        let mut outcome = match result {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(wit::PluginError::Internal(reason))) => {
                // Quarantined like a trap, so counted like one.
                self.metrics.plugin_failure(plugin, "error");
                return self
                    .quarantine(&mounted, capture, format!("plugin error: {reason}"))
                    .await;
            }
            Ok(Err(e)) => {
                let (status, reason) = match e {
                    wit::PluginError::BadRequest(r) => (400, r),
                    wit::PluginError::Unauthorized(r) => (403, r),
                    wit::PluginError::Unsupported(r) => (422, r),
                    wit::PluginError::Internal(r) => (500, r),
                };
                return self.reject(plugin, capture, status, reason);
            }
            Err(e) => {
                self.metrics.plugin_failure(plugin, e.kind());
                return self
                    .quarantine(&mounted, capture, format!("plugin {e}"))
                    .await;
            }
        };
        let actions = std::mem::take(&mut outcome.actions);
        let app_code = capture
            .params
            .iter()
            .find(|(k, _)| k == "app_code")
            .map(|(_, v)| v.clone());
        let events: Vec<Event> = outcome
            .events
            .into_iter()
            .map(|e| {
                Event::from_plugin(
                    plugin,
                    app_code.as_deref(),
                    capture_id,
                    capture.received_at,
                    e,
                )
            })
            .collect();
        let reply: Reply = outcome
            .reply
            .map(Reply::from)
            .unwrap_or_else(|| Reply::text(200, ""));
        capture.reply_status = reply.status;
        capture.events = events.iter().map(|e| e.id.clone()).collect();
        let event_count = events.len();
        let jobs = self.record(capture, events).await?;
        tracing::info!(
            plugin,
            capture = capture_id,
            status = reply.status,
            events = event_count,
            jobs = jobs.len(),
            "callback accepted"
        );
        self.dispatcher.submit(jobs);
        // Side effects only once the callback is durable.
        crate::actions::perform(
            mounted.name(),
            &mounted.settings,
            capture_id,
            actions.into_iter().map(Into::into).collect(),
        );
        Ok(reply)
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

    fn count_event(&self, e: &Event, disposition: &str) {
        let state = e.state().map(|s| s.as_str());
        self.metrics
            .event(&e.provider, e.kind(), state, disposition);
    }

    /// Runs the plugin on the executor pool. A plugin that timed out in
    /// the last minute is "suspect" and runs on its own small pool, so a
    /// looping plugin ties up those threads, never the ones that serve the
    /// healthy plugins.
    async fn call(
        &self,
        mounted: &Arc<Mount>,
        capture_id: u64,
        req: wit::HttpRequest,
    ) -> Option<(
        wit::HttpRequest,
        Result<Result<wit::Outcome, wit::PluginError>, CallError>,
    )> {
        let _permit = self.calls.acquire().await;
        let pool = if mounted.is_suspect(now_ms()) {
            &self.suspects
        } else {
            &self.healthy
        };
        let m = mounted.clone();
        let started = std::time::Instant::now();
        // The pool's thread logs in this callback's span too.
        let span = tracing::Span::current();
        let result = pool
            .run(move || {
                let _span = span.enter();
                let result = m.plugin.handle(capture_id, &req, &m.context);
                (req, result)
            })
            .await;
        self.metrics
            .plugin_call(mounted.name(), started.elapsed().as_secs_f64());
        match &result {
            None => tracing::error!(
                plugin = mounted.name(),
                capture = capture_id,
                "plugin call panicked in the host"
            ),
            Some((_, Err(CallError::Timeout(_)))) => mounted.mark_suspect(now_ms() + SUSPECT_MS),
            Some(_) => {}
        }
        result
    }

    /// Normalize, route and write everything in one batch; returns the jobs
    /// once the batch is durable.
    async fn record(
        &self,
        capture: Capture,
        events: Vec<Event>,
    ) -> Result<Vec<crate::store::Job>, StoreError> {
        let capture_id = capture.id;
        let mut batch = Batch::default();
        // (event id, disposition), logged once durable.
        let mut recorded: Vec<(String, &'static str)> = Vec::new();
        self.store.prefetch(&events).await;
        let durable = {
            let rules = self.rules.read().unwrap_or_else(|p| p.into_inner()).clone();
            let _guard = self.normalize.lock().unwrap_or_else(|p| p.into_inner());
            let mut states = HashMap::new();
            let verdicts = normalize::classify(self.store.as_ref(), events, &mut states)?;
            let now = now_ms();
            let mut next_id = || self.store.next_id();
            for v in verdicts {
                let record = match v {
                    Verdict::Duplicate(prior) => {
                        self.count_event(&prior.event, "duplicate");
                        recorded.push((prior.event.id.clone(), "duplicate"));
                        prior
                    }
                    Verdict::Stale(event) => {
                        self.count_event(&event, "stale");
                        recorded.push((event.id.clone(), "stale"));
                        Verdict::stale_record(event)
                    }
                    Verdict::Fresh(event) => {
                        let matched = rules.route(&event);
                        let (disposition, label) = if matched.targets.is_empty() {
                            (Disposition::Unmatched, "unmatched")
                        } else {
                            (Disposition::Routed, "routed")
                        };
                        self.count_event(&event, label);
                        recorded.push((event.id.clone(), label));
                        for r in &matched.routes {
                            self.metrics.rule_match(r);
                        }
                        batch.jobs.extend(outbox::jobs_for(
                            &event,
                            &matched.targets,
                            now,
                            &mut next_id,
                        )?);
                        StoredEvent {
                            event,
                            disposition,
                            routes: matched.routes,
                            duplicates: 0,
                        }
                    }
                };
                batch.events.push(record);
            }
            batch.states = states.into_iter().collect();
            batch.captures.push(capture);
            let jobs = batch.jobs.clone();
            (self.store.commit(batch)?, jobs)
        };
        let (committed, jobs) = durable;
        committed.await?;
        let capture = capture_id;
        // Capture -> event -> job, one line each, so one callback can be
        // followed to its deliveries (which log job, event, destination).
        for (event, disposition) in recorded {
            let to: Vec<_> = jobs.iter().filter(|j| j.event_id == event).collect();
            tracing::info!(
                capture,
                event,
                disposition,
                jobs = to.len(),
                "event recorded"
            );
            for j in to {
                tracing::info!(capture, event, job = j.id, destination = %j.destination, "delivery queued");
            }
        }
        Ok(jobs)
    }
}

/// A request as the store keeps it, before the plugin has answered.
pub fn capture_of(id: u64, plugin: &str, req: wit::HttpRequest) -> Capture {
    Capture {
        id,
        plugin: plugin.to_owned(),
        route: req.route,
        method: crate::plugin::method_name(req.method).to_owned(),
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
