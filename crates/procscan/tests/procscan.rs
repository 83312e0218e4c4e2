//! procscan against real sockets and real processes (loopback only).
//!
//! The tests start `pw-fixture` processes (see `tests/src/bin/pw-fixture.rs`), which must be
//! built first: `cargo build -p portwarden-testkit --bins` (a workspace build does it). Every
//! fixture is killed, with its process group, when its guard drops, even when a test fails.
//! Every wait is bounded by a deadline.
//!
//! Tests only ever signal processes they started (each fixture leads its own process group),
//! so they can run in parallel, in one process or in many.

#[macro_use]
#[path = "procscan/support.rs"]
mod support;

#[path = "procscan/identity.rs"]
mod identity;
#[path = "procscan/lookup.rs"]
mod lookup;
#[path = "procscan/safety.rs"]
mod safety;
#[path = "procscan/scanner.rs"]
mod scanner;
#[path = "procscan/sources.rs"]
mod sources;
#[path = "procscan/table.rs"]
mod table;
#[path = "procscan/terminate.rs"]
mod terminate;
#[path = "procscan/unprivileged.rs"]
mod unprivileged;
