//! The resolver's integration tests: one behaviour per module.
//!
//! Pure modules build snapshots by hand (`support`); the `live` modules run real `pw-fixture`
//! processes on loopback (build them first: `cargo build -p portwarden-testkit --bins`), with
//! bounded waits, and kill everything they start (the fixtures' guards do, even on failure).
#![allow(clippy::unwrap_used, clippy::print_stderr)]

#[path = "resolver/support.rs"]
mod support;

#[path = "resolver/decisions.rs"]
mod decisions;
#[path = "resolver/dry_run.rs"]
mod dry_run;
#[path = "resolver/history.rs"]
mod history;
#[path = "resolver/kill_port.rs"]
mod kill_port;
#[path = "resolver/live.rs"]
mod live;
#[path = "resolver/memory.rs"]
mod memory;
#[path = "resolver/planning.rs"]
mod planning;
