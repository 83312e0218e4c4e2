//! Socket probing for local development ports.
//!
//! `portcore` answers the questions a port manager asks before it touches a process:
//! which protocol and address family a socket uses, whether a bind on a port would succeed on
//! each of the addresses that matter (and why not), whether something accepts connections, which
//! ports are reserved or fall inside the kernel's ephemeral range, and which free port to use
//! given a preferred port, alternatives and exclusions.
//!
//! It knows nothing of processes (see `procscan`) or of configuration files.
//!
//! ```
//! use portcore::{PortSet, Protocol, probe_port};
//!
//! // Bind a listener on an ephemeral loopback port, then ask about that port.
//! let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
//! let port = listener.local_addr().unwrap().port();
//! let report = probe_port(port, Protocol::Tcp);
//! assert!(!report.is_free());
//! assert!(PortSet::default_reserved().contains(22));
//! ```
#![deny(missing_docs)]

mod choose;
mod ephemeral;
mod error;
mod probe;
mod protocol;
mod range;

pub use choose::{ChoiceReason, PortChoice, PortRequest, choose_port, choose_port_probed};
pub use ephemeral::{EphemeralRange, ephemeral_range};
pub use error::{Error, ParseError};
pub use probe::{
    BindOutcome, BindProbe, ConnectOutcome, PROBE_ADDRESSES, PortProbe, probe_bind, probe_connect,
    probe_port,
};
pub use protocol::{Family, Protocol};
pub use range::{PortRange, PortSet};
