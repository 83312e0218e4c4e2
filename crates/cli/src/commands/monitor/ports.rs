//! The port half of `monitor`: an incremental scan each tick, the resolver's detection on the
//! services' claims, new and gone conflicts, and (when `monitoring.auto_resolve_conflicts` is
//! on) a resolution of each new one: migrations on their own, terminations only with `--yes`,
//! everything recorded as `resolve` records it.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use portcore::{PortRange, Protocol};
use procscan::{ScanOptions, Scanner, Snapshot};
use resolver::{
    Action, ActionReport, Claim, ConflictKind, ConflictLevel, Decision, EntryOutcome, EntryReport,
    Outcome, Plan, PlanEntry, PlanOptions, PortMemory, Strategy,
};

use super::event::{Event, HolderInfo};
use super::stack::View;
use crate::commands::resolution;
use crate::config::LoadedConfig;
use crate::conflicts;
use crate::control::paths::StatePaths;
use crate::exit::{self, CliError, CliResult};

/// A conflict as the monitor tells them apart: the service, its port, and who holds it (a new
/// holder on the same port is a new conflict).
type Key = (String, u16, Vec<u32>);

/// What became of a conflict seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Reported, not resolved: its end is reported too.
    Open,
    /// Resolved by the monitor (a migration or a termination): nothing more to say.
    Handled,
}

/// The claims, the scanner and what was seen at the previous tick.
pub struct PortWatch {
    scanner: Scanner,
    options: ScanOptions,
    /// The claims, with their configured ports in `configured` (a running service's claim
    /// is moved to the port it runs on, each tick).
    claims: Vec<Claim>,
    configured: Vec<u16>,
    plan_options: PlanOptions,
    strategy: Box<dyn Strategy>,
    auto_resolve: bool,
    terminate: bool,
    paths: StatePaths,
    seen: HashMap<Key, Seen>,
    /// The last tick's new conflicts and its snapshot, until [`PortWatch::resolve_new`].
    pending: Option<(Snapshot, Vec<(String, Key)>)>,
    /// Whether the last scan was a full one.
    pub last_full: bool,
}

