//! [`Harness`]: one plugin under test, with its config and the reply it
//! owes every accepted callback (or none, for a plugin that leaves the
//! reply to the host's default: [`Harness::host_reply`]), so a plugin's
//! tests hold only their assertions:
//!
//! ```text
//! const H: Harness<MyPlugin> =
//!     Harness::new(env!("CARGO_MANIFEST_DIR"), &[("utc_offset", "+02:00")], (200, b"OK"));
//! // Or, for a plugin whose outcomes carry no reply:
//! // Harness::host_reply(env!("CARGO_MANIFEST_DIR"), &[("utc_offset", "+02:00")])
//!
//! #[test]
//! fn delivered() {
//!     let (ev, d) = H.delivery("dlr-delivered.http");
//!     assert_eq!(d.state, DeliveryState::Delivered);
//! }
//! ```

use std::marker::PhantomData;

use super::{delivery_status, inbound_message, run};
use crate::{DeliveryStatus, Event, EventKind, InboundMessage, Outcome, Plugin, Subscription};

/// Plugin `P` under one config, expected to answer every accepted callback
/// with `reply` (status, body), or with no reply of its own when `None`.
pub struct Harness<P> {
    manifest_dir: &'static str,
    config: &'static [(&'static str, &'static str)],
    reply: Option<(u16, &'static [u8])>,
    plugin: PhantomData<fn() -> P>,
}

impl<P: Plugin> Harness<P> {
    /// The plugin answers every accepted callback with `reply` (status,
    /// body): [`Harness::outcome`] asserts it does.
    pub const fn new(
        manifest_dir: &'static str,
        config: &'static [(&'static str, &'static str)],
        reply: (u16, &'static [u8]),
    ) -> Self {
        Self {
            manifest_dir,
            config,
            reply: Some(reply),
            plugin: PhantomData,
        }
    }

    /// The plugin leaves the reply to the host's default (its `accept_reply`):
    /// [`Harness::outcome`] asserts there is none.
    pub const fn host_reply(
        manifest_dir: &'static str,
        config: &'static [(&'static str, &'static str)],
    ) -> Self {
        Self {
            manifest_dir,
            config,
            reply: None,
            plugin: PhantomData,
        }
    }

    /// The text of `fixtures/NAME`.
    pub fn fixture(&self, name: &str) -> String {
        let path = format!("{}/fixtures/{name}", self.manifest_dir);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Runs fixture text; fails unless the plugin accepts it with the
    /// expected reply (or, under [`Harness::host_reply`], with none).
    pub fn outcome(&self, fixture: &str) -> Outcome {
        let out = run::<P>(fixture, self.config).unwrap_or_else(|e| panic!("refused: {e:?}"));
        match (&out.reply, self.reply) {
            (Some(reply), Some(want)) => {
                assert_eq!((reply.status, reply.body.as_slice()), want, "reply")
            }
            (None, Some(want)) => panic!("the plugin gave no reply, want {want:?}"),
            (Some(reply), None) => panic!("want the host's reply, the plugin gave {reply:?}"),
            (None, None) => {}
        }
        out
    }

    /// Runs `fixtures/NAME`; all its events, however many (a batch).
    pub fn events(&self, name: &str) -> Vec<Event> {
        self.outcome(&self.fixture(name)).events
    }

    /// Runs fixture text; its one event.
    pub fn one(&self, fixture: &str) -> Event {
        let mut events = self.outcome(fixture).events;
        assert_eq!(events.len(), 1, "want one event: {events:?}");
        events.remove(0)
    }

    /// Runs fixture text; its one event, a delivery status.
    pub fn delivery_of(&self, fixture: &str) -> (Event, DeliveryStatus) {
        let ev = self.one(fixture);
        let d = delivery_status(&ev);
        (ev, d)
    }

    /// Runs `fixtures/NAME`; its one event, a delivery status.
    pub fn delivery(&self, name: &str) -> (Event, DeliveryStatus) {
        self.delivery_of(&self.fixture(name))
    }

    /// Runs `fixtures/NAME`; its one event, an inbound message.
    pub fn inbound(&self, name: &str) -> (Event, InboundMessage) {
        let ev = self.one(&self.fixture(name));
        let m = inbound_message(&ev);
        (ev, m)
    }

    /// Runs fixture text; its one event, a subscription change.
    pub fn subscription_of(&self, fixture: &str) -> (Event, Subscription) {
        let ev = self.one(fixture);
        let EventKind::Subscription(s) = ev.kind.clone() else {
            panic!("not a subscription: {ev:?}")
        };
        (ev, s)
    }
}
