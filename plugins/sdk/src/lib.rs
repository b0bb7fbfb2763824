//! Guest SDK for Switchboard provider plugins.
//!
//! A provider plugin implements [`Plugin`] and calls [`export_plugin!`]; the
//! SDK owns the WIT bindings (generated once here, so plugins never clash on
//! names), and gives typed helpers for what every provider needs: query, form
//! and JSON bodies ([`request`]), fields by their usual names, JSON flattened
//! into `extra` and stable ids ([`fields`]), delivery reports of gateways
//! without a spec ([`gateway`]), legacy charsets ([`charset`]),
//! dates and UTC offsets ([`time`]), SMPP receipts ([`smpp`]), HMAC
//! signatures and constant-time compares ([`sign`]), builders for events and
//! replies ([`build`]), status tables ([`status`]) and a native test harness
//! that runs a plugin on raw HTTP fixture files ([`fixture`], [`testing`]).
//!
//! Everything here also compiles natively, so a plugin's unit tests run with
//! plain `cargo test`; only [`log`] needs the host, and natively it prints to
//! stderr instead.

pub mod build;
pub mod charset;
pub mod fields;
pub mod fixture;
pub mod gateway;
pub mod request;
pub mod route;
pub mod sign;
pub mod smpp;
pub mod status;
pub mod testing;
pub mod time;

/// The generated bindings for `wit/provider.wit`.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "provider",
        pub_export_macro: true,
        export_macro_name: "__export_provider",
        default_bindings_module: "switchboard_plugin_sdk::bindings",
    });
}

/// The contract's types, re-exported under short names.
pub mod types {
    pub use crate::bindings::switchboard::provider::types::*;
}

pub use build::{reply, reply_text};
pub use request::{Config, Params, Request};
pub use types::{
    Channel, DeliveryState, DeliveryStatus, Event, EventKind, HttpResponse, InboundMessage,
    LinkHit, Media, Method, OptOut, Outcome, PluginError, PluginInfo, Subscription,
};

/// What a provider plugin implements. `handle` is a pure function of the
/// request and the plugin's config: no clock (use `req.received_at()`), no
/// network, no files.
pub trait Plugin {
    fn describe() -> PluginInfo;
    fn handle(req: &Request, config: &Config) -> Result<Outcome, PluginError>;
}

/// Runs `P::handle` on the raw contract values (what the export glue and the
/// test harness both call).
pub fn run<P: Plugin>(
    req: types::HttpRequest,
    ctx: types::Context,
) -> Result<Outcome, PluginError> {
    P::handle(&Request::new(req), &Config::new(ctx.config))
}

/// Exports a [`Plugin`] implementation as the component's `plugin` interface.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        pub struct __SwitchboardExport;
        impl $crate::bindings::exports::switchboard::provider::plugin::Guest
            for __SwitchboardExport
        {
            fn describe() -> $crate::types::PluginInfo {
                <$plugin as $crate::Plugin>::describe()
            }
            fn handle(
                req: $crate::types::HttpRequest,
                ctx: $crate::types::Context,
            ) -> ::core::result::Result<$crate::types::Outcome, $crate::types::PluginError> {
                $crate::run::<$plugin>(req, ctx)
            }
        }
        // The component exports exist only in the wasm build: natively the
        // crate is a plain library its tests call (export names such as
        // `switchboard:provider/plugin@0.1.0#handle` do not link natively).
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::__export_provider!(__SwitchboardExport with_types_in $crate::bindings);
    };
}

/// Log through the host (tagged with plugin name and capture id there).
pub fn log(level: bindings::switchboard::provider::host::LogLevel, message: &str) {
    #[cfg(target_arch = "wasm32")]
    bindings::switchboard::provider::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// Fetches a provider's signing certificate (PEM) through the host, which
/// fetches each https URL once and caches it (see `fetch-certificate` in the
/// WIT). Natively (plugin unit tests) it answers from
/// [`testing::serve_certificate`].
pub fn fetch_certificate(url: &str) -> Result<String, String> {
    #[cfg(target_arch = "wasm32")]
    return bindings::switchboard::provider::host::fetch_certificate(url);
    #[cfg(not(target_arch = "wasm32"))]
    testing::certificate(url)
}

/// Shorthand constructors for [`PluginError`].
pub fn bad_request(msg: impl Into<String>) -> PluginError {
    PluginError::BadRequest(msg.into())
}
pub fn unauthorized(msg: impl Into<String>) -> PluginError {
    PluginError::Unauthorized(msg.into())
}
pub fn unsupported(msg: impl Into<String>) -> PluginError {
    PluginError::Unsupported(msg.into())
}
