//! Strategies: what to do about a conflict. A strategy only decides; the planner checks the
//! decision (a strategy cannot make it target a process that does not hold the port, a
//! protected process, or a port that is taken, reserved or already given away) and turns it into
//! actions.

mod aggressive;
mod conservative;
mod context;
mod intelligent;
mod registry;

use std::time::Duration;

use procscan::ProcessIdentity;
use serde::{Deserialize, Serialize};

pub use aggressive::Aggressive;
pub use conservative::Conservative;
pub use context::DecisionContext;
pub(crate) use context::{group_of as group_of_holders, may_end};
pub use intelligent::Intelligent;
pub use registry::{STRATEGY_NAMES, strategy_by_name};

use crate::{Conflict, ConflictKind, ConflictLevel, HolderClass, PortRole};

/// What a strategy decided for one conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Decision {
    /// Nothing to do: the port is usable as it is (or the conflict is only advisory).
    Keep,
    /// Give the service another port.
    Migrate {
        /// The new port.
        to: u16,
    },
    /// End copies of our own service that hold the port, so that ours starts on it.
    RestartOurs {
        /// The processes to end.
        targets: Vec<ProcessIdentity>,
    },
    /// End the processes holding the port.
    Terminate {
        /// The processes to end.
        targets: Vec<ProcessIdentity>,
        /// Signal the whole process group of the target that leads it.
        group: bool,
    },
    /// Nothing safe can be done; the reason says why.
    Unresolvable {
        /// Why.
        reason: String,
    },
}

impl Decision {
    /// A short name: `keep`, `migrate`, `restart_ours`, `terminate`, `unresolvable`.
    pub fn name(&self) -> &'static str {
        match self {
            Decision::Keep => "keep",
            Decision::Migrate { .. } => "migrate",
            Decision::RestartOurs { .. } => "restart_ours",
            Decision::Terminate { .. } => "terminate",
            Decision::Unresolvable { .. } => "unresolvable",
        }
    }
}

/// The knobs every strategy honours (the config file's `conflict_resolution` section).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolutionSettings {
    /// Services may move to an alternative port. Default true.
    pub allow_port_migration: bool,
    /// The intelligent strategy never stops external processes. Default true. (Choosing the
    /// aggressive strategy is choosing not to preserve them; the conservative one never stops
    /// any process.)
    pub preserve_external_processes: bool,
    /// How many of a service's alternatives are tried. Default 10.
    pub max_alternative_ports: usize,
    /// Time between SIGTERM and SIGKILL. Default 5 s.
    #[serde(with = "crate::serde_ms")]
    pub grace_period: Duration,
    /// Processes of other users may be stopped (with the privilege to do so). Default false.
    pub force: bool,
}

impl Default for ResolutionSettings {
    fn default() -> Self {
        ResolutionSettings {
            allow_port_migration: true,
            preserve_external_processes: true,
            max_alternative_ports: 10,
            grace_period: Duration::from_secs(5),
            force: false,
        }
    }
}

/// A conflict-resolution policy. Implement it to plug your own into
/// [`plan`](crate::plan); see `examples/custom_strategy.rs`.
///
/// ```
/// use resolver::{Conflict, Decision, DecisionContext, Strategy};
///
/// /// Never stops anything: migrates, or gives up.
/// struct MigrateOnly;
///
/// impl Strategy for MigrateOnly {
///     fn name(&self) -> &str {
///         "migrate-only"
///     }
///     fn decide(&self, conflict: &Conflict, ctx: &DecisionContext<'_>) -> Decision {
///         self.decide_common(conflict, ctx)
///             .unwrap_or_else(|| ctx.migrate_or_unresolvable(&conflict.explanation))
///     }
/// }
/// ```
pub trait Strategy {
    /// The name the registry and the history use.
    fn name(&self) -> &str;

    /// Decides what to do about `conflict` (a conflict on the service's own port: advisories
    /// about alternatives are not passed here).
    fn decide(&self, conflict: &Conflict, ctx: &DecisionContext<'_>) -> Decision;

    /// One line describing the strategy, for listings.
    fn summary(&self) -> &str {
        ""
    }

    /// The decisions every built-in strategy shares, for `decide` to call first: keep when
    /// only our live instance or TIME_WAIT sockets are on the port, migrate (or give up) when
    /// an earlier service claims the same port. `None` when the strategy has to decide.
    fn decide_common(&self, conflict: &Conflict, ctx: &DecisionContext<'_>) -> Option<Decision> {
        match &conflict.kind {
            ConflictKind::TimeWaitOnly { .. } => Some(Decision::Keep),
            ConflictKind::DoubleClaim {
                ours: PortRole::Alternative,
                ..
            } => Some(Decision::Keep),
            ConflictKind::DoubleClaim { .. } => {
                Some(ctx.migrate_or_unresolvable(&conflict.explanation))
            }
            ConflictKind::Held if conflict.level <= ConflictLevel::Low => Some(Decision::Keep),
            ConflictKind::Held => None,
        }
    }
}

impl<S: Strategy + ?Sized> Strategy for Box<S> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn decide(&self, conflict: &Conflict, ctx: &DecisionContext<'_>) -> Decision {
        (**self).decide(conflict, ctx)
    }
    fn summary(&self) -> &str {
        (**self).summary()
    }
}

/// Whether every holder is a stale copy of one of our services.
pub(crate) fn only_stale_copies(conflict: &Conflict) -> bool {
    !conflict.holders.is_empty()
        && conflict
            .holders
            .iter()
            .all(|h| matches!(h.class, HolderClass::Ours { stale: true, .. }))
}
