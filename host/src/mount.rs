//! Mounting: the plugins found in the plugin directory, paired with their
//! config, and the table of their endpoints (the HTTP routes each plugin
//! declared, under the route prefix) that ingress looks paths up in.

use std::path::Path;
use std::sync::Arc;

use crate::config::{Config, ConfigError};
use crate::plugin::{Plugin, Runtime, Suspect, wit};
use crate::route::RoutePattern;

/// A plugin ready to serve: the component and its resolved settings.
pub struct Mount {
    pub plugin: Plugin,
    pub context: wit::Context,
    /// Host-side settings: protection, allowed actions.
    pub settings: crate::config::MountSettings,
    /// Its standing with the plugin scheduler (a suspect after a timeout).
    pub suspect: Suspect,
}

impl Mount {
    pub fn name(&self) -> &str {
        self.plugin.name()
    }
}

/// The routing table: every declared route, in plugin-name order.
#[derive(Default)]
pub struct Table {
    entries: Vec<(RoutePattern, Vec<wit::Method>, Arc<Mount>)>,
}

/// What a path resolves to.
pub enum Lookup<'a> {
    Endpoint {
        mount: &'a Arc<Mount>,
        pattern: &'a str,
        params: Vec<(String, String)>,
    },
    /// The path exists but not for this method: these are allowed.
    WrongMethod(Vec<wit::Method>),
    NotFound,
}

impl Table {
    pub fn find(&self, path: &str, method: wit::Method) -> Lookup<'_> {
        let mut allowed = Vec::new();
        for (pattern, methods, mounted) in &self.entries {
            let Some(params) = pattern.matches(path) else {
                continue;
            };
            if methods.contains(&method) {
                return Lookup::Endpoint {
                    mount: mounted,
                    pattern: pattern.as_str(),
                    params,
                };
            }
            merge(&mut allowed, methods);
        }
        if allowed.is_empty() {
            Lookup::NotFound
        } else {
            Lookup::WrongMethod(allowed)
        }
    }

    /// Every method some route serves on this path.
    pub fn allowed(&self, path: &str) -> Vec<wit::Method> {
        let mut allowed = Vec::new();
        for (pattern, methods, _) in &self.entries {
            if pattern.matches(path).is_some() {
                merge(&mut allowed, methods);
            }
        }
        allowed
    }

    pub fn plugins(&self) -> Vec<Arc<Mount>> {
        let mut out: Vec<Arc<Mount>> = Vec::new();
        for (_, _, m) in &self.entries {
            if !out.iter().any(|o| Arc::ptr_eq(o, m)) {
                out.push(m.clone());
            }
        }
        out
    }
}

fn merge(into: &mut Vec<wit::Method>, methods: &[wit::Method]) {
    for m in methods {
        if !into.contains(m) {
            into.push(*m);
        }
    }
}

