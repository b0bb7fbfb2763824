//! The webhooks in force: reads the records from the store and applies
//! them to the running rules and dispatcher, after every change made here,
//! whenever another router changes one (a shared store's watch), and when
//! a rotated-out secret expires. Applying is idempotent (it compares with
//! what it applied last), so every trigger simply applies everything.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::{Problem, Secret, Webhook, decode_all};
use crate::config::{Destination, Route};
use crate::dispatch::Dispatcher;
use crate::event::EventType;
use crate::outbox::Target;
use crate::pipeline::Pipeline;
use crate::store::{Batch, Job, Store, StoreError};
use crate::time::now_ms;

/// How long after its delete a webhook's tombstone still gets an actor at
/// start-up, to cancel jobs other routers made for it just before.
const TOMBSTONE_WATCH: i64 = 24 * 3600 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no webhook `{0}`")]
    NotFound(String),
    #[error("invalid webhook")]
    Invalid(Vec<Problem>),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record the registry cannot use (written by a newer
    /// release, or edited by hand).
    #[error("webhook `{id}`: {reason}")]
    Broken { id: String, reason: String },
}

/// What was applied for one webhook.
#[derive(Clone, PartialEq)]
struct Applied {
    deleted: bool,
    destination: Destination,
}

/// The records as read at start-up, before the dispatcher exists.
pub struct Loaded {
    applied: HashMap<String, Applied>,
    routes: Vec<Route>,
}

impl Loaded {
    /// Reads every webhook; those whose id is a config destination's name
    /// are refused (logged), as are records this version cannot run.
    pub fn read(store: &dyn Store, config: &BTreeMap<String, Destination>) -> Self {
        let now = now_ms();
        let mut loaded = Loaded {
            applied: HashMap::new(),
            routes: Vec::new(),
        };
        let records = store.webhooks().unwrap_or_else(|e| {
            tracing::error!("cannot read webhooks: {e}");
            Vec::new()
        });
        for w in decode_all(records) {
            let recent = w.deleted_at.is_none_or(|t| now - t < TOMBSTONE_WATCH);
            if config.contains_key(&w.id) || !recent {
                continue;
            }
            match w.compile(now) {
                Ok((routes, destination)) => {
                    // A tombstone starts as if live, so that `sync`
                    // cancels what is queued for it.
                    if w.deleted_at.is_none() {
                        loaded.routes.extend(routes);
                    }
                    loaded.applied.insert(
                        w.id,
                        Applied {
                            deleted: false,
                            destination,
                        },
                    );
                }
                Err(e) => tracing::error!(webhook = %w.id, "webhook not applied: {e}"),
            }
        }
        loaded
    }

    /// Their destinations (tombstones included), for the dispatcher.
    pub fn destinations(&self) -> impl Iterator<Item = (String, Destination)> + '_ {
        self.applied
            .iter()
            .map(|(id, a)| (id.clone(), a.destination.clone()))
    }

    /// Their routes, for the rules.
    pub fn routes(&self) -> Vec<Route> {
        self.routes.clone()
    }
}

pub struct Registry {
    store: Arc<dyn Store>,
    pipeline: Arc<Pipeline>,
    dispatcher: Arc<Dispatcher>,
    /// Config destinations' names: a webhook never takes one.
    config_names: Vec<String>,
    applied: Mutex<HashMap<String, Applied>>,
    /// When a rotated-out secret next expires.
    next_expiry: Mutex<Option<i64>>,
    /// One change at a time, so two requests never both read-modify-write.
    writes: tokio::sync::Mutex<()>,
}

impl Registry {
    pub fn new(
        loaded: Loaded,
        store: Arc<dyn Store>,
        pipeline: Arc<Pipeline>,
        dispatcher: Arc<Dispatcher>,
        config: &BTreeMap<String, Destination>,
    ) -> Arc<Self> {
        let registry = Arc::new(Registry {
            store,
            pipeline,
            dispatcher,
            config_names: config.keys().cloned().collect(),
            applied: Mutex::new(loaded.applied),
            next_expiry: Mutex::new(None),
            writes: tokio::sync::Mutex::new(()),
        });
        registry.sync();
        registry
    }

