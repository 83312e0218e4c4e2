//! Questions about processes: who is this pid, is it still the same process, who are its
//! parents, its group, its children.

use crate::{Error, ProcessDetail, ProcessIdentity, ProcessInfo, sys};

/// What is known of one process, at the given detail (`Pids` reads as `Basic`).
///
/// ```
/// use procscan::{ProcessDetail, process_info};
///
/// let me = process_info(std::process::id(), ProcessDetail::Full)?;
/// assert!(me.exe.is_some());
/// assert!(!me.kernel_thread);
/// # Ok::<(), procscan::Error>(())
/// ```
pub fn process_info(pid: u32, detail: ProcessDetail) -> Result<ProcessInfo, Error> {
    sys::process_info(pid, detail.max(ProcessDetail::Basic))
}

/// The identity (pid and start time) of a process, to record now and check before acting
/// later ([`is_same_process`]).
pub fn process_identity(pid: u32) -> Result<ProcessIdentity, Error> {
    sys::process_identity(pid)
}

/// Whether the recorded process still runs: its pid exists, has not exited (a zombie has), and
/// started at the recorded time (so the pid was not reused).
///
/// ```
/// use procscan::{ProcessIdentity, is_same_process, process_identity};
///
/// let me = process_identity(std::process::id()).unwrap();
/// assert!(is_same_process(&me));
/// assert!(!is_same_process(&ProcessIdentity { start_time: me.start_time + 1, ..me }));
/// ```
pub fn is_same_process(identity: &ProcessIdentity) -> bool {
    matches!(sys::live_identity(identity.pid), Ok(Some(now)) if now == *identity)
}

/// The parent chain of `pid`: its parent first, up to and including pid 1 (or the top of the
/// pid namespace). Empty when `pid` does not exist. Basic detail.
///
/// ```
/// let chain = procscan::ancestors(std::process::id());
/// assert_eq!(chain.first().map(|p| p.pid), Some(std::os::unix::process::parent_id()));
/// ```
pub fn ancestors(pid: u32) -> Vec<ProcessInfo> {
    sys::ancestors(pid)
}

/// Every process, ascending by pid (for matching names and command lines). Processes that
/// exit while being read are left out.
pub fn processes(detail: ProcessDetail) -> Result<Vec<ProcessInfo>, Error> {
    sys::processes(detail.max(ProcessDetail::Basic))
}

/// The live members of process group `pgid`, ascending.
///
/// ```
/// let me = procscan::process_info(std::process::id(), procscan::ProcessDetail::Basic)?;
/// assert!(procscan::group_members(me.pgid).iter().any(|m| m.pid == me.pid));
/// # Ok::<(), procscan::Error>(())
/// ```
pub fn group_members(pgid: u32) -> Vec<ProcessIdentity> {
    sys::group_members(pgid)
}

/// Every live descendant of `pid` (children, their children...), ascending by pid; `pid`
/// itself is not included. A process re-parented away from `pid` (a daemon that double-forked)
/// is no longer its descendant.
///
/// ```
/// let mut child = std::process::Command::new("sleep").arg("5").spawn()?;
/// let below = procscan::descendants(std::process::id());
/// assert!(below.iter().any(|d| d.pid == child.id()));
/// child.kill()?;
/// child.wait()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn descendants(pid: u32) -> Vec<ProcessIdentity> {
    sys::descendants(pid)
}
