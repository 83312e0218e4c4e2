//! The error type of the command line, and its exit codes.
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | success |
//! | 1    | the operation failed (a service did not start, a check failed, an I/O error) |
//! | 2    | usage error (unknown flag, bad argument) |
//! | 3    | config error (no config found, or the file is invalid) |
//! | 4    | conflicts remain (a port is taken and the plan could not resolve it) |
//! | 5    | refused (the safety policy refused a target, or confirmation was needed) |
//! | 6    | not found (unknown service, no running supervisor) |
//! | 130  | interrupted (Ctrl-C) |

use std::fmt;
use std::process::ExitCode;

/// Exit code: success.
pub const OK: u8 = 0;
/// Exit code: the operation failed.
pub const FAILURE: u8 = 1;
/// Exit code: usage error.
pub const USAGE: u8 = 2;
/// Exit code: config error.
pub const CONFIG: u8 = 3;
/// Exit code: conflicts remain.
pub const CONFLICT: u8 = 4;
/// Exit code: refused by the safety policy or for lack of confirmation.
pub const REFUSED: u8 = 5;
/// Exit code: not found.
pub const NOT_FOUND: u8 = 6;
/// Exit code: interrupted.
pub const INTERRUPTED: u8 = 130;

/// A failed command: what to tell the user and which exit code to use.
#[derive(Debug)]
pub struct CliError {
    code: u8,
    error: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl CliError {
    /// An error with an explicit exit code.
    pub fn new(
        code: u8,
        error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            code,
            error: error.into(),
        }
    }

    /// A plain failure (exit code 1) with a message.
    pub fn failure(message: impl fmt::Display) -> Self {
        Self::new(FAILURE, message.to_string())
    }

    /// The exit code this error maps to.
    pub fn code(&self) -> u8 {
        self.code
    }

    /// The message and its chain of causes, one per line after the first ("caused by: ...").
    pub fn chain(&self) -> String {
        let mut text = self.error.to_string();
        let mut source = self.error.source();
        while let Some(cause) = source {
            let line = cause.to_string();
            // thiserror messages often embed their source already: don't repeat it.
            if !text.contains(&line) {
                text.push_str("\n  caused by: ");
                text.push_str(&line);
            }
            source = cause.source();
        }
        text
    }

    /// Whether this is a closed output pipe (`portwarden scan | head`): not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        self.error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        if self.is_broken_pipe() {
            ExitCode::from(OK)
        } else {
            ExitCode::from(self.code)
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.chain())
    }
}

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> Self {
        Self::new(FAILURE, error)
    }
}

impl From<serde_json::Error> for CliError {
    fn from(error: serde_json::Error) -> Self {
        // serde_json reports a closed stdout as an io error inside its own type.
        if error.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe) {
            return Self::new(
                FAILURE,
                std::io::Error::from(std::io::ErrorKind::BrokenPipe),
            );
        }
        Self::new(FAILURE, error)
    }
}

/// The result type of every command.
pub type CliResult<T = ()> = Result<T, CliError>;
