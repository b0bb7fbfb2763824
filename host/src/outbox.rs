//! Stage 6a: the outbox. Each (event, destination) pair a route produces
//! becomes a durable delivery job, written in the same batch as the event,
//! so a crash can lose neither without the other.

pub mod transform;

use crate::event::Event;
use crate::rules::Target;
use crate::store::{Job, StoreError, StoreResult};
use transform::Transform;

/// Builds the jobs for one routed event. Each payload is rendered once here
/// (through its route's transform) and stored with the job, so every retry
/// sends the same bytes.
pub fn jobs_for(
    event: &Event,
    targets: &[Target],
    now_ms: i64,
    next_id: &mut dyn FnMut() -> StoreResult<u64>,
) -> StoreResult<Vec<Job>> {
    let render_err = |e: serde_json::Error| StoreError::Io(format!("render event: {e}"));
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
                    serde_json::to_string(&other.apply(value)).map_err(render_err)?
                }
            };
            Ok(Job {
                id: next_id()?,
                destination: t.destination.clone(),
                event_id: event.id.clone(),
                lane: lane(event),
                payload: payload.into(),
                created_at: now_ms,
                due_at: now_ms,
                attempts: Vec::new(),
                retries: 0,
            })
        })
        .collect()
}

/// Deliveries for one message go out in order; everything else is free to
/// overtake.
pub fn lane(event: &Event) -> String {
    match event.message_id() {
        Some(m) => format!("{}:{m}", event.provider),
        None => event.id.clone(),
    }
}
