//! The errors of scans and process queries.

use std::io;
use std::path::PathBuf;

use portcore::{Family, Protocol};

/// Why a scan or a process query failed.
///
/// Races are not errors: a process that exits while it is being read is skipped, and a socket
/// whose holders cannot be seen stays in the table without holders.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The netlink `sock_diag` interface failed (no such socket family, a refused dump, a
    /// malformed answer).
    #[error("netlink sock_diag request for {protocol} over {family} failed: {source}")]
    Netlink {
        /// The protocol of the dump that failed.
        protocol: Protocol,
        /// The address family of the dump that failed.
        family: Family,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Opening the netlink socket itself failed.
    #[error("cannot open a netlink sock_diag socket: {source}")]
    NetlinkSocket {
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A file under `/proc` could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Proc {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// No process has this pid (or it exited while being read).
    #[error("no process with pid {pid}")]
    ProcessNotFound {
        /// The pid asked for.
        pid: u32,
    },
    /// The operation is not available on this system.
    #[error("{what} is not supported on this system")]
    Unsupported {
        /// What was asked for.
        what: &'static str,
    },
    /// The portable socket table (on systems other than Linux) could not be read.
    #[error("cannot read the socket table: {source}")]
    SocketTable {
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn proc(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Proc {
            path: path.into(),
            source,
        }
    }
}
