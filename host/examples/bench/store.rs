//! The store's floor: what durably recording a callback costs in sled
//! alone, with no HTTP, no plugin call and no delivery, measured as the
//! router's other parts are (callbacks/s and CPU µs per callback, 64
//! concurrent writers, group commit). It answers one question: how much
//! of the CPU a callback may cost is the store's before anything else runs.
//!
//! The records are the router's own: 512 B signed Twilio status callbacks
//! run once through the real twilio plugin (before timing) into captures,
//! events and delivery jobs, encoded as the store encodes them. Rows:
//!
//! - capture only: the least the durable ack needs (`Store::commit`);
//! - the router's record: dedup and state reads, then capture, event,
//!   state and job in one commit, as `pipeline.rs` does;
//! - the same, then the job retired once "delivered" (`complete_job`, as
//!   the dispatcher does after a `2xx`): the store's whole share of a
//!   forwarded callback;
//! - one record per callback, in raw sled: capture, event and job
//!   together under one increasing key, plus the two small keyed entries
//!   dedup and state need and a small "done" entry for the job: what a
//!   store laid out for this workload would still pay sled for.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use switchboard::config::Transform;
use switchboard::event::Event;
use switchboard::outbox::Target;
use switchboard::store::{Batch, Capture, Disposition, SledStore, Store, StoredEvent};
use switchboard_plugin_sdk::fixture::Fixture;
use tokio::sync::oneshot;

use super::procs::cpu_secs;
use super::reqs::twilio;
use super::{CONNECTIONS, TOKEN, phase, unique};

/// One callback's records, as the pipeline has them before it commits.
#[derive(Clone)]
struct Prepared {
    capture: Capture,
    events: Vec<Event>,
}

pub fn bench(root: &Path, only: Option<&str>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let bare = rt.block_on(bare_rate())?;
    let cores = super::num_cores() as f64;
    // What 20 % of bare hyper's rate leaves per callback if every core
    // were the router's (the load generator and destination free): an
    // upper bound on the issue's budget.
    let budget = cores * 1e6 / (0.2 * bare);
    // Twice what the router takes (the store alone records more than 30k
    // a second; the capture row reuses them with new ids).
    let prepared = Arc::new(prepare(root, 2 * unique())?);
    println!(
        "## Store floor: one callback's records in sled, no HTTP, no plugin ({CONNECTIONS} writers, group commit)\n"
    );
    println!(
        "Bare hyper in this run: {bare:.0} req/s; 20 % of it leaves at most {budget:.0} µs of CPU per callback for everything (all {cores} cores, load generator free).\n"
    );
    println!(
        "| records per callback | callbacks/s | CPU µs per callback | share of that budget | CPU (cores) |"
    );
    println!("|---|---|---|---|---|");
    for row in [Row::Capture, Row::Record, Row::Retired, Row::OneRecord] {
        if only.is_some_and(|o| o != row.key()) {
            continue;
        }
        let dir = tempfile::tempdir()?;
        let (done, secs, cpu) = rt.block_on(run(row, dir.path(), prepared.clone()))?;
        let per = cpu / done as f64 * 1e6;
        if matches!(row, Row::Retired) {
            super::summary::note("store_retired_us", per);
        }
        println!(
            "| {} | {:.0} | {per:.1} | {:.0} % | {:.2} |",
            row.name(),
            done as f64 / secs,
            100.0 * per / budget,
            cpu / secs
        );
    }
    println!();
    Ok(())
}

/// Bare hyper's rate under the router's load (512 B Twilio callbacks).
async fn bare_rate() -> anyhow::Result<f64> {
    let me = std::env::current_exe()?;
    let bare = super::procs::spawn(std::process::Command::new(&me).arg("bare"))?;
    let reqs = Arc::new(twilio(unique(), "store-floor", 512));
    let warm = super::load::load_for(
        bare.1,
        reqs.clone(),
        None,
        std::time::Duration::from_secs(1),
    )
    .await;
    anyhow::ensure!(warm.errors == 0, "bare hyper answered errors");
    Ok(super::load(bare.1, reqs, None).await.rate())
}

#[derive(Clone, Copy)]
enum Row {
    Capture,
    Record,
    Retired,
    OneRecord,
}

