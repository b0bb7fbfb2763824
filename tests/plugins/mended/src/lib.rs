//! The `chaos` test plugin, mended: it declares the same name and routes,
//! and every mode, including the ones that crash `chaos`, parses into one
//! delivery event (message id from the `id` query parameter). The
//! end-to-end tests drop it in over `chaos.wasm` to show that captures
//! quarantined by a broken plugin are replayed through the fixed one.

use switchboard_plugin_sdk::types::Route;
use switchboard_plugin_sdk::*;

pub struct Mended;
switchboard_plugin_sdk::export_plugin!(Mended);

impl Plugin for Mended {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "chaos".into(),
            version: concat!(env!("CARGO_PKG_VERSION"), "+mended").into(),
            description: "test plugin: chaos with every mode fixed".into(),
            routes: vec![Route::new(
                &[Method::Get, Method::Post],
                "/chaos/{mode}",
                "one delivery event, whatever `mode` says",
            )],
            config_keys: vec![],
            accept_reply: reply_text(202, "accepted"),
        }
    }

    fn handle(req: &Request, _config: &Config) -> Result<Outcome, PluginError> {
        let id = req.query().get("id").unwrap_or("m1").to_owned();
        let ds = DeliveryStatus::new(&id, DeliveryState::Delivered, "DELIVRD");
        Ok(Outcome::events(vec![Event::new(
            id,
            EventKind::DeliveryStatus(ds),
        )]))
    }
}
