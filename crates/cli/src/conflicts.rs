//! The one mapping from the config file to the resolver: claims, who we are, the planning
//! options, and the audit trail (history, sticky ports, `port_manager.log`). `resolve`,
//! `cleanup`, `kill-port`, `monitor`, `check` and the stack's start all go through here, so
//! they agree on what conflicts are and record them alike.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use procscan::{ProcessIdentity, Signal, Snapshot};
use resolver::{
    Claim, ClassifyContext, Conflict, DetectOptions, EntryOutcome, History, Plan, PlanOptions,
    PortMemory, Report, ResolutionSettings,
};

use crate::config::Config;
use crate::control::paths::StatePaths;
use crate::control::state::Recorded;
use crate::exit::{self, CliError, CliResult};

/// The claim of one configured service (its patterns compiled), or `None` for a service
/// without a port (or an unknown name).
pub fn claim(config: &Config, name: &str) -> CliResult<Option<Claim>> {
    let Some(service) = config.service(name) else {
        return Ok(None);
    };
    let Some(port) = service.port else {
        return Ok(None);
    };
    let claim = Claim::new(name, port)
        .with_alternatives(service.alternative_ports.iter().copied())
        .with_protocol(service.protocol)
        .critical(service.critical)
        .with_patterns(&service.process_patterns)
        .map_err(|e| CliError::new(exit::CONFIG, e))?;
    Ok(Some(claim))
}

/// The claims of every service that has a port, in config order, with sticky assignments
/// applied when `memory` is given.
pub fn claims(config: &Config, memory: Option<&PortMemory>) -> CliResult<Vec<Claim>> {
    let mut claims = Vec::new();
    for name in config.services.keys() {
        claims.extend(claim(config, name)?);
    }
    if let Some(memory) = memory {
        memory.apply(&mut claims);
    }
    Ok(claims)
}

/// A service of the project's stack that runs now: its process and its port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Running {
    /// Its process (pid and start time).
    pub identity: ProcessIdentity,
    /// The port it was given (after any migration).
    pub port: Option<u16>,
}

/// The services of the project's stack whose recorded process is alive, from the state file
/// (`supervisor::read_state`; each process checked to be the recorded one).
pub fn running_services(paths: &StatePaths) -> BTreeMap<String, Running> {
    Recorded::read(paths)
        .map(|r| r.live_services())
        .unwrap_or_default()
        .into_iter()
        .map(|l| {
            (
                l.service,
                Running {
                    identity: l.identity,
                    port: l.port,
                },
            )
        })
        .collect()
}

/// Points the claims at the running stack: a running service claims the port it runs on,
/// and its process is its live instance, so the stack's own services are not conflicts (and
/// a copy of one elsewhere is a stale copy).
pub fn follow_stack(claims: &mut [Claim], running: &BTreeMap<String, Running>) {
    for claim in claims {
        if let Some(r) = running.get(&claim.name) {
            claim.port = r.port.unwrap_or(claim.port);
            claim.last_instance = Some(r.identity);
        }
    }
}

/// The conflicts without the stack's supervisor among the holders: it holds the ports of
/// socket-activated services itself (it binds them and hands them over), which is no
/// conflict. A conflict left with no holder is dropped; the others take the level of the
/// holders left (a port held by the supervisor and the service's live instance is `low`).
pub fn discount_supervisor(
    conflicts: Vec<Conflict>,
    supervisor: Option<ProcessIdentity>,
) -> Vec<Conflict> {
    let Some(supervisor) = supervisor else {
        return conflicts;
    };
    conflicts
        .into_iter()
        .filter_map(|mut conflict| {
            let before = conflict.holders.len();
            conflict.holders.retain(|h| h.identity != Some(supervisor));
            if conflict.holders.len() == before {
                return Some(conflict);
            }
            conflict.level = conflict.holders.iter().map(|h| h.level).max()?;
            Some(conflict)
        })
        .collect()
}

/// The live supervisor of the project's stack, from the state file.
pub fn live_supervisor(paths: &StatePaths) -> Option<ProcessIdentity> {
    Recorded::read(paths)
        .filter(|r| r.supervisor_alive)
        .map(|r| r.file.supervisor)
}

