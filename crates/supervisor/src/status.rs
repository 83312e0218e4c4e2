//! A service's state as callers see it.

use std::time::{Duration, SystemTime};

use procscan::ProcessIdentity;
use serde::{Deserialize, Serialize};

use crate::sys::ExitInfo;

/// Where a service is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServiceState {
    /// Waiting for its dependencies.
    Pending,
    /// Its setup command runs.
    SettingUp,
    /// Spawned, not yet healthy.
    Starting,
    /// Spawned and healthy (or without a check).
    Running,
    /// Waiting out a backoff delay before it is started again.
    Restarting,
    /// Being stopped.
    Stopping,
    /// Stopped (by request, or never started because the stack is shutting down).
    Stopped,
    /// Exited by itself and will not be restarted (status 0, or a policy of `never` ...).
    Exited,
    /// Gave up: crash loop, failed setup, never healthy, taken port ...
    Failed,
    /// Not started because a dependency failed.
    Blocked,
    /// Not selected to run.
    Inactive,
}

impl ServiceState {
    /// Whether a process of the service may be alive.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            ServiceState::SettingUp
                | ServiceState::Starting
                | ServiceState::Running
                | ServiceState::Stopping
        )
    }
}

/// What the health checks say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "health", rename_all = "snake_case")]
pub enum Health {
    /// No process, or not checked yet.
    Unknown,
    /// Within its start period, not yet healthy.
    Starting,
    /// The last check passed.
    Healthy,
    /// The checks fail.
    Unhealthy {
        /// The last failure.
        reason: String,
    },
    /// The service has no health check.
    NotChecked,
}

/// A snapshot of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// The service.
    pub name: String,
    /// Its state.
    pub state: ServiceState,
    /// Its health.
    pub health: Health,
    /// The running process, when there is one (pid + start time).
    pub identity: Option<ProcessIdentity>,
    /// Its process group (the pid of its first process: each service has a session of its
    /// own).
    pub pgid: Option<u32>,
    /// The port it was given (after any migration).
    pub port: Option<u16>,
    /// Automatic restarts so far.
    pub restarts: u32,
    /// How the last process ended.
    pub last_exit: Option<ExitInfo>,
    /// When the running process was spawned.
    pub started_at: Option<SystemTime>,
    /// Time from spawn to the first passed health check, for the running process.
    #[serde(rename = "time_to_healthy_ms", with = "opt_millis")]
    pub time_to_healthy: Option<Duration>,
    /// Output lines some event receiver had to drop (the log file has them all).
    pub dropped_lines: u64,
    /// Why it failed or was blocked.
    pub reason: Option<String>,
    /// The health checks run so far and their latencies.
    pub health_checks: HealthStats,
}

/// Health-check counts and latencies of one service (latencies over its last
/// [`HealthStats::WINDOW`] checks).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthStats {
    /// Checks run since the supervisor started.
    pub checks: u64,
    /// Of which failed.
    pub failures: u64,
    /// The last check's latency, in milliseconds.
    pub last_ms: Option<u64>,
    /// The median latency, in milliseconds.
    pub p50_ms: Option<u64>,
    /// The 95th percentile latency, in milliseconds.
    pub p95_ms: Option<u64>,
}

impl HealthStats {
    /// How many recent latencies the percentiles cover.
    pub const WINDOW: usize = 256;
}

/// Where a health monitor records each check; read for [`ServiceStatus::health_checks`].
#[derive(Debug, Default)]
pub(crate) struct HealthRecorder {
    checks: u64,
    failures: u64,
    /// Recent latencies in microseconds, oldest first.
    recent: std::collections::VecDeque<u64>,
}

impl HealthRecorder {
    pub(crate) fn record(&mut self, latency: Duration, healthy: bool) {
        self.checks += 1;
        if !healthy {
            self.failures += 1;
        }
        if self.recent.len() == HealthStats::WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(latency.as_micros() as u64);
    }

    pub(crate) fn stats(&self) -> HealthStats {
        let mut sorted: Vec<u64> = self.recent.iter().copied().collect();
        sorted.sort_unstable();
        // Nearest-rank percentile, in whole milliseconds (rounded up so 0.4 ms reads 1 ms).
        let pick = |q: f64| -> Option<u64> {
            let n = sorted.len();
            (n > 0).then(|| {
                let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
                sorted[rank - 1].div_ceil(1000)
            })
        };
        HealthStats {
            checks: self.checks,
            failures: self.failures,
            last_ms: self.recent.back().map(|us| us.div_ceil(1000)),
            p50_ms: pick(0.50),
            p95_ms: pick(0.95),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_stats_percentiles_and_window() {
        let mut r = HealthRecorder::default();
        assert_eq!(r.stats(), HealthStats::default());
        for ms in 1..=100u64 {
            r.record(Duration::from_millis(ms), ms % 10 != 0);
        }
        let s = r.stats();
        assert_eq!((s.checks, s.failures), (100, 10));
        assert_eq!(
            (s.p50_ms, s.p95_ms, s.last_ms),
            (Some(50), Some(95), Some(100))
        );
        for _ in 0..HealthStats::WINDOW {
            r.record(Duration::from_millis(7), true);
        }
        assert_eq!(r.stats().p95_ms, Some(7), "old latencies leave the window");
    }
}

impl ServiceStatus {
    /// The running process's pid.
    pub fn pid(&self) -> Option<u32> {
        self.identity.map(|i| i.pid)
    }
}

mod opt_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}
