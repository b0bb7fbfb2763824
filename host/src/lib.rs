//! Switchboard: a webhook router for SMS and messaging providers.
//!
//! This file is the map of the code. Modules are declared in the order a
//! callback meets them (README "Architecture" follows the same order), and
//! each may import only modules declared **below** it: data moves one way,
//! and no stage reaches back upstream. `layers.rs` checks that on every
//! test run by reading the `use crate::` paths of every source file.
//!
//! Only what the benchmarks (`host/examples/bench`) and the end-to-end
//! tests (`tests/e2e`) drive directly is `pub`; the rest is the binary's.

// --- The edges: the binary's commands and the wiring that starts and
// --- steers the stages. Errors become exit codes and log lines here.
/// The `switchboard` commands (`serve`, `check`, `plugin new|test`, the
/// operator's commands against the admin API).
pub mod cli;
/// Start-up and shutdown: config, store, plugins, listeners, signals.
mod server;
/// The admin API, `/metrics` and the dashboard, on their own listener.
mod admin;
/// Webhooks made through the admin API, applied to `rules` and `dispatch`.
mod webhooks;
/// Plugins and config swapped while running (file changes, SIGHUP).
mod reload;
/// Stored captures run through the pipeline again.
mod replay;

// --- The flow, in order: a callback in, events out.
/// Stage 1. The public listener: HTTP in, the provider's reply out. The
/// one place an outcome becomes a status code.
mod ingress;
/// Stages 2-6 for one callback, in three steps: call the plugin, route
/// its events (pure), commit it all in one batch.
pub mod pipeline;
/// The endpoints the loaded plugins declared, each with its settings.
mod mount;
/// Stage 2. The operator's protection of mounts whose provider does not
/// sign.
mod protect;
/// Stage 3. The sandboxed provider plugins (wasmtime), their scheduling
/// and their contract's types.
pub mod plugin;
/// Stage 4. Dedup and message state: which events are new.
pub mod normalize;
/// Stage 5. Config routes and webhooks: which destinations get an event.
mod rules;
/// Stage 6. Durable delivery jobs, written with the events.
pub mod outbox;
/// After the commit: side effects a plugin asked for.
mod actions;
/// Stage 7. Deliveries: one actor per destination, retries, dead letters.
mod dispatch;

// --- Shared by the stages; they import no stage.
/// Prometheus families.
mod metrics;
/// The durable store: sled embedded, or NATS JetStream.
pub mod store;
/// The config file, resolved into plain settings.
pub mod config;
/// Certificates for the HTTPS listeners.
mod tls;
/// The SSRF guard every outbound connection goes through.
mod guard;
/// The one shared event type.
pub mod event;
/// The error policy's helper (STYLE.md "Errors").
pub mod error;
/// Milliseconds and RFC 3339.
pub mod time;

/// Route patterns are shared with the plugin SDK, so a plugin's own tests
/// route exactly as the host does.
pub use switchboard_plugin_sdk::route;

#[cfg(test)]
mod layers;
