//! `switchboard plugin test PLUGIN.wasm FIXTURE...`: runs raw HTTP request
//! files through a plugin exactly as the router would (same runtime and
//! limits, same route matching, public URL `https://<Host>`) and prints, as
//! JSON, the reply the provider would get and the events that would be
//! forwarded. The "test webhook" button, for plugin authors and operators.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use switchboard_plugin_sdk::fixture::Fixture;

use crate::event::Event;
use crate::plugin::{Limits, Runtime, wit};
use crate::server::StartError;

#[derive(clap::Args)]
pub struct TestArgs {
    /// The plugin component.
    pub wasm: PathBuf,
    /// Raw HTTP request files (`fixtures/*.http`).
    #[arg(required = true)]
    pub fixtures: Vec<PathBuf>,
    /// Plugin config as a flat TOML table; default: `config.toml` beside
    /// the first fixture, if there is one.
    #[arg(long)]
    pub config_file: Option<PathBuf>,
    /// A config value (repeatable), over the config file: `--set key=value`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The router's route prefix the fixtures' paths start with.
    #[arg(long, default_value = "/api/v1")]
    pub prefix: String,
    /// Exit 1 unless the fixtures follow the naming convention: `reject-*`
    /// refused, `ack-*` accepted (no event needed), every other one
    /// accepted with at least one event or action.
    #[arg(long)]
    pub check: bool,
    /// Where compiled components are cached (a Python or JavaScript plugin
    /// takes seconds to compile); default: none, compile every time.
    #[arg(long, env = "SWITCHBOARD_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
}

fn fail(msg: impl std::fmt::Display) -> StartError {
    StartError::Other(anyhow::anyhow!("{msg}"))
}

fn config(args: &TestArgs) -> Result<Vec<(String, String)>, StartError> {
    let file = args.config_file.clone().or_else(|| {
        let beside = args.fixtures.first()?.parent()?.join("config.toml");
        beside.exists().then_some(beside)
    });
    let mut cfg = BTreeMap::new();
    if let Some(file) = file {
        let text =
            std::fs::read_to_string(&file).map_err(|e| fail(format!("{}: {e}", file.display())))?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| fail(format!("{}: {e}", file.display())))?;
        for (k, v) in table {
            let v = match v {
                toml::Value::String(s) => s,
                other => other.to_string(),
            };
            cfg.insert(k, v);
        }
        eprintln!("config: {}", file.display());
    }
    for kv in &args.set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| fail(format!("--set {kv}: want KEY=VALUE")))?;
        cfg.insert(k.to_owned(), v.to_owned());
    }
    Ok(cfg.into_iter().collect())
}

pub fn run(args: &TestArgs) -> Result<(), StartError> {
    let runtime =
        Runtime::new(Limits::default(), args.cache_dir.clone()).map_err(anyhow::Error::from)?;
    let plugin = runtime.load(&args.wasm).map_err(fail)?;
    let ctx = wit::Context {
        config: config(args)?,
    };
    let mut results = Vec::new();
    let mut mismatches = Vec::new();
    for path in &args.fixtures {
        let result = one(&plugin, &ctx, &args.prefix, path);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let accepted = result["reply"]["status"].as_u64().is_some_and(|s| s < 300)
            && result["error"].is_null();
        let events = result["events"].as_array().map_or(0, Vec::len);
        let want_reject = name.starts_with("reject-");
        let needs_output = !want_reject && !name.starts_with("ack-");
        let no_output = events == 0 && result["actions"].as_array().is_none_or(Vec::is_empty);
        if want_reject == accepted || (needs_output && no_output) {
            mismatches.push(name.to_owned());
        }
        results.push(result);
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&Value::Array(results)).unwrap_or_default()
    );
    if args.check && !mismatches.is_empty() {
        return Err(fail(format!(
            "fixtures not matching the naming convention (reject-* refused, ack-* accepted, others accepted with events): {mismatches:?}"
        )));
    }
    Ok(())
}