impl Row {
    /// What `bench store ROW` calls it.
    fn key(self) -> &'static str {
        match self {
            Row::Capture => "capture",
            Row::Record => "record",
            Row::Retired => "retired",
            Row::OneRecord => "one",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Row::Capture => "capture only",
            Row::Record => {
                "the router's record (capture, event, state, job; dedup and state reads)"
            }
            Row::Retired => "the router's record, then its job retired",
            Row::OneRecord => "one record per callback + dedup, state and done entries (raw sled)",
        }
    }
}

/// Runs one row for a phase; (callbacks, seconds, CPU seconds).
async fn run(
    row: Row,
    dir: &Path,
    prepared: Arc<Vec<Prepared>>,
) -> anyhow::Result<(usize, f64, f64)> {
    let sink: Arc<dyn Sink> = match row {
        Row::OneRecord => Arc::new(OneRecord::open(dir)?),
        _ => Arc::new(Router {
            store: Arc::new(SledStore::open(dir)?),
            retire: matches!(row, Row::Retired),
            capture_only: matches!(row, Row::Capture),
            lock: std::sync::Mutex::new(()),
        }),
    };
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let capture_only = matches!(row, Row::Capture);
    let deadline = Instant::now() + phase();
    let (me, started) = ([std::process::id()], Instant::now());
    let cpu0 = cpu_secs(&me);
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (sink, prepared, next) = (sink.clone(), prepared.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = 0usize;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(mut p) = prepared.get(i % prepared.len()).cloned() else {
                    break;
                };
                if i >= prepared.len() {
                    // Only captures, keyed by their id, may be reused (the
                    // capture row outruns the plugin-made set): a new id
                    // makes a new record. Events would be duplicates.
                    anyhow::ensure!(
                        capture_only,
                        "ran out of prepared callbacks: raise unique()"
                    );
                    p.capture.id = i as u64 + 1;
                }
                sink.write(p).await?;
                done += 1;
            }
            anyhow::Ok(done)
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await??;
    }
    let (secs, cpu) = (started.elapsed().as_secs_f64(), cpu_secs(&me) - cpu0);
    Ok((done, secs, cpu))
}

/// The records of `n` unique callbacks, each through the real plugin.
fn prepare(root: &Path, n: usize) -> anyhow::Result<Vec<Prepared>> {
    use switchboard::plugin::{Limits, Runtime};
    use switchboard_plugin_sdk::testing::request_for;
    let runtime = Runtime::new(Limits::default(), None)?;
    let plugin = runtime.load(&root.join("dist/plugins/twilio.wasm"))?;
    let ctx = switchboard::plugin::wit::Context {
        config: vec![("auth_token".into(), TOKEN.into())],
    };
    let reqs = twilio(n, "hooks.example.com", 512);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let wire = reqs.get(i).map(|r| r.into_owned()).unwrap_or_default();
        let fx = Fixture::parse(&wire).map_err(anyhow::Error::msg)?;
        let req = super::plugin::to_host(
            &request_for::<twilio::Twilio>(&fx, 0).map_err(anyhow::Error::msg)?,
        );
        let id = i as u64 + 1;
        let outcome = match plugin.handle(id, &req, &ctx) {
            Ok(Ok(o)) => o,
            other => anyhow::bail!("twilio refused a prepared callback: {other:?}"),
        };
        let events = outcome
            .events
            .into_iter()
            .map(|e| Event::from_plugin("twilio", None, id, req.received_at, e))
            .collect::<Vec<_>>();
        let mut capture = switchboard::pipeline::capture_of(id, "twilio", req);
        capture.reply_status = 200;
        capture.events = events.iter().map(|e| e.id.clone()).collect();
        out.push(Prepared { capture, events });
    }
    Ok(out)
}

type Written<'a> = std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

/// Where a row writes one callback, returning once it is durable.
trait Sink: Send + Sync {
    fn write(&self, p: Prepared) -> Written<'_>;
}

fn target() -> Target {
    Target {
        destination: "crm".into(),
        transform: Arc::new(Transform::Envelope),
    }
}

/// The router's store, written as `Pipeline::record` writes it.
struct Router {
    store: Arc<SledStore>,
    retire: bool,
    capture_only: bool,
    /// The pipeline's `normalize` lock: reads, checks and writes of one
    /// callback never interleave with another's.
    lock: std::sync::Mutex<()>,
}

