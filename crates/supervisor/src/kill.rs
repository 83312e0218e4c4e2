//! The one place the supervisor sends signals.
//!
//! Everything that stops a process goes through [`send`], so that switching to procscan's
//! safe-signalling API (`procscan::send_signal`) is a change to this file only.

use std::io;

use procscan::{ProcessIdentity, Signal};

use crate::sys;

/// What a signal is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A process group the supervisor created (a service's session), identified by its
    /// leader's pid. Our own unreaped children cannot be recycled, so no identity check.
    Group(u32),
    /// A process recorded earlier (possibly by another run): signalled only if the pid still
    /// belongs to the recorded process (checked through a pidfd, which pins it).
    Process(ProcessIdentity),
    /// The group led by a recorded process: the leader's identity is checked first.
    GroupOf(ProcessIdentity),
}

/// Sends `signal` to `target`. `ESRCH` (nothing left to signal) is not an error.
pub(crate) fn send(target: Target, signal: Signal) -> io::Result<()> {
    let number = sys::signal_number(signal);
    let result = match target {
        Target::Group(pgid) if pgid > 1 => sys::kill(-(pgid as i32), number),
        Target::Group(_) => Ok(()),
        Target::Process(identity) | Target::GroupOf(identity) => {
            if identity.pid <= 1 || identity.pid == sys::own_pid() {
                return Ok(());
            }
            let pidfd = match sys::pidfd_open(identity.pid) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(()),
                Err(e) => return Err(e),
            };
            // The pidfd pins the process: if its start time matches now, it is the one
            // recorded, and stays so while we signal.
            if sys::identity_of(identity.pid) != Some(identity) {
                log::debug!("{identity} was reused or has exited; not signalled");
                return Ok(());
            }
            match target {
                Target::GroupOf(_) => sys::kill(-(identity.pid as i32), number),
                _ => sys::pidfd_send_signal(&pidfd, number),
            }
        }
    };
    match result {
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        other => other,
    }
}
