//! A dependency-graph process supervisor for local multi-service stacks.
//!
//! You describe services as typed [`ServiceSpec`]s (the config file belongs to the CLI),
//! build a [`Stack`] (a DAG: cycles and unknown dependencies are errors naming them), and
//! [`Supervisor::start`] it. The supervisor then:
//!
//! - starts each service as soon as its dependencies meet their [`Condition`], independent
//!   services in parallel, each in its own session and process group, with a setup command
//!   first when it has one;
//! - judges health with [`HealthCheck`] plugins (HTTP, TCP, exec, "listening", or your own):
//!   a fast startup phase, then a steady interval, never more than one check in flight;
//! - captures output line by line into rotated `<service>.log` files and into [`Event`]s,
//!   never blocking a service on a slow reader;
//! - notices exits through pidfds (no polling), restarts per [`RestartPolicy`] with
//!   exponential backoff, and moves a service whose port was taken to a new port found by
//!   your [`PortArbiter`];
//! - passes ports on: `PORT`, `PORTWARDEN_<NAME>_PORT`, and the [`template`]s `{port}` and
//!   `{services.NAME.port}`, or a socket bound by the supervisor itself (socket activation);
//! - stops in reverse dependency order, SIGKILLs what does not stop in time, reaps orphans,
//!   and records what runs in a state file so a killed supervisor's successor cleans up.
//!
//! ```no_run
//! use std::time::Duration;
//! use supervisor::{Condition, Event, HealthSpec, ServiceSpec, Stack, Supervisor, SupervisorOptions};
//!
//! let stack = Stack::new(vec![
//!     ServiceSpec::new("api", "exec ./target/debug/demo-api")
//!         .port(8000)
//!         .health(HealthSpec::http("http://127.0.0.1:{port}/health")),
//!     ServiceSpec::new("web", "exec ./web --api http://127.0.0.1:{services.api.port}")
//!         .port(3000)
//!         .depends_on("api", Condition::Healthy),
//! ])?;
//! for issue in stack.check() {
//!     eprintln!("warning: {issue}");
//! }
//! let handle = Supervisor::start(stack, SupervisorOptions::default())?;
//! let events = handle.events();
//! handle.wait_ready(Duration::from_secs(60))?;
//! while let Some(event) = events.recv() {
//!     if let Event::Failed { service, reason } = &event {
//!         eprintln!("{service}: {reason}");
//!         handle.shutdown();
//!     }
//! }
//! handle.wait()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Linux only for now: elsewhere [`Supervisor::start`] returns an "unsupported" error.
#![deny(missing_docs)]

mod check;
mod engine;
mod error;
mod event;
mod handle;
mod health;
mod kill;
mod options;
mod process;
mod restart;
mod spec;
mod stack;
mod state;
mod status;
mod sys;
pub mod template;

pub use check::{CheckIssue, check_services};
pub use error::{Error, StackError};
pub use event::{Event, EventReceiver, Stream};
pub use handle::{Supervisor, SupervisorHandle};
pub use health::{
    ExecCheck, HealthCheck, HealthContext, HealthResult, HttpCheck, ListeningCheck, TcpCheck,
    is_local_host, url_host,
};
pub use options::{PortArbiter, SupervisorOptions};
pub use procscan::{ProcessIdentity, Signal};
pub use spec::{
    Condition, Dependency, HealthSpec, HealthTiming, RestartLimits, RestartPolicy, ServiceSpec,
};
pub use stack::Stack;
pub use state::{ServiceRecord, StateFile, read_state};
pub use status::{Health, HealthStats, ServiceState, ServiceStatus};
pub use sys::ExitInfo;

/// The name of the environment variable that carries `service`'s port to every service
/// (`PORTWARDEN_<NAME>_PORT`, the name upper-cased with anything but letters and digits as
/// `_`).
///
/// ```
/// assert_eq!(supervisor::port_variable("my-api"), "PORTWARDEN_MY_API_PORT");
/// ```
pub fn port_variable(service: &str) -> String {
    engine::port_variable(service)
}
