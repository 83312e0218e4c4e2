//! The supervisor's errors.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Why a set of services does not form a stack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StackError {
    /// Two services share a name.
    #[error("service `{name}` is defined twice")]
    DuplicateService {
        /// The name.
        name: String,
    },
    /// A name that cannot be used (empty, or with characters other than letters, digits,
    /// `-`, `_` and `.`).
    #[error("`{name}` is not a usable service name (letters, digits, `-`, `_` and `.` only)")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// A dependency on a service that does not exist.
    #[error("service `{service}` depends on `{dependency}`, which is not defined")]
    UnknownDependency {
        /// The dependent.
        service: String,
        /// The missing service.
        dependency: String,
    },
    /// Services that depend on each other in a circle, first service repeated at the end.
    #[error("dependency cycle: {}", cycle.join(" -> "))]
    Cycle {
        /// The services of the cycle, in dependency order, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// A service asked for (to start, stop ...) that the stack does not have.
    #[error("no service named `{name}`")]
    UnknownService {
        /// The name asked for.
        name: String,
    },
}

/// Errors of [`crate::Supervisor`] and [`crate::SupervisorHandle`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The services do not form a stack.
    #[error(transparent)]
    Stack(#[from] StackError),
    /// Another supervisor that is still running recorded this state file.
    #[error(
        "a supervisor (pid {pid}) is already running this stack (state file {})",
        path.display()
    )]
    AlreadyRunning {
        /// Its pid.
        pid: u32,
        /// The state file.
        path: PathBuf,
    },
    /// The state file could not be read or written.
    #[error("state file {}: {source}", path.display())]
    StateFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The log folder could not be created.
    #[error("log folder {}: {source}", path.display())]
    LogDir {
        /// The folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// An operating-system call the supervisor needs failed.
    #[error("{what}: {source}")]
    Os {
        /// What was attempted.
        what: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The stack did not come up: a service failed or was blocked by a failed dependency.
    #[error("the stack failed: {reason}")]
    StackFailed {
        /// The first failure, naming the service.
        reason: String,
    },
    /// Waiting ran out of time.
    #[error("timed out after {waited:?}")]
    Timeout {
        /// How long was waited.
        waited: Duration,
    },
    /// The supervisor has already stopped.
    #[error("the supervisor has stopped")]
    Stopped,
}