/// The plugin directory cannot be read (one plugin that fails to load is
/// logged and skipped instead).
#[derive(Debug, thiserror::Error)]
#[error("plugin directory {}: {source}", dir.display())]
pub struct PluginDirError {
    pub dir: std::path::PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Loads every `*.wasm` in the plugin directory. A plugin that fails to
/// load, or whose name or routes clash with one loaded before it, is
/// skipped with a logged reason: one broken file never stops the others.
/// Returns the plugins loaded and, for each file refused, why.
pub fn load_plugins(
    runtime: &Arc<Runtime>,
    dir: &Path,
) -> Result<(Vec<Plugin>, Vec<String>), PluginDirError> {
    let entries = std::fs::read_dir(dir).map_err(|source| PluginDirError {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    paths.sort();
    let mut loaded: Vec<Plugin> = Vec::new();
    let mut refused = Vec::new();
    for path in paths {
        let started = std::time::Instant::now();
        match runtime.load(&path) {
            Ok(p) => {
                if let Some(clash) = clash(&loaded.iter().collect::<Vec<_>>(), &p) {
                    tracing::error!(path = %path.display(), "plugin refused: {clash}");
                    refused.push(format!("{}: {clash}", path.display()));
                    continue;
                }
                tracing::info!(
                    plugin = p.name(), version = %p.info.version, digest = %p.digest,
                    routes = p.endpoints.len(), ms = started.elapsed().as_millis() as u64,
                    "plugin loaded"
                );
                loaded.push(p);
            }
            Err(e) => {
                tracing::error!("plugin refused: {e}");
                refused.push(e.to_string());
            }
        }
    }
    Ok((loaded, refused))
}

pub fn clash(loaded: &[&Plugin], new: &Plugin) -> Option<String> {
    for p in loaded {
        if p.name() == new.name() {
            return Some(format!(
                "name `{}` already served by {}",
                new.name(),
                p.path.display()
            ));
        }
        for r in &new.endpoints {
            if p.endpoints.iter().any(|o| o.as_str() == r.as_str()) {
                return Some(format!(
                    "route `{}` already served by `{}`",
                    r.as_str(),
                    p.name()
                ));
            }
        }
    }
    None
}

/// Pairs a plugin with its config.
pub fn mounted(config: &Config, plugin: Plugin) -> Arc<Mount> {
    let settings = config
        .plugins
        .get(plugin.name())
        .cloned()
        .unwrap_or_default();
    let context = wit::Context {
        config: settings.into_iter().collect(),
    };
    let mount_settings = config
        .mounts
        .get(plugin.name())
        .cloned()
        .unwrap_or_default();
    let mut plugin = plugin;
    plugin.memory_cap = mount_settings.max_memory_bytes;
    Arc::new(Mount {
        plugin,
        context,
        settings: mount_settings,
        suspect: Suspect::default(),
    })
}

impl Mount {
    /// Whether its plugin verifies who sent a callback. The contract has no
    /// flag for it; the convention (README "Write a plugin") is that a
    /// plugin that checks signatures requires its verification material as
    /// a config key (Twilio's auth token, Telnyx's public key, SNS's
    /// topics), and one with no required key checks nothing.
    pub fn verifies(&self) -> bool {
        self.plugin.info.config_keys.iter().any(|k| k.required)
    }

    /// Open to anyone who knows its URL: no signature, no protection.
    pub fn unprotected(&self) -> bool {
        !self.verifies() && self.settings.protect.is_none()
    }
}

/// Warns about each unprotected mount (start-up and every reload) and
/// returns their names.
pub fn warn_unprotected(router: &Table) -> Vec<String> {
    let names: Vec<String> = router
        .plugins()
        .iter()
        .filter(|m| m.unprotected())
        .map(|m| m.name().to_owned())
        .collect();
    for name in &names {
        tracing::warn!(
            plugin = %name,
            "mount `{name}` accepts callbacks from anyone: its provider does not sign them and no \
             [plugins.{name}.protect] is set (token, basic_auth or allow_ips; README \
             \"Protecting unsigned providers\")"
        );
    }
    names
}

/// Pairs plugins with their config and builds the router.
pub fn mount(config: &Config, plugins: Vec<Plugin>) -> Table {
    Table::from_mounted(plugins.into_iter().map(|p| mounted(config, p)).collect())
}

impl Table {
    /// The routing table of these mounted plugins, in order.
    pub fn from_mounted(mounted: Vec<Arc<Mount>>) -> Table {
        let mut router = Table::default();
        for m in mounted {
            for (pattern, route) in m.plugin.endpoints.iter().zip(&m.plugin.info.routes) {
                router
                    .entries
                    .push((pattern.clone(), route.methods.clone(), m.clone()));
            }
        }
        router
    }
}

/// The routing table in force, swapped whole on reload: a request takes the
/// current table once, so it finishes on the plugin version it started with.
pub struct LiveTable(std::sync::RwLock<Arc<Table>>);

impl LiveTable {
    pub fn new(router: Table) -> Self {
        Self(std::sync::RwLock::new(Arc::new(router)))
    }

    pub fn current(&self) -> Arc<Table> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn replace(&self, router: Table) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(router);
    }
}

/// Checks the config's plugin sections and routes against the plugins
/// actually loaded: every section names a loaded plugin, every key is declared by
/// it, every required key is set, every route's `provider` exists.
pub fn check_config(config: &Config, loaded: &[&wit::PluginInfo]) -> Result<(), ConfigError> {
    let err = |key: String, reason: String| ConfigError {
        file: config.file.display().to_string(),
        key,
        reason,
    };
    let names: Vec<&str> = loaded.iter().map(|p| p.name.as_str()).collect();
    for name in config.plugins.keys() {
        let Some(info) = loaded.iter().find(|p| &p.name == name) else {
            return Err(err(
                format!("plugins.{name}"),
                format!(
                    "no plugin `{name}` in {} (loaded: {names:?})",
                    config.plugin_dir.display()
                ),
            ));
        };
        check_settings(config, info)?;
    }
    for info in loaded {
        check_settings(config, info)?;
    }
    for (i, r) in config.routes.iter().enumerate() {
        for p in &r.filter.provider {
            if !names.contains(&p.as_str()) {
                return Err(err(
                    format!("routes[{i}].match.provider"),
                    format!("no plugin `{p}` (loaded: {names:?})"),
                ));
            }
        }
    }
    Ok(())
}

/// One plugin against its section: every key declared by it, every
/// required key set (also what a hot reload checks a new plugin with).
pub fn check_settings(config: &Config, info: &wit::PluginInfo) -> Result<(), ConfigError> {
    let err = |key: String, reason: String| ConfigError {
        file: config.file.display().to_string(),
        key,
        reason,
    };
    let name = &info.name;
    let settings = config.plugins.get(name);
    for key in settings.into_iter().flat_map(|s| s.keys()) {
        if !info.config_keys.iter().any(|k| &k.name == key) {
            let known: Vec<_> = info.config_keys.iter().map(|k| k.name.as_str()).collect();
            return Err(err(
                format!("plugins.{name}.{key}"),
                format!("unknown key; `{name}` accepts {known:?}"),
            ));
        }
    }
    for k in info.config_keys.iter().filter(|k| k.required) {
        if !settings.is_some_and(|s| s.contains_key(&k.name)) {
            return Err(err(
                format!("plugins.{name}.{}", k.name),
                format!("required by plugin `{name}`: {}", k.description),
            ));
        }
    }
    Ok(())
}
