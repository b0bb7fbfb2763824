//! AbleMobile: delivery reports by GET or POST (query, form or JSON; a JSON
//! array is a batch) to one URL. AbleMobile publishes no callback spec:
//! fields are read by their usual names and its statuses by the usual words
//! (the SDK's `gateway` module). Unsigned. See README.md beside this file.

use switchboard_plugin_sdk::fields::records;
use switchboard_plugin_sdk::gateway::{delivery_report, missing_status};
use switchboard_plugin_sdk::time::utc_offset;
use switchboard_plugin_sdk::types::{ConfigKey, Route};
use switchboard_plugin_sdk::*;

pub struct AbleMobile;
switchboard_plugin_sdk::export_plugin!(AbleMobile);

impl Plugin for AbleMobile {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "able-mobile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "AbleMobile delivery reports by GET or POST (best-effort: no published callback spec)"
                .into(),
            routes: vec![Route::new(
                &[Method::Get, Method::Post],
                "/amSmsCallback",
                "delivery report",
            )],
            config_keys: vec![ConfigKey::setting("utc_offset").describe(
                "UTC offset of AbleMobile's zone-less dates, e.g. +02:00; default +00:00",
            )],
            accept_reply: reply_text(200, "OK"),
        }
    }

    fn handle(req: &Request, config: &Config) -> Result<Outcome, PluginError> {
        let offset = utc_offset(config, 0)?;
        let events = records(req)?
            .iter()
            .map(|p| delivery_report(p, offset, missing_status))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Outcome::events(events).with_reply(reply_text(200, "OK")))
    }
}

#[cfg(test)]
mod tests;
