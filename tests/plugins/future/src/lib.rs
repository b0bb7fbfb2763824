//! Targets `switchboard:provider@0.2.0` (a copy of the WIT with the version
//! bumped), so the host must refuse it at load and say which versions it
//! supports. It is otherwise a working plugin.

wit_bindgen::generate!({ path: "wit", world: "provider" });

use exports::switchboard::provider::plugin::Guest;
use switchboard::provider::types::*;

struct Future;

impl Guest for Future {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "future".into(),
            version: "9.9.9".into(),
            description: "built against a future contract".into(),
            routes: vec![Route {
                methods: vec![Method::Post],
                path: "/future".into(),
                description: String::new(),
            }],
            config_keys: vec![],
            accept_reply: HttpResponse {
                status: 200,
                headers: vec![],
                body: vec![],
            },
        }
    }

    fn handle(_req: HttpRequest, _ctx: Context) -> Result<Outcome, PluginError> {
        Ok(Outcome {
            events: vec![],
            reply: None,
            actions: vec![],
        })
    }
}

#[cfg(target_arch = "wasm32")]
export!(Future);
