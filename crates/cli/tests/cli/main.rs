//! portwarden's command line end to end: the real binary against real sockets and processes,
//! one module per behaviour. Build the workspace's binaries first (`scripts/test` does):
//! the tests start `pw-fixture` processes.

// Helpers outside `#[test]` functions unwrap too: any failure there is the test's failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod checks;
mod config;
mod detached;
mod foreground;
mod inspect;
mod monitor;
mod recovery;
mod report;
mod resolve;
mod stack_support;
mod support;
