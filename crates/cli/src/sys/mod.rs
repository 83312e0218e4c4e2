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
