//! What executing a plan did.

use std::time::Duration;

use portcore::Protocol;
use procscan::Refusal;
use serde::{Deserialize, Serialize};

use crate::{Action, ConflictLevel, Decision};

/// How one action went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// Carried out.
    Done {
        /// Whether SIGKILL was needed after the grace period (terminations only).
        escalated: bool,
        /// What happened, for humans.
        detail: String,
    },
    /// A safety check refused it: nothing was signalled.
    Refused {
        /// Why.
        refusal: Refusal,
    },
    /// Tried, and the system said no (or the process survived).
    Failed {
        /// What went wrong.
        message: String,
    },
    /// Not carried out: a dry run, an unresolvable conflict, or a target that exited or
    /// stopped holding the port since the plan was made.
    Skipped {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// `done`, `refused`, `failed` or `skipped`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Done { .. } => "done",
            Outcome::Refused { .. } => "refused",
            Outcome::Failed { .. } => "failed",
            Outcome::Skipped { .. } => "skipped",
        }
    }
}

/// One action and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionReport {
    /// The planned action.
    pub action: Action,
    /// How it went.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// How long it took.
    #[serde(with = "crate::serde_ms", rename = "duration_ms")]
    pub duration: Duration,
}

/// The check of a port after the actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// The port checked.
    pub port: u16,
    /// Its protocol.
    pub protocol: Protocol,
    /// Whether a typical server (with `SO_REUSEADDR`) can bind it now.
    pub free: bool,
    /// Pids still holding it.
    pub holders: Vec<u32>,
    /// What was seen, for humans.
    pub detail: String,
}

/// A service moved to another port: to be announced loudly (its clients must learn it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    /// The service.
    pub service: String,
    /// Its configured port.
    pub from: u16,
    /// The port it uses now.
    pub to: u16,
}

/// The summary of one entry's outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryOutcome {
    /// Nothing needed doing.
    Kept,
    /// Every action was carried out.
    Done,
    /// Some actions were carried out, others not.
    Partial,
    /// Refused by a safety check.
    Refused,
    /// Failed.
    Failed,
    /// Skipped (a dry run, or the targets were gone).
    Skipped,
    /// Nothing safe could be done.
    Unresolvable,
}

/// What happened to one plan entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryReport {
    /// The service (`None` in kill-port plans).
    pub service: Option<String>,
    /// The port concerned.
    pub port: u16,
    /// Its protocol.
    pub protocol: Protocol,
    /// The conflict's level.
    pub level: ConflictLevel,
    /// The decision carried out.
    pub decision: Decision,
    /// Each action and its outcome.
    pub actions: Vec<ActionReport>,
    /// The port the service uses now (`None`: unresolved, or a step failed).
    pub resolved_port: Option<u16>,
    /// The check of the port after the actions (not made in dry runs).
    pub verification: Option<Verification>,
    /// How long the entry took, verification included.
    #[serde(with = "crate::serde_ms", rename = "duration_ms")]
    pub duration: Duration,
}

impl EntryReport {
    /// The entry's outcomes in one word.
    pub fn outcome(&self) -> EntryOutcome {
        if matches!(self.decision, Decision::Unresolvable { .. }) {
            return EntryOutcome::Unresolvable;
        }
        let work: Vec<&Outcome> = self
            .actions
            .iter()
            .filter(|a| !matches!(a.action, Action::Keep))
            .map(|a| &a.outcome)
            .collect();
        let verified = self.verification.as_ref().is_none_or(|v| v.free);
        let count = |name: &str| work.iter().filter(|o| o.name() == name).count();
        let (done, refused, failed, skipped) = (
            count("done"),
            count("refused"),
            count("failed"),
            count("skipped"),
        );
        if work.is_empty() {
            if self.actions.iter().any(|a| a.outcome.name() == "skipped") {
                EntryOutcome::Skipped
            } else {
                EntryOutcome::Kept
            }
        } else if done + skipped == work.len() && done > 0 && verified {
            EntryOutcome::Done
        } else if done > 0 {
            EntryOutcome::Partial
        } else if failed > 0 || !verified {
            EntryOutcome::Failed
        } else if refused > 0 {
            EntryOutcome::Refused
        } else {
            EntryOutcome::Skipped
        }
    }
}

/// What [`execute`](crate::execute) did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The plan's strategy.
    pub strategy: String,
    /// Whether this was a dry run (nothing was done).
    pub dry_run: bool,
    /// One per plan entry, in order.
    pub entries: Vec<EntryReport>,
    /// Services that moved to another port: for the CLI to highlight.
    pub migrations: Vec<Migration>,
    /// How long the whole execution took.
    #[serde(with = "crate::serde_ms", rename = "duration_ms")]
    pub duration: Duration,
}

impl Report {
    /// Whether every entry was kept or done (a dry run is never a success).
    pub fn success(&self) -> bool {
        !self.dry_run
            && self
                .entries
                .iter()
                .all(|e| matches!(e.outcome(), EntryOutcome::Kept | EntryOutcome::Done))
    }

    /// The report of a service.
    pub fn entry(&self, service: &str) -> Option<&EntryReport> {
        self.entries
            .iter()
            .find(|e| e.service.as_deref() == Some(service))
    }
}
