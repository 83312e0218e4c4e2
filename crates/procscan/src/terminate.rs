//! Deciding whether a process may be signalled, and signalling it without racing pid reuse.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::sys::{self, Handle};
use crate::{
    Error, ProcessDetail, ProcessIdentity, ProcessInfo, Refusal, SafetyPolicy, Signal, SignalError,
    TerminateOptions, TerminateOutcome,
};

/// How long [`terminate`] waits for an exit after SIGKILL.
pub const KILL_WAIT: Duration = Duration::from_secs(5);

/// Applies the safety checks to a recorded process, in this order, and returns what is known
/// of it when it may be signalled:
///
/// 1. pid 0 or 1: [`Refusal::Init`];
/// 2. the calling process: [`Refusal::OurSelf`];
/// 3. an ancestor of the calling process (its parent, the shell, the terminal...):
///    [`Refusal::Ancestor`];
/// 4. a kernel thread: [`Refusal::KernelThread`];
/// 5. a process that exited ([`Refusal::Gone`]; a zombie counts as exited) or whose start
///    time differs from the recorded one, so the pid now belongs to another process:
///    [`Refusal::IdentityMismatch`];
/// 6. another user's process (owner differs from our effective uid), unless
///    [`SafetyPolicy::allow_other_users`]: [`Refusal::OtherUser`];
/// 7. a process whose `comm` or executable file name is in
///    [`SafetyPolicy::protected_names`]: [`Refusal::Protected`].
///
/// Nothing is signalled. [`send_signal`] and [`terminate`] run these checks themselves.
///
/// ```
/// use procscan::{Refusal, SafetyPolicy, SignalError, check_target, process_identity};
///
/// let me = process_identity(std::process::id()).unwrap();
/// let refused = check_target(&me, &SafetyPolicy::default()).unwrap_err();
/// assert!(matches!(refused, SignalError::Refused(Refusal::OurSelf { .. })));
/// ```
pub fn check_target(
    target: &ProcessIdentity,
    policy: &SafetyPolicy,
) -> Result<ProcessInfo, SignalError> {
    let pid = target.pid;
    if pid <= 1 {
        return Err(Refusal::Init { pid }.into());
    }
    let (own_pid, own_uid) = sys::own_ids();
    if pid == own_pid {
        return Err(Refusal::OurSelf { pid }.into());
    }
    if let Some(ancestor) = sys::ancestors(own_pid).into_iter().find(|a| a.pid == pid) {
        return Err(Refusal::Ancestor {
            pid,
            name: ancestor.name,
        }
        .into());
    }
    let info = match sys::process_info(pid, ProcessDetail::Full) {
        Ok(info) => info,
        Err(Error::ProcessNotFound { .. }) => return Err(Refusal::Gone { pid }.into()),
        Err(e) => return Err(os_error(pid, e)),
    };
    if info.kernel_thread {
        return Err(Refusal::KernelThread {
            pid,
            name: info.name,
        }
        .into());
    }
    // Read after `info`: a pid reused in between shows up here as a mismatch.
    verify_identity(target)?;
    if info.uid != own_uid && !policy.allow_other_users {
        return Err(Refusal::OtherUser {
            pid,
            name: info.name,
            uid: info.uid,
            our_uid: own_uid,
        }
        .into());
    }
    let exe_name = info
        .exe
        .as_deref()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned());
    if let Some(name) = [Some(&info.name), exe_name.as_ref()]
        .into_iter()
        .flatten()
        .find(|n| policy.protects(n))
    {
        return Err(Refusal::Protected {
            pid,
            name: name.clone(),
        }
        .into());
    }
    Ok(info)
}

/// Sends `signal` to a recorded process after [`check_target`].
///
/// The pid is pinned with a pidfd *before* its start time is checked again, and the signal goes
/// through that pidfd: if the process exits and its pid is reused after the check, the pidfd
/// still refers to the old process and the signal fails with [`SignalError::Gone`] instead of
/// reaching the newcomer. Kernels before 5.3 have no pidfds (`ENOSYS`); there the same checks
/// run and `kill(2)` follows them, which leaves a window of a few microseconds in which the
/// pid could be reused (the whole pid space would have to wrap inside it).
///
/// ```no_run
/// use procscan::{SafetyPolicy, Signal, process_identity, send_signal};
///
/// let target = process_identity(4242)?;
/// send_signal(&target, Signal::Term, &SafetyPolicy::default())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn send_signal(
    target: &ProcessIdentity,
    signal: Signal,
    policy: &SafetyPolicy,
) -> Result<(), SignalError> {
    check_target(target, policy)?;
    let handle = pin(target)?;
    handle
        .signal(signal.number())
        .map_err(|e| signal_error(target.pid, e))
}

