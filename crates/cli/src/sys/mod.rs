//! Operating-system calls the command line needs, behind one set of functions per target:
//! peer credentials of the control socket, the supervisor lock, sessions for the daemon,
//! signals delivered through a pipe, and the CPU and memory of process groups.
//!
//! Linux has all of them. Elsewhere the same functions exist and report "unsupported" (or,
//! for peer credentials, refuse), so the crate builds and fails clearly.

use std::collections::HashMap;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;

#[cfg(not(target_os = "linux"))]
mod other;
#[cfg(not(target_os = "linux"))]
pub use other::*;

/// Who is on the other end of a Unix socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCred {
    /// The peer's effective uid when it connected.
    pub uid: u32,
    /// Its pid (0 when unknown).
    pub pid: u32,
}

/// What the processes of one process group use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupUsage {
    /// CPU time of the live members, user and system, in clock ticks.
    pub cpu_ticks: u64,
    /// Resident memory of the live members, in bytes.
    pub rss_bytes: u64,
    /// How many live members.
    pub processes: u32,
}

/// Usage of the process groups in `pgids`, read in one pass over the process table.
pub type GroupUsages = HashMap<u32, GroupUsage>;

/// The local wall-clock time of day of `time`, `HH:MM:SS` (UTC when the local zone cannot be
/// read), for event lines people read.
pub fn local_time_of_day(time: std::time::SystemTime) -> String {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let Ok(t) = libc::time_t::try_from(secs) else {
        return "--:--:--".to_owned();
    };
    // SAFETY: a zeroed `tm` is a valid out-parameter; localtime_r only writes to it and is
    // thread-safe (unlike localtime).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    let local = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if local {
        format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
    } else {
        let day = secs % 86_400;
        format!("{:02}:{:02}:{:02}", day / 3600, day / 60 % 60, day % 60)
    }
}
