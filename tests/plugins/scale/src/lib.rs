//! A provider-shaped plugin for the scale benchmark (`bench scale`): it
//! reads a gateway delivery report like the real unsigned plugins (the
//! SDK's `gateway` module), so a copy weighs what a real plugin weighs.
//!
//! The host refuses two plugins with the same name or route, and a name is
//! only ever what `describe` returns, compiled into the component. So the
//! name is a fixed-length placeholder, [`NAME`], that the benchmark
//! overwrites in copies of the `.wasm` (`scale-plugin-name-000042`): same
//! length, so every offset and size in the component stays valid. The route
//! is derived from the name and changes with it.

use switchboard_plugin_sdk::fields::fields;
use switchboard_plugin_sdk::gateway::{delivery_report, missing_status};
use switchboard_plugin_sdk::types::Route;
use switchboard_plugin_sdk::*;

/// Overwritten byte for byte by the benchmark; keep it unique in the binary
/// and keep its length (see `host/examples/bench/scale.rs`).
pub const NAME: &str = "scale-plugin-name-xxxxxx";

pub struct Scale;
switchboard_plugin_sdk::export_plugin!(Scale);

impl Plugin for Scale {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: NAME.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "benchmark plugin: gateway delivery reports under a patched name".into(),
            routes: vec![Route::new(
                &[Method::Get, Method::Post],
                &format!("/{NAME}"),
                "delivery report",
            )],
            config_keys: vec![],
            accept_reply: reply_text(200, "OK"),
        }
    }

    fn handle(req: &Request, _config: &Config) -> Result<Outcome, PluginError> {
        let event = delivery_report(&fields(req)?, 0, missing_status)?;
        Ok(Outcome::events(vec![event]).with_reply(reply_text(200, "OK")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_plugin_sdk::testing::run;

    #[test]
    fn reads_a_gateway_report() {
        let out = run::<Scale>(
            &format!("GET /api/v1/{NAME}?msgid=m1&stat=DELIVRD HTTP/1.1\nHost: h\n\n"),
            &[],
        );
        assert!(matches!(out, Ok(o) if o.events.len() == 1));
    }
}
