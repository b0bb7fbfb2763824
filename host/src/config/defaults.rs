//! Every default the config falls back to, named in one place:
//! `Config::load` reads them, `switchboard check --print-defaults` prints
//! them (`print`, from these same constants), and the README's
//! Configuration table quotes them.

use std::time::Duration;

const MIN: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

// --- [server]

/// `server.listen`: loopback, so a fresh install is not reachable from
/// outside until the operator says so.
pub const SERVER_LISTEN: &str = "127.0.0.1:8080";
/// `server.route_prefix`: in front of every plugin route.
pub const ROUTE_PREFIX: &str = "/api/v1";
/// `server.max_body_bytes`: larger bodies get `413`.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// `server.header_timeout`: a client slower to send its headers is cut off.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// `server.body_timeout`: a client slower to send its body is cut off.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// `server.max_connections`: concurrent connections.
pub const MAX_CONNECTIONS: usize = 10_000;
/// `server.quarantine_reply`: the plugin's 2xx, so providers do not retry
/// what is already kept for replay.
pub const QUARANTINE_REPLY: &str = "accept";

// --- [store]

/// `store.kind`: sled, embedded, nothing else to run.
pub const STORE_KIND: &str = "sled";
/// `store.data_dir`, relative to the config file.
pub const DATA_DIR: &str = "data";
/// `store.retention`: captures, events and delivered records older than
/// this are deleted.
pub const RETENTION: Duration = Duration::from_secs(7 * DAY);
/// `store.servers` (JetStream only): a NATS server on this machine.
pub const NATS_SERVERS: &[&str] = &["nats://127.0.0.1:4222"];
/// `store.prefix` (JetStream only): names every stream and bucket.
pub const NATS_PREFIX: &str = "switchboard";
/// `store.replicas` (JetStream only): one, for a single server.
pub const NATS_REPLICAS: usize = 1;
/// `store.shards` (JetStream only): delivery queues per destination.
pub const NATS_SHARDS: u32 = 16;
/// `store.lease` (JetStream only): how long a crashed instance keeps a
/// shard before another takes it over.
pub const NATS_LEASE: Duration = Duration::from_secs(30);

// --- [runtime]

/// `runtime.plugin_dir`, relative to the config file: where `./dev`
/// builds the plugins.
pub const PLUGIN_DIR: &str = "dist/plugins";
/// `runtime.cache_dir`: this folder inside `store.data_dir`.
pub const CACHE_DIR_NAME: &str = "plugin-cache";
/// `runtime.max_memory_mb`: linear memory cap per plugin instance.
pub const PLUGIN_MEMORY_BYTES: usize = 32 << 20;
pub const PLUGIN_STACK_BYTES: usize = 512 << 10;
/// `runtime.timeout`: wall-clock budget per plugin call.
pub const PLUGIN_TIMEOUT: Duration = Duration::from_millis(200);
/// `runtime.max_events`: most events one call may return.
pub const PLUGIN_MAX_EVENTS: usize = 1000;
pub const PLUGIN_MAX_OUTPUT_BYTES: usize = 4 << 20;
pub const PLUGIN_MAX_LOG_BYTES: usize = 64 << 10;
pub const PLUGIN_POOL_INSTANCES: u32 = 16;
/// `runtime.max_concurrent_calls`: plugin calls in flight.
pub const MAX_CONCURRENT_CALLS: usize = 32;

// --- [admin]

/// `admin.listen`: loopback, where no token is required.
pub const ADMIN_LISTEN: &str = "127.0.0.1:8081";

// --- [plugins.NAME]

/// `protect.token_param`: the query parameter carrying the token.
pub const TOKEN_PARAM: &str = "token";
/// `actions.confirm_subscriptions`: SNS-style subscriptions are confirmed
/// (otherwise the provider never sends anything).
pub const CONFIRM_SUBSCRIPTIONS: bool = true;

// --- [destinations.NAME] (kind = "http")

