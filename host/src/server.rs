//! Start-up and shutdown: resolve config, load plugins, open the store,
//! start dispatch, then listen. Everything that can be wrong with the
//! config is found before the port opens.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::{Config, ConfigError, ConfigErrors, Overrides};
use crate::dispatch::Dispatcher;
use crate::ingress::{self, Ingress};
use crate::metrics::Metrics;
use crate::mount::{self, LiveTable, Table};
use crate::pipeline::{self, Pipeline};
use crate::plugin::Runtime;
use crate::reload::{self, Reloader};
use crate::rules::Rules;
use crate::store::Store;
use crate::webhooks;

/// Why start-up failed: a config problem (exit 2) or anything else (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

/// One problem found after loading (plugins against the config, TLS files).
impl From<ConfigError> for StartError {
    fn from(e: ConfigError) -> Self {
        StartError::Config(e.into())
    }
}

impl StartError {
    pub fn exit_code(&self) -> i32 {
        match self {
            StartError::Config(_) => 2,
            StartError::Other(_) => 1,
        }
    }
}

/// Loads the plugins and checks the config against them: what `check`
/// reports and `serve` starts from. Also returns why each plugin file that
/// was refused (and left out) was.
pub fn prepare(config: &Config) -> Result<(Arc<Runtime>, Table, Vec<String>), StartError> {
    if !config.plugin_dir.is_dir() {
        return Err(ConfigError {
            file: config.file.display().to_string(),
            key: "runtime.plugin_dir".into(),
            reason: format!(
                "{} is not a directory (build the plugins first)",
                config.plugin_dir.display()
            ),
        }
        .into());
    }
    let runtime = Runtime::new(config.limits.clone(), Some(config.cache_dir.clone()))
        .map_err(anyhow::Error::from)?;
    let (plugins, refused) =
        mount::load_plugins(&runtime, &config.plugin_dir).map_err(anyhow::Error::from)?;
    let infos: Vec<_> = plugins.iter().map(|p| &p.info).collect();
    mount::check_config(config, &infos)?;
    Ok((runtime, mount::mount(config, plugins), refused))
}

