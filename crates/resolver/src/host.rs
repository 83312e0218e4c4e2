//! The effects execution needs, through procscan: the one place this crate touches processes.

use portcore::Protocol;
use procscan::{
    ProcessDetail, ProcessIdentity, ProcessInfo, Refusal, SafetyPolicy, SignalError, StateFilter,
    TerminateOptions, TerminateOutcome,
};

/// Why a termination did not happen.
#[derive(Debug)]
pub(crate) enum TerminateError {
    /// A safety check said no (or the process was gone); nothing was sent.
    Refused(Refusal),
    /// The system failed, or refused the signal.
    Failed(String),
}

impl From<SignalError> for TerminateError {
    fn from(err: SignalError) -> Self {
        match err {
            SignalError::Refused(refusal) => TerminateError::Refused(refusal),
            SignalError::Gone { pid } => TerminateError::Refused(Refusal::Gone { pid }),
            other => TerminateError::Failed(other.to_string()),
        }
    }
}

/// The parent chain of `pid`, parent first, without pid 1.
pub(crate) fn ancestors(pid: u32) -> Vec<u32> {
    procscan::ancestors(pid)
        .into_iter()
        .map(|p| p.pid)
        .filter(|&p| p > 1)
        .collect()
}

/// Whether `pid` still holds a listening socket on `port`: the kernel's table for the port,
/// then only that process's descriptors (not every process's).
pub(crate) fn still_holds(pid: u32, port: u16, protocol: Protocol) -> Result<bool, String> {
    procscan::holds_port(pid, port, Some(protocol), StateFilter::Listening)
        .map_err(|e| e.to_string())
}

/// Whether any listening socket is on `port` now (the kernel's table only: cheap to poll).
pub(crate) fn port_listened(port: u16, protocol: Protocol) -> Result<bool, String> {
    procscan::port_sockets(port, Some(protocol), StateFilter::Listening)
        .map(|sockets| !sockets.is_empty())
        .map_err(|e| e.to_string())
}

/// The pids whose listening sockets hold `port` now (a fresh, kernel-filtered lookup).
pub(crate) fn port_holders(port: u16, protocol: Protocol) -> Result<Vec<u32>, String> {
    let found = procscan::lookup_port(
        port,
        Some(protocol),
        StateFilter::Listening,
        ProcessDetail::Pids,
    )
    .map_err(|e| e.to_string())?;
    let mut pids: Vec<u32> = found
        .sockets
        .iter()
        .flat_map(|s| s.holders.iter().copied())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// The safety checks and the identity check, without sending anything.
pub(crate) fn check_target(
    identity: ProcessIdentity,
    policy: &SafetyPolicy,
) -> Result<ProcessInfo, TerminateError> {
    procscan::check_target(&identity, policy).map_err(Into::into)
}

/// Ends the process through procscan (pidfd, grace period, SIGKILL, group).
pub(crate) fn terminate(
    identity: ProcessIdentity,
    options: &TerminateOptions,
    policy: &SafetyPolicy,
) -> Result<TerminateOutcome, TerminateError> {
    procscan::terminate(&identity, options, policy).map_err(Into::into)
}