impl std::fmt::Debug for PortWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortWatch")
            .field("claims", &self.claims.len())
            .field("strategy", &self.strategy.name())
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl PortWatch {
    /// Watches the claims of `loaded`'s services. `terminate`: resolutions may stop processes
    /// (`--yes`).
    pub fn new(loaded: &LoadedConfig, paths: &StatePaths, terminate: bool) -> CliResult<Self> {
        let config = &loaded.config;
        let memory = PortMemory::load(&paths.ports)
            .map_err(|e| log::warn!("sticky ports not used: {e}"))
            .ok();
        let claims = conflicts::claims(config, memory.as_ref())?;
        let strategy = resolver::strategy_by_name(config.conflict_resolution.strategy.as_str())
            .map_err(|e| CliError::new(exit::CONFIG, e))?;
        Ok(PortWatch {
            scanner: Scanner::new(),
            options: ScanOptions::default(),
            configured: claims.iter().map(|c| c.port).collect(),
            claims,
            plan_options: conflicts::plan_options(config, false),
            strategy,
            auto_resolve: config.monitoring.auto_resolve_conflicts,
            terminate,
            paths: paths.clone(),
            seen: HashMap::new(),
            pending: None,
            last_full: false,
        })
    }

    /// How many ports are watched.
    pub fn ports(&self) -> usize {
        self.claims.len()
    }

    /// Conflicts open now.
    pub fn open_conflicts(&self) -> usize {
        self.seen.values().filter(|s| **s == Seen::Open).count()
    }

    /// The strategy's name.
    pub fn strategy(&self) -> &str {
        self.strategy.name()
    }

    /// Points each claim at the port its service runs on and at its live instance (so our own
    /// running services are not conflicts), and the scan at the claimed ports only.
    fn follow(&mut self, view: &View) {
        for (claim, &configured) in self.claims.iter_mut().zip(&self.configured) {
            claim.port = configured;
            claim.last_instance = None;
        }
        conflicts::follow_stack(&mut self.claims, &view.running());
        let protocols: BTreeSet<Protocol> = self.claims.iter().map(|c| c.protocol).collect();
        self.options.protocols = protocols.into_iter().collect();
        let low = self.claims.iter().map(|c| c.port).min();
        let high = self.claims.iter().map(|c| c.port).max();
        self.options.ports = low.zip(high).and_then(|(l, h)| PortRange::new(l, h));
    }

    /// One tick: scan, detect, report what is new and what is gone. The new conflicts are
    /// resolved by [`PortWatch::resolve_new`], once they have been reported.
    pub fn tick(&mut self, view: &View) -> CliResult<Vec<Event>> {
        if self.claims.is_empty() {
            return Ok(Vec::new());
        }
        self.follow(view);
        let snapshot = self
            .scanner
            .scan(&self.options)
            .map_err(|e| CliError::failure(format!("cannot read the socket table: {e}")))?;
        self.last_full = self.scanner.last_scan_was_full();
        let detected = resolver::detect(&self.claims, &snapshot, &self.plan_options.detect);
        let found: Vec<resolver::Conflict> =
            conflicts::discount_supervisor(detected, view.supervisor)
                .into_iter()
                .filter(|c| {
                    c.is_on_primary()
                        && matches!(c.kind, ConflictKind::Held)
                        && c.level > ConflictLevel::Low
                })
                .collect();
        let keys: Vec<Key> = found.iter().map(key).collect();
        let mut events = Vec::new();
        self.seen.retain(|k, seen| {
            let stays = keys.contains(k);
            if !stays && *seen == Seen::Open {
                events.push(Event::ConflictResolved {
                    service: k.0.clone(),
                    port: k.1,
                    how: "released".into(),
                    to: None,
                    pids: Vec::new(),
                });
            }
            stays
        });
        let mut new = Vec::new();
        for (conflict, key) in found.iter().zip(keys) {
            if self.seen.contains_key(&key) {
                continue;
            }
            events.push(conflict_event(conflict));
            self.seen.insert(key.clone(), Seen::Open);
            new.push((conflict.service.clone(), key));
        }
        if self.auto_resolve && !new.is_empty() {
            self.pending = Some((snapshot, new));
        }
        Ok(events)
    }

    /// Resolves the conflicts the last tick found new (when auto-resolution is on).
    pub fn resolve_new(&mut self) -> Vec<Event> {
        match self.pending.take() {
            Some((snapshot, new)) => self.resolve(&snapshot, &new),
            None => Vec::new(),
        }
    }

    /// Plans every claim (so ports given out stay consistent) and carries out the entries of
    /// the newly conflicted services: a plan that would stop a process is carried out only
    /// with `--yes`. The outcome is recorded in the history, `ports.json` and
    /// `port_manager.log`.
    fn resolve(&mut self, snapshot: &Snapshot, new: &[(String, Key)]) -> Vec<Event> {
        let mut plan_options = self.plan_options.clone();
        conflicts::name_containers(&mut plan_options, snapshot);
        let plan = resolver::plan(&self.claims, snapshot, &*self.strategy, &plan_options);
        let wanted: Vec<&PlanEntry> = plan
            .entries
            .iter()
            .filter(|e| {
                e.service
                    .as_ref()
                    .is_some_and(|s| new.iter().any(|(n, _)| n == s))
            })
            .collect();
        let (held_back, allowed): (Vec<&PlanEntry>, Vec<&PlanEntry>) = wanted
            .into_iter()
            .partition(|e| !self.terminate && stops_a_process(e));
        let runnable = Plan {
            entries: allowed.into_iter().cloned().collect(),
            ..plan.clone()
        };
        let context = &plan_options.detect.context;
        let mut report = resolver::execute(
            &runnable,
            &resolution::execute_options(context, false, false),
        );
        // What needs --yes is recorded as skipped, with the reason: the history shows it.
        let reason = "monitor stops processes only with --yes";
        let mut recorded = runnable;
        for entry in held_back {
            report.entries.push(skipped(entry, reason));
            recorded.entries.push(entry.clone());
        }
        for warning in conflicts::record(&self.paths, &recorded, &report) {
            log::warn!("{warning}");
        }
        // The sticky ports just written replace the claims' old ones, for the next plans.
        if !report.migrations.is_empty()
            && let Ok(memory) = PortMemory::load(&self.paths.ports)
        {
            for claim in &mut self.claims {
                claim.sticky = memory.get(&claim.name).or(claim.sticky);
            }
        }
        let mut events = Vec::new();
        for (entry, done) in recorded.entries.iter().zip(&report.entries) {
            let Some(service) = entry.service.clone() else {
                continue;
            };
            let Some((_, key)) = new.iter().find(|(n, _)| *n == service) else {
                continue;
            };
            let port = entry.port;
            match (&done.decision, done.outcome()) {
                (Decision::Migrate { to }, EntryOutcome::Done) => {
                    events.push(Event::PortMigrated {
                        service: service.clone(),
                        from: port,
                        to: *to,
                    });
                    events.push(Event::ConflictResolved {
                        service,
                        port,
                        how: "migrated".into(),
                        to: Some(*to),
                        pids: Vec::new(),
                    });
                    self.seen.insert(key.clone(), Seen::Handled);
                }
                (
                    Decision::Terminate { targets, .. } | Decision::RestartOurs { targets },
                    EntryOutcome::Done,
                ) => {
                    events.push(Event::ConflictResolved {
                        service,
                        port,
                        how: "terminated".into(),
                        to: None,
                        pids: targets.iter().map(|t| t.pid).collect(),
                    });
                    self.seen.insert(key.clone(), Seen::Handled);
                }
                (Decision::Keep, _) => {}
                (decision, outcome) => events.push(Event::ConflictUnresolved {
                    service,
                    port,
                    decision: decision.name().to_owned(),
                    reason: why_not(decision, outcome, done, reason),
                }),
            }
        }
        events
    }
}

