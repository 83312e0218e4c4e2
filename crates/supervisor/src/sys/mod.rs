//! Operating-system specifics behind one set of functions per target.
//!
//! Linux has everything the supervisor needs (pidfds, `waitid` on one pid, the child-subreaper
//! flag, `/proc`). Elsewhere the same functions exist and report that they are unsupported, so
//! the crate builds and [`crate::Supervisor::start`] returns a clear error.

use serde::{Deserialize, Serialize};

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(not(target_os = "linux"))]
mod other;
#[cfg(not(target_os = "linux"))]
pub(crate) use other::*;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// The exit status, when it exited by itself.
    pub code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// Whether it left a core dump.
    pub core_dumped: bool,
}

impl ExitInfo {
    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl std::fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit status {code}"),
            (None, Some(signal)) => write!(f, "signal {signal}"),
            (None, None) => f.write_str("unknown status"),
        }
    }
}

/// The fields of `/proc/<pid>/stat` the supervisor uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    pub(crate) state: char,
    pub(crate) ppid: u32,
    pub(crate) pgid: u32,
    pub(crate) sid: u32,
    pub(crate) start_time: u64,
}

impl ProcStat {
    pub(crate) fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// The identity of a live process, or `None` when it is gone (or a zombie).
pub(crate) fn identity_of(pid: u32) -> Option<procscan::ProcessIdentity> {
    let stat = proc_stat(pid)?;
    (!stat.is_zombie()).then_some(procscan::ProcessIdentity {
        pid,
        start_time: stat.start_time,
    })
}

/// Pids of live processes in process group `pgid` (zombies excluded).
pub(crate) fn group_members(pgid: u32) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|&pid| proc_stat(pid).is_some_and(|s| s.pgid == pgid && !s.is_zombie()))
        .collect()
}
