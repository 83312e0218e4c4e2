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
