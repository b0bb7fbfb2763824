//! Stage 5: rules. Config routes match normalized events and name
//! destinations, with Kudosity's filter semantics: OR inside one key's
//! list, AND across keys, an absent key matches everything. `sender` is our
//! number whatever the direction (for inbound events, the number that
//! received the message); `recipient` is the handset. Every matching route
//! fires; an event that matches none is kept and counted as unmatched.

use crate::config::{Filter, Route};
use crate::event::{Event, EventType};
use crate::outbox::Target;

/// The compiled routes: the config's, then the webhooks' (which the admin
/// API changes at runtime, `webhooks.rs`).
#[derive(Debug, Clone, Default)]
pub struct Rules {
    routes: Vec<Compiled>,
    webhooks: Vec<Compiled>,
}

#[derive(Debug, Clone)]
struct Compiled {
    route: Route,
    /// `event_types` parsed (names were checked when the route was made).
    types: Vec<EventType>,
}

fn compile(routes: Vec<Route>) -> Vec<Compiled> {
    routes
        .into_iter()
        .map(|mut r| {
            // Numbers are compared without formatting: `+61 400 000 000`
            // and `61400000000` are the same sender.
            for v in r
                .filter
                .sender
                .iter_mut()
                .chain(r.filter.recipient.iter_mut())
            {
                *v = address_key(v);
            }
            let types = r
                .filter
                .event_types
                .iter()
                .filter_map(|t| EventType::parse(t))
                .collect();
            Compiled { route: r, types }
        })
        .collect()
}

/// Which routes matched and the destinations they name (each once, with
/// the transform of the first route that named it).
#[derive(Debug, Default, PartialEq)]
pub struct Matched {
    pub routes: Vec<String>,
    pub targets: Vec<Target>,
}

impl Rules {
    pub fn new(routes: Vec<Route>) -> Self {
        Self {
            routes: compile(routes),
            webhooks: Vec::new(),
        }
    }

    /// These rules with the webhooks' routes in place of the ones before.
    pub fn with_webhooks(&self, webhooks: Vec<Route>) -> Self {
        Self {
            routes: self.routes.clone(),
            webhooks: compile(webhooks),
        }
    }

    /// These rules' config routes with `other`'s webhooks (a config
    /// reload keeps the webhooks).
    pub fn keeping_webhooks(mut self, other: &Rules) -> Self {
        self.webhooks = other.webhooks.clone();
        self
    }

    pub fn route(&self, ev: &Event) -> Matched {
        let mut m = Matched::default();
        let all = self.routes.iter().chain(&self.webhooks);
        for Compiled { route: r, .. } in all.filter(|c| matches(c, ev)) {
            m.routes.push(r.name.clone());
            for d in &r.to {
                // Two routes naming one destination deliver once.
                if !m.targets.iter().any(|t| &t.destination == d) {
                    m.targets.push(Target {
                        destination: d.clone(),
                        transform: r.transform.clone(),
                    });
                }
            }
        }
        m
    }
}

/// One key: empty list = any; otherwise the event's value must be present
/// and equal one of the listed values.
fn key(list: &[String], value: Option<&str>) -> bool {
    list.is_empty() || value.is_some_and(|v| list.iter().any(|x| x == v))
}

fn matches(c: &Compiled, ev: &Event) -> bool {
    let f: &Filter = &c.route.filter;
    (c.types.is_empty() || c.types.iter().any(|t| t.matches(ev)))
        && key(&f.provider, Some(&ev.provider))
        && key(&f.app_code, ev.app_code.as_deref())
        && key(&f.kind, Some(ev.kind()))
        && key(&f.state, ev.state().map(|s| s.as_str()))
        && key(&f.channel, ev.channel().map(|c| c.as_str()))
        && key(&f.sender, ev.sender().map(address_key).as_deref())
        && key(&f.recipient, ev.recipient().map(address_key).as_deref())
        && key(&f.message_ref, ev.message_ref())
        && key(&f.campaign_id, ev.campaign_id())
}

/// A phone number or sender id reduced to what identifies it: letters and
/// digits only, lower-case (`+1 (555) 010` → `1555010`, `ACME` → `acme`).
pub fn address_key(a: &str) -> String {
    a.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests;
