//! The retry schedule: one declared constant and pure functions over it.

use std::time::Duration;

pub use crate::config::RetrySchedule;

/// Retries are spread by ±20 % so a destination coming back is not hit by
/// every queued job in the same instant.
pub const JITTER: f64 = 0.2;

/// Longest `Retry-After` we honour.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The delay before attempt number `attempt` (0-based; attempt 0 is the
/// first), or `None` when the schedule is exhausted. `unit` in [0, 1)
/// picks the jitter, so this stays a pure function.
pub fn delay(schedule: &RetrySchedule, attempt: usize, unit: f64) -> Option<Duration> {
    let base = *schedule.steps().get(attempt)?;
    let factor = 1.0 - JITTER + 2.0 * JITTER * unit.clamp(0.0, 1.0);
    Some(base.mul_f64(factor))
}

/// What to do after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    /// Try again (honouring `Retry-After` if given).
    Retry(Option<Duration>),
    /// Never worth retrying (a 4xx that will not change).
    GiveUp,
    /// `410 Gone`: the receiver asks us to stop. The destination is
    /// disabled; its jobs wait for the operator (nothing is dropped).
    Disable,
}

/// Classifies an HTTP status: 2xx delivered; 408, 409, 425, 429 and 5xx
/// retried; 410 disables the destination; any other 4xx given up
/// (retrying cannot fix it).
pub fn next_for(status: u16, retry_after: Option<Duration>) -> Next {
    match status {
        200..=299 => Next::Delivered,
        408 | 409 | 425 | 429 => Next::Retry(retry_after.map(|d| d.min(MAX_RETRY_AFTER))),
        410 => Next::Disable,
        400..=499 => Next::GiveUp,
        503 => Next::Retry(retry_after.map(|d| d.min(MAX_RETRY_AFTER))),
        _ => Next::Retry(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_is_declared_order_with_bounded_jitter() {
        let s = RetrySchedule::default();
        assert_eq!(s.attempts(), 8);
        assert_eq!(delay(&s, 0, 0.5), Some(Duration::ZERO));
        assert_eq!(delay(&s, 1, 0.5), Some(Duration::from_secs(5)));
        assert_eq!(delay(&s, 1, 0.0), Some(Duration::from_secs(4)));
        assert_eq!(delay(&s, 1, 1.0), Some(Duration::from_secs(6)));
        assert_eq!(delay(&s, 7, 0.5), Some(Duration::from_secs(36_000)));
        assert_eq!(delay(&s, 8, 0.5), None);
    }

    #[test]
    fn status_classification() {
        assert_eq!(next_for(204, None), Next::Delivered);
        assert_eq!(next_for(500, None), Next::Retry(None));
        assert_eq!(next_for(404, None), Next::GiveUp);
        assert_eq!(next_for(410, None), Next::Disable);
        assert_eq!(next_for(422, None), Next::GiveUp);
        let ra = Some(Duration::from_secs(7));
        assert_eq!(next_for(429, ra), Next::Retry(ra));
        assert_eq!(
            next_for(503, Some(Duration::from_secs(99_999))),
            Next::Retry(Some(MAX_RETRY_AFTER))
        );
        assert_eq!(next_for(408, None), Next::Retry(None));
    }
}
