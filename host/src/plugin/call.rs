//! One plugin call: a fresh `Store` per request, so nothing a request does
//! can leak into the next, and a trapped instance is simply dropped.

use std::time::Duration;

use wasmtime::{Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxView, WasiView};

use super::bindings::Provider;
use super::bindings::switchboard::provider::host::{self, LogLevel};
use super::clocks::FrozenClock;
use super::load::{Plugin, TICK};
use super::wit;
pub use crate::config::Limits;

/// Why a call produced no usable outcome. None of these is the provider's
/// fault: the capture is quarantined for replay.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("ran out of memory (cap {0} bytes)")]
    OutOfMemory(usize),
    #[error("trapped: {0}")]
    Trap(String),
    #[error("returned an invalid outcome: {0}")]
    Invalid(String),
    #[error("could not be instantiated: {0}")]
    Instantiate(String),
}

impl CallError {
    /// A short label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Timeout(_) => "timeout",
            CallError::OutOfMemory(_) => "oom",
            CallError::Trap(_) => "trap",
            CallError::Invalid(_) => "invalid-output",
            CallError::Instantiate(_) => "instantiate",
        }
    }
}

/// Per-call store data.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    plugin: String,
    capture_id: u64,
    log_budget: usize,
    /// Epoch ticks spent in host imports (network waits), added back to the
    /// plugin's deadline.
    grace_ticks: u64,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

// The `types` interface has no functions; bindgen still wants the marker.
impl super::wit::Host for CallState {}

impl host::Host for CallState {
    fn log(&mut self, level: LogLevel, message: String) {
        // A chatty plugin gets a budget, not the host's disk.
        let Some(rest) = self.log_budget.checked_sub(message.len()) else {
            return;
        };
        self.log_budget = rest;
        let (plugin, capture) = (&self.plugin, self.capture_id);
        match level {
            LogLevel::Trace => tracing::trace!(plugin, capture, "{message}"),
            LogLevel::Debug => tracing::debug!(plugin, capture, "{message}"),
            LogLevel::Info => tracing::info!(plugin, capture, "{message}"),
            LogLevel::Warn => tracing::warn!(plugin, capture, "{message}"),
            LogLevel::Error => tracing::error!(plugin, capture, "{message}"),
        }
    }

    fn fetch_certificate(&mut self, url: String) -> Result<String, String> {
        let started = std::time::Instant::now();
        let result = super::certs::fetch(&url);
        // Waiting on the network is not the plugin's time: give it back.
        let waited = started.elapsed().as_millis().div_ceil(TICK.as_millis()) as u64;
        self.grace_ticks = self.grace_ticks.saturating_add(waited);
        if let Err(e) = &result {
            tracing::warn!(plugin = %self.plugin, capture = self.capture_id, "certificate fetch failed: {e}");
        }
        result
    }
}

impl Plugin {
    /// This plugin's memory cap per call: its own, else the runtime's, and
    /// never over the pool's slot (a cap raised by a reload above the one
    /// fixed at start applies from the next restart).
    fn memory_cap(&self) -> usize {
        let limits = &self.runtime.limits;
        self.memory_cap
            .unwrap_or(limits.max_memory_bytes)
            .min(limits.pool_memory_bytes)
    }

    fn store(&self, capture_id: u64) -> (Store<CallState>, MemoryOutputPipe, MemoryOutputPipe) {
        let limits = &self.runtime.limits;
        let stdout = MemoryOutputPipe::new(limits.max_log_bytes);
        let stderr = MemoryOutputPipe::new(limits.max_log_bytes);
        // No preopens, no env, no args, no sockets, frozen clocks.
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = CallState {
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.memory_cap())
                // A Rust plugin is a handful of core instances; a component
                // made by componentize-py (CPython) or componentize-js
                // (StarlingMonkey) is 14-30, WASI adapters included.
                .instances(64)
                .trap_on_grow_failure(true)
                .build(),
            plugin: self.info.name.clone(),
            capture_id,
            log_budget: limits.max_log_bytes,
            grace_ticks: 0,
        };
        let mut store = Store::new(self.pre.instance_pre().engine(), state);
        store.limiter(|s| &mut s.limits);
        let ticks = limits.timeout.as_millis().div_ceil(TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_callback(|mut ctx| {
            match std::mem::take(&mut ctx.data_mut().grace_ticks) {
                0 => Err(wasmtime::Trap::Interrupt.into()),
                extra => Ok(wasmtime::UpdateDeadline::Continue(extra)),
            }
        });
        (store, stdout, stderr)
    }

