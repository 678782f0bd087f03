//! The retry schedule of a delivery: exponential backoff with jitter, for a
//! bounded window after the first attempt. Pure: the caller passes the
//! clock and the random draw.

use chrono::{DateTime, Utc};
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// The wait after the first failure.
    pub base: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
    /// No attempt is scheduled later than this after the first one.
    pub window: Duration,
}

impl RetryPolicy {
    /// The wait after the `failures`-th failed attempt (1-based), before
    /// jitter: `base × 2^(failures − 1)`, at most `max_delay`.
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(40);
        self.base
            .checked_mul(1u32 << doublings.min(31))
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// [`Self::delay`] scaled by `0.8 + 0.4 × unit` (`unit` in `[0, 1)`), so
    /// receivers that failed together are not all retried at once.
    pub fn jittered(&self, failures: u32, unit: f64) -> Duration {
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.5
        };
        self.delay(failures).mul_f64(0.8 + 0.4 * unit)
    }

    /// When to try again after the `failures`-th failure at `now`, given the
    /// first attempt at `first`; `None` gives up (the window is spent).
    pub fn next_attempt(
        &self,
        first: DateTime<Utc>,
        now: DateTime<Utc>,
        failures: u32,
        unit: f64,
    ) -> Option<DateTime<Utc>> {
        let wait = chrono::Duration::from_std(self.jittered(failures, unit)).ok()?;
        let window = chrono::Duration::from_std(self.window).ok()?;
        let next = now + wait;
        (next <= first + window).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn defaults() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(5),
            max_delay: Duration::from_secs(3 * 3600),
            window: Duration::from_secs(24 * 3600),
        }
    }

    /// The default schedule retries for about a day, then gives up.
    #[test]
    fn the_default_schedule_spans_a_day() {
        let policy = defaults();
        let first = Utc::now();
        let mut now = first;
        let mut failures = 0;
        while let Some(next) = policy.next_attempt(first, now, failures + 1, 0.5) {
            failures += 1;
            now = next;
        }
        let hours = (now - first).num_minutes() as f64 / 60.0;
        assert!((18.0..=24.0).contains(&hours), "{hours} h");
        assert!((14..=22).contains(&failures), "{failures} retries");
        assert_eq!(policy.delay(1), Duration::from_secs(5));
        assert_eq!(policy.delay(2), Duration::from_secs(10));
        assert_eq!(policy.delay(30), Duration::from_secs(3 * 3600));
    }

    proptest! {
        /// Waits never shrink, stay within ±20 % of the exponential, and
        /// never pass the maximum by more than the jitter.
        #[test]
        fn waits_grow_within_bounds(failures in 1u32..200, unit in 0.0f64..1.0) {
            let policy = defaults();
            prop_assert!(policy.delay(failures + 1) >= policy.delay(failures));
            let wait = policy.jittered(failures, unit);
            prop_assert!(wait >= policy.delay(failures).mul_f64(0.8));
            prop_assert!(wait <= policy.delay(failures).mul_f64(1.2));
            prop_assert!(wait <= policy.max_delay.mul_f64(1.2));
        }
    }
}