/// Takes the stack's supervisor out of the snapshot before planning: it holds the ports of
/// socket-activated services itself (it binds them and hands them over), which is no
/// conflict. It is removed from every socket's holders, and a socket only it held is dropped
/// (the port is kept for our service), so the planner sees the service's own process, or a
/// free port, instead of "another process of yours".
pub fn without_supervisor(snapshot: &mut Snapshot, supervisor: Option<ProcessIdentity>) {
    let Some(supervisor) = supervisor else {
        return;
    };
    snapshot.sockets.retain_mut(|socket| {
        let before = socket.holders.len();
        socket.holders.retain(|&pid| pid != supervisor.pid);
        before == 0 || !socket.holders.is_empty()
    });
}

/// Who we are, with the config's extra protected names.
pub fn classify_context(config: &Config) -> ClassifyContext {
    ClassifyContext::current().with_protected_names(
        config
            .conflict_resolution
            .protected_processes
            .iter()
            .cloned(),
    )
}

/// The resolution settings of the config's `conflict_resolution` (`force` from the command
/// line).
pub fn settings(config: &Config, force: bool) -> ResolutionSettings {
    let c = &config.conflict_resolution;
    ResolutionSettings {
        allow_port_migration: c.allow_port_migration,
        preserve_external_processes: c.preserve_external_processes,
        max_alternative_ports: c.max_alternative_ports as usize,
        grace_period: c.grace_period.into(),
        force,
    }
}

/// The planner's options from the config's `conflict_resolution` and `reserved_ports`.
pub fn plan_options(config: &Config, force: bool) -> PlanOptions {
    let settings = settings(config, force);
    PlanOptions {
        detect: DetectOptions {
            context: classify_context(config),
            reserved: config.reserved().clone(),
            max_alternative_ports: Some(settings.max_alternative_ports),
            ..DetectOptions::default()
        },
        settings,
        signal: Signal::Term,
        ..PlanOptions::default()
    }
}

/// Asks Docker for its published ports (briefly) when a `docker-proxy` holds one of the
/// snapshot's sockets, so the plan can name the container. Docker is never asked otherwise.
pub fn name_containers(options: &mut PlanOptions, snapshot: &Snapshot) {
    let proxied = snapshot
        .processes
        .values()
        .any(|p| p.name == resolver::DOCKER_PROXY);
    if proxied {
        options.detect.published = resolver::published_ports(Duration::from_millis(500));
    }
}

/// Appends the plan's outcome to the history and `port_manager.log`, and remembers the ports
/// of migrated services. Nothing is recorded for a dry run. Failures to record are returned as
/// warnings: the work itself is done.
pub fn record(paths: &StatePaths, plan: &Plan, report: &Report) -> Vec<String> {
    let mut warnings = Vec::new();
    if report.dry_run {
        return warnings;
    }
    if let Err(e) = History::new(&paths.history).record(plan, report) {
        warnings.push(format!(
            "conflict history not written to {}: {e}",
            paths.history.display()
        ));
    }
    match PortMemory::load(&paths.ports) {
        Ok(mut memory) => {
            if memory.record(report)
                && let Err(e) = memory.save()
            {
                warnings.push(format!(
                    "sticky ports not saved to {}: {e}",
                    paths.ports.display()
                ));
            }
        }
        Err(e) => warnings.push(format!("sticky ports not updated: {e}")),
    }
    let now = resolver::rfc3339(SystemTime::now());
    let lines: Vec<String> = report
        .entries
        .iter()
        .filter(|e| e.outcome() != EntryOutcome::Kept)
        .map(|e| {
            format!(
                "{now} [{}] {} port {}/{}: level {}, {} -> {}{}",
                report.strategy,
                e.service.as_deref().unwrap_or("-"),
                e.port,
                e.protocol,
                e.level,
                e.decision.name(),
                serde_json::to_value(e.outcome())
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                e.resolved_port
                    .map(|p| format!(", now on {p}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    if let Err(e) = append_lines(&paths.port_manager_log, &lines) {
        warnings.push(format!(
            "{} not written: {e}",
            paths.port_manager_log.display()
        ));
    }
    warnings
}

/// Appends lines to a log file, creating its folder.
pub fn append_lines(path: &Path, lines: &[String]) -> std::io::Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut text = lines.join("\n");
    text.push('\n');
    file.write_all(text.as_bytes())
}
