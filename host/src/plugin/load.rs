//! Compiling, caching and pre-instantiating plugins.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings::{Provider, ProviderPre};
use super::call::{CallState, Limits};
use super::wit;
use crate::route::RoutePattern;

/// The contract line this host implements: plugins built against any
/// `switchboard:provider@0.1.x` load; others are refused.
pub const SUPPORTED_CONTRACT: &str = "0.1";
const CONTRACT_PACKAGE: &str = "switchboard:provider";

/// Epoch ticks are 10 ms: deadlines are whole ticks.
pub(super) const TICK: Duration = Duration::from_millis(10);

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid component: {reason}")]
    Compile { path: PathBuf, reason: String },
    #[error(
        "{path}: built against {found}, but this host supports {CONTRACT_PACKAGE}@{SUPPORTED_CONTRACT}.x only; rebuild the plugin against wit/ of this Switchboard"
    )]
    Contract { path: PathBuf, found: String },
    #[error("{path}: cannot be instantiated: {reason}")]
    Link { path: PathBuf, reason: String },
    #[error("{path}: describe() failed: {reason}")]
    Describe { path: PathBuf, reason: String },
    #[error("{path}: invalid plugin description: {reason}")]
    Invalid { path: PathBuf, reason: String },
    /// The runtime itself could not be set up (no plugin involved).
    #[error("{what}: {source}")]
    Engine {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("epoch ticker thread: {0}")]
    Ticker(#[source] std::io::Error),
}

/// wasmtime's errors are `anyhow::Error`s, which are not `std` errors:
/// boxed, they can be a `#[source]`.
fn engine_error(what: &'static str) -> impl FnOnce(wasmtime::Error) -> LoadError {
    move |e| LoadError::Engine {
        what,
        source: e.into(),
    }
}

/// The shared wasmtime machinery: engines, linkers and the epoch ticker.
pub struct Runtime {
    /// For small components (Rust plugins): no copy-on-write, dirty pages
    /// reset by `pagemap_scan`, ~9 µs per fresh instance.
    small: (Engine, Linker<CallState>),
    /// For big ones (Python, JavaScript: a runtime's heap snapshot of
    /// 10+ MiB as initial memory): copy-on-write images, so an instance
    /// maps that memory instead of copying it (~8 ms a call copied).
    big: (Engine, Linker<CallState>),
    cache_dir: Option<PathBuf>,
    pub(super) limits: Limits,
}

/// A component file above this size runs on the big components' engine.
/// Rust plugins are 0.1-1 MiB; componentize-py and componentize-js ones
/// 8-20 MiB.
pub const BIG_COMPONENT_BYTES: usize = 4 << 20;

impl Runtime {
    /// Builds both engines (`engine`) and starts the epoch ticker.
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Arc<Self>, LoadError> {
        let small = engine(&limits, false)?;
        let big = engine(&limits, true)?;
        // The ticker is an OS thread: a tokio task would starve under load
        // and let a looping plugin run past its deadline.
        let weak = [small.0.weak(), big.0.weak()];
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                loop {
                    let live: Vec<Engine> = weak.iter().filter_map(|w| w.upgrade()).collect();
                    if live.is_empty() {
                        return;
                    }
                    for e in live {
                        e.increment_epoch();
                    }
                    std::thread::sleep(TICK);
                }
            })
            .map_err(LoadError::Ticker)?;
        Ok(Arc::new(Self {
            small,
            big,
            cache_dir,
            limits,
        }))
    }

    fn pick(&self, bytes: &[u8]) -> &(Engine, Linker<CallState>) {
        if bytes.len() > BIG_COMPONENT_BYTES {
            &self.big
        } else {
            &self.small
        }
    }

    /// Loads one `.wasm`: compile (or reuse the cached artifact), check the
    /// contract version, pre-instantiate, and ask it to describe itself.
    pub fn load(self: &Arc<Self>, path: &Path) -> Result<Plugin, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.into(),
            source,
        })?;
        let (engine, linker) = self.pick(&bytes);
        let component = self.compile(engine, path, &bytes)?;
        check_contract(engine, &component, path)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link {
                path: path.into(),
                reason: link_reason(&e),
            })?;
        let pre = ProviderPre::new(pre).map_err(|e| LoadError::Link {
            path: path.into(),
            reason: format!("{e:#}"),
        })?;
        let mut plugin = Plugin {
            runtime: self.clone(),
            pre,
            path: path.into(),
            digest: hex::encode(&Sha256::digest(&bytes)[..8]),
            info: placeholder_info(),
            endpoints: Vec::new(),
            memory_cap: None,
        };
        let info = plugin.describe().map_err(|e| LoadError::Describe {
            path: path.into(),
            reason: e.to_string(),
        })?;
        plugin.endpoints = validate_info(&info).map_err(|reason| LoadError::Invalid {
            path: path.into(),
            reason,
        })?;
        plugin.info = info;
        Ok(plugin)
    }

    fn compile(&self, engine: &Engine, path: &Path, bytes: &[u8]) -> Result<Component, LoadError> {
        let compile_err = |e: wasmtime::Error| LoadError::Compile {
            path: path.into(),
            reason: format!("{e:#}"),
        };
        let Some(dir) = &self.cache_dir else {
            return Component::new(engine, bytes).map_err(compile_err);
        };
        // Keyed by content and by engine compatibility (wasmtime version and
        // settings), so a stale artifact is never loaded.
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let key = format!(
            "{}-{:016x}.cwasm",
            hex::encode(&Sha256::digest(bytes)[..16]),
            h.finish()
        );
        let cached = dir.join(key);
        if cached.exists() {
            // SAFETY: the file was written by `precompile_component` of an
            // engine with the same compatibility hash, into our own cache.
            match unsafe { Component::deserialize_file(engine, &cached) } {
                Ok(c) => return Ok(c),
                Err(e) => {
                    tracing::warn!(path = %cached.display(), "discarding unusable cached artifact: {e}")
                }
            }
        }
        let artifact = engine.precompile_component(bytes).map_err(compile_err)?;
        if let Err(e) = write_atomically(dir, &cached, &artifact) {
            tracing::warn!(path = %cached.display(), "cannot cache compiled plugin: {e}");
        }
        // SAFETY: `artifact` was produced just now by this engine.
        unsafe { Component::deserialize(engine, &artifact) }.map_err(compile_err)
    }
}

