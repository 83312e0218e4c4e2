//! Fallbacks for targets pw-bench does not measure on: every call is unsupported.

use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::time::Duration;

use super::{Exit, Reaped};

fn unsupported<T>() -> io::Result<T> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "pw-bench measures on Linux only",
    ))
}

/// Unsupported here.
pub fn enter_private_netns() -> io::Result<()> {
    unsupported()
}

/// Unsupported here.
pub fn set_child_subreaper() -> io::Result<()> {
    unsupported()
}

/// Unsupported here.
pub fn pidfd_open(_pid: u32) -> io::Result<OwnedFd> {
    unsupported()
}

/// Unsupported here.
pub fn poll_readable(_fds: &[RawFd], _timeout: Duration) -> io::Result<Vec<bool>> {
    unsupported()
}

/// Unsupported here.
pub fn wait4(_pid: u32) -> io::Result<Reaped> {
    unsupported()
}

/// Unsupported here.
pub fn reap_group(_pgid: i32) -> io::Result<Option<(u32, Exit)>> {
    unsupported()
}

/// Does nothing here.
pub fn kill_group(_pgid: i32) {}

/// Does nothing here.
pub fn kill_pid(_pid: i32) {}

/// Unsupported here.
pub fn send_signal(_pid: u32, _signal: i32) -> io::Result<()> {
    unsupported()
}

/// Unsupported here.
pub fn reap_pid(_pid: u32) -> io::Result<Option<Exit>> {
    unsupported()
}

/// The usual `USER_HZ`.
pub fn clock_ticks() -> u64 {
    100
}

/// Does nothing here.
pub fn kill_children() -> usize {
    0
}

/// Always false here.
pub fn group_alive(_pgid: i32) -> bool {
    false
}

/// Unsupported here.
pub fn own_max_rss_kib() -> io::Result<u64> {
    unsupported()
}

/// Does nothing here.
pub fn on_termination_signals(_handler: extern "C" fn(i32)) {}

/// Does nothing here.
pub fn reraise(_signal: i32) {}

/// Does nothing here.
#[derive(Debug)]
pub struct SignalsBlocked;

impl SignalsBlocked {
    /// Does nothing here.
    pub fn unblock_in_child(&self, _command: &mut std::process::Command) {}
}

/// Does nothing here.
pub fn block_termination_signals() -> SignalsBlocked {
    SignalsBlocked
}
