//! `[store]`: which engine keeps the durable state. sled (embedded, the
//! default) or NATS JetStream (shared by several router instances).

use std::time::Duration;

use super::{Problems, defaults, duration, raw};

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

/// Resolves `[store]`: `Some(None)` for sled, the JetStream settings
/// otherwise; `None` when it has a problem (each reported).
pub(super) fn resolve(p: &Problems, s: &raw::Store) -> Option<Option<JetStreamConfig>> {
    match s.kind.as_deref().unwrap_or(defaults::STORE_KIND) {
        "sled" => {
            let only_jetstream = [
                ("store.servers", s.servers.is_some()),
                ("store.prefix", s.prefix.is_some()),
                ("store.replicas", s.replicas.is_some()),
                ("store.shards", s.shards.is_some()),
                ("store.lease", s.lease.is_some()),
            ];
            let mut ok = true;
            for (key, _) in only_jetstream.iter().filter(|(_, set)| *set) {
                p.report(key, "only applies with store.kind = \"jetstream\"");
                ok = false;
            }
            ok.then_some(None)
        }
        "jetstream" => jetstream(p, s).map(Some),
        other => {
            p.report(
                "store.kind",
                format!("`{other}`: want \"sled\" or \"jetstream\""),
            );
            None
        }
    }
}

fn jetstream(p: &Problems, s: &raw::Store) -> Option<JetStreamConfig> {
    let servers = s.servers.clone().unwrap_or_else(|| {
        defaults::NATS_SERVERS
            .iter()
            .map(|url| (*url).to_owned())
            .collect()
    });
    let mut ok = !servers.is_empty();
    if !ok {
        p.report("store.servers", "names no server");
    }
    for url in servers
        .iter()
        .filter(|url| url.parse::<async_nats::ServerAddr>().is_err())
    {
        p.report(
            "store.servers",
            format!("`{url}` is not a NATS URL (want e.g. \"nats://10.0.0.5:4222\")"),
        );
        ok = false;
    }
    let prefix = s
        .prefix
        .clone()
        .unwrap_or_else(|| defaults::NATS_PREFIX.into());
    if !is_token(&prefix) {
        p.report(
            "store.prefix",
            format!("`{prefix}`: use letters, digits, `-` and `_` only"),
        );
        ok = false;
    }
    let replicas = s.replicas.unwrap_or(defaults::NATS_REPLICAS);
    if !(1..=5).contains(&replicas) {
        p.report(
            "store.replicas",
            format!("{replicas}: JetStream allows 1 to 5"),
        );
        ok = false;
    }
    let shards = s.shards.unwrap_or(defaults::NATS_SHARDS);
    if !(1..=1024).contains(&shards) {
        p.report("store.shards", format!("{shards}: want 1 to 1024"));
        ok = false;
    }
    let lease = duration(p, "store.lease", s.lease.as_deref(), defaults::NATS_LEASE);
    if lease.is_some_and(|l| l < Duration::from_secs(1)) {
        p.report("store.lease", "want at least 1s");
        ok = false;
    }
    if !ok {
        return None;
    }
    Some(JetStreamConfig {
        servers,
        prefix,
        replicas,
        shards,
        lease: lease?,
    })
}

/// `store.retention`: how long captures and delivered records are kept.
pub(super) fn retention(p: &Problems, s: &raw::Store) -> Option<Duration> {
    let retention = duration(
        p,
        "store.retention",
        s.retention.as_deref(),
        defaults::RETENTION,
    )?;
    if retention < Duration::from_secs(1) {
        p.report("store.retention", "want at least 1s");
        return None;
    }
    Some(retention)
}

/// A name that can be one NATS subject token and part of a stream name.
pub fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
