//! How serious a conflict is.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::HolderClass;

/// How serious a service's port conflict is. Levels are ordered: `None < Low < ... < Critical`;
/// a port with several holders takes the most serious holder's level.
///
/// | level      | the claimed port is ...                                                           |
/// |------------|-----------------------------------------------------------------------------------|
/// | `none`     | free (no listening socket of the claimed protocol on it)                          |
/// | `low`      | held by our own healthy instance of the service (its recorded identity)           |
/// | `medium`   | held by a stale copy of ours (matches the service's patterns, not the recorded instance); or only TIME_WAIT sockets remain on it |
/// | `high`     | held by another process of this user; or held by another of our services' live instances; or claimed as primary by an earlier service too (double claim) |
/// | `critical` | held by a protected or system process, another user's process, or an owner we cannot see; or the service is critical and no free alternative is left |
///
/// TIME_WAIT: closed connections linger in TIME_WAIT for up to a minute. No process holds them
/// and nothing can be killed. A typical server sets `SO_REUSEADDR` (Rust's `std`, Node, Python's
/// `socketserver`, Go's `net` all do) and binds fine over them; a server that binds without
/// `SO_REUSEADDR` gets `EADDRINUSE` until they expire. Hence medium, and a "keep" decision with
/// that explanation rather than a migration.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ConflictLevel {
    /// No conflict.
    #[default]
    None,
    /// Our own healthy instance holds the port: nothing to do.
    Low,
    /// A stale copy of ours, or only TIME_WAIT sockets.
    Medium,
    /// Another process of this user.
    High,
    /// A process we must not or cannot stop, or a critical service left without a port.
    Critical,
}

impl ConflictLevel {
    /// The lowercase name: `none`, `low`, `medium`, `high`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictLevel::None => "none",
            ConflictLevel::Low => "low",
            ConflictLevel::Medium => "medium",
            ConflictLevel::High => "high",
            ConflictLevel::Critical => "critical",
        }
    }

    /// The level of a port held by a holder of this class, for the service `claimant`, where
    /// `other_user` says whether the holder belongs to another user.
    pub fn of_holder(class: &HolderClass, claimant: &str, other_user: bool) -> ConflictLevel {
        match class {
            HolderClass::Ours { service, stale } => match (stale, service == claimant) {
                (false, true) => ConflictLevel::Low,
                (true, _) => ConflictLevel::Medium,
                // Another of our services, alive: never ours to stop for this one.
                (false, false) => ConflictLevel::High,
            },
            HolderClass::External if other_user => ConflictLevel::Critical,
            HolderClass::External => ConflictLevel::High,
            HolderClass::System | HolderClass::Unknown => ConflictLevel::Critical,
        }
    }
}

impl fmt::Display for ConflictLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
