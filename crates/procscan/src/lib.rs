//! The socket table and the processes behind it.
//!
//! `procscan` answers "what holds this port?" for every listening (or any) TCP and UDP socket,
//! with every process holding it, faster than `ss -p` and far faster than `lsof`:
//!
//! - [`snapshot`] reads the whole table (netlink `sock_diag` on Linux, `/proc/net` as a
//!   fallback) and attributes each socket to its holders with one parallel pass over
//!   `/proc/*/fd`; [`lookup_port`] does the same for one port, filtered in the kernel;
//! - [`Scanner`] repeats scans cheaply for continuous monitoring;
//! - [`process_info`], [`process_identity`], [`is_same_process`], [`ancestors`],
//!   [`processes`], [`group_members`] and [`descendants`] answer questions about processes;
//! - [`check_target`], [`send_signal`] and [`terminate`] signal a recorded
//!   [`ProcessIdentity`] safely: never init, ourselves, our ancestors, kernel threads,
//!   protected names or other users' processes (see [`SafetyPolicy`]), and never a process
//!   that merely inherited a recorded pid.
//!
//! ```
//! use procscan::{ScanOptions, snapshot};
//!
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let port = listener.local_addr()?.port();
//!
//! let snap = snapshot(&ScanOptions::default())?;
//! for socket in snap.on_port(port, None) {
//!     for process in snap.holders(socket) {
//!         assert_eq!(process.pid, std::process::id());
//!         println!("{} {} held by {} ({})", socket.protocol, socket.local, process.pid, process.name);
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Library code never prints; it logs at debug level through `log` (a netlink fallback, a
//! SIGKILL escalation).
#![deny(missing_docs)]

mod error;
mod model;
mod process;
mod scan;
mod scanner;
mod signal;
mod sys;
mod table;
mod terminate;

pub use error::Error;
pub use model::{
    ProcessDetail, ProcessIdentity, ProcessInfo, ScanOptions, ScanSource, Snapshot, Socket,
    SocketState, SourcePreference, StateFilter,
};
pub use process::{
    ancestors, descendants, group_members, is_same_process, process_identity, process_info,
    processes,
};
pub use scan::{holds_port, lookup_port, port_sockets, snapshot};
pub use scanner::Scanner;
pub use signal::{
    ParseSignalError, Refusal, SafetyPolicy, Signal, SignalError, TerminateOptions,
    TerminateOutcome,
};
pub use terminate::{KILL_WAIT, check_target, send_signal, terminate};
