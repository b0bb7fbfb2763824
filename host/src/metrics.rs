//! Metrics: Prometheus families the stages bump, served as text at the
//! admin listener's `/metrics`. Gauges that describe state (backlog, oldest
//! job, store size) are set when scraped, from the components that own it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    plugin_calls: Histograms,
    plugin_failures: Family<Labels, Counter>,
    events: Family<Labels, Counter>,
    rule_matches: Family<Labels, Counter>,
    deliveries: Family<Labels, Counter>,
    delivery_seconds: Histograms,
    backlog: Family<Labels, Gauge>,
    oldest_job_age: Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    store_bytes: Gauge,
    store_errors: Counter,
    breaker_open: Family<Labels, Gauge>,
    unprotected_mounts: Gauge,
    /// Requests by plugin and status, for the admin API and dashboard.
    per_plugin: Mutex<BTreeMap<(String, u16), u64>>,
}

fn call_buckets() -> Histogram {
    // 10 µs .. ~0.3 s
    Histogram::new(exponential_buckets(0.000_01, 2.0, 16))
}

fn delivery_buckets() -> Histogram {
    // 1 ms .. ~16 s
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("switchboard");
        let requests = Family::default();
        registry.register(
            "requests",
            "Callbacks by plugin, route and reply status",
            requests.clone(),
        );
        let plugin_calls = Histograms::new_with_constructor(call_buckets);
        registry.register(
            "plugin_call_seconds",
            "Plugin handle() wall time",
            plugin_calls.clone(),
        );
        let plugin_failures = Family::default();
        registry.register(
            "plugin_failures",
            "Plugin calls that trapped, timed out, ran out of memory or returned garbage",
            plugin_failures.clone(),
        );
        let events = Family::default();
        registry.register(
            "events",
            "Normalized events by provider, kind, state and disposition (routed, unmatched, duplicate, stale)",
            events.clone(),
        );
        let rule_matches = Family::default();
        registry.register(
            "rule_matches",
            "Events matched, by route",
            rule_matches.clone(),
        );
        let deliveries = Family::default();
        registry.register(
            "deliveries",
            "Delivery attempts by destination and outcome",
            deliveries.clone(),
        );
        let delivery_seconds = Histograms::new_with_constructor(delivery_buckets);
        registry.register(
            "delivery_seconds",
            "Delivery attempt latency",
            delivery_seconds.clone(),
        );
        let backlog = Family::default();
        registry.register("backlog", "Jobs waiting per destination", backlog.clone());
        let oldest_job_age = Family::default();
        registry.register(
            "oldest_job_age_seconds",
            "Age of the oldest waiting job per destination",
            oldest_job_age.clone(),
        );
        let store_bytes = Gauge::default();
        registry.register(
            "store_size_bytes",
            "Size of the store on disk",
            store_bytes.clone(),
        );
        let store_errors = Counter::default();
        registry.register(
            "store_errors",
            "Store writes that failed (a callback answered 503, a delivery result not recorded)",
            store_errors.clone(),
        );
        let breaker_open = Family::default();
        registry.register(
            "breaker_open",
            "1 while a destination's circuit breaker is open or half-open",
            breaker_open.clone(),
        );
        let unprotected_mounts = Gauge::default();
        registry.register(
            "unprotected_mounts",
            "Mounts of providers that do not sign their callbacks and have no protection configured",
            unprotected_mounts.clone(),
        );
        Self {
            registry,
            store_errors,
            breaker_open,
            unprotected_mounts,
            requests,
            plugin_calls,
            plugin_failures,
            events,
            rule_matches,
            deliveries,
            delivery_seconds,
            backlog,
            oldest_job_age,
            store_bytes,
            per_plugin: Mutex::default(),
        }
    }
}

impl Metrics {
    pub fn store_error(&self) {
        self.store_errors.inc();
    }

    pub fn set_unprotected_mounts(&self, n: usize) {
        self.unprotected_mounts.set(n as i64);
    }

