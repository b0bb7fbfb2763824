//! Every default the config falls back to, named in one place:
//! `Config::load` reads them, `switchboard check --print-defaults` prints
//! them, and the README's Configuration table quotes them.

use std::time::Duration;

const MIN: u64 = 60;
const HOUR: u64 = 3600;

/// Delay before each attempt, in the spirit of Svix: immediately, 5 s,
/// 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (about 28 hours in all), then the
/// job is dead-lettered.
pub const RETRY_SCHEDULE: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * MIN),
    Duration::from_secs(30 * MIN),
    Duration::from_secs(2 * HOUR),
    Duration::from_secs(5 * HOUR),
    Duration::from_secs(10 * HOUR),
    Duration::from_secs(10 * HOUR),
];

/// `runtime.max_memory_mb`: linear memory cap per plugin instance.
pub const PLUGIN_MEMORY_BYTES: usize = 32 << 20;
pub const PLUGIN_STACK_BYTES: usize = 512 << 10;
/// `runtime.timeout`: wall-clock budget per plugin call.
pub const PLUGIN_TIMEOUT: Duration = Duration::from_millis(200);
/// `runtime.max_events`: most events one call may return.
pub const PLUGIN_MAX_EVENTS: usize = 1000;
pub const PLUGIN_MAX_OUTPUT_BYTES: usize = 4 << 20;
pub const PLUGIN_MAX_LOG_BYTES: usize = 64 << 10;
pub const PLUGIN_POOL_INSTANCES: u32 = 16;
