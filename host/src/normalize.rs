//! Stage 4: normalize. Events arrive stamped with stable ids; here each is
//! checked against what the store already knows: an exact duplicate is
//! counted and not forwarded again, and a delivery state older than the one
//! the message already reached (a late `sent` after `delivered`) is kept as
//! stale and not forwarded, so a final state never regresses.

use std::collections::HashMap;

use crate::event::{Event, State};
use crate::store::{Disposition, MessageState, Seen, Store, StoreResult, StoredEvent};

/// What normalize decided for one event.
#[derive(Debug)]
pub enum Verdict {
    /// New and current: route it.
    Fresh(Event),
    /// New but older than the message's state: keep, do not forward.
    Stale(Event),
    /// Seen before: the stored record with its duplicate count bumped.
    Duplicate(StoredEvent),
}

/// Order of non-final states; all final states share one rank above them,
/// except `read`, which implies `delivered`.
fn rank(s: State) -> u8 {
    match s {
        State::Unknown => 0,
        State::Accepted => 1,
        State::Queued => 2,
        State::Sent => 3,
        State::Delivered | State::Undelivered | State::Failed | State::Expired => 10,
        State::Read => 11,
    }
}

/// Whether a new state moves a message forward from `prev`.
///
/// A final state never goes back to a non-final one. Between final states a
/// change is news (a soft bounce later delivered), except `delivered` after
/// `read`. Non-final states only move forward; `unknown` cannot be ordered,
/// so it is forwarded unless the message is already final.
pub fn advances(prev: Option<State>, new: State) -> bool {
    let Some(prev) = prev else { return true };
    match (prev.is_final(), new.is_final()) {
        (true, false) => false,
        (true, true) => new != prev && rank(new) >= rank(prev),
        (false, true) => true,
        (false, false) => new == State::Unknown || rank(new) > rank(prev),
    }
}

/// Classifies a callback's events. `states` collects the message states to
/// write; events of the same callback see each other's states.
pub fn classify(
    store: &dyn Store,
    events: Vec<Event>,
    states: &mut HashMap<(String, String), MessageState>,
) -> StoreResult<Vec<Verdict>> {
    let mut out = Vec::with_capacity(events.len());
    let mut seen_here: HashMap<String, usize> = HashMap::new();
    for event in events {
        if let Some(&i) = seen_here.get(&event.id) {
            // The same event twice in one callback: count it once more.
            if let Verdict::Duplicate(prior) = &mut out[i] {
                prior.duplicates += 1;
            }
            continue;
        }
        seen_here.insert(event.id.clone(), out.len());
        let stored = match store.seen(&event)? {
            Seen::Before(mut prior) => {
                prior.duplicates += 1;
                out.push(Verdict::Duplicate(*prior));
                continue;
            }
            Seen::New(state) => state,
        };
        let (Some(state), Some(message)) = (event.state(), event.message_id()) else {
            out.push(Verdict::Fresh(event));
            continue;
        };
        let key = (event.provider.clone(), message.to_owned());
        // This callback's earlier events come first.
        let prev = states.get(&key).or(stored.as_ref()).map(|s| s.state);
        if advances(prev, state) {
            if state != State::Unknown {
                let at = crate::time::now_ms();
                states.insert(key, MessageState { state, at });
            }
            out.push(Verdict::Fresh(event));
        } else {
            out.push(Verdict::Stale(event));
        }
    }
    Ok(out)
}

impl Verdict {
    /// The record to store for a verdict that is not routed.
    pub fn stale_record(event: Event) -> StoredEvent {
        StoredEvent {
            event,
            disposition: Disposition::Stale,
            routes: Vec::new(),
            duplicates: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::*;

    #[test]
    fn state_transition_table() {
        // (previous, new, forwarded?)
        let table = [
            (None, Sent, true),
            (None, Unknown, true),
            (Some(Accepted), Queued, true),
            (Some(Queued), Sent, true),
            (Some(Sent), Queued, false),
            (Some(Sent), Sent, false),
            (Some(Sent), Delivered, true),
            (Some(Queued), Failed, true),
            (Some(Sent), Unknown, true),
            (Some(Delivered), Sent, false), // Kudosity's late duplicate `sent`
            (Some(Delivered), Accepted, false),
            (Some(Delivered), Unknown, false),
            (Some(Failed), Queued, false),
            (Some(Delivered), Delivered, false),
            (Some(Delivered), Read, true),
            (Some(Read), Delivered, false),
            (Some(Undelivered), Delivered, true), // soft bounce, then delivered
            (Some(Delivered), Undelivered, true),
            (Some(Expired), Failed, true),
        ];
        for (prev, new, want) in table {
            assert_eq!(advances(prev, new), want, "{prev:?} -> {new:?}");
        }
    }

    #[test]
    fn every_final_state_refuses_every_non_final_one() {
        for prev in State::ALL.into_iter().filter(|s| s.is_final()) {
            for new in State::ALL.into_iter().filter(|s| !s.is_final()) {
                assert!(!advances(Some(prev), new), "{prev:?} -> {new:?}");
            }
        }
    }
}
