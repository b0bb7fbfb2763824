//! The JetStream side of the store: the connection, its streams and
//! buckets, and the async operations the [`super::JetStreamStore`] runs.

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use async_nats::{HeaderMap, ServerAddr};
use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::feed;
use crate::config::JetStreamConfig;
use crate::store::{Batch, Cause, Job, StoreError, StoreResult};

/// Ids are leased from the `meta` bucket in blocks, so instances never
/// hand out the same one and a restart never repeats one.
pub(super) const ID_BLOCK: u64 = 1024;
/// How long JetStream remembers a job's message id, so a job published
/// twice (two instances took the same resent callback at once) is queued
/// once.
const DEDUP_WINDOW: Duration = Duration::from_secs(120);

/// The connection and every stream and bucket.
pub(super) struct Nats {
    pub(super) js: jetstream::Context,
    pub(super) config: JetStreamConfig,
    pub(super) jobs: stream::Stream,
    pub(super) captures: kv::Store,
    pub(super) events: kv::Store,
    pub(super) states: kv::Store,
    pub(super) retries: kv::Store,
    pub(super) dead: kv::Store,
    pub(super) delivered: kv::Store,
    pub(super) meta: kv::Store,
    pub(super) instances: kv::Store,
    pub(super) webhooks: kv::Store,
}

impl Nats {
    pub(super) async fn connect(config: JetStreamConfig, retention: Duration) -> StoreResult<Self> {
        let addrs: Vec<ServerAddr> = config
            .servers
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()
            .map_err(io)?;
        let client = async_nats::ConnectOptions::new()
            .name("switchboard")
            .connection_timeout(Duration::from_secs(5))
            .connect(addrs)
            .await
            .map_err(|e| {
                StoreError::jetstream(
                    format!("cannot reach NATS at {}", config.servers.join(", ")),
                    e,
                )
            })?;
        let js = jetstream::new(client);
        let p = &config.prefix;
        let jobs = js
            .get_or_create_stream(stream::Config {
                name: format!("{p}-jobs"),
                subjects: vec![format!("{p}.jobs.>")],
                retention: stream::RetentionPolicy::WorkQueue,
                duplicate_window: DEDUP_WINDOW,
                num_replicas: config.replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| StoreError::jetstream(format!("stream {p}-jobs"), e))?;
        let bucket = |name: &str, max_age: Duration| kv::Config {
            bucket: format!("{p}-{name}"),
            history: 1,
            max_age,
            num_replicas: config.replicas,
            ..Default::default()
        };
        let forever = Duration::ZERO;
        Ok(Self {
            captures: open_bucket(&js, bucket("captures", retention)).await?,
            events: open_bucket(&js, bucket("events", retention)).await?,
            delivered: open_bucket(&js, bucket("delivered", retention)).await?,
            states: open_bucket(&js, bucket("states", retention)).await?,
            retries: open_bucket(&js, bucket("retries", forever)).await?,
            dead: open_bucket(&js, bucket("dead", forever)).await?,
            meta: open_bucket(&js, bucket("meta", forever)).await?,
            instances: open_bucket(&js, bucket("instances", feed::INSTANCE_TTL)).await?,
            webhooks: open_bucket(&js, bucket("webhooks", forever)).await?,
            js,
            jobs,
            config,
        })
    }

    pub(super) fn job_subject(&self, destination: &str, lane: &str) -> String {
        format!(
            "{}.jobs.{destination}.{}",
            self.config.prefix,
            shard(lane, self.config.shards)
        )
    }

    /// Publishes a job; `msg_id` lets JetStream drop a second copy.
    pub(super) async fn publish_job(&self, job: &Job, msg_id: String) -> StoreResult<()> {
        let mut headers = HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, msg_id.as_str());
        self.js
            .publish_with_headers(
                self.job_subject(&job.destination, &job.lane),
                headers,
                encode(job)?,
            )
            .await
            .map_err(io)?
            .await
            .map_err(io)?;
        Ok(())
    }

    /// Two round trips: first the jobs (a job that survives is delivered;
    /// a resend publishes it again under the same message id, which
    /// JetStream drops) and the capture (a record of the request only);
    /// then the message states and events, which make a resend look stale
    /// or duplicate and so must never exist without their jobs. Any partial
    /// write is safe, as in the sled store.
    pub(super) async fn commit(&self, batch: &Batch) -> StoreResult<()> {
        use futures::future::{try_join, try_join_all};
        let jobs = batch
            .jobs
            .iter()
            .map(|j| self.publish_job(j, format!("{}.{}", j.event_id, j.destination)));
        let captures = batch
            .captures
            .iter()
            .map(|c| put(&self.captures, id_key(c.id), c));
        try_join(try_join_all(jobs), try_join_all(captures)).await?;
        let states = batch
            .states
            .iter()
            .map(|((provider, message), s)| put(&self.states, state_key(provider, message), s));
        let events = batch
            .events
            .iter()
            .map(|e| put(&self.events, e.event.id.clone(), e));
        try_join(try_join_all(states), try_join_all(events)).await?;
        Ok(())
    }

