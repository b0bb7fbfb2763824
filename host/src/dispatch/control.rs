//! Flow control for one destination: a rate limiter and a circuit breaker.
//! Both are plain state machines over an explicit clock, owned by the
//! destination's actor (the only place that launches attempts), so a limit
//! holds across all of its workers without locks.

use std::time::{Duration, Instant};

use serde::Serialize;

/// Token bucket: `rate` tokens per second, bursts of up to `burst` (a
/// twentieth of a second's worth, at least one), so the rate over any
/// window longer than that stays within the limit.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    pub fn new(rate: f64, now: Instant) -> Self {
        let burst = (rate / 20.0).max(1.0);
        Self {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.last = now;
    }

    /// Takes a token if one is available; otherwise how long until one is.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

/// Breaker states, as the operator sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    /// Delivering normally.
    Closed,
    /// Paused after repeated failures; jobs wait.
    Open,
    /// One probe is in flight; its result closes or reopens the breaker.
    HalfOpen,
}

/// What the breaker lets the actor do now.
#[derive(Debug, PartialEq, Eq)]
pub enum Permit {
    Go,
    /// Launch exactly one attempt, as a probe.
    Probe,
    /// Nothing until then (or until the probe in flight answers).
    Wait(Option<Instant>),
}

#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: BreakerState,
    failures: u32,
    /// Cool-down of the current opening (doubles per failed probe).
    current: Duration,
    open_until: Option<Instant>,
}

impl Breaker {
    pub fn new(cfg: crate::config::BreakerSettings) -> Self {
        Self {
            threshold: cfg.threshold,
            cooldown: cfg.cooldown,
            state: BreakerState::Closed,
            failures: 0,
            current: cfg.cooldown,
            open_until: None,
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.failures
    }

    pub fn permit(&self, now: Instant) -> Permit {
        match self.state {
            BreakerState::Closed => Permit::Go,
            BreakerState::HalfOpen => Permit::Wait(None),
            BreakerState::Open => match self.open_until {
                Some(t) if now < t => Permit::Wait(Some(t)),
                _ => Permit::Probe,
            },
        }
    }

    /// A probe was launched (after [`Permit::Probe`]).
    pub fn probing(&mut self) {
        self.state = BreakerState::HalfOpen;
    }

    /// When an open breaker will let a probe through.
    pub fn open_until(&self) -> Option<Instant> {
        self.open_until.filter(|_| self.state == BreakerState::Open)
    }

    /// Records an attempt's result; true if the breaker changed state.
    pub fn record(&mut self, ok: bool, probe: bool, now: Instant) -> bool {
        let before = self.state;
        if ok {
            self.failures = 0;
            self.current = self.cooldown;
            self.state = BreakerState::Closed;
            self.open_until = None;
        } else {
            self.failures = self.failures.saturating_add(1);
            if probe {
                // Still failing: wait longer before the next probe.
                self.current = (self.current * 2).min(self.cooldown * 16);
                self.open(now);
            } else if self.state == BreakerState::Closed && self.failures >= self.threshold {
                self.open(now);
            }
        }
        self.state != before
    }

    fn open(&mut self, now: Instant) {
        self.state = BreakerState::Open;
        self.open_until = Some(now + self.current);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_holds_the_rate_after_a_small_burst() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(100.0, t0);
        // Burst of 5 (1/20 s), then one token every 10 ms.
        for _ in 0..5 {
            assert_eq!(rl.take(t0), Ok(()));
        }
        let wait = rl.take(t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.01).abs() < 1e-9, "{wait:?}");
        let mut sent = 5;
        let mut t = t0;
        while t < t0 + Duration::from_secs(2) {
            t += Duration::from_millis(1);
            while rl.take(t).is_ok() {
                sent += 1;
            }
        }
        assert!((200..=206).contains(&sent), "{sent} in 2 s at 100/s");
    }

    #[test]
    fn breaker_opens_probes_and_recovers() {
        let cfg = crate::config::BreakerSettings {
            threshold: 3,
            cooldown: Duration::from_secs(10),
        };
        let mut b = Breaker::new(cfg);
        let t0 = Instant::now();
        assert!(!b.record(false, false, t0));
        assert!(!b.record(false, false, t0));
        assert_eq!(b.permit(t0), Permit::Go);
        assert!(b.record(false, false, t0));
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(
            b.permit(t0),
            Permit::Wait(Some(t0 + Duration::from_secs(10)))
        );
        // Cool-down over: one probe, nothing else meanwhile.
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(b.permit(t1), Permit::Probe);
        b.probing();
        assert_eq!(b.permit(t1), Permit::Wait(None));
        // Failed probe: reopen for twice as long.
        assert!(b.record(false, true, t1));
        assert_eq!(
            b.permit(t1),
            Permit::Wait(Some(t1 + Duration::from_secs(20)))
        );
        let t2 = t1 + Duration::from_secs(20);
        assert_eq!(b.permit(t2), Permit::Probe);
        b.probing();
        assert!(b.record(true, true, t2));
        assert_eq!(
            (b.state(), b.consecutive_failures()),
            (BreakerState::Closed, 0)
        );
        assert_eq!(b.permit(t2), Permit::Go);
    }

    #[test]
    fn failed_probes_back_off_to_a_cap() {
        let mut b = Breaker::new(crate::config::BreakerSettings {
            threshold: 1,
            cooldown: Duration::from_secs(1),
        });
        let mut t = Instant::now();
        b.record(false, false, t);
        for _ in 0..10 {
            match b.permit(t) {
                Permit::Wait(Some(until)) => t = until,
                Permit::Probe => {
                    b.probing();
                    b.record(false, true, t);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(b.permit(t), Permit::Wait(Some(t + Duration::from_secs(16))));
    }
}
