//! Systems other than Linux: supervising a stack is not supported yet. Every function exists
//! and fails (or refuses) clearly.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;

use super::{GroupUsages, PeerCred};

fn unsupported(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what} is only supported on Linux"),
    )
}

/// Unsupported: every peer is refused.
pub fn peer_cred(_stream: &UnixStream) -> io::Result<PeerCred> {
    Err(unsupported("checking a control socket peer"))
}

/// Unknown: assumed open.
pub fn peer_closed(_stream: &UnixStream) -> bool {
    false
}

/// This process's effective uid.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Unsupported.
pub fn try_lock(_file: &File) -> io::Result<bool> {
    Err(unsupported("locking the state folder"))
}

/// Unsupported.
pub fn set_cloexec(_fd: RawFd, _on: bool) -> io::Result<()> {
    Err(unsupported("passing descriptors to the daemon"))
}

/// Unsupported.
pub fn new_session() -> io::Result<()> {
    Err(unsupported("starting the daemon"))
}

/// Unsupported.
pub fn signal_pipe(_signals: &[i32]) -> io::Result<File> {
    Err(unsupported("handling signals"))
}

/// The usual value.
pub fn clock_ticks() -> u64 {
    100
}

/// Nothing is known.
pub fn group_usage(_pgids: &HashSet<u32>) -> GroupUsages {
    GroupUsages::new()
}
