//! Systems other than Linux: the same functions, reporting that they are unsupported.
//!
//! The supervisor relies on pidfds, `waitid` on single pids and the child-subreaper flag;
//! a port to the BSDs would use kqueue's `EVFILT_PROC` and `PROC_REAP_ACQUIRE` here.

use std::io;
use std::os::fd::{OwnedFd, RawFd};

use procscan::Signal;

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

pub(crate) fn pidfd_send_signal(_fd: &OwnedFd, _signal: i32) -> io::Result<()> {
    Err(unsupported())
}

pub(crate) fn kill(pid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(pid, signal) } < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

pub(crate) fn group_exists(pgid: u32) -> bool {
    pgid > 1 && kill(-(pgid as i32), 0).is_ok()
}

pub(crate) fn signal_number(signal: Signal) -> i32 {
    match signal {
        Signal::Kill => libc::SIGKILL,
        Signal::Int => libc::SIGINT,
        Signal::Hup => libc::SIGHUP,
        Signal::Quit => libc::SIGQUIT,
        Signal::Usr1 => libc::SIGUSR1,
        Signal::Usr2 => libc::SIGUSR2,
        _ => libc::SIGTERM,
    }
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
