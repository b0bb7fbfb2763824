//! Stage 6: the outbox. Each (event, destination) pair a route produces
//! becomes a durable delivery job, written in the same batch as the event,
//! so a crash can lose neither without the other.

pub mod transform;

use std::sync::Arc;

use crate::config::Transform;
use crate::event::Event;
use crate::store::{Job, StoreError, StoreResult};

/// Where a routed event goes: one destination, shaped by the transform of
/// the route that sent it there (what `rules` hands the outbox).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub destination: String,
    pub transform: Arc<Transform>,
}

/// Builds the jobs for one routed event. Each payload is rendered once here
/// (through its route's transform) and stored with the job, so every retry
/// sends the same bytes.
pub fn jobs_for(
    event: &Event,
    targets: &[Target],
    now_ms: i64,
    next_id: &mut dyn FnMut() -> StoreResult<u64>,
) -> StoreResult<Vec<Job>> {
    let render_err = |e: serde_json::Error| StoreError::encode("render event", e);
    let mut envelope_text = None;
    let mut envelope_value = None;
    targets
        .iter()
        .map(|t| {
            let payload = match t.transform.as_ref() {
                Transform::Envelope => match &envelope_text {
                    Some(p) => String::clone(p),
                    None => envelope_text
                        .insert(serde_json::to_string(event).map_err(render_err)?)
                        .clone(),
                },
                other => {
                    let value = match &envelope_value {
                        Some(v) => v,
                        None => {
                            envelope_value.insert(serde_json::to_value(event).map_err(render_err)?)
                        }
                    };
                    serde_json::to_string(&transform::apply(other, value)).map_err(render_err)?
                }
            };
            Ok(Job {
                id: next_id()?,
                destination: t.destination.clone(),
                event_id: event.id.clone(),
                lane: event.lane(),
                payload: payload.into(),
                created_at: now_ms,
                due_at: now_ms,
                attempts: Vec::new(),
                retries: 0,
            })
        })
        .collect()
}
