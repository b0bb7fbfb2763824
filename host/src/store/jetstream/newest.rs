//! A bucket read newest write first: its stream walked backwards, one
//! message per round trip, so the most recent few of a large bucket cost
//! a few reads and no listing of its keys.

use std::collections::HashSet;

use async_nats::jetstream::{kv, stream};
use serde::de::DeserializeOwned;

use super::nats::{decode, io};
use crate::store::StoreResult;

/// Where a walk back through a bucket's stream stands.
#[derive(Default)]
pub(super) struct Backwards {
    /// The sequence to read next and the stream's first, once the walk
    /// has started (one `get_info` for the whole walk, not one per page).
    at: Option<(u64, u64)>,
    /// Keys already met: an older write of one is not its value.
    seen: HashSet<String>,
    /// The stream's first message was read.
    pub(super) done: bool,
}

/// Every value of a bucket that `keep` accepts, newest write first, at
/// most `limit`.
pub(super) async fn newest<T: DeserializeOwned>(
    bucket: &kv::Store,
    limit: usize,
    keep: impl Fn(&T) -> bool,
) -> StoreResult<Vec<T>> {
    let mut back = Backwards::default();
    let mut out = Vec::new();
    while out.len() < limit && !back.done {
        let page = newest_page(bucket, &mut back, limit - out.len()).await?;
        out.extend(page.into_iter().filter(|v| keep(v)));
    }
    out.truncate(limit);
    Ok(out)
}

/// The next `n` values of a bucket walking its stream backwards from
/// where `back` stopped (the newest write first). Overwritten and deleted
/// keys are skipped.
pub(super) async fn newest_page<T: DeserializeOwned>(
    bucket: &kv::Store,
    back: &mut Backwards,
    n: usize,
) -> StoreResult<Vec<T>> {
    let (mut seq, first) = match back.at {
        Some(at) => at,
        None => {
            let state = bucket.stream.get_info().await.map_err(io)?.state;
            (state.last_sequence, state.first_sequence.max(1))
        }
    };
    let mut out = Vec::new();
    while seq >= first && out.len() < n {
        match bucket.stream.get_raw_message(seq).await {
            Ok(m) => {
                let key = m.subject.rsplit('.').next().unwrap_or_default().to_owned();
                let deleted = m
                    .headers
                    .get("KV-Operation")
                    .is_some_and(|op| op.as_str() != "PUT");
                if back.seen.insert(key.clone()) && !deleted {
                    out.push(decode(&key, &m.payload)?);
                }
            }
            Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => {}
            Err(e) => return Err(io(e)),
        }
        seq -= 1;
    }
    back.at = Some((seq, first));
    back.done = seq < first;
    Ok(out)
}