    /// Instantiates the plugin in a fresh store, runs `f` on it, and
    /// forwards whatever the guest printed to the log.
    fn in_fresh_instance<R>(
        &self,
        capture_id: u64,
        f: impl FnOnce(&Provider, &mut Store<CallState>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let (mut store, out, err) = self.store(capture_id);
        let result = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| CallError::Instantiate(format!("{e:#}")))
            .and_then(|inst| f(&inst, &mut store).map_err(|e| self.call_error(e)));
        self.forward_output(capture_id, &out, &err);
        result
    }

    /// Calls `describe` in a fresh instance.
    pub(super) fn describe(&self) -> Result<wit::PluginInfo, CallError> {
        self.in_fresh_instance(0, |inst, store| {
            inst.switchboard_provider_plugin().call_describe(store)
        })
    }

    /// Calls `handle` in a fresh instance and checks the output limits.
    /// Blocking: run it off the async runtime (see `Scheduler`).
    pub fn handle(
        &self,
        capture_id: u64,
        req: &wit::HttpRequest,
        ctx: &wit::Context,
    ) -> Result<Result<wit::Outcome, wit::PluginError>, CallError> {
        let result = self.in_fresh_instance(capture_id, |inst, store| {
            inst.switchboard_provider_plugin()
                .call_handle(store, req, ctx)
        });
        let result = result?;
        if let Ok(outcome) = &result {
            self.check_outcome(outcome)?;
        }
        Ok(result)
    }

    fn call_error(&self, e: wasmtime::Error) -> CallError {
        let limits = &self.runtime.limits;
        match e.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => CallError::Timeout(limits.timeout),
            Some(wasmtime::Trap::AllocationTooLarge) => CallError::OutOfMemory(self.memory_cap()),
            Some(trap) => CallError::Trap(trap.to_string()),
            // Not a trap: the canonical ABI refused what the guest returned
            // (bad UTF-8, bad discriminant, out-of-bounds pointer) or a
            // memory grow failed.
            None => {
                let msg = format!("{e:#}");
                if msg.contains("memory") && msg.contains("grow") {
                    CallError::OutOfMemory(self.memory_cap())
                } else {
                    CallError::Invalid(msg)
                }
            }
        }
    }

    fn check_outcome(&self, outcome: &wit::Outcome) -> Result<(), CallError> {
        let limits = &self.runtime.limits;
        if outcome.events.len() > limits.max_events {
            return Err(CallError::Invalid(format!(
                "{} events (limit {})",
                outcome.events.len(),
                limits.max_events
            )));
        }
        if let Some(reply) = &outcome.reply {
            if !(200..=599).contains(&reply.status) {
                return Err(CallError::Invalid(format!("reply status {}", reply.status)));
            }
            if reply.body.len() > limits.max_output_bytes / 4 {
                return Err(CallError::Invalid(format!(
                    "reply body of {} bytes",
                    reply.body.len()
                )));
            }
            let bad_header = reply.headers.iter().find(|(k, v)| {
                hyper::header::HeaderName::from_bytes(k.as_bytes()).is_err()
                    || hyper::header::HeaderValue::from_str(v).is_err()
            });
            if let Some((k, _)) = bad_header {
                return Err(CallError::Invalid(format!("invalid reply header `{k}`")));
            }
        }
        let size: usize = outcome.events.iter().map(super::approx_size).sum();
        if size > limits.max_output_bytes {
            return Err(CallError::Invalid(format!("{size} bytes of events")));
        }
        Ok(())
    }

    fn forward_output(&self, capture: u64, out: &MemoryOutputPipe, err: &MemoryOutputPipe) {
        for (stream, pipe) in [("stdout", out), ("stderr", err)] {
            let bytes = pipe.contents();
            if bytes.is_empty() {
                continue;
            }
            for line in String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|l| !l.is_empty())
            {
                tracing::info!(plugin = %self.info.name, capture, stream, "{line}");
            }
        }
    }
}
