//! Ports for the stack, decided by the resolver: a plan against a fresh socket scan before
//! the start (with the configured strategy), carried out and recorded (history and sticky
//! ports), and a [`PortArbiter`] that re-plans one service after a crash caused by a taken
//! port.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use procscan::{ProcessIdentity, ScanOptions, Snapshot};
use resolver::{
    Action, Conservative, Decision, ExecuteOptions, Plan, PlanEntry, PlanOptions, PortMemory,
    Report,
};
use supervisor::PortArbiter;

use super::hub::Hub;
use crate::config::{Config, LoadedConfig};
use crate::conflicts::{self, claim};
use crate::control::paths::StatePaths;
use crate::control::protocol::{PortDecision, StackEvent, WireEvent};
use crate::exit::{self, CliError, CliResult};

/// The resolver's name of the configured strategy.
pub fn strategy_name(config: &Config) -> &'static str {
    config.conflict_resolution.strategy.as_str()
}

fn plan_options(config: &Config) -> PlanOptions {
    conflicts::plan_options(config, false)
}

/// A port the user asked for on the command line (`start-service NAME --port P`): exactly
/// that port, no alternatives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortOverride {
    /// The service.
    pub service: String,
    /// The port.
    pub port: u16,
}

/// The plan made before a start, and what it looks like to people and to `--json`.
#[derive(Debug)]
pub struct StartPlan {
    /// The resolver's plan.
    pub plan: Plan,
    /// One decision per service with a port.
    pub decisions: Vec<PortDecision>,
    /// The configured strategy.
    pub strategy: String,
}

/// Scans the socket table and plans the ports of `services` (in start order).
pub fn plan_start(
    loaded: &LoadedConfig,
    paths: &StatePaths,
    services: &[String],
    live: &BTreeMap<String, ProcessIdentity>,
    port_override: Option<&PortOverride>,
) -> CliResult<StartPlan> {
    let config = &loaded.config;
    let mut claims = Vec::new();
    for name in services {
        let Some(mut claim) = claim(config, name)? else {
            continue;
        };
        if let Some(o) = port_override.filter(|o| &o.service == name) {
            claim.port = o.port;
            claim.alternatives.clear();
        }
        if let Some(identity) = live.get(name) {
            claim = claim.with_last_instance(*identity);
        }
        claims.push(claim);
    }
    match PortMemory::load(&paths.ports) {
        Ok(memory) => memory.apply(&mut claims),
        Err(e) => log::warn!("sticky ports not used: {e}"),
    }
    let name = strategy_name(config);
    let strategy = resolver::strategy_by_name(name).map_err(|e| CliError::new(exit::CONFIG, e))?;
    let snapshot = scan()?;
    let mut options = plan_options(config);
    conflicts::name_containers(&mut options, &snapshot);
    let plan = resolver::plan(&claims, &snapshot, &*strategy, &options);
    let decisions = plan
        .entries
        .iter()
        .map(|e| decision_of(e, "plan"))
        .collect();
    Ok(StartPlan {
        plan,
        decisions,
        strategy: name.to_owned(),
    })
}

fn scan() -> CliResult<Snapshot> {
    procscan::snapshot(&ScanOptions::default())
        .map_err(|e| CliError::failure(format!("cannot read the socket table: {e}")))
}

/// A plan entry for people and `--json`.
pub fn decision_of(entry: &PlanEntry, phase: &str) -> PortDecision {
    let holders = entry
        .conflict
        .as_ref()
        .map(|c| c.holders.iter().map(|h| h.describe()).collect())
        .unwrap_or_default();
    let detail = match &entry.decision {
        Decision::Unresolvable { reason } => reason.clone(),
        _ => entry
            .conflict
            .as_ref()
            .map(|c| c.explanation.clone())
            .unwrap_or_else(|| format!("port {} is free", entry.port)),
    };
    PortDecision {
        phase: phase.to_owned(),
        service: entry.service.clone().unwrap_or_default(),
        port: entry.port,
        level: entry.level.as_str().to_owned(),
        decision: entry.decision.name().to_owned(),
        resolved_port: entry.resolved_port,
        holders,
        detail,
        outcome: None,
    }
}

impl StartPlan {
    /// The processes the plan would stop, one phrase each.
    pub fn terminations(&self) -> Vec<String> {
        self.plan
            .entries
            .iter()
            .flat_map(|e| e.actions.iter().map(move |a| (e, a)))
            .filter_map(|(e, a)| match a {
                Action::Terminate {
                    identity,
                    name,
                    port,
                    group,
                    ..
                } => Some(format!(
                    "stop pid {} ({name}){} holding port {port}, for {}",
                    identity.pid,
                    if *group { " and its process group" } else { "" },
                    e.service.as_deref().unwrap_or("?")
                )),
                _ => None,
            })
            .collect()
    }

    /// The services whose port conflict cannot be resolved, with why.
    pub fn unresolved(&self) -> Vec<String> {
        self.plan
            .unresolved()
            .map(|e| {
                let reason = match &e.decision {
                    Decision::Unresolvable { reason } => reason.as_str(),
                    _ => "",
                };
                format!(
                    "{}: port {} cannot be had: {reason}",
                    e.service.as_deref().unwrap_or("?"),
                    e.port
                )
            })
            .collect()
    }

