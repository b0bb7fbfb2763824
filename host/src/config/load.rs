//! `Config::load`: the file parsed once, then its sections resolved one
//! by one, each problem collected rather than stopping at the first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{
    Config, ConfigError, ConfigErrors, MountSettings, Overrides, Problems, defaults, parse, raw,
    resolve, sections, store,
};

impl Config {
    /// Reads and resolves the config file at `path`, `overrides` from the
    /// command line taking precedence.
    ///
    /// On failure, every problem found, in section order (deterministic,
    /// whatever the order in the file): top-level keys that are no
    /// section, then `[server]`, `[store]`, `[runtime]`, `[admin]`, each
    /// `[plugins.<name>]` and `[destinations.<name>]` by name, each
    /// `[[routes]]` entry in turn; within one, its keys in the order they
    /// are checked. A section or entry that does not deserialize reports
    /// that one problem. A TOML syntax error is reported alone: nothing
    /// after it can be read reliably.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Self, ConfigErrors> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            key: "(file)".into(),
            reason: e.to_string(),
        })?;
        let doc = parse::document(&file, &text)?;
        let p = Problems::new(file, doc);
        let config = resolve_all(&p, path, overrides);
        p.finish(config)
    }
}

/// Every section, in the order `Config::load` documents; `None` if any
/// part did not resolve (each problem is in `p`).
fn resolve_all(p: &Problems, path: &Path, overrides: &Overrides) -> Option<Config> {
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let rel = |s: &str| {
        let s = PathBuf::from(s);
        if s.is_absolute() { s } else { base.join(s) }
    };
    // Whether every entry of the maps and lists resolved (the sections
    // themselves are `Option`s).
    let mut complete = true;
    parse::unknown_sections(p);

    let server = parse::section::<raw::Server>(p, "server")
        .and_then(|s| sections::server(p, s, overrides.listen, &rel));

    let given_store = parse::section::<raw::Store>(p, "store");
    let (jetstream, retention) = match &given_store {
        Some(s) => (store::resolve(p, s), store::retention(p, s)),
        None => (None, None),
    };
    // Needed by `[runtime]` even when `[store]` has a problem.
    let data_dir = match &overrides.data_dir {
        Some(d) => d.clone(),
        None => rel(given_store
            .as_ref()
            .and_then(|s| s.data_dir.as_deref())
            .unwrap_or(defaults::DATA_DIR)),
    };

    let runtime = parse::section::<raw::Runtime>(p, "runtime")
        .and_then(|rt| sections::runtime(p, rt, &data_dir, &rel));

    let admin = parse::section::<raw::Admin>(p, "admin")
        .and_then(|a| sections::admin(p, a, overrides.admin_listen, &rel));

    let mut plugins = BTreeMap::new();
    let mut mounts = BTreeMap::new();
    let plugin_items = parse::entries(p, "plugins");
    complete &= plugin_items.is_some();
    for (name, item) in plugin_items.unwrap_or_default() {
        let key = format!("plugins.{name}");
        let resolved = parse::shape::<raw::PluginSection>(p, &key, item)
            .and_then(|section| sections::plugin(p, &name, section));
        match resolved {
            Some((settings, mount)) => {
                plugins.insert(name.clone(), settings);
                mounts.insert(name, mount);
            }
            None => complete = false,
        }
    }

    // Only a store known to be JetStream restricts destination names.
    let jetstream_names = matches!(jetstream, Some(Some(_)));
    let destination_items = parse::entries(p, "destinations");
    complete &= destination_items.is_some();
    // Every name the file defines, resolved or not: a route naming one
    // with a problem of its own is not a second problem.
    let defined: Option<Vec<String>> = destination_items
        .as_ref()
        .map(|d| d.keys().cloned().collect());
    let mut destinations = BTreeMap::new();
    for (name, item) in destination_items.unwrap_or_default() {
        let key = format!("destinations.{name}");
        if jetstream_names && !store::is_token(&name) {
            // The name is a token of the jobs' subjects.
            p.report(
                &key,
                format!(
                    "`{name}`: with store.kind = \"jetstream\", use letters, digits, `-` and `_` only"
                ),
            );
            complete = false;
        }
        let resolved = parse::shape::<raw::Destination>(p, &key, item)
            .and_then(|d| resolve::destination(p, &key, d, &rel));
        match resolved {
            Some(d) => {
                destinations.insert(name, d);
            }
            None => complete = false,
        }
    }

    let mut routes = Vec::new();
    let route_items = parse::list(p, "routes");
    complete &= route_items.is_some();
    for (i, item) in route_items.unwrap_or_default().into_iter().enumerate() {
        let key = format!("routes[{i}]");
        let resolved = parse::shape::<raw::Route>(p, &key, item)
            .and_then(|r| resolve::route(p, &key, r, defined.as_deref()));
        match resolved {
            Some(r) => routes.push(r),
            None => complete = false,
        }
    }

    if !complete {
        return None;
    }
    let sections::Runtime {
        mut limits,
        max_concurrent_calls,
        plugin_dir,
        cache_dir,
    } = runtime?;
    // The pool's memory slots fit the largest cap any plugin has.
    limits.pool_memory_bytes = mounts
        .values()
        .filter_map(|m: &MountSettings| m.max_memory_bytes)
        .fold(limits.max_memory_bytes, usize::max);
    Some(Config {
        file: path.to_path_buf(),
        server: server?,
        data_dir,
        plugin_dir,
        cache_dir,
        limits,
        max_concurrent_calls,
        plugins,
        destinations,
        routes,
        retention: retention?,
        jetstream: jetstream?,
        admin: admin?,
        mounts,
    })
}
