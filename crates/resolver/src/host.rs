//! The effects execution needs, through procscan: the one place this crate touches processes.

use portcore::Protocol;
use procscan::{
    ProcessIdentity, ProcessInfo, Refusal, SafetyPolicy, TerminateOptions, TerminateOutcome,
};

/// Why a termination did not happen.
#[derive(Debug)]
pub(crate) enum TerminateError {
    /// A safety check said no; nothing was sent.
    Refused(Refusal),
    /// The system failed.
    Failed(String),
}

/// What procscan knows of one process.
pub(crate) fn process_info(_pid: u32) -> Option<ProcessInfo> {
    None
}

/// The pids that hold `port` now (a fresh lookup).
pub(crate) fn port_holders(_port: u16, _protocol: Protocol) -> Result<Vec<u32>, String> {
    Err("procscan::lookup_port is not merged yet".to_owned())
}

/// The safety checks and the identity check, without sending anything.
pub(crate) fn check_target(
    _identity: ProcessIdentity,
    _policy: &SafetyPolicy,
) -> Result<(), TerminateError> {
    Err(TerminateError::Failed(
        "procscan::check_target is not merged yet".to_owned(),
    ))
}

/// Ends the process through procscan.
pub(crate) fn terminate(
    _identity: ProcessIdentity,
    _options: &TerminateOptions,
    _policy: &SafetyPolicy,
) -> Result<TerminateOutcome, TerminateError> {
    Err(TerminateError::Failed(
        "procscan::terminate is not merged yet".to_owned(),
    ))
}