/// `timeout`: per request, connect included.
pub const DESTINATION_TIMEOUT: Duration = Duration::from_secs(10);
/// `concurrency`: attempts in flight at once.
pub const DESTINATION_CONCURRENCY: usize = 16;
/// `breaker_threshold`: consecutive failed attempts that open the breaker.
pub const BREAKER_THRESHOLD: u32 = 5;
/// `breaker_cooldown`: wait before the first probe.
pub const BREAKER_COOLDOWN: Duration = Duration::from_secs(30);

/// `retry_schedule`: delay before each attempt, in the spirit of Svix:
/// immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (about 28 hours
/// in all), then the job is dead-lettered.
pub const RETRY_SCHEDULE: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * MIN),
    Duration::from_secs(30 * MIN),
    Duration::from_secs(2 * HOUR),
    Duration::from_secs(5 * HOUR),
    Duration::from_secs(10 * HOUR),
    Duration::from_secs(10 * HOUR),
];

/// Every default above as a commented TOML document (`switchboard check
/// --print-defaults`). It is itself a valid config, equal to an empty file
/// (a test loads both): keys that apply only with another choice (a
/// JetStream store, a plugin, a destination) are commented out.
pub fn print() -> String {
    let dur = |d: Duration| format!("\"{}\"", humantime::format_duration(d));
    let list = |items: Vec<String>| format!("[{}]", items.join(", "));
    let header_timeout = dur(HEADER_TIMEOUT);
    let body_timeout = dur(BODY_TIMEOUT);
    let retention = dur(RETENTION);
    let servers = list(NATS_SERVERS.iter().map(|s| format!("\"{s}\"")).collect());
    let lease = dur(NATS_LEASE);
    let timeout = dur(PLUGIN_TIMEOUT);
    let max_memory_mb = PLUGIN_MEMORY_BYTES >> 20;
    let destination_timeout = dur(DESTINATION_TIMEOUT);
    let schedule = list(RETRY_SCHEDULE.iter().map(|d| dur(*d)).collect());
    let cooldown = dur(BREAKER_COOLDOWN);
    format!(
        r#"# Switchboard's config defaults: what each key is when the file leaves
# it out. Relative paths are relative to the config file.

[server]
listen = "{SERVER_LISTEN}"  # where callbacks arrive (`--listen` overrides)
route_prefix = "{ROUTE_PREFIX}"  # in front of every plugin route
max_body_bytes = {MAX_BODY_BYTES}  # larger bodies get 413
header_timeout = {header_timeout}  # slower clients are cut off
body_timeout = {body_timeout}
max_connections = {MAX_CONNECTIONS}
quarantine_reply = "{QUARANTINE_REPLY}"  # when a plugin fails: "accept" (its 2xx) or "retry" (503)

[store]
kind = "{STORE_KIND}"  # or "jetstream"
data_dir = "{DATA_DIR}"  # `--data-dir` overrides
retention = {retention}  # older captures, events and delivered records are deleted
# With kind = "jetstream" only:
# servers = {servers}
# prefix = "{NATS_PREFIX}"
# replicas = {NATS_REPLICAS}
# shards = {NATS_SHARDS}
# lease = {lease}

[runtime]
plugin_dir = "{PLUGIN_DIR}"  # every *.wasm here is loaded
# cache_dir = "<data_dir>/{CACHE_DIR_NAME}"  # compiled plugins
timeout = {timeout}  # wall-clock budget per plugin call
max_memory_mb = {max_memory_mb}  # per plugin instance
max_events = {PLUGIN_MAX_EVENTS}  # per callback
max_concurrent_calls = {MAX_CONCURRENT_CALLS}

[admin]
listen = "{ADMIN_LISTEN}"  # "off" disables it; beyond loopback, `token` is required

# [plugins.<name>.protect]  # for providers that do not sign
# token_param = "{TOKEN_PARAM}"
# [plugins.<name>.actions]
# confirm_subscriptions = {CONFIRM_SUBSCRIPTIONS}

# [destinations.<name>]  # kind = "http"
# timeout = {destination_timeout}  # per request
# concurrency = {DESTINATION_CONCURRENCY}  # attempts in flight
# retry_schedule = {schedule}  # delay before each attempt
# breaker_threshold = {BREAKER_THRESHOLD}  # consecutive failures that pause it
# breaker_cooldown = {cooldown}  # before the first probe
"#
    )
}
