//! Hot reload: the plugin directory is read again (on a file change, on
//! SIGHUP, or on `POST /v1/reload`) and the routing table is swapped whole.
//! Compiling happens here, off the request path; requests in flight finish
//! on the version they started with (they hold it). A file that fails to
//! compile, describe itself or fit the config is refused with a logged
//! reason, and the version it was meant to replace keeps serving.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::Config;
use crate::mount::{self, Mounted, Mounts, Router};
use crate::plugin::{Plugin, Runtime};

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
}

pub struct Reloader {
    runtime: Arc<Runtime>,
    config: Config,
    mounts: Arc<Mounts>,
    /// One reload at a time.
    busy: tokio::sync::Mutex<()>,
}

impl Reloader {
    pub fn new(runtime: Arc<Runtime>, config: Config, mounts: Arc<Mounts>) -> Arc<Self> {
        Arc::new(Self {
            runtime,
            config,
            mounts,
            busy: tokio::sync::Mutex::new(()),
        })
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
            added = ?report.added, replaced = ?report.replaced, removed = ?report.removed,
            refused = ?report.refused, "plugins reloaded"
        );
        report
    }

    fn reload_blocking(&self) -> Report {
        let mut report = Report::default();
        let current = self.mounts.current();
        let by_path: HashMap<PathBuf, Arc<Mounted>> = current
            .plugins()
            .into_iter()
            .map(|m| (m.plugin.path.clone(), m))
            .collect();
        let mut next: Vec<Arc<Mounted>> = Vec::new();
        for path in wasm_files(&self.config.plugin_dir) {
            let old = by_path.get(&path);
            let loaded = self
                .runtime
                .load(&path)
                .map_err(|e| e.to_string())
                .and_then(|p| self.fits(p, &next));
            match (loaded, old) {
                (Ok(p), Some(old)) if p.digest == old.plugin.digest => {
                    report.unchanged.push(old.name().to_owned());
                    next.push(old.clone());
                }
                (Ok(p), old) => {
                    let name = p.name().to_owned();
                    if old.is_some() {
                        report.replaced.push(format!("{name} {}", p.digest));
                    } else {
                        report.added.push(format!("{name} {}", p.digest));
                    }
                    next.push(mount::mounted(&self.config, p));
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
        self.mounts.replace(Router::from_mounted(next));
        report
    }

    /// A freshly loaded plugin must fit the config and not clash with the
    /// plugins kept so far.
    fn fits(&self, p: Plugin, kept: &[Arc<Mounted>]) -> Result<Plugin, String> {
        self.config
            .check_plugin(&p.info)
            .map_err(|e| e.to_string())?;
        let others: Vec<&Plugin> = kept.iter().map(|m| &m.plugin).collect();
        if let Some(clash) = mount::clash(&others, &p) {
            return Err(clash);
        }
        Ok(p)
    }
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

/// Reloads when the plugin directory changes: polls its listing (names,
/// sizes, modification times) every `every`, and reloads once it has
/// changed and then stayed the same for one more poll, so a file still
/// being copied is not loaded half-written.
pub async fn watch(
    reloader: Arc<Reloader>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let dir = reloader.config.plugin_dir.clone();
    let mut seen = listing(&dir);
    let mut changed: Option<Vec<(PathBuf, u64, Option<std::time::SystemTime>)>> = None;
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

fn listing(dir: &Path) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
    wasm_files(dir)
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let len = meta.as_ref().map_or(0, |m| m.len());
            let modified = meta.and_then(|m| m.modified().ok());
            (p, len, modified)
        })
        .collect()
}
