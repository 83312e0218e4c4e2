//! Restart decisions: pure functions of the policy, the exit and the recent restarts.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::spec::{RestartLimits, RestartPolicy};

/// Whether `policy` restarts a service after an exit (`failed`: non-zero status, a signal, or
/// a failed health check).
pub(crate) fn wants_restart(policy: RestartPolicy, failed: bool) -> bool {
    match policy {
        RestartPolicy::Always => true,
        RestartPolicy::OnFailure => failed,
        RestartPolicy::Never => false,
    }
}

/// What to do after an exit that the policy restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Restart after `delay`; `attempt` counts restarts in the current window from 1.
    Restart { attempt: u32, delay: Duration },
    /// Too many restarts: give up.
    GiveUp { reason: String },
}

/// Recent restarts of one service.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    recent: VecDeque<Instant>,
    /// Restarts since the last stable run: drives the backoff.
    streak: u32,
    seed: u64,
}

impl Tracker {
    pub(crate) fn new(seed: u64) -> Tracker {
        Tracker {
            seed: seed | 1,
            ..Tracker::default()
        }
    }

    /// The service ran long enough: the next crash restarts at once again.
    pub(crate) fn stable(&mut self) {
        self.streak = 0;
        self.recent.clear();
    }

    /// Decides about one more restart at `now`.
    pub(crate) fn next(&mut self, limits: &RestartLimits, now: Instant) -> Decision {
        while self
            .recent
            .front()
            .is_some_and(|&t| now.duration_since(t) > limits.window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() as u32 >= limits.max_attempts {
            return Decision::GiveUp {
                reason: format!(
                    "restarted {} times within {:?}; giving up",
                    self.recent.len(),
                    limits.window
                ),
            };
        }
        self.recent.push_back(now);
        let delay = self.jitter(backoff(limits, self.streak));
        self.streak += 1;
        Decision::Restart {
            attempt: self.recent.len() as u32,
            delay,
        }
    }

    /// ±20 %, from a xorshift generator (restarts need no better randomness).
    fn jitter(&mut self, delay: Duration) -> Duration {
        if delay.is_zero() {
            return delay;
        }
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let unit = (self.seed % 10_000) as f64 / 10_000.0;
        delay.mul_f64(0.8 + 0.4 * unit)
    }
}

/// The delay before restart number `streak` (0-based) in a row: 0, then `backoff_initial`
/// doubling up to `backoff_max`.
pub(crate) fn backoff(limits: &RestartLimits, streak: u32) -> Duration {
    if streak == 0 {
        return Duration::ZERO;
    }
    let factor = 2u32.saturating_pow(streak.saturating_sub(1).min(31));
    limits
        .backoff_initial
        .saturating_mul(factor)
        .min(limits.backoff_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        assert!(wants_restart(RestartPolicy::Always, false));
        assert!(wants_restart(RestartPolicy::OnFailure, true));
        assert!(!wants_restart(RestartPolicy::OnFailure, false));
        assert!(!wants_restart(RestartPolicy::Never, true));
    }

    #[test]
    fn backoff_is_immediate_then_doubles_to_the_cap() {
        let limits = RestartLimits::default();
        let delays: Vec<u64> = (0..12)
            .map(|n| backoff(&limits, n).as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            [
                0, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000
            ]
        );
        assert_eq!(backoff(&limits, u32::MAX), limits.backoff_max);
    }

    #[test]
    fn gives_up_after_max_attempts_within_the_window() {
        let limits = RestartLimits {
            max_attempts: 3,
            ..RestartLimits::default()
        };
        let mut tracker = Tracker::new(7);
        let t0 = Instant::now();
        for attempt in 1..=3 {
            match tracker.next(&limits, t0) {
                Decision::Restart { attempt: a, delay } => {
                    assert_eq!(a, attempt);
                    let expected = backoff(&limits, attempt - 1);
                    assert!(delay >= expected.mul_f64(0.8) && delay <= expected.mul_f64(1.2));
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(tracker.next(&limits, t0), Decision::GiveUp { .. }));
        // Outside the window the old attempts no longer count.
        let later = t0 + limits.window + Duration::from_secs(1);
        assert!(matches!(
            tracker.next(&limits, later),
            Decision::Restart { attempt: 1, .. }
        ));
    }

    #[test]
    fn a_stable_run_resets_the_backoff() {
        let limits = RestartLimits::default();
        let mut tracker = Tracker::new(1);
        let now = Instant::now();
        tracker.next(&limits, now);
        assert!(
            matches!(tracker.next(&limits, now), Decision::Restart { delay, .. } if !delay.is_zero())
        );
        tracker.stable();
        assert_eq!(
            tracker.next(&limits, now),
            Decision::Restart {
                attempt: 1,
                delay: Duration::ZERO
            }
        );
    }
}
