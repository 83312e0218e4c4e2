//! Helpers shared by the test modules.

use std::net::SocketAddr;

use portcore::Protocol;
use procscan::{Snapshot, Socket};

/// Prints why a test does not apply here and leaves it.
macro_rules! skip {
    ($($arg:tt)*) => {{
        println!("SKIPPED: {}", format!($($arg)*));
        return;
    }};
}

/// The socket of `snap` with this protocol and local address.
pub fn find(snap: &Snapshot, protocol: Protocol, local: SocketAddr) -> Option<&Socket> {
    snap.sockets
        .iter()
        .find(|s| s.protocol == protocol && s.local == local)
}

/// The running kernel's (major, minor) version.
pub fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok());
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Our parent's pid.
pub fn parent_pid() -> u32 {
    std::os::unix::process::parent_id()
}
