//! Port conflict detection and resolution for portwarden.
//!
//! Services claim ports ([`Claim`]); a socket snapshot (from `procscan`) says who holds them.
//! This crate:
//!
//! 1. **detects** each conflict and classifies its holders ([`detect`], [`classify`]):
//!    our live instance, a stale copy of ours, another process, a system process, or an owner
//!    we cannot see; a `docker-proxy` is reported as the container's published port;
//! 2. **decides** with a pluggable [`Strategy`] ([`Conservative`], [`Aggressive`],
//!    [`Intelligent`], or your own) and **plans** ([`plan`]): a pure function from claims and
//!    a snapshot to a serializable [`Plan`], which is what `--dry-run` prints;
//! 3. **executes** the plan ([`execute`]): terminations go through procscan's safety policy
//!    and pidfd-based signalling after re-checking the target's identity and that it still
//!    holds the port; migrations are recorded and announced ([`Report::migrations`]); every
//!    port is verified afterwards;
//! 4. **records** what happened ([`History`], one JSON line per conflict) and remembers port
//!    assignments between runs ([`PortMemory`]).
//!
//! `kill-port` and `cleanup` plans come from [`plan_kill_port`] and [`plan_cleanup`].
//!
//! # Conflict levels
//!
//! | level      | the claimed port is ...                                                           |
//! |------------|-----------------------------------------------------------------------------------|
//! | `none`     | free                                                                              |
//! | `low`      | held by our own healthy instance of the service (its recorded identity)           |
//! | `medium`   | held by a stale copy of ours (matches the service's patterns, not the recorded instance); or only TIME_WAIT sockets remain |
//! | `high`     | held by another process of this user, or by another of our live services; or claimed as primary by an earlier service too |
//! | `critical` | held by a protected or system process, another user's process, or an owner we cannot see; or the service is critical and no free alternative is left |
//!
//! See [`ConflictLevel`] for the TIME_WAIT nuance.
//!
//! # Decisions of the built-in strategies
//!
//! | the port is ...                               | conservative | aggressive          | intelligent |
//! |-----------------------------------------------|--------------|---------------------|-------------|
//! | free                                          | keep         | keep                | keep        |
//! | held by our live instance                     | keep         | keep                | keep        |
//! | held by a stale copy of ours                  | migrate¹     | restart ours        | restart ours |
//! | only TIME_WAIT                                | keep         | keep                | keep        |
//! | held by another process of ours (same user)   | migrate¹     | terminate           | migrate¹; else terminate if critical and `preserve_external_processes` off; else unresolvable |
//! | held by another user's process                | migrate¹     | terminate with `force`, else migrate¹ | like the line above, terminating only with `force` |
//! | protected / system / owner unknown / Docker   | migrate¹     | migrate¹            | migrate¹    |
//! | claimed first by another service              | migrate¹     | migrate¹            | migrate¹    |
//!
//! ¹ when `allow_port_migration` is on and a free, allowed alternative is left; otherwise
//! unresolvable, with the reason.
//!
//! # Example
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::time::SystemTime;
//! use procscan::{ScanSource, Snapshot};
//! use resolver::{Claim, Decision, ExecuteOptions, PlanOptions, execute, plan, strategy_by_name};
//!
//! // A snapshot would come from `procscan::snapshot`; an empty one has every port free.
//! let snapshot = Snapshot {
//!     sockets: vec![], processes: BTreeMap::new(), source: ScanSource::ProcNet,
//!     taken_at: SystemTime::now(), unreadable_pids: vec![],
//! };
//! let claims = [
//!     Claim::new("backend", 8000).with_alternatives([8001, 8002]).critical(true),
//!     Claim::new("frontend", 12000).with_patterns(["node .*vite"])?,
//! ];
//! let strategy = strategy_by_name("intelligent")?;
//! let plan = plan(&claims, &snapshot, &*strategy, &PlanOptions::default());
//! assert!(plan.entries.iter().all(|e| e.decision == Decision::Keep));
//!
//! // A dry run reports what would be done and does nothing.
//! let report = execute(&plan, &ExecuteOptions { dry_run: true, ..ExecuteOptions::default() });
//! assert!(report.migrations.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod claim;
mod classify;
mod detect;
mod docker;
mod error;
mod execute;
mod history;
mod host;
mod kill;
mod level;
mod memory;
mod plan;
mod planner;
mod report;
mod serde_ms;
mod strategy;
mod sys;

pub use claim::Claim;
pub use classify::{
    ClassifyContext, DEFAULT_PROTECTED_NAMES, HolderClass, SYSTEM_UID_LIMIT, classify,
};
pub use detect::{Conflict, ConflictKind, DetectOptions, Holder, PortRole, detect};
pub use docker::{ContainerPort, DOCKER_PROXY, PublishedPort, parse_docker_proxy, published_ports};
pub use error::{ClaimError, HistoryError, MemoryError, UnknownStrategy};
pub use execute::{ExecuteOptions, default_policy, execute};
pub use history::{History, HistoryLog, HistoryRecord, records_of, rfc3339};
pub use kill::{KillOptions, plan_cleanup, plan_kill_port};
pub use level::ConflictLevel;
pub use memory::PortMemory;
pub use plan::{Action, Plan, PlanEntry};
pub use planner::{PlanOptions, plan};
pub use report::{
    ActionReport, EntryOutcome, EntryReport, Migration, Outcome, Report, Verification,
};
pub use strategy::{
    Aggressive, Conservative, Decision, DecisionContext, Intelligent, ResolutionSettings,
    STRATEGY_NAMES, Strategy, strategy_by_name,
};