impl Sink for Router {
    fn write(&self, p: Prepared) -> Written<'_> {
        Box::pin(async move {
            let store: &dyn Store = self.store.as_ref();
            if !self.capture_only {
                store.prefetch(&p.events).await;
            }
            let (durable, jobs) = {
                let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
                self.record(store, p)?
            };
            durable.await?;
            if self.retire {
                for j in &jobs {
                    store.complete_job(j)?;
                }
            }
            Ok(())
        })
    }
}

impl Router {
    /// Classifies, routes and commits one callback (under the lock).
    fn record(
        &self,
        store: &dyn Store,
        p: Prepared,
    ) -> anyhow::Result<(switchboard::store::Durable, Vec<switchboard::store::Job>)> {
        let mut batch = Batch::default();
        if !self.capture_only {
            let mut states = HashMap::new();
            let verdicts = switchboard::normalize::classify(store, p.events, &mut states)?;
            let now = switchboard::time::now_ms();
            let mut next_id = || store.next_id();
            for v in verdicts {
                let switchboard::normalize::Verdict::Fresh(event) = v else {
                    anyhow::bail!("a prepared event was not fresh");
                };
                let jobs = switchboard::outbox::jobs_for(&event, &[target()], now, &mut next_id)?;
                batch.jobs.extend(jobs);
                batch.events.push(StoredEvent {
                    event,
                    disposition: Disposition::Routed,
                    routes: vec!["all".into()],
                    duplicates: 0,
                });
            }
            batch.states = states.into_iter().collect();
        }
        batch.captures.push(p.capture);
        let jobs = batch.jobs.clone();
        Ok((store.commit(batch)?, jobs))
    }
}

/// Raw sled with one record per callback and the same group commit as the
/// store's (`engine.rs`): writers insert, then queue for one flusher.
struct OneRecord {
    db: sled::Db,
    flusher: std::sync::mpsc::Sender<oneshot::Sender<()>>,
    next: std::sync::atomic::AtomicU64,
    lock: std::sync::Mutex<()>,
}

impl OneRecord {
    fn open(dir: &Path) -> anyhow::Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(64 << 20)
            .flush_every_ms(Some(1000))
            .open()?;
        let (tx, rx) = std::sync::mpsc::channel::<oneshot::Sender<()>>();
        let flush_db = db.clone();
        std::thread::spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut waiters = vec![first];
                waiters.extend(rx.try_iter());
                if flush_db.flush().is_err() {
                    return;
                }
                for w in waiters {
                    let _ = w.send(());
                }
            }
        });
        Ok(Self {
            db,
            flusher: tx,
            next: std::sync::atomic::AtomicU64::new(1),
            lock: std::sync::Mutex::new(()),
        })
    }
}

impl Sink for OneRecord {
    fn write(&self, p: Prepared) -> Written<'_> {
        Box::pin(async move {
            let seq = self.insert(p)?;
            let (tx, rx) = oneshot::channel();
            self.flusher.send(tx)?;
            rx.await?;
            // Delivered: one small entry, no removal.
            let mut done = b"d".to_vec();
            done.extend_from_slice(&seq.to_be_bytes());
            self.db.insert(done, &[][..])?;
            Ok(())
        })
    }
}

impl OneRecord {
    /// Reads and writes one callback's entries (under a lock, as the router
    /// does); its sequence number.
    fn insert(&self, p: Prepared) -> anyhow::Result<u64> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let seq = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The job's payload is the event as sent: stored once, with it.
        let record = serde_json::json!({
            "capture": p.capture,
            "events": p.events,
            "jobs": [{"destination": "crm", "event": 0}],
        });
        let mut key = b"r".to_vec();
        key.extend_from_slice(&seq.to_be_bytes());
        self.db.insert(&key, serde_json::to_vec(&record)?)?;
        for e in &p.events {
            // The dedup and state reads the router makes, then its entries.
            let message = e.message_id().unwrap_or_default().as_bytes();
            let _ = (self.db.get(e.id.as_bytes())?, self.db.get(message)?);
            self.db.insert(e.id.as_bytes(), &seq.to_be_bytes())?;
            self.db
                .insert(message, &br#"{"state":"delivered","at":0}"#[..])?;
        }
        Ok(seq)
    }
}
