//! The one place the supervisor sends signals: through procscan's safe signalling.
//!
//! Every signal goes to a recorded [`ProcessIdentity`] through [`procscan::send_signal`],
//! which checks the safety policy and pins the process with a pidfd before signalling, so a
//! recycled pid is never hit. A process group is signalled member by member (procscan has no
//! non-blocking group signal); a member forked after the list was taken is caught by the next
//! round, which the stop sequence repeats until the group is empty.

use std::io;

use procscan::{ProcessIdentity, Refusal, SafetyPolicy, Signal, SignalError};

/// What a signal is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// Every live member of a process group the supervisor created (a service's session).
    Group(u32),
    /// A recorded process (possibly from another run).
    Process(ProcessIdentity),
    /// Every member of the group led by a recorded process, if the leader is still that
    /// process.
    GroupOf(ProcessIdentity),
}

/// The policy for the supervisor's own services: procscan's checks (never init, ourselves,
/// our ancestors, kernel threads, recycled pids or other users' processes), but no protected
/// names: a stack may run its own `postgres` or `redis-server`, and must be able to stop it.
fn policy() -> SafetyPolicy {
    SafetyPolicy {
        protected_names: Vec::new(),
        ..SafetyPolicy::default()
    }
}

/// Sends `signal` to `target`. A process that is gone (or whose pid was recycled) is not an
/// error: there is nothing left to signal.
pub(crate) fn send(target: Target, signal: Signal) -> io::Result<()> {
    let members = match target {
        Target::Process(identity) => vec![identity],
        Target::Group(pgid) if pgid > 1 => procscan::group_members(pgid),
        Target::Group(_) => Vec::new(),
        Target::GroupOf(leader) => {
            if !procscan::is_same_process(&leader) {
                return Ok(());
            }
            procscan::group_members(leader.pid)
        }
    };
    let policy = policy();
    let mut first_error = None;
    for member in members {
        match procscan::send_signal(&member, signal, &policy) {
            Ok(()) => {}
            Err(e) if e.is_gone() => {}
            Err(SignalError::Refused(Refusal::IdentityMismatch { .. })) => {}
            Err(e) => {
                log::warn!("signal {signal:?} to {member}: {e}");
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(io::Error::other(e.to_string())),
        None => Ok(()),
    }
}