    pub fn request(&self, plugin: &str, route: &str, status: u16) {
        self.requests
            .get_or_create(&vec![
                ("plugin", plugin.to_owned()),
                ("route", route.to_owned()),
                ("status", status.to_string()),
            ])
            .inc();
        *self
            .per_plugin
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((plugin.to_owned(), status))
            .or_default() += 1;
    }

    pub fn plugin_call(&self, plugin: &str, seconds: f64) {
        self.plugin_calls
            .get_or_create(&vec![("plugin", plugin.to_owned())])
            .observe(seconds);
    }

    pub fn plugin_failure(&self, plugin: &str, kind: &str) {
        self.plugin_failures
            .get_or_create(&vec![
                ("plugin", plugin.to_owned()),
                ("kind", kind.to_owned()),
            ])
            .inc();
    }

    pub fn event(&self, provider: &str, kind: &str, state: Option<&str>, disposition: &str) {
        self.events
            .get_or_create(&vec![
                ("provider", provider.to_owned()),
                ("kind", kind.to_owned()),
                ("state", state.unwrap_or("").to_owned()),
                ("disposition", disposition.to_owned()),
            ])
            .inc();
    }

    pub fn rule_match(&self, route: &str) {
        self.rule_matches
            .get_or_create(&vec![("route", route.to_owned())])
            .inc();
    }

    pub fn delivery(&self, destination: &str, outcome: &str) {
        self.deliveries
            .get_or_create(&vec![
                ("destination", destination.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .inc();
    }

    pub fn delivery_latency(&self, destination: &str, seconds: f64) {
        self.delivery_seconds
            .get_or_create(&vec![("destination", destination.to_owned())])
            .observe(seconds);
    }

    /// Requests of one plugin by reply status.
    pub fn requests_of(&self, plugin: &str) -> BTreeMap<u16, u64> {
        self.per_plugin
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|((p, _), _)| p == plugin)
            .map(|((_, status), n)| (*status, *n))
            .collect()
    }

    /// The Prometheus text exposition, after setting the state gauges.
    pub fn render(&self, destinations: &[DestinationGauges], store_bytes: Option<u64>) -> String {
        let now = crate::time::now_ms();
        for d in destinations {
            let labels = vec![("destination", d.name.clone())];
            self.backlog.get_or_create(&labels).set(d.backlog as i64);
            let age = d
                .oldest_created_at
                .map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0);
            self.oldest_job_age.get_or_create(&labels).set(age);
            self.breaker_open
                .get_or_create(&labels)
                .set(i64::from(d.breaker_open));
        }
        if let Some(b) = store_bytes {
            self.store_bytes.set(b as i64);
        }
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// One destination's state, as the gauges show it (read from the
/// dispatcher when `/metrics` is scraped).
#[derive(Debug, Clone)]
pub struct DestinationGauges {
    pub name: String,
    pub backlog: usize,
    /// When the oldest waiting job was created (ms since epoch).
    pub oldest_created_at: Option<i64>,
    pub breaker_open: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_with_labels() {
        let m = Metrics::default();
        m.request("twilio", "/smsCallback", 200);
        m.request("twilio", "/smsCallback", 200);
        m.plugin_call("twilio", 0.00004);
        m.event("twilio", "delivery-status", Some("delivered"), "routed");
        m.delivery("crm", "delivered");
        let text = m.render(&[], Some(4096));
        assert!(
            text.contains(
                r#"switchboard_requests_total{plugin="twilio",route="/smsCallback",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains("switchboard_plugin_call_seconds_count{plugin=\"twilio\"} 1"),
            "{text}"
        );
        assert!(text.contains(r#"switchboard_events_total{provider="twilio",kind="delivery-status",state="delivered",disposition="routed"} 1"#), "{text}");
        assert!(text.contains("switchboard_store_size_bytes 4096"), "{text}");
        assert_eq!(m.requests_of("twilio").get(&200), Some(&2));
    }
}
