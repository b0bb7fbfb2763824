//! Counters the stages bump, read by the health endpoint and the logs.
//! Kept as plain labelled counters so the Prometheus exporter can read them.

use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    pub fn incr(&self, name: &str, labels: &[(&str, &str)]) {
        let mut key = name.to_owned();
        for (k, v) in labels {
            key.push_str(&format!(",{k}={v}"));
        }
        let mut c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        match c.get_mut(&key) {
            Some(n) => *n += 1,
            None => {
                c.insert(key, 1);
            }
        }
    }

    pub fn request(&self, plugin: &str, status: u16) {
        self.incr(
            "requests",
            &[("plugin", plugin), ("status", &status.to_string())],
        );
    }

    pub fn event(&self, provider: &str, disposition: &str) {
        self.incr(
            "events",
            &[("provider", provider), ("disposition", disposition)],
        );
    }

    pub fn plugin_failure(&self, plugin: &str, kind: &str) {
        self.incr("plugin_failures", &[("plugin", plugin), ("kind", kind)]);
    }

    pub fn delivery(&self, destination: &str, outcome: &str) {
        self.incr(
            "deliveries",
            &[("destination", destination), ("outcome", outcome)],
        );
    }

    /// All counters as `name,label=value,... -> count`.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
