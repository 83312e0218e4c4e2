//! The plan: what will be done, per service, before anything is done.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use portcore::Protocol;
use procscan::{ProcessIdentity, Signal};
use serde::{Deserialize, Serialize};

use crate::{Conflict, ConflictLevel, Decision};

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// End a process that holds `port` (SIGTERM or the chosen signal, `grace`, then SIGKILL).
    /// Executed only when the process still has this identity and still holds the port.
    Terminate {
        /// The process, as recorded when the plan was made.
        identity: ProcessIdentity,
        /// Its name (for messages).
        name: String,
        /// The port it holds.
        port: u16,
        /// The port's protocol.
        protocol: Protocol,
        /// The first signal.
        signal: Signal,
        /// Time before SIGKILL.
        #[serde(with = "crate::serde_ms")]
        grace: Duration,
        /// Signal its whole process group (it leads the group holding the port).
        group: bool,
    },
    /// Give `service` the port `to` instead of `from`.
    Migrate {
        /// The service.
        service: String,
        /// Its configured port.
        from: u16,
        /// Its new port.
        to: u16,
    },
    /// Nothing to do.
    Keep,
    /// Nothing safe can be done.
    Unresolvable {
        /// Why.
        reason: String,
    },
}

/// The plan for one service (or, for kill-port and cleanup plans, one port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanEntry {
    /// The service; `None` in a kill-port plan.
    pub service: Option<String>,
    /// The port concerned (the service's configured port).
    pub port: u16,
    /// Its protocol.
    pub protocol: Protocol,
    /// How serious the conflict is ([`ConflictLevel::None`] without one).
    pub level: ConflictLevel,
    /// The conflict on the port, when there is one.
    pub conflict: Option<Conflict>,
    /// Advisory conflicts (an alternative that is another service's port).
    pub advisories: Vec<Conflict>,
    /// What the strategy decided (after the planner's checks).
    pub decision: Decision,
    /// The steps, in order.
    pub actions: Vec<Action>,
    /// The port the service will use once the plan is carried out; `None` when unresolvable.
    pub resolved_port: Option<u16>,
}

impl PlanEntry {
    /// Whether carrying out this entry changes anything.
    pub fn has_work(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, Action::Terminate { .. } | Action::Migrate { .. }))
    }
}

/// A plan computed from a snapshot: serializable, and exactly what `--dry-run` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The strategy that decided (`kill-port` and `cleanup` for those plans).
    pub strategy: String,
    /// When the snapshot it was made from was taken.
    pub snapshot_taken_at: SystemTime,
    /// One entry per service (or port), in claim order.
    pub entries: Vec<PlanEntry>,
}

impl Plan {
    /// The port each service will use (unresolvable services are missing).
    pub fn resolved_ports(&self) -> BTreeMap<String, u16> {
        self.entries
            .iter()
            .filter_map(|e| Some((e.service.clone()?, e.resolved_port?)))
            .collect()
    }

    /// The entry of a service.
    pub fn entry(&self, service: &str) -> Option<&PlanEntry> {
        self.entries
            .iter()
            .find(|e| e.service.as_deref() == Some(service))
    }

    /// The planned migrations: `(service, from, to)`.
    pub fn migrations(&self) -> impl Iterator<Item = (&str, u16, u16)> + '_ {
        self.entries
            .iter()
            .flat_map(|e| e.actions.iter())
            .filter_map(|a| match a {
                Action::Migrate { service, from, to } => Some((service.as_str(), *from, *to)),
                _ => None,
            })
    }

    /// Entries that cannot be resolved.
    pub fn unresolved(&self) -> impl Iterator<Item = &PlanEntry> + '_ {
        self.entries
            .iter()
            .filter(|e| matches!(e.decision, Decision::Unresolvable { .. }))
    }

    /// Whether executing the plan would change nothing.
    pub fn is_noop(&self) -> bool {
        !self.entries.iter().any(PlanEntry::has_work)
    }

    /// The most serious level in the plan.
    pub fn max_level(&self) -> ConflictLevel {
        self.entries
            .iter()
            .map(|e| e.level)
            .max()
            .unwrap_or_default()
    }
}