    /// Reads every record and applies what changed; logs (and keeps the
    /// running webhooks) when the store cannot be read.
    pub fn sync(&self) {
        let records = match self.store.webhooks() {
            Ok(r) => r,
            Err(e) => return tracing::error!("cannot read webhooks, the running ones stay: {e}"),
        };
        let now = now_ms();
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        let mut routes = Vec::new();
        let mut next_expiry: Option<i64> = None;
        for w in decode_all(records) {
            if self.config_names.contains(&w.id) {
                tracing::error!(webhook = %w.id, "webhook not applied: a config destination has its name");
                continue;
            }
            let (own_routes, destination) = match w.compile(now) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(webhook = %w.id, "webhook not applied: {e}");
                    continue;
                }
            };
            let deleted = w.deleted_at.is_some();
            let before = applied.get(&w.id);
            if deleted {
                if before.is_some_and(|b| !b.deleted) {
                    let reason = format!("cancelled: webhook {} deleted", w.id);
                    self.dispatcher.cancel(&w.id, &reason);
                }
            } else {
                routes.extend(own_routes);
                next_expiry = next_expiry.into_iter().chain(w.next_expiry(now)).min();
                let result = match before {
                    None if !self.dispatcher.has(&w.id) => self.dispatcher.add(&w.id, &destination),
                    Some(b) if b.destination == destination => Ok(()),
                    _ => self.dispatcher.update(&w.id, &destination),
                };
                if let Err(e) = result {
                    tracing::error!(webhook = %w.id, "webhook destination not applied: {e}");
                }
            }
            if deleted && before.is_none() {
                // A tombstone older than this process: nothing runs for it.
                continue;
            }
            applied.insert(
                w.id,
                Applied {
                    deleted,
                    destination,
                },
            );
        }
        drop(applied);
        *self.next_expiry.lock().unwrap_or_else(|p| p.into_inner()) = next_expiry;
        self.pipeline.set_webhooks(routes);
    }

    /// Applies changes made elsewhere (a shared store's watch) and secret
    /// expiries, until shutdown.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut changes = self.store.webhook_changes();
        loop {
            let changed = async {
                match &mut changes {
                    Some(rx) => rx.recv().await.is_some(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                open = changed => {
                    if !open {
                        changes = None;
                    }
                }
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    let due = *self.next_expiry.lock().unwrap_or_else(|p| p.into_inner());
                    if due.is_none_or(|t| t > now_ms()) {
                        continue;
                    }
                }
                _ = stop.changed() => return,
            }
            let me = self.clone();
            let _ = tokio::task::spawn_blocking(move || me.sync()).await;
        }
    }

    /// Every webhook not deleted, oldest first.
    pub fn list(&self) -> Result<Vec<Webhook>, Error> {
        let mut all: Vec<Webhook> = decode_all(self.store.webhooks()?)
            .into_iter()
            .filter(|w| w.deleted_at.is_none())
            .collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(all)
    }

    pub fn get(&self, id: &str) -> Result<Webhook, Error> {
        self.list()?
            .into_iter()
            .find(|w| w.id == id)
            .ok_or_else(|| Error::NotFound(id.to_owned()))
    }

    /// Writes the record durably, then applies it.
    async fn write(&self, w: &Webhook) -> Result<(), Error> {
        let record = serde_json::to_vec(w).map_err(|e| StoreError::Encode {
            context: None,
            source: e.into(),
        })?;
        self.store.put_webhook(&w.id, &record)?;
        self.store.flush().await?;
        self.sync();
        Ok(())
    }

    pub async fn create(&self, body: &serde_json::Value) -> Result<Webhook, Error> {
        let _one = self.writes.lock().await;
        let w = super::create(body, now_ms()).map_err(Error::Invalid)?;
        self.write(&w).await?;
        tracing::info!(webhook = %w.id, name = %w.name, url = %w.url, "webhook created");
        Ok(w)
    }

    pub async fn update(&self, id: &str, body: &serde_json::Value) -> Result<Webhook, Error> {
        let _one = self.writes.lock().await;
        let current = self.get(id)?;
        let w = super::patch(&current, body, now_ms()).map_err(Error::Invalid)?;
        self.write(&w).await?;
        tracing::info!(webhook = %w.id, enabled = w.enabled, "webhook updated");
        Ok(w)
    }

    /// Deletes a webhook: nothing new is routed to it, and its pending
    /// deliveries are dead-lettered as cancelled. Returns how many were
    /// waiting.
    pub async fn delete(&self, id: &str) -> Result<usize, Error> {
        let _one = self.writes.lock().await;
        let mut w = self.get(id)?;
        let backlog = self
            .dispatcher
            .status_of(id)
            .map_or(0, |s| s.backlog + s.inflight);
        let now = now_ms();
        w.deleted_at = Some(now);
        w.updated_at = now;
        self.write(&w).await?;
        tracing::info!(webhook = %w.id, backlog, "webhook deleted");
        Ok(backlog)
    }

    /// A new signing secret; the ones before keep signing beside it for
    /// `grace` (at most until their own expiry).
    pub async fn rotate(&self, id: &str, grace: Duration) -> Result<(Webhook, Secret), Error> {
        let _one = self.writes.lock().await;
        let mut w = self.get(id)?;
        let now = now_ms();
        let until = now + grace.as_millis() as i64;
        w.secrets.retain(|s| s.active(now));
        for s in &mut w.secrets {
            s.expires_at = Some(s.expires_at.map_or(until, |t| t.min(until)));
        }
        let secret = Secret::generate(now);
        w.secrets.insert(0, secret.clone());
        w.updated_at = now;
        self.write(&w).await?;
        tracing::info!(webhook = %w.id, grace = ?grace, "webhook secret rotated");
        Ok((w, secret))
    }

    /// Sends a sample event of type `t` through the outbox and dispatch,
    /// as a real one would go (signed, rate limited, retried). Returns its
    /// job once it is durable and queued.
    pub async fn test(&self, id: &str, t: EventType) -> Result<Job, Error> {
        let w = self.get(id)?;
        let now = now_ms();
        let (routes, _) = w.compile(now).map_err(|reason| Error::Broken {
            id: w.id.clone(),
            reason,
        })?;
        let event = super::sample_event(t, now);
        let target = Target {
            destination: w.id.clone(),
            transform: routes
                .first()
                .map(|r| r.transform.clone())
                .unwrap_or_default(),
        };
        let store = self.store.clone();
        let jobs = crate::outbox::jobs_for(&event, &[target], now, &mut || store.next_id())?;
        let durable = self.store.commit(Batch {
            jobs: jobs.clone(),
            ..Batch::default()
        })?;
        durable.await?;
        self.dispatcher.submit(jobs.clone());
        tracing::info!(webhook = %w.id, event = %event.id, event_type = t.name, "test event sent");
        jobs.into_iter().next().ok_or_else(|| Error::Broken {
            id: w.id.clone(),
            reason: "its test event made no delivery job".into(),
        })
    }
}
