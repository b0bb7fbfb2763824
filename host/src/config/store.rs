//! `[store]`: which engine keeps the durable state. sled (embedded, the
//! default) or NATS JetStream (shared by several router instances).

use std::time::Duration;

use super::{ConfigError, duration, raw};

/// Settings of the JetStream store (`[store] kind = "jetstream"`).
#[derive(Debug, Clone, PartialEq)]
pub struct JetStreamConfig {
    /// NATS server URLs (any one of a cluster is enough to connect).
    pub servers: Vec<String>,
    /// Names every stream and bucket (`<prefix>-jobs`, `<prefix>-events`,
    /// ...) so several deployments can share one NATS account.
    pub prefix: String,
    /// JetStream replicas per stream (1 on a single server; 3 in a cluster).
    pub replicas: usize,
    /// Delivery queues per destination: jobs of one message id always go
    /// to the same shard (so they stay in order); different shards are
    /// delivered side by side by whichever instances hold them.
    pub shards: u32,
    /// How long a crashed instance keeps a shard before another takes it
    /// over (the consumers' ack wait; live instances renew it).
    pub lease: Duration,
}

/// Resolves `[store]`: `None` for sled, the JetStream settings otherwise.
pub(super) fn resolve(
    err: &impl Fn(&str, String) -> ConfigError,
    s: &raw::Store,
) -> Result<Option<JetStreamConfig>, ConfigError> {
    match s.kind.as_deref().unwrap_or("sled") {
        "sled" => {
            let only_jetstream = [
                ("store.servers", s.servers.is_some()),
                ("store.prefix", s.prefix.is_some()),
                ("store.replicas", s.replicas.is_some()),
                ("store.shards", s.shards.is_some()),
                ("store.lease", s.lease.is_some()),
            ];
            if let Some((key, _)) = only_jetstream.iter().find(|(_, set)| *set) {
                return Err(err(
                    key,
                    "only applies with store.kind = \"jetstream\"".into(),
                ));
            }
            Ok(None)
        }
        "jetstream" => {
            let servers = s
                .servers
                .clone()
                .unwrap_or_else(|| vec!["nats://127.0.0.1:4222".into()]);
            if servers.is_empty() {
                return Err(err("store.servers", "names no server".into()));
            }
            for url in &servers {
                if url.parse::<async_nats::ServerAddr>().is_err() {
                    return Err(err(
                        "store.servers",
                        format!("`{url}` is not a NATS URL (want e.g. \"nats://10.0.0.5:4222\")"),
                    ));
                }
            }
            let prefix = s.prefix.clone().unwrap_or_else(|| "switchboard".into());
            if !is_token(&prefix) {
                return Err(err(
                    "store.prefix",
                    format!("`{prefix}`: use letters, digits, `-` and `_` only"),
                ));
            }
            let replicas = s.replicas.unwrap_or(1);
            if !(1..=5).contains(&replicas) {
                return Err(err(
                    "store.replicas",
                    format!("{replicas}: JetStream allows 1 to 5"),
                ));
            }
            let shards = s.shards.unwrap_or(16);
            if !(1..=1024).contains(&shards) {
                return Err(err("store.shards", format!("{shards}: want 1 to 1024")));
            }
            let lease = duration(err, "store.lease", s.lease.as_deref(), "30s")?;
            if lease < Duration::from_secs(1) {
                return Err(err("store.lease", "want at least 1s".into()));
            }
            Ok(Some(JetStreamConfig {
                servers,
                prefix,
                replicas,
                shards,
                lease,
            }))
        }
        other => Err(err(
            "store.kind",
            format!("`{other}`: want \"sled\" or \"jetstream\""),
        )),
    }
}

/// A name that can be one NATS subject token and part of a stream name.
pub fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
