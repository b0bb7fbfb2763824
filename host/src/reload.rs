//! Hot reload: the config file and the plugin directory are read again (on
//! a file change, on SIGHUP, or on `POST /v1/reload`) and the routing table
//! is swapped whole. A config that does not validate is refused as a whole
//! and the running one stays; a valid one brings new routes, plugin
//! settings and destinations: a new one starts, a changed one's actor
//! takes the new settings (its queue and breaker state stay), a removed
//! one stops after its attempts in flight and its jobs stay pending until
//! it is configured again.
//! Compiling happens here, off the request path; requests in flight finish
//! on the version they started with (they hold it). A file that fails to
//! compile, describe itself or fit the config is refused with a logged
//! reason, and the version it was meant to replace keeps serving.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::{Config, Overrides};
use crate::dispatch::Dispatcher;
use crate::mount::{self, LiveTable, Mount, Table};
use crate::pipeline::Pipeline;
use crate::plugin::{Plugin, Runtime};
use crate::rules::Rules;

/// What one reload did.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub added: Vec<String>,
    pub replaced: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: Vec<String>,
    /// `file: reason` for every file refused (the old version, if any,
    /// keeps serving).
    pub refused: Vec<String>,
    /// `reloaded`, `unchanged`, or why the new config was refused.
    pub config: String,
    pub destinations_added: Vec<String>,
    /// Destinations whose settings changed (applied to the running actor).
    pub destinations_changed: Vec<String>,
    /// Destinations no longer configured: stopped, their jobs kept pending.
    pub destinations_removed: Vec<String>,
    /// Destinations changed or removed in the file: applied on restart.
    pub restart_needed: Vec<String>,
}

pub struct Reloader {
    runtime: Arc<Runtime>,
    config: std::sync::RwLock<Config>,
    overrides: Overrides,
    mounts: Arc<LiveTable>,
    pipeline: Arc<Pipeline>,
    dispatcher: Arc<Dispatcher>,
    metrics: Arc<crate::metrics::Metrics>,
    /// One reload at a time.
    busy: tokio::sync::Mutex<()>,
}

/// What a reload works with.
pub struct Parts {
    pub runtime: Arc<Runtime>,
    pub config: Config,
    pub overrides: Overrides,
    pub mounts: Arc<LiveTable>,
    pub pipeline: Arc<Pipeline>,
    pub dispatcher: Arc<Dispatcher>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl Reloader {
    pub fn new(p: Parts) -> Arc<Self> {
        Arc::new(Self {
            runtime: p.runtime,
            config: std::sync::RwLock::new(p.config),
            overrides: p.overrides,
            mounts: p.mounts,
            pipeline: p.pipeline,
            dispatcher: p.dispatcher,
            metrics: p.metrics,
            busy: tokio::sync::Mutex::new(()),
        })
    }

    /// The config's `[[routes]]` in force.
    pub fn routes(&self) -> Vec<crate::config::Route> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .routes
            .clone()
    }