    /// Carries the plan out (terminations through procscan's safety checks), records it in
    /// the history and the sticky ports, and returns each service's port. Fails (exit 4)
    /// when a port could not be had after all.
    pub fn execute(mut self, loaded: &LoadedConfig, paths: &StatePaths) -> CliResult<Executed> {
        let options = plan_options(&loaded.config);
        let execute = ExecuteOptions::matching(&options.detect.context, options.settings.force);
        let report = resolver::execute(&self.plan, &execute);
        record(paths, &self.plan, &report);
        for decision in &mut self.decisions {
            if let Some(entry) = report.entry(&decision.service) {
                decision.outcome = serde_json::to_value(entry.outcome())
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned));
            }
        }
        let failed: Vec<String> = report
            .entries
            .iter()
            .filter(|e| e.resolved_port.is_none())
            .map(|e| {
                let why = e
                    .actions
                    .iter()
                    .map(|a| match &a.outcome {
                        resolver::Outcome::Refused { refusal } => format!("refused: {refusal}"),
                        resolver::Outcome::Failed { message } => message.clone(),
                        resolver::Outcome::Skipped { reason } => reason.clone(),
                        resolver::Outcome::Done { detail, .. } => detail.clone(),
                        other => other.name().to_owned(),
                    })
                    .chain(
                        e.verification
                            .iter()
                            .filter(|v| !v.free)
                            .map(|v| v.detail.clone()),
                    )
                    .collect::<Vec<_>>()
                    .join("; ");
                format!(
                    "{}: port {}: {why}",
                    e.service.as_deref().unwrap_or("?"),
                    e.port
                )
            })
            .collect();
        if !failed.is_empty() {
            return Err(CliError::new(
                exit::CONFLICT,
                format!("ports could not be freed:\n  {}", failed.join("\n  ")),
            ));
        }
        Ok(Executed {
            ports: self.plan.resolved_ports(),
            decisions: self.decisions,
        })
    }
}

/// A plan carried out.
#[derive(Debug)]
pub struct Executed {
    /// The port of each service with one.
    pub ports: BTreeMap<String, u16>,
    /// The decisions, with their outcomes.
    pub decisions: Vec<PortDecision>,
}

/// Appends the conflicts to the history and remembers the ports. Failures are warnings: the
/// stack can run without either.
fn record(paths: &StatePaths, plan: &Plan, report: &Report) {
    for warning in conflicts::record(paths, plan, report) {
        log::warn!("{warning}");
    }
}

/// Finds a new port for a service whose port was taken while the stack ran: a fresh scan, the
/// service's claim planned with the conservative strategy (at run time portwarden never
/// stops another process; it moves the service), every other service's current and
/// configured port kept out of reach.
pub struct Arbiter {
    config: Config,
    paths: StatePaths,
    hub: Arc<Hub>,
    /// Each service's current port, kept up to date from the events.
    ports: Arc<Mutex<BTreeMap<String, u16>>>,
}

impl std::fmt::Debug for Arbiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arbiter")
            .field("paths", &self.paths)
            .finish()
    }
}

impl Arbiter {
    /// An arbiter for the stack of `loaded`, starting from `ports`.
    pub fn new(
        loaded: &LoadedConfig,
        paths: &StatePaths,
        hub: Arc<Hub>,
        ports: BTreeMap<String, u16>,
    ) -> Arbiter {
        Arbiter {
            config: loaded.config.clone(),
            paths: paths.clone(),
            hub,
            ports: Arc::new(Mutex::new(ports)),
        }
    }

    /// The shared table of current ports, for the event pump to update.
    pub fn ports(&self) -> Arc<Mutex<BTreeMap<String, u16>>> {
        Arc::clone(&self.ports)
    }

    fn plan(&self, service: &str, port: u16) -> Option<(Plan, u16)> {
        let mut claim = claim(&self.config, service).ok()??;
        let configured = claim.port;
        claim.port = port;
        claim.alternatives = std::iter::once(configured)
            .chain(claim.alternatives)
            .filter(|&p| p != port)
            .collect();
        let mut options = plan_options(&self.config);
        let ports = self.ports.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let others = ports
            .iter()
            .filter(|(name, _)| name.as_str() != service)
            .map(|(_, &p)| p)
            .chain(
                self.config
                    .services
                    .iter()
                    .filter(|(name, _)| name.as_str() != service)
                    .filter_map(|(_, s)| s.port),
            );
        for other in others {
            options.detect.reserved.insert(other);
        }
        let snapshot = scan().ok()?;
        let plan = resolver::plan(
            std::slice::from_ref(&claim),
            &snapshot,
            &Conservative,
            &options,
        );
        let entry = plan.entries.first()?;
        let to = match &entry.decision {
            Decision::Migrate { to } => *to,
            // The taker is gone already: any free alternative will do, but not the same
            // port, which the supervisor would try again and again.
            Decision::Keep => claim.alternatives.iter().copied().find(|&p| {
                !options.detect.reserved.contains(p)
                    && portcore::probe_port(p, claim.protocol).is_free()
            })?,
            _ => return None,
        };
        Some((plan, to))
    }
}

impl PortArbiter for Arbiter {
    fn reassign(&self, service: &str, port: u16) -> Option<u16> {
        let planned = self.plan(service, port);
        if let Some((plan, to)) = &planned {
            let report = resolver::execute(plan, &ExecuteOptions::default());
            record(&self.paths, plan, &report);
            if let Some(entry) = plan.entries.first() {
                let mut decision = decision_of(entry, "runtime");
                decision.resolved_port = Some(*to);
                decision.outcome = Some("done".into());
                self.hub
                    .publish(WireEvent::Portwarden(StackEvent::PortDecision(decision)));
            }
            self.ports
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(service.to_owned(), *to);
        }
        planned.map(|(_, to)| to)
    }
}
