//! Running the stack: everything `up`, `up -d`'s daemon and `start-service` share.
//!
//! - [`prepare`]: the config, the lock, the pre-start checks, and the ports (a resolver plan
//!   against a fresh scan, confirmed when it stops processes, carried out and recorded);
//! - [`run`]: the supervisor with the control server, the signal handling, the progress
//!   display and the startup log, until the stack has stopped.

pub mod hub;
pub mod metrics;
pub mod ports;
mod prepare;
pub mod probe;
pub mod progress;
mod run;
pub mod signals;
pub mod specs;
pub mod timeline;

pub use prepare::{Prepared, pre_start_issues, prepare};
pub use run::{Mode, run};