    fn config(&self) -> Config {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reads the config file again; applies what can change live. Returns
    /// whether plugin settings changed (every mount is rebuilt then).
    fn reload_config(&self, report: &mut Report) -> bool {
        let old = self.config();
        let new = match Config::load(&old.file, &self.overrides) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("config refused, the running one stays: {e}");
                report.config = format!("refused: {e}");
                return false;
            }
        };
        let unchanged = new.routes.len() == old.routes.len()
            && new.plugins == old.plugins
            && format!("{:?}", new.routes) == format!("{:?}", old.routes)
            && format!("{:?}", new.mounts) == format!("{:?}", old.mounts)
            && new.destinations == old.destinations;
        if unchanged {
            report.config = "unchanged".into();
            return false;
        }
        for (name, d) in &new.destinations {
            match old.destinations.get(name) {
                None => match self.dispatcher.add(name, d) {
                    Ok(()) => report.destinations_added.push(name.clone()),
                    Err(e) => report.restart_needed.push(format!("{name}: {e}")),
                },
                Some(o) if o != d => match self.dispatcher.update(name, d) {
                    Ok(()) => report.destinations_changed.push(name.clone()),
                    Err(e) => report.restart_needed.push(format!("{name}: {e}")),
                },
                Some(_) => {}
            }
        }
        for name in old
            .destinations
            .keys()
            .filter(|n| !new.destinations.contains_key(*n))
        {
            self.dispatcher.remove(name);
            report.destinations_removed.push(name.clone());
        }
        if !report.restart_needed.is_empty() {
            tracing::warn!(destinations = ?report.restart_needed, "destinations not applied; they apply at the next restart");
        }
        self.pipeline.set_rules(Rules::new(new.routes.clone()));
        let settings_changed = format!("{:?}{:?}", new.plugins, new.mounts)
            != format!("{:?}{:?}", old.plugins, old.mounts);
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = new;
        report.config = "reloaded".into();
        settings_changed
    }

    /// Reloads the plugin directory and swaps the routing table.
    pub async fn reload(self: &Arc<Self>) -> Report {
        let _one = self.busy.lock().await;
        let me = self.clone();
        let report = tokio::task::spawn_blocking(move || me.reload_blocking())
            .await
            .unwrap_or_else(|e| Report {
                refused: vec![format!("reload task failed: {e}")],
                ..Report::default()
            });
        tracing::info!(
            config = %report.config, added = ?report.added, replaced = ?report.replaced,
            removed = ?report.removed, refused = ?report.refused, "reloaded"
        );
        report
    }

    fn reload_blocking(&self) -> Report {
        let mut report = Report::default();
        let remount = self.reload_config(&mut report);
        let config = self.config();
        let current = self.mounts.current();
        let by_path: HashMap<PathBuf, Arc<Mount>> = current
            .plugins()
            .into_iter()
            .map(|m| (m.plugin.path.clone(), m))
            .collect();
        let mut next: Vec<Arc<Mount>> = Vec::new();
        for path in wasm_files(&config.plugin_dir) {
            let old = by_path.get(&path);
            let loaded = self
                .runtime
                .load(&path)
                .map_err(|e| e.to_string())
                .and_then(|p| fits(&config, p, &next));
            match (loaded, old) {
                (Ok(p), Some(old)) if p.digest == old.plugin.digest => {
                    report.unchanged.push(old.name().to_owned());
                    next.push(if remount {
                        mount::mounted(&config, old.plugin.clone())
                    } else {
                        old.clone()
                    });
                }
                (Ok(p), old) => {
                    let name = p.name().to_owned();
                    if old.is_some() {
                        report.replaced.push(format!("{name} {}", p.digest));
                    } else {
                        report.added.push(format!("{name} {}", p.digest));
                    }
                    next.push(mount::mounted(&config, p));
                }
                (Err(reason), old) => {
                    tracing::error!(path = %path.display(), "plugin refused: {reason}");
                    report.refused.push(format!("{}: {reason}", path.display()));
                    if let Some(old) = old {
                        tracing::warn!(plugin = old.name(), "previous version keeps serving");
                        next.push(old.clone());
                    }
                }
            }
        }
        for (path, m) in &by_path {
            if !next.iter().any(|n| &n.plugin.path == path) {
                report.removed.push(m.name().to_owned());
            }
        }
        let router = Table::from_mounted(next);
        self.metrics
            .set_unprotected_mounts(mount::warn_unprotected(&router).len());
        self.mounts.replace(router);
        report
    }
}

/// A freshly loaded plugin must fit the config and not clash with the
/// plugins kept so far.
fn fits(config: &Config, p: Plugin, kept: &[Arc<Mount>]) -> Result<Plugin, String> {
    mount::check_settings(config, &p.info).map_err(|e| e.to_string())?;
    let others: Vec<&Plugin> = kept.iter().map(|m| &m.plugin).collect();
    if let Some(clash) = mount::clash(&others, &p) {
        return Err(clash);
    }
    Ok(p)
}

fn wasm_files(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
}

/// Reloads when the plugin directory or the config file changes: polls
/// their names, sizes and modification times every `every`, and reloads
/// once they changed and then stayed the same for one more poll, so a file
/// still being copied is not loaded half-written.
pub async fn watch(
    reloader: Arc<Reloader>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let (dir, file) = {
        let c = reloader.config();
        (c.plugin_dir.clone(), c.file.clone())
    };
    let listing = |dir: &Path| {
        let mut l = listing(dir);
        l.push(stamp(&file));
        l
    };
    let mut seen = listing(&dir);
    let mut changed: Option<Vec<Stamp>> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let now = listing(&dir);
        match &changed {
            Some(pending) if *pending == now => {
                changed = None;
                seen = now;
                reloader.reload().await;
            }
            _ if now != seen => changed = Some(now),
            _ => changed = None,
        }
    }
}

type Stamp = (PathBuf, u64, Option<std::time::SystemTime>);

fn stamp(p: &Path) -> Stamp {
    let meta = std::fs::metadata(p).ok();
    let len = meta.as_ref().map_or(0, |m| m.len());
    let modified = meta.and_then(|m| m.modified().ok());
    (p.to_path_buf(), len, modified)
}

/// The plugin files' names, sizes and times, and the config file's.
fn listing(dir: &Path) -> Vec<Stamp> {
    wasm_files(dir).iter().map(|p| stamp(p)).collect()
}
