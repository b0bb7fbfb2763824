//! Stage 6a: the outbox. Each (event, destination) pair a route produces
//! becomes a durable delivery job, written in the same batch as the event,
//! so a crash can lose neither without the other.

use crate::event::Event;
use crate::store::{Job, StoreResult};

/// Builds the jobs for one routed event. The payload is rendered once here
/// and stored with the job, so every retry sends the same bytes.
pub fn jobs_for(
    event: &Event,
    destinations: &[String],
    now_ms: i64,
    next_id: &mut dyn FnMut() -> StoreResult<u64>,
) -> StoreResult<Vec<Job>> {
    let payload = serde_json::to_string(event)
        .map_err(|e| crate::store::StoreError::Io(format!("render event: {e}")))?;
    destinations
        .iter()
        .map(|d| {
            Ok(Job {
                id: next_id()?,
                destination: d.clone(),
                event_id: event.id.clone(),
                lane: lane(event),
                payload: payload.clone(),
                created_at: now_ms,
                due_at: now_ms,
                attempts: Vec::new(),
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
