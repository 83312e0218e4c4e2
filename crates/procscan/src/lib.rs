//! The socket table and the processes behind it.
#![deny(missing_docs)]

mod model;
mod signal;

pub use model::{
    ProcessDetail, ProcessIdentity, ProcessInfo, ScanOptions, ScanSource, Snapshot, Socket,
    SocketState, SourcePreference, StateFilter,
};
pub use signal::{Refusal, SafetyPolicy, Signal, TerminateOptions, TerminateOutcome};