/// Ends a recorded process: `options.signal`, a wait of up to `options.grace` for it to exit,
/// then (with `options.escalate`) SIGKILL and a wait of up to [`KILL_WAIT`].
///
/// Exit is seen by polling a pidfd, which works for any process since Linux 5.3; a zombie
/// counts as exited (reaping our own children stays the caller's job).
///
/// With `options.group` and a target that leads its process group, every member of the group
/// passes [`check_target`] first (the first refusal is returned and nothing is signalled), then
/// the whole group is signalled and every member waited for. A target that does not lead its
/// group is signalled alone.
///
/// A target that exits between the checks and the first signal is reported as exited.
///
/// ```no_run
/// use std::time::Duration;
/// use procscan::{SafetyPolicy, TerminateOptions, process_identity, terminate};
///
/// let target = process_identity(4242)?;
/// let options = TerminateOptions { grace: Duration::from_secs(2), ..TerminateOptions::default() };
/// let outcome = terminate(&target, &options, &SafetyPolicy::default())?;
/// assert!(outcome.exited);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn terminate(
    target: &ProcessIdentity,
    options: &TerminateOptions,
    policy: &SafetyPolicy,
) -> Result<TerminateOutcome, SignalError> {
    let info = check_target(target, policy)?;
    let group = options.group && info.pgid == info.pid;
    let mut handles = vec![pin(target)?];
    if group {
        for member in sys::group_members(info.pgid) {
            if member.pid == target.pid {
                continue;
            }
            match check_target(&member, policy) {
                Ok(_) => {}
                // Exited since the group was listed: nothing to signal or wait for.
                Err(e) if e.is_gone() => continue,
                Err(e) => return Err(e),
            }
            match pin(&member) {
                Ok(handle) => handles.push(handle),
                Err(e) if e.is_gone() => {}
                Err(e) => return Err(e),
            }
        }
    }
    let started = Instant::now();
    let outcome = |exited: bool, killed: bool| TerminateOutcome {
        identity: *target,
        exited,
        killed,
        elapsed: started.elapsed(),
    };
    let send = |signal: Signal| -> Result<(), SignalError> {
        let result = if group {
            // Signalling the group by its id is safe here: the leader is pinned by its pidfd
            // and was verified alive with the recorded start time, and a process group id
            // cannot be given to another group while a member (here, its leader) lives. Every
            // member present was checked above; processes forked into the group since then are
            // children of checked members.
            sys::signal_group(info.pgid, signal.number())
        } else {
            handles[0].signal(signal.number())
        };
        result.map_err(|e| signal_error(target.pid, e))
    };
    match send(options.signal) {
        Ok(()) => {}
        Err(SignalError::Gone { .. }) => return Ok(outcome(true, false)),
        Err(e) => return Err(e),
    }
    let mut exited = vec![false; handles.len()];
    if sys::wait_exit(&handles, &mut exited, started + options.grace) {
        return Ok(outcome(true, false));
    }
    if !options.escalate {
        return Ok(outcome(false, false));
    }
    log::debug!(
        "{} did not exit within {:?} of {}; sending SIGKILL",
        handles[0].identity(),
        options.grace,
        options.signal
    );
    match send(Signal::Kill) {
        Ok(()) | Err(SignalError::Gone { .. }) => {}
        Err(e) => return Err(e),
    }
    let all = sys::wait_exit(&handles, &mut exited, Instant::now() + KILL_WAIT);
    Ok(outcome(all, true))
}

/// Opens a handle on `target`, then checks its start time again: from here on the handle
/// can only reach this process.
fn pin(target: &ProcessIdentity) -> Result<Handle, SignalError> {
    let handle = Handle::open(*target).map_err(|e| signal_error(target.pid, e))?;
    verify_identity(target)?;
    Ok(handle)
}

/// The process with `target.pid` is alive and started at `target.start_time`.
fn verify_identity(target: &ProcessIdentity) -> Result<(), SignalError> {
    match sys::live_identity(target.pid) {
        Ok(Some(now)) if now.start_time == target.start_time => Ok(()),
        Ok(Some(now)) => Err(mismatch(target, now.start_time)),
        Ok(None) => Err(Refusal::Gone { pid: target.pid }.into()),
        Err(e) => Err(os_error(target.pid, e)),
    }
}

fn mismatch(target: &ProcessIdentity, found: u64) -> SignalError {
    Refusal::IdentityMismatch {
        pid: target.pid,
        expected: target.start_time,
        found,
    }
    .into()
}

fn signal_error(pid: u32, e: io::Error) -> SignalError {
    match e.raw_os_error() {
        Some(libc::ESRCH) => SignalError::Gone { pid },
        Some(libc::EPERM) => SignalError::PermissionDenied { pid },
        _ => SignalError::Os { pid, source: e },
    }
}

fn os_error(pid: u32, e: Error) -> SignalError {
    match e {
        Error::Unsupported { what } => SignalError::Unsupported { what },
        Error::Proc { source, .. } => SignalError::Os { pid, source },
        other => SignalError::Os {
            pid,
            source: io::Error::other(other),
        },
    }
}