/// Why a component cannot be linked, with what the host does provide when
/// it imports something else (a JavaScript component built with its HTTP
/// features, say).
fn link_reason(e: &wasmtime::Error) -> String {
    let reason = format!("{e:#}");
    if reason.contains("import") {
        format!(
            "{reason}; the host provides WASI 0.2 (cli, clocks, random, filesystem, sockets, \
             io; nothing granted) and switchboard:provider/host only: build the plugin \
             without other imports (componentize-js: --disable http fetch-event)"
        )
    } else {
        reason
    }
}

fn write_atomically(dir: &Path, dest: &Path, data: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dest.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, dest)
}

/// One engine with the pooling allocator (and `pagemap_scan` where the
/// kernel has it, which cut a fresh-instance call from ~29 µs to ~9 µs
/// here), linked with WASI with nothing granted (and frozen clocks whose
/// timers are due at once, see `clocks.rs`) plus the `host` interface.
/// `cow`: initial memory mapped copy-on-write instead of copied.
fn engine(limits: &Limits, cow: bool) -> Result<(Engine, Linker<CallState>), LoadError> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.max_wasm_stack(limits.max_stack_bytes);
    // Slots per running call: a Rust plugin takes ~4 core instances,
    // 1-2 memories and tables; a Python or JavaScript one ~14-30 core
    // instances (mostly adapters without memory). Slots are address
    // space, reserved up front, not resident memory.
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(limits.pool_instances)
        .total_memories(limits.pool_instances * 4)
        .total_tables(limits.pool_instances * 8)
        .total_core_instances(limits.pool_instances * 32)
        .max_core_instances_per_component(64)
        .max_memories_per_component(16)
        .max_tables_per_component(32)
        .max_memory_size(limits.pool_memory_bytes);
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(512 << 10)
            .table_keep_resident(256 << 10);
    }
    config.memory_init_cow(cow);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config).map_err(engine_error("wasmtime engine"))?;
    let mut linker = Linker::<CallState>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(engine_error("linking WASI"))?;
    super::clocks::link_frozen_monotonic_clock(&mut linker)
        .map_err(engine_error("linking the frozen clock"))?;
    Provider::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)
        .map_err(engine_error("linking host interface"))?;
    Ok((engine, linker))
}

/// Refuses a component that does not export `switchboard:provider/plugin`
/// of a supported contract line.
fn check_contract(engine: &Engine, component: &Component, path: &Path) -> Result<(), LoadError> {
    let ty = component.component_type();
    let prefix = format!("{CONTRACT_PACKAGE}/plugin@");
    let export = ty
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .find(|name| name.starts_with(&format!("{CONTRACT_PACKAGE}/")));
    let Some(export) = export else {
        return Err(LoadError::Contract {
            path: path.into(),
            found: "no switchboard:provider export (not a Switchboard provider plugin)".into(),
        });
    };
    let version = export.strip_prefix(&prefix).unwrap_or("");
    let compatible = version
        .strip_prefix(SUPPORTED_CONTRACT)
        .is_some_and(|rest| rest.starts_with('.'));
    if compatible {
        Ok(())
    } else {
        Err(LoadError::Contract {
            path: path.into(),
            found: format!("`{export}`"),
        })
    }
}

fn validate_info(info: &wit::PluginInfo) -> Result<Vec<RoutePattern>, String> {
    let name_ok = !info.name.is_empty()
        && info.name.len() <= 64
        && info
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !name_ok {
        return Err(format!(
            "name `{}` must be 1-64 chars of [a-z0-9-]",
            info.name
        ));
    }
    if info.routes.is_empty() {
        return Err("declares no routes".into());
    }
    info.routes
        .iter()
        .map(|r| {
            if r.methods.is_empty() {
                return Err(format!("route `{}` accepts no method", r.path));
            }
            RoutePattern::parse(&r.path)
        })
        .collect()
}

fn placeholder_info() -> wit::PluginInfo {
    wit::PluginInfo {
        name: String::new(),
        version: String::new(),
        description: String::new(),
        routes: Vec::new(),
        config_keys: Vec::new(),
        accept_reply: wit::HttpResponse {
            status: 200,
            headers: Vec::new(),
            body: Vec::new(),
        },
    }
}

/// A loaded, pre-instantiated plugin.
#[derive(Clone)]
pub struct Plugin {
    pub(super) runtime: Arc<Runtime>,
    pub(super) pre: ProviderPre<CallState>,
    pub path: PathBuf,
    /// First bytes of the `.wasm`'s SHA-256: tells versions apart in logs.
    pub digest: String,
    pub info: wit::PluginInfo,
    /// Its endpoints: `info.routes` parsed, same order.
    pub endpoints: Vec<RoutePattern>,
    /// Its own memory cap (`[plugins.NAME.runtime]`), set when mounted.
    pub memory_cap: Option<usize>,
}

impl Plugin {
    pub fn name(&self) -> &str {
        &self.info.name
    }
}
