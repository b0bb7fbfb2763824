//! `switchboard webhooks ...`: the admin API's `/v1/webhooks` from the
//! command line. Webhooks live in the running router's store, so these
//! commands need the router up (unlike `deliveries`, which can read a
//! stopped router's store).

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::ops::{Conn, OpsTarget, fail, print_table, segment, text};
use crate::server::StartError;

#[derive(clap::Subcommand)]
pub enum WebhooksCommand {
    /// Create a webhook; prints its signing secret (shown only this once).
    Create {
        #[command(flatten)]
        fields: Fields,
        #[command(flatten)]
        target: OpsTarget,
    },
    /// Every webhook, and the config's routes (read-only).
    List {
        #[command(flatten)]
        target: OpsTarget,
    },
    /// One webhook with its delivery state.
    Show {
        id: String,
        #[command(flatten)]
        target: OpsTarget,
    },
    /// Change the fields given; `--pause` / `--resume` hold or release its deliveries.
    Update {
        id: String,
        #[command(flatten)]
        fields: Fields,
        /// Hold its deliveries (they wait, nothing is dropped).
        #[arg(long, conflicts_with = "resume")]
        pause: bool,
        #[arg(long)]
        resume: bool,
        #[command(flatten)]
        target: OpsTarget,
    },
    /// Delete a webhook; its pending deliveries are cancelled (dead-lettered).
    Delete {
        id: String,
        #[command(flatten)]
        target: OpsTarget,
    },
    /// A new signing secret; the old one keeps signing for `--grace`.
    RotateSecret {
        id: String,
        #[arg(long, default_value = "24h")]
        grace: String,
        #[command(flatten)]
        target: OpsTarget,
    },
    /// Send a sample event through the real delivery path.
    Test {
        id: String,
        #[arg(long, default_value = "SMS_STATUS")]
        event_type: String,
        #[command(flatten)]
        target: OpsTarget,
    },
}

/// A webhook's fields as flags; `--body` gives a whole JSON body (seed
/// 001's shape), which the flags then override.
#[derive(clap::Args)]
pub struct Fields {
    /// A JSON file with the body (`-` for standard input).
    #[arg(long)]
    body: Option<std::path::PathBuf>,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    url: Option<String>,
    /// SMS_STATUS, SMS_INBOUND, ..., LINK_HIT, OPT_OUT (repeat for several).
    #[arg(long = "event-type")]
    event_types: Vec<String>,
    /// `key=value[,value...]`: sender, status, message_ref, campaign_id,
    /// provider, app_code, channel, recipient (repeat for several keys).
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Requests per second, 0 = no limit of its own.
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Allow a plain-http URL (a trusted network).
    #[arg(long)]
    allow_http: bool,
    /// An address or CIDR the webhook may reach although private (repeat).
    #[arg(long = "allow-address")]
    allow_addresses: Vec<String>,
}

impl Fields {
    fn body(&self) -> Result<Map<String, Value>, StartError> {
        let mut body = match &self.body {
            None => Map::new(),
            Some(path) => {
                let text = if path.as_os_str() == "-" {
                    std::io::read_to_string(std::io::stdin()).map_err(fail)?
                } else {
                    std::fs::read_to_string(path)
                        .map_err(|e| fail(format!("{}: {e}", path.display())))?
                };
                match serde_json::from_str(&text) {
                    Ok(Value::Object(o)) => o,
                    Ok(_) => return Err(fail("--body: want a JSON object")),
                    Err(e) => return Err(fail(format!("--body: {e}"))),
                }
            }
        };
        let mut set = |k: &str, v: Value| {
            body.insert(k.to_owned(), v);
        };
        if let Some(n) = &self.name {
            set("name", n.clone().into());
        }
        if let Some(u) = &self.url {
            set("url", u.clone().into());
        }
        if !self.event_types.is_empty() {
            set("event_types", json!(self.event_types));
        }
        if let Some(r) = self.rate_limit {
            set("rate_limit", r.into());
        }
        if self.allow_http {
            set("allow_http", true.into());
        }
        if !self.allow_addresses.is_empty() {
            set("allow_addresses", json!(self.allow_addresses));
        }
        if !self.filter.is_empty() {
            let mut filter = Map::new();
            for f in &self.filter {
                let (k, v) = f
                    .split_once('=')
                    .ok_or_else(|| fail(format!("--filter `{f}`: want key=value[,value...]")))?;
                let values: Vec<&str> = v.split(',').map(str::trim).collect();
                filter.insert(k.trim().to_owned(), json!(values));
            }
            set("filter", filter.into());
        }
        Ok(body)
    }
}

