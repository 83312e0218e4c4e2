//! Systems other than Linux: the same functions, reporting that they are unsupported.
//!
//! The supervisor relies on pidfds, `waitid` on single pids and the child-subreaper flag;
//! a port to the BSDs would use kqueue's `EVFILT_PROC` and `PROC_REAP_ACQUIRE` here.

use std::io;
use std::os::fd::{OwnedFd, RawFd};

use super::{ExitInfo, ProcStat};

pub(crate) const SUPPORTED: bool = false;

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "the supervisor needs Linux (pidfds, waitid, child subreaper)",
    )
}

pub(crate) fn set_child_subreaper() -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn pidfd_open(_pid: u32) -> io::Result<OwnedFd> {
    Err(unsupported())
}

pub(crate) fn group_exists(pgid: u32) -> bool {
    // SAFETY: kill has no memory-safety preconditions; signal 0 only checks.
    pgid > 1 && unsafe { libc::kill(-(pgid as i32), 0) } == 0
}

pub(crate) fn wait_pid(_pid: u32, _block: bool) -> io::Result<Option<ExitInfo>> {
    Err(unsupported())
}

pub(crate) fn poll_readable(_fds: &[RawFd], _timeout_ms: i32) -> io::Result<Vec<usize>> {
    Err(unsupported())
}

pub(crate) fn wake_fd() -> io::Result<OwnedFd> {
    Err(unsupported())
}

pub(crate) fn wake(_fd: &OwnedFd) {}

pub(crate) fn drain_wake(_fd: &OwnedFd) {}

pub(crate) fn own_pid() -> u32 {
    std::process::id()
}

pub(crate) fn own_sid() -> u32 {
    // SAFETY: getsid(0) has no preconditions.
    unsafe { libc::getsid(0) as u32 }
}

pub(crate) fn proc_stat(_pid: u32) -> Option<ProcStat> {
    None
}

pub(crate) fn main_thread_children() -> Option<Vec<u32>> {
    None
}

pub(crate) fn all_pids() -> Vec<u32> {
    Vec::new()
}

pub(crate) fn environ_var(_pid: u32, _key: &str) -> Option<String> {
    None
}

pub(crate) struct ExecImage;

impl ExecImage {
    pub(crate) fn new(
        _command: &str,
        _env: &[(String, String)],
        _listen_fd: Option<RawFd>,
    ) -> io::Result<ExecImage> {
        Err(unsupported())
    }

    /// # Safety
    /// Only between fork and exec, in the child.
    pub(crate) unsafe fn exec_in_child(&mut self) -> io::Error {
        unsupported()
    }
}