/// Whether carrying out `entry` signals a process.
fn stops_a_process(entry: &PlanEntry) -> bool {
    entry
        .actions
        .iter()
        .any(|a| matches!(a, Action::Terminate { .. }))
}

/// The report of an entry that was not carried out: each action skipped with `reason`.
fn skipped(entry: &PlanEntry, reason: &str) -> EntryReport {
    EntryReport {
        service: entry.service.clone(),
        port: entry.port,
        protocol: entry.protocol,
        level: entry.level,
        decision: entry.decision.clone(),
        actions: entry
            .actions
            .iter()
            .map(|action| ActionReport {
                action: action.clone(),
                outcome: Outcome::Skipped {
                    reason: reason.to_owned(),
                },
                duration: Duration::ZERO,
            })
            .collect(),
        resolved_port: None,
        verification: None,
        duration: Duration::ZERO,
    }
}

/// Why a conflict stays, in a sentence.
fn why_not(decision: &Decision, outcome: EntryOutcome, done: &EntryReport, held: &str) -> String {
    if let Decision::Unresolvable { reason } = decision {
        return format!("nothing safe can be done: {reason}");
    }
    let steps: Vec<String> = done
        .actions
        .iter()
        .filter(|a| !matches!(a.action, Action::Keep))
        .map(|a| {
            let what = resolution::describe_action(&a.action);
            match &a.outcome {
                Outcome::Skipped { reason } if reason == held => {
                    format!("would {what}, but {held}")
                }
                other => format!("{what}: {}", outcome_text(other)),
            }
        })
        .collect();
    let outcome = serde_json::to_value(outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    if steps.is_empty() {
        format!("{} ({outcome})", decision.name())
    } else {
        steps.join("; ")
    }
}

fn outcome_text(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Done { detail, .. } => format!("done {detail}"),
        Outcome::Refused { refusal } => format!("refused: {refusal}"),
        Outcome::Failed { message } => format!("failed: {message}"),
        Outcome::Skipped { reason } => format!("skipped: {reason}"),
        other => other.name().to_owned(),
    }
}

fn key(conflict: &resolver::Conflict) -> Key {
    let mut pids: Vec<u32> = conflict.holders.iter().filter_map(|h| h.pid()).collect();
    pids.sort_unstable();
    (conflict.service.clone(), conflict.port, pids)
}

fn conflict_event(conflict: &resolver::Conflict) -> Event {
    Event::Conflict {
        service: conflict.service.clone(),
        port: conflict.port,
        protocol: conflict.protocol.to_string(),
        level: conflict.level.to_string(),
        holders: conflict
            .holders
            .iter()
            .map(|h| HolderInfo {
                pid: h.pid(),
                name: h.name.clone(),
                description: h.describe(),
            })
            .collect(),
        detail: conflict.explanation.clone(),
    }
}