pub async fn run(command: WebhooksCommand) -> Result<(), StartError> {
    use WebhooksCommand as C;
    let target = match &command {
        C::Create { target, .. }
        | C::List { target }
        | C::Show { target, .. }
        | C::Update { target, .. }
        | C::Delete { target, .. }
        | C::RotateSecret { target, .. }
        | C::Test { target, .. } => target,
    };
    let conn = target.connect().await?;
    if matches!(conn, Conn::Store(..)) {
        return Err(fail(
            "webhooks are managed through a running router's admin API, and none answers \
             (is it running? use --admin for another address)",
        ));
    }
    let path = |id: &str, tail: &str| format!("/v1/webhooks/{}{tail}", segment(id));
    let out = match &command {
        C::Create { fields, .. } => {
            let body = Value::Object(fields.body()?);
            conn.send(Method::POST, "/v1/webhooks", Some(&body)).await?
        }
        C::List { .. } => conn.call(Method::GET, "/v1/webhooks").await?,
        C::Show { id, .. } => conn.call(Method::GET, &path(id, "")).await?,
        C::Update {
            id,
            fields,
            pause,
            resume,
            ..
        } => {
            let mut body = fields.body()?;
            if *pause || *resume {
                body.insert("enabled".into(), (*resume).into());
            }
            let body = Value::Object(body);
            conn.send(Method::PATCH, &path(id, ""), Some(&body)).await?
        }
        C::Delete { id, .. } => conn.call(Method::DELETE, &path(id, "")).await?,
        C::RotateSecret { id, grace, .. } => {
            let body = json!({ "grace": grace });
            conn.send(Method::POST, &path(id, "/secret"), Some(&body))
                .await?
        }
        C::Test { id, event_type, .. } => {
            let body = json!({ "event_type": event_type });
            conn.send(Method::POST, &path(id, "/test"), Some(&body))
                .await?
        }
    };
    if target.json {
        println!("{}", serde_json::to_string_pretty(&out).map_err(fail)?);
        return Ok(());
    }
    match &command {
        C::List { .. } => list(&out),
        C::Delete { id, .. } => println!(
            "deleted {id}; {} pending deliveries cancelled (see `switchboard deliveries --destination {id}`)",
            text(&out["cancelled"])
        ),
        C::Test { id, .. } => println!(
            "sent {} to {id}: job {}, event {} (see `switchboard deliveries --delivered --destination {id}`)",
            text(&out["event_type"]),
            text(&out["job"]),
            text(&out["event_id"])
        ),
        _ => {
            show(&out);
            if let Some(secret) = out["secret"].as_str() {
                println!("\nsigning secret (shown only now): {secret}");
            }
        }
    }
    Ok(())
}

fn filter_text(f: &Value) -> String {
    let parts: Vec<String> = f
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", strings(v).join(",")))
        .collect();
    if parts.is_empty() {
        "(all)".into()
    } else {
        parts.join(" ")
    }
}

fn state(w: &Value) -> String {
    let s = &w["status"];
    match (w["enabled"].as_bool(), s["disabled"].as_str()) {
        (Some(false), _) => "paused".into(),
        (_, Some(why)) => format!("disabled ({why})"),
        _ => format!("enabled, breaker {}", text(&s["breaker"])),
    }
}

fn list(out: &Value) {
    let rows: Vec<Vec<String>> = out["webhooks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            vec![
                text(&w["id"]),
                text(&w["name"]),
                text(&w["url"]),
                strings(&w["event_types"]).join(","),
                filter_text(&w["filter"]),
                state(w),
                text(&w["status"]["backlog"]),
            ]
        })
        .collect();
    print_table(
        &[
            "ID",
            "NAME",
            "URL",
            "EVENT TYPES",
            "FILTER",
            "STATE",
            "BACKLOG",
        ],
        &rows,
    );
    let routes = out["config_routes"].as_array().map_or(0, Vec::len);
    if routes > 0 {
        println!("\n{routes} config route(s) beside them (read-only; `--json` shows them)");
    }
}

/// A JSON list's items as text.
fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().map(text).collect()
}

fn show(w: &Value) {
    let types = strings(&w["event_types"]);
    for (k, v) in [
        ("id", text(&w["id"])),
        ("name", text(&w["name"])),
        ("url", text(&w["url"])),
        ("event types", types.join(", ")),
        ("filter", filter_text(&w["filter"])),
        ("rate limit", text(&w["rate_limit"])),
        ("state", state(w)),
        ("backlog", text(&w["status"]["backlog"])),
    ] {
        println!("{k:<12} {v}");
    }
}
