//! Signalling primitives: pidfds where the kernel has them (Linux 5.3+), `kill(2)` otherwise.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use super::ffi;
use super::queries;
use crate::ProcessIdentity;

/// A process to signal, pinned by a pidfd when the kernel supports them.
#[derive(Debug)]
pub(crate) struct Handle {
    identity: ProcessIdentity,
    pidfd: Option<OwnedFd>,
}

impl Handle {
    /// Opens a pidfd on `identity.pid`. `ESRCH` (no such process) is returned as is; a kernel
    /// without pidfds (`ENOSYS`) gives a handle that signals with `kill(2)`.
    pub(crate) fn open(identity: ProcessIdentity) -> io::Result<Handle> {
        match ffi::pidfd_open(identity.pid) {
            Ok(fd) => Ok(Handle {
                identity,
                pidfd: Some(fd),
            }),
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => Ok(Handle {
                identity,
                pidfd: None,
            }),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn identity(&self) -> ProcessIdentity {
        self.identity
    }

    /// Sends `signal` through the pidfd (which can only reach the process it was opened on),
    /// or with `kill(2)` where there is none.
    pub(crate) fn signal(&self, signal: i32) -> io::Result<()> {
        match &self.pidfd {
            Some(fd) => ffi::pidfd_send_signal(fd.as_fd(), signal),
            None => ffi::kill(self.identity.pid as i32, signal),
        }
    }

    /// Without a pidfd: whether the process has exited (gone, zombie, or the pid reused).
    fn exited_by_stat(&self) -> bool {
        match queries::stat(self.identity.pid) {
            Ok(stat) => stat.exited() || stat.start_time != self.identity.start_time,
            Err(_) => true,
        }
    }
}

/// `kill(-pgid, signal)`.
pub(crate) fn signal_group(pgid: u32, signal: i32) -> io::Result<()> {
    ffi::kill(-(pgid as i32), signal)
}

/// Waits until every handle's process has exited (a pidfd turns readable at exit, before the
/// parent reaps it, so a zombie counts as exited) or `deadline` passes. `exited[i]` is set for
/// each handle seen to exit; returns whether all did.
pub(crate) fn wait_exit(handles: &[Handle], exited: &mut [bool], deadline: Instant) -> bool {
    loop {
        for (i, h) in handles.iter().enumerate() {
            if !exited[i] && h.pidfd.is_none() && h.exited_by_stat() {
                exited[i] = true;
            }
        }
        let pending: Vec<usize> = (0..handles.len())
            .filter(|&i| !exited[i] && handles[i].pidfd.is_some())
            .collect();
        let polling_by_stat = (0..handles.len()).any(|i| !exited[i] && handles[i].pidfd.is_none());
        if pending.is_empty() && !polling_by_stat {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let mut wait = deadline - now;
        if polling_by_stat {
            wait = wait.min(Duration::from_millis(10));
        }
        let fds: Vec<_> = pending
            .iter()
            .filter_map(|&i| handles[i].pidfd.as_ref().map(|fd| fd.as_fd()))
            .collect();
        let millis = wait.as_millis().clamp(1, i32::MAX as u128) as i32;
        match ffi::poll_readable(&fds, millis) {
            Ok(ready) => {
                for (k, &i) in pending.iter().enumerate() {
                    if ready.get(k) == Some(&true) {
                        exited[i] = true;
                    }
                }
            }
            // poll itself failing (EINVAL on a huge group) falls back to sleeping.
            Err(_) => std::thread::sleep(wait.min(Duration::from_millis(10))),
        }
    }
}