/// Runs the router until SIGINT/SIGTERM, then drains and exits cleanly.
pub async fn serve(config: Config, overrides: Overrides) -> Result<(), StartError> {
    let (runtime, router, _refused) = prepare(&config)?;
    let store = crate::store::open(&config).map_err(|e| anyhow::anyhow!("store: {e}"))?;
    let metrics = Arc::new(Metrics::default());
    metrics.set_unprotected_mounts(mount::warn_unprotected(&router).len());
    let (stop_tx, stop_rx) = watch::channel(false);
    // Webhooks made through the admin API run beside the config's
    // destinations and routes, from the start (their pending jobs resume).
    let hooks = webhooks::Loaded::read(store.as_ref(), &config.destinations);
    let mut destinations = config.destinations.clone();
    destinations.extend(hooks.destinations());
    let dispatcher = Dispatcher::start(
        &destinations,
        store.clone(),
        metrics.clone(),
        stop_rx.clone(),
    )
    .map_err(anyhow::Error::from)?;
    let pipeline = Arc::new(
        Pipeline::new(
            store.clone(),
            Rules::new(config.routes.clone()).with_webhooks(hooks.routes()),
            dispatcher.clone(),
            metrics.clone(),
            {
                let quarantine = config.server.quarantine_reply;
                Arc::new(move |o: &pipeline::Outcome| ingress::answer(o, quarantine))
            },
            config.max_concurrent_calls,
        )
        .map_err(anyhow::Error::from)?,
    );
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.server.listen))?;
    let addr = listener.local_addr().map_err(anyhow::Error::from)?;
    let routes = router
        .plugins()
        .iter()
        .map(|m| m.plugin.endpoints.len())
        .sum::<usize>();
    tracing::info!(%addr, plugins = router.plugins().len(), routes, "switchboard listening");
    // Tests and scripts read the bound address (port 0) from this line.
    let scheme = if config.server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!("switchboard listening on {scheme}://{addr}");

    let webhooks = webhooks::Registry::new(
        hooks,
        store.clone(),
        pipeline.clone(),
        dispatcher.clone(),
        &config.destinations,
    );
    tokio::spawn(webhooks.clone().run(stop_rx.clone()));
    tokio::spawn(retention(store.clone(), config.retention, stop_rx.clone()));
    let mounts = Arc::new(LiveTable::new(router));
    let reloader = Reloader::new(reload::Parts {
        runtime,
        config: config.clone(),
        overrides: overrides.clone(),
        mounts: mounts.clone(),
        pipeline: pipeline.clone(),
        dispatcher: dispatcher.clone(),
        metrics: metrics.clone(),
    });
    tokio::spawn(reload::watch(
        reloader.clone(),
        Duration::from_secs(1),
        stop_rx.clone(),
    ));
    // The pairs were checked with the config; a file changed since is
    // reported here the same way.
    let tls_err = |key: &str, e: crate::tls::TlsError| ConfigError {
        file: config.file.display().to_string(),
        key: format!("{key}.{}", e.key),
        reason: e.to_string(),
    };
    let mut certs = Vec::new();
    let server_tls = match &config.server.tls {
        None => None,
        Some(files) => Some(
            crate::tls::Certs::load("server.tls", files.clone())
                .map_err(|e| tls_err("server.tls", e))?,
        ),
    };
    let admin_tls = match config.admin.as_ref().and_then(|a| a.tls.as_ref()) {
        None => None,
        Some(files) => Some(
            crate::tls::Certs::load("admin.tls", files.clone())
                .map_err(|e| tls_err("admin.tls", e))?,
        ),
    };
    for c in server_tls.iter().chain(&admin_tls) {
        certs.push(c.clone());
        tokio::spawn(c.clone().watch(Duration::from_secs(1), stop_rx.clone()));
    }
    tokio::spawn(reload_on_sighup(reloader.clone(), certs));
    let ingress = Arc::new(Ingress {
        config: config.server.clone(),
        table: mounts.clone(),
        pipeline: pipeline.clone(),
        tls: server_tls,
    });
    let server = tokio::spawn(ingress::serve(listener, ingress, stop_rx.clone()));
    if let Some(admin) = &config.admin {
        let listener = tokio::net::TcpListener::bind(admin.listen)
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot listen on {} (admin.listen): {e}", admin.listen)
            })?;
        let addr = listener.local_addr().map_err(anyhow::Error::from)?;
        tracing::info!(%addr, "admin API listening");
        let scheme = if admin.tls.is_some() { "https" } else { "http" };
        println!("switchboard admin on {scheme}://{addr}");
        let api = Arc::new(crate::admin::Admin {
            dispatcher: dispatcher.clone(),
            store: store.clone(),
            token: admin.token.clone(),
            mounts: mounts.clone(),
            reloader: reloader.clone(),
            metrics: metrics.clone(),
            pipeline: pipeline.clone(),
            webhooks: webhooks.clone(),
        });
        tokio::spawn(crate::admin::serve(listener, api, admin_tls, stop_rx));
    }
    wait_for_signal().await;
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    let _ = stop_tx.send(true);
    let grace = Duration::from_secs(10);
    if tokio::time::timeout(grace, server).await.is_err() {
        tracing::warn!("requests still running after {grace:?}; stopping anyway");
    }
    if tokio::time::timeout(grace, dispatcher.join())
        .await
        .is_err()
    {
        tracing::warn!("deliveries still running after {grace:?}; they resume on restart");
    }
    store
        .flush()
        .await
        .map_err(|e| anyhow::anyhow!("final flush: {e}"))?;
    store.close();
    tracing::info!("stopped");
    Ok(())
}

/// Retention: every tenth of the retention period (between 1 s and 1 h),
/// deletes captures and delivered-job records older than it, so the store
/// stays flat under a steady load.
async fn retention(store: Arc<dyn Store>, keep: Duration, mut stop: watch::Receiver<bool>) {
    let every = (keep / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let cutoff = crate::time::now_ms() - keep.as_millis() as i64;
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.compact(cutoff)).await {
            Ok(Ok(done)) if done != Default::default() => {
                tracing::info!(
                    captures = done.captures,
                    events = done.events,
                    delivered = done.delivered,
                    states = done.states,
                    rotated = ?done.rotated,
                    "retention: old records deleted"
                )
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!("retention pass failed: {e}"),
            Err(e) => tracing::error!("retention task failed: {e}"),
        }
    }
}

/// `kill -HUP` reloads the config, the plugin directory and the listeners'
/// certificates.
async fn reload_on_sighup(reloader: Arc<Reloader>, certs: Vec<Arc<crate::tls::Certs>>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the config, plugins and certificates");
        for c in &certs {
            c.reload(true);
        }
        reloader.reload().await;
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the process can still be killed; never exit early.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
