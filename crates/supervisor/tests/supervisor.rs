//! The supervisor's integration tests: real processes (`pw-fixture` and the demo services),
//! real sockets on loopback, every wait bounded, every process stopped even on failure.
//!
//! Build the helper binaries first: `cargo build -p portwarden-testkit -p portwarden-examples --bins`.

// Helpers outside `#[test]` functions panic on failure too: that is how a test fails.
#![allow(clippy::unwrap_used)]

#[path = "supervisor/common.rs"]
mod common;

#[path = "supervisor/graph.rs"]
mod graph;
#[path = "supervisor/health.rs"]
mod health;
#[path = "supervisor/order.rs"]
mod order;
#[path = "supervisor/output.rs"]
mod output;
#[path = "supervisor/ports.rs"]
mod ports;
#[path = "supervisor/recovery.rs"]
mod recovery;
#[path = "supervisor/restart.rs"]
mod restart;
#[path = "supervisor/setup.rs"]
mod setup;
#[path = "supervisor/stop.rs"]
mod stop;
