//! The errors of the resolver's fallible operations. Planning and execution never fail as a
//! whole: what cannot be done is an outcome in the plan or the report, not an error.

use std::io;
use std::path::PathBuf;

/// A [`Claim`](crate::Claim) could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimError {
    /// A process pattern is not a valid regular expression.
    #[error("service `{service}`: process pattern {pattern:?} is not a valid regex: {source}")]
    InvalidPattern {
        /// The service whose pattern it is.
        service: String,
        /// The pattern as written.
        pattern: String,
        /// What the regex parser said.
        #[source]
        source: regex::Error,
    },
    /// Port 0 cannot be claimed (it means "any port" to the kernel).
    #[error("service `{service}`: port 0 cannot be claimed")]
    PortZero {
        /// The service.
        service: String,
    },
}

/// [`strategy_by_name`](crate::strategy_by_name) was given a name it does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown strategy `{name}`: known strategies are {}", known.join(", "))]
#[non_exhaustive]
pub struct UnknownStrategy {
    /// The name asked for.
    pub name: String,
    /// The names the registry knows.
    pub known: Vec<String>,
}

/// The history file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// Creating the folder, opening, writing or reading the file failed.
    #[error("history file {}: {source}", path.display())]
    Io {
        /// The file (or the folder being created).
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A record could not be encoded as JSON (a bug, reported rather than panicking).
    #[error("history file {}: cannot encode a record: {source}", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
}

/// The port memory file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// Creating the folder, reading, writing or renaming failed.
    #[error("port memory {}: {source}", path.display())]
    Io {
        /// The file (or its folder, or the temporary file beside it).
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The file is not the JSON this crate writes.
    #[error("port memory {}: not valid JSON at line {line}, column {column}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Line of the error (1-based).
        line: usize,
        /// Column of the error (1-based).
        column: usize,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The memory could not be encoded as JSON (a bug, reported rather than panicking).
    #[error("port memory {}: cannot encode: {source}", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
}
