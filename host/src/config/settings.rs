//! Settings types that stages read: plain data, resolved and checked by
//! `Config::load`. The stages that act on them (`plugin`, `protect`,
//! `dispatch::schedule`) import them from here, never the other way.

use std::time::Duration;

use ipnet::IpNet;

use super::defaults;

/// Resource limits for every plugin call.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Linear memory cap per instance.
    pub max_memory_bytes: usize,
    /// The memory slot size of the instance pool: the largest cap any
    /// plugin has (`[plugins.NAME.runtime] max_memory_mb`), fixed at start.
    pub pool_memory_bytes: usize,
    pub max_stack_bytes: usize,
    /// Wall-clock budget per call (rounded up to 10 ms ticks).
    pub timeout: Duration,
    /// Most events one call may return.
    pub max_events: usize,
    /// Most bytes of reply body, and of all event strings together.
    pub max_output_bytes: usize,
    /// Captured guest stdout/stderr per call.
    pub max_log_bytes: usize,
    /// Instances the pooling allocator keeps slots for (concurrent calls;
    /// the config sets it from the executor's threads).
    pub pool_instances: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_memory_bytes: defaults::PLUGIN_MEMORY_BYTES,
            pool_memory_bytes: defaults::PLUGIN_MEMORY_BYTES,
            max_stack_bytes: defaults::PLUGIN_STACK_BYTES,
            timeout: defaults::PLUGIN_TIMEOUT,
            max_events: defaults::PLUGIN_MAX_EVENTS,
            max_output_bytes: defaults::PLUGIN_MAX_OUTPUT_BYTES,
            max_log_bytes: defaults::PLUGIN_MAX_LOG_BYTES,
            pool_instances: defaults::PLUGIN_POOL_INSTANCES,
        }
    }
}

/// Delay before each delivery attempt; its length is the attempts in all.
/// `dispatch::schedule` adds the jitter.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule(Vec<Duration>);

impl RetrySchedule {
    pub fn new(steps: Vec<Duration>) -> Self {
        Self(steps)
    }

    /// Attempts in all.
    pub fn attempts(&self) -> usize {
        self.0.len()
    }

    pub fn steps(&self) -> &[Duration] {
        &self.0
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self(defaults::RETRY_SCHEDULE.to_vec())
    }
}

/// A mount's resolved protection settings.
#[derive(Debug, Clone, Default)]
pub struct Protect {
    pub token: Option<String>,
    /// Query parameter carrying the token (`defaults::TOKEN_PARAM`).
    pub token_param: String,
    pub basic_auth: Option<(String, String)>,
    pub allow_ips: Vec<IpNet>,
}

/// Host-side settings of one mounted plugin.
#[derive(Debug, Clone)]
pub struct MountSettings {
    pub protect: Option<Protect>,
    /// Whether the host performs `confirm-subscription` actions.
    pub confirm_subscriptions: bool,
    /// This plugin's memory cap, over `runtime.max_memory_mb`.
    pub max_memory_bytes: Option<usize>,
}

impl Default for MountSettings {
    fn default() -> Self {
        Self {
            protect: None,
            confirm_subscriptions: defaults::CONFIRM_SUBSCRIPTIONS,
            max_memory_bytes: None,
        }
    }
}