    /// Leases the next block of ids: compare-and-set on `meta/ids`.
    pub(super) async fn lease_ids(&self) -> StoreResult<u64> {
        loop {
            let entry = self.meta.entry("ids").await.map_err(io)?;
            let (last, revision) = match &entry {
                Some(e) => (
                    std::str::from_utf8(&e.value)
                        .ok()
                        .and_then(|v| v.parse::<u64>().ok())
                        .ok_or_else(|| StoreError::Corrupt {
                            key: "meta/ids".into(),
                            reason: "not a number".into(),
                        })?,
                    Some(e.revision),
                ),
                None => (0, None),
            };
            let next = Bytes::from((last + ID_BLOCK).to_string());
            let won = match revision {
                Some(r) => self.meta.update("ids", next, r).await.is_ok(),
                None => self.meta.create("ids", next).await.is_ok(),
            };
            if won {
                return Ok(last + 1);
            }
        }
    }

    pub(super) async fn keys(&self, bucket: &kv::Store) -> StoreResult<Vec<String>> {
        Ok(bucket
            .keys()
            .await
            .map_err(io)?
            .filter_map(|k| async move { k.ok() })
            .collect()
            .await)
    }

    /// Bytes JetStream holds for the store: its stream and buckets.
    pub(super) async fn bytes(&self) -> StoreResult<u64> {
        let mut total = self.jobs.get_info().await.map_err(io)?.state.bytes;
        for b in [
            &self.captures,
            &self.events,
            &self.states,
            &self.retries,
            &self.dead,
            &self.delivered,
            &self.meta,
            &self.webhooks,
        ] {
            total += b.stream.get_info().await.map_err(io)?.state.bytes;
        }
        Ok(total)
    }

    pub(super) async fn all<T: DeserializeOwned>(
        &self,
        bucket: &kv::Store,
    ) -> StoreResult<Vec<(String, T)>> {
        let keys = self.keys(bucket).await?;
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some(v) = get(bucket, &k).await? {
                out.push((k, v));
            }
        }
        Ok(out)
    }
}

/// Opens a key-value bucket, creating its stream first if needed. The
/// stream is made here, as `create_key_value` would make it, because that
/// call first reads the account info, whose shape changed after the NATS
/// 2.9 that Debian ships. A bucket made under another `store.retention`
/// takes the configured one: JetStream keeps a stream's config as it was
/// created unless told.
async fn open_bucket(js: &jetstream::Context, config: kv::Config) -> StoreResult<kv::Store> {
    let name = config.bucket.clone();
    let stream = js
        .get_or_create_stream(stream::Config {
            name: format!("KV_{name}"),
            subjects: vec![format!("$KV.{name}.>")],
            max_messages_per_subject: config.history,
            max_age: config.max_age,
            num_replicas: config.num_replicas,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: stream::DiscardPolicy::New,
            ..Default::default()
        })
        .await
        .map_err(|e| StoreError::jetstream(format!("bucket {name}"), e))?;
    let existing = &stream.cached_info().config;
    if existing.max_age != config.max_age {
        let mut updated = existing.clone();
        updated.max_age = config.max_age;
        js.update_stream(&updated)
            .await
            .map_err(|e| StoreError::jetstream(format!("bucket {name}: max age"), e))?;
        tracing::info!(bucket = %name, from = ?existing.max_age, to = ?config.max_age, "bucket max age updated to the configured retention");
    }
    js.get_key_value(&name)
        .await
        .map_err(|e| StoreError::jetstream(format!("bucket {name}"), e))
}

pub(super) async fn put<T: Serialize>(
    bucket: &kv::Store,
    key: String,
    value: &T,
) -> StoreResult<()> {
    bucket
        .put(key, encode(value)?)
        .await
        .map(|_| ())
        .map_err(io)
}

pub(super) async fn get<T: DeserializeOwned>(
    bucket: &kv::Store,
    key: &str,
) -> StoreResult<Option<T>> {
    match bucket.get(key).await.map_err(io)? {
        Some(v) => decode(key, &v).map(Some),
        None => Ok(None),
    }
}

pub(super) fn io(e: impl Into<Cause>) -> StoreError {
    StoreError::jetstream("jetstream", e)
}

pub(super) fn encode<T: Serialize>(v: &T) -> StoreResult<Bytes> {
    serde_json::to_vec(v)
        .map(Bytes::from)
        .map_err(|e| StoreError::encode("encode", e))
}

pub(super) fn decode<T: DeserializeOwned>(key: &str, v: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(v).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

/// Zero-padded, so the keys sort like the ids.
pub(super) fn id_key(id: u64) -> String {
    format!("{id:020}")
}

/// Provider and message id may hold any character; keys may not.
pub(super) fn state_key(provider: &str, message: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{provider}\0{message}"))
}

/// The shard of a lane: FNV-1a, stable across instances and versions.
pub(super) fn shard(lane: &str, shards: u32) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in lane.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % shards.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread() {
        // Fixed values: instances of different versions must agree.
        assert_eq!(shard("twilio:SM1", 16), shard("twilio:SM1", 16));
        assert_eq!(shard("", 16), 0x811c_9dc5 % 16);
        let mut counts = [0u32; 8];
        for i in 0..8000 {
            counts[shard(&format!("twilio:SM{i}"), 8) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (700..1300).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(shard("x", 1), 0);
    }

    #[test]
    fn keys_are_valid_kv_keys() {
        let k = state_key("twilio", "SM 1/ü:x*>");
        assert!(
            k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(id_key(42), "00000000000000000042");
    }
}