fn one(plugin: &crate::plugin::Plugin, ctx: &wit::Context, prefix: &str, path: &Path) -> Value {
    let fixture = match Fixture::load(path) {
        Ok(f) => f,
        Err(e) => return json!({ "fixture": path, "error": format!("bad fixture: {e}") }),
    };
    let req = match request(plugin, &fixture, prefix) {
        Ok(r) => r,
        Err(e) => return json!({ "fixture": path, "error": e }),
    };
    let app_code = req
        .params
        .iter()
        .find(|(k, _)| k == "app_code")
        .map(|(_, v)| v.clone());
    let received_at = req.received_at;
    let route = req.route.clone();
    match plugin.handle(0, &req, ctx) {
        Err(e) => json!({ "fixture": path, "route": route, "error": format!("plugin {e}") }),
        Ok(Err(e)) => {
            let (status, kind, reason) = match e {
                wit::PluginError::BadRequest(r) => (400, "bad-request", r),
                wit::PluginError::Unauthorized(r) => (403, "unauthorized", r),
                wit::PluginError::Unsupported(r) => (422, "unsupported", r),
                wit::PluginError::Internal(r) => (500, "internal", r),
            };
            json!({ "fixture": path, "route": route, "reply": { "status": status }, "refused": { "kind": kind, "reason": reason }, "events": [] })
        }
        Ok(Ok(outcome)) => {
            let reply = outcome.reply.as_ref().map_or(json!({ "status": 200 }), |r| {
                json!({ "status": r.status, "headers": r.headers, "body": String::from_utf8_lossy(&r.body) })
            });
            let actions: Vec<Value> = outcome
                .actions
                .iter()
                .map(|a| match a {
                    wit::Action::ConfirmSubscription(c) => {
                        json!({ "confirm-subscription": { "topic": c.topic, "url": c.url } })
                    }
                })
                .collect();
            let events: Vec<Event> = outcome
                .events
                .into_iter()
                .map(|e| Event::from_plugin(plugin.name(), app_code.as_deref(), 0, received_at, e))
                .collect();
            json!({ "fixture": path, "route": route, "reply": reply, "events": events, "actions": actions })
        }
    }
}

/// The contract request for a fixture, as the router builds it.
/// The request a fixture makes for `plugin` (its route found among the
/// plugin's own), as the router would build it; also used by the bench.
pub fn request(
    plugin: &crate::plugin::Plugin,
    fx: &Fixture,
    prefix: &str,
) -> Result<wit::HttpRequest, String> {
    let method = match fx.method.as_str() {
        "GET" => wit::Method::Get,
        "POST" => wit::Method::Post,
        "PUT" => wit::Method::Put,
        "PATCH" => wit::Method::Patch,
        "DELETE" => wit::Method::Delete,
        m => return Err(format!("unsupported method {m}")),
    };
    let rel = fx
        .path()
        .strip_prefix(prefix)
        .filter(|r| r.starts_with('/'))
        .ok_or_else(|| format!("path `{}` is not under {prefix}", fx.path()))?;
    let (route, params) = plugin
        .endpoints
        .iter()
        .zip(&plugin.info.routes)
        .filter(|(_, r)| r.methods.contains(&method))
        .find_map(|(pat, _)| pat.matches(rel).map(|caps| (pat.as_str().to_owned(), caps)))
        .ok_or_else(|| format!("no route of `{}` serves {} {rel}", plugin.name(), fx.method))?;
    let host = fx.header("host").unwrap_or("hooks.example.com");
    Ok(wit::HttpRequest {
        method,
        url: format!("https://{host}{}", fx.target),
        path: rel.to_owned(),
        query: fx.query().to_owned(),
        headers: fx
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect(),
        body: fx.body.clone(),
        params,
        route,
        received_at: crate::time::now_ms(),
        remote_addr: "127.0.0.1".into(),
    })
}
