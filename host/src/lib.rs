//! Switchboard: a webhook router for SMS and messaging providers.
//!
//! Modules follow the flow, left to right (see README "Architecture"):
//! [`ingress`] → [`pipeline`] (capture, [`plugin`], [`normalize`], [`rules`],
//! [`outbox`]) → [`dispatch`], over one shared [`event::Event`] type and the
//! [`store`].

pub mod actions;
pub mod admin;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod event;
pub mod ingress;
pub mod metrics;
pub mod mount;
pub mod normalize;
pub mod outbox;
pub mod pipeline;
pub mod plugin;
pub mod protect;
pub mod reload;
pub mod replay;
pub mod rules;
pub mod server;
pub mod store;
pub mod time;
pub mod tls;
pub mod webhooks;

/// Route patterns are shared with the plugin SDK, so a plugin's own tests
/// route exactly as the host does.
pub use switchboard_plugin_sdk::route;
