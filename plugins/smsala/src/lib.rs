//! SMSAla: delivery reports to the callback URL sent with each message, by
//! GET or POST (query, form or JSON). SMSAla publishes no callback spec and
//! does not support incoming SMS; fields are read by their usual names and
//! its statuses by the usual words (the SDK's `gateway` module). Unsigned.
//! See README.md beside this file.

use switchboard_plugin_sdk::fields::{fields, has_any};
use switchboard_plugin_sdk::gateway::{delivery_report, missing_status};
use switchboard_plugin_sdk::time::utc_offset;
use switchboard_plugin_sdk::types::{ConfigKey, Route};
use switchboard_plugin_sdk::*;

pub struct SmsAla;
switchboard_plugin_sdk::export_plugin!(SmsAla);

impl Plugin for SmsAla {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "smsala".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "SMSAla delivery reports (best-effort: no published callback spec)".into(),
            routes: vec![
                Route::new(
                    &[Method::Get, Method::Post],
                    "/smsAlaCallback",
                    "delivery report (callback URL sent with each message)",
                ),
                Route::new(
                    &[Method::Get, Method::Post],
                    "/smsAlaCallback/{app_code}",
                    "delivery report for an application",
                ),
            ],
            config_keys: vec![
                ConfigKey::setting("utc_offset").describe(
                    "UTC offset of SMSAla's zone-less dates, e.g. +04:00; default +00:00",
                ),
            ],
            accept_reply: reply_text(200, "OK"),
        }
    }

    fn handle(req: &Request, config: &Config) -> Result<Outcome, PluginError> {
        let offset = utc_offset(config, 0)?;
        let p = fields(req)?;
        let event = delivery_report(&p, offset, |p| {
            if has_any(p, &["text", "message", "msg"]) {
                unsupported("SMSAla sends no incoming SMS: this is not a delivery report")
            } else {
                missing_status(p)
            }
        })?;
        Ok(Outcome::events(vec![event]).with_reply(reply_text(200, "OK")))
    }
}

#[cfg(test)]
mod tests;
