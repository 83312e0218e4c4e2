//! `portwarden report` (also `--report`): the seed's report types in one command. Port status
//! (each service's port and who holds it now), service health and performance (from the
//! running supervisor, else from the state file a dead one left), the conflict history,
//! start-up timings with the critical chain, and where the logs are. Works with no supervisor
//! (history and ports only, and says so); exit 0 unless the config is bad (3).

mod history;
mod render;
mod startup;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use procscan::ScanOptions;
use resolver::{ConflictKind, ConflictLevel, PortMemory};
use serde::Serialize;
use supervisor::HealthStats;

use self::history::HistorySummary;
use self::startup::StartupReport;
use super::Context;
use crate::args::ReportArgs;
use crate::config::LoadedConfig;
use crate::conflicts;
use crate::control::client::Client;
use crate::control::paths::StatePaths;
use crate::control::protocol::{Request, StatusReport, SupervisorInfo};
use crate::control::state::Recorded;
use crate::exit::{CliError, CliResult};
use crate::output::rfc3339;
use crate::sys;

/// The whole report (`portwarden.report/1`).
#[derive(Debug, Serialize)]
pub struct Document {
    schema: &'static str,
    generated_at: String,
    config: PathBuf,
    state_dir: PathBuf,
    /// Where the service sections come from: `supervisor` (the running one), `state_file`
    /// (the file a supervisor left: it is gone, or does not answer) or `none`.
    source: &'static str,
    /// A sentence saying so, for people.
    source_note: String,
    supervisor: Option<SupervisorInfo>,
    stack: Option<String>,
    ports: Vec<PortRow>,
    services: Vec<ServiceHealth>,
    performance: Vec<Performance>,
    history: HistorySummary,
    startup: Option<StartupReport>,
    logs: Logs,
}

/// One service's port now.
#[derive(Debug, Serialize)]
struct PortRow {
    service: String,
    protocol: String,
    configured_port: u16,
    /// The port it runs on, when it runs.
    current_port: Option<u16>,
    /// The port it was given last time (`ports.json`): taken when the configured one is not
    /// free at the next start.
    sticky_port: Option<u16>,
    /// The port examined: the current one, else the configured one.
    port: u16,
    /// `free`, `held` (by the service's own live instance) or `conflict`.
    status: &'static str,
    /// The conflict level (`none`, `low` for our own instance, up to `critical`).
    level: String,
    holders: Vec<HolderRow>,
    detail: Option<String>,
}

#[derive(Debug, Serialize)]
struct HolderRow {
    pid: Option<u32>,
    name: Option<String>,
    description: String,
}

/// One service's state and health.
#[derive(Debug, Serialize)]
struct ServiceHealth {
    name: String,
    state: String,
    health: String,
    health_reason: Option<String>,
    pid: Option<u32>,
    port: Option<u16>,
    restarts: u32,
    started_at: Option<String>,
    uptime_ms: Option<u64>,
    reason: Option<String>,
}

/// One service's resource use and health-check latency.
#[derive(Debug, Serialize)]
struct Performance {
    service: String,
    cpu_percent: Option<f64>,
    rss_bytes: Option<u64>,
    processes: Option<u32>,
    restarts: u32,
    time_to_healthy_ms: Option<u64>,
    health_checks: Option<HealthStats>,
}

/// Where the logs are.
#[derive(Debug, Serialize)]
struct Logs {
    dir: PathBuf,
    startup_log: LogFile,
    port_manager_log: LogFile,
    services: Vec<LogFile>,
}

#[derive(Debug, Serialize)]
struct LogFile {
    service: Option<String>,
    path: PathBuf,
    exists: bool,
    bytes: Option<u64>,
    /// Rotated copies beside it (`.1`, `.2`, `.3`).
    rotated: usize,
}

pub fn run(ctx: &Context<'_>, args: &ReportArgs) -> CliResult {
    let loaded = ctx.require_config()?;
    let paths = StatePaths::for_config(&loaded);
    let document = gather(&loaded, &paths, args.last)?;
    if ctx.out.json {
        return ctx.out.json_document(&document);
    }
    ctx.out.write(&render::render(&ctx.out, &document))
}

fn gather(loaded: &LoadedConfig, paths: &StatePaths, last: usize) -> CliResult<Document> {
    let status = match Client::connect(paths)? {
        Some(mut client) => {
            client.set_timeout(Some(Duration::from_secs(10)))?;
            Some(client.call::<StatusReport>(&Request::Status)?)
        }
        None => None,
    };
    let recorded = Recorded::read(paths);
    let (source, source_note) = match (&status, &recorded) {
        (Some(s), _) => (
            "supervisor",
            format!(
                "from the running supervisor, pid {}",
                s.supervisor.as_ref().map_or(0, |i| i.pid)
            ),
        ),
        (None, Some(r)) if r.supervisor_alive => (
            "state_file",
            format!(
                "from the state file; its supervisor, pid {}, runs but does not answer",
                r.file.supervisor.pid
            ),
        ),
        (None, Some(r)) => (
            "state_file",
            format!(
                "from the state file left by supervisor pid {}, which is gone",
                r.file.supervisor.pid
            ),
        ),
        (None, None) => (
            "none",
            "no supervisor runs this stack: ports and history only".to_owned(),
        ),
    };
    let (services, performance) = match (&status, &recorded) {
        (Some(status), _) => from_status(status),
        (None, Some(recorded)) => from_state_file(recorded),
        (None, None) => (Vec::new(), Vec::new()),
    };
    let startup = status.as_ref().and_then(|s| s.startup.as_ref()).map(|s| {
        let depends_on = loaded
            .config
            .services
            .iter()
            .map(|(name, svc)| (name.clone(), svc.depends_on.keys().cloned().collect()))
            .collect();
        StartupReport::new(s, &depends_on)
    });
    Ok(Document {
        schema: "portwarden.report/1",
        generated_at: rfc3339(SystemTime::now()),
        config: std::path::absolute(&loaded.path).unwrap_or_else(|_| loaded.path.clone()),
        state_dir: paths.dir.clone(),
        source,
        source_note,
        supervisor: status.as_ref().and_then(|s| s.supervisor.clone()),
        stack: status.as_ref().and_then(|s| s.stack.clone()),
        ports: port_rows(loaded, paths, recorded.as_ref())?,
        services,
        performance,
        history: HistorySummary::read(&paths.history, last),
        startup,
        logs: logs(loaded, paths),
    })
}

fn from_status(status: &StatusReport) -> (Vec<ServiceHealth>, Vec<Performance>) {
    let services = status
        .services
        .iter()
        .map(|row| ServiceHealth {
            name: row.name.clone(),
            state: enum_name(&row.state),
            health: row.health.clone(),
            health_reason: row.health_reason.clone(),
            pid: row.pid,
            port: row.port,
            restarts: row.restarts,
            started_at: row.started_at.clone(),
            uptime_ms: row.uptime_ms,
            reason: row.reason.clone(),
        })
        .collect();
    let performance = status
        .services
        .iter()
        .map(|row| Performance {
            service: row.name.clone(),
            cpu_percent: row.cpu_percent,
            rss_bytes: row.rss_bytes,
            processes: row.processes,
            restarts: row.restarts,
            time_to_healthy_ms: row.time_to_healthy_ms,
            health_checks: row.health_checks.clone(),
        })
        .collect();
    (services, performance)
}

/// What a state file says, each recorded process checked; memory read from `/proc` (CPU needs
/// two samples over time, which a report does not wait for).
fn from_state_file(recorded: &Recorded) -> (Vec<ServiceHealth>, Vec<Performance>) {
    let live: HashSet<String> = recorded
        .live_services()
        .into_iter()
        .map(|l| l.service)
        .collect();
    let pgids = recorded
        .file
        .services
        .iter()
        .filter(|r| live.contains(&r.name))
        .filter_map(|r| r.pgid)
        .collect();
    let usage = sys::group_usage(&pgids);
    let mut services = Vec::new();
    let mut performance = Vec::new();
    for record in &recorded.file.services {
        let alive = live.contains(&record.name);
        services.push(ServiceHealth {
            name: record.name.clone(),
            state: if alive || recorded.supervisor_alive {
                enum_name(&record.state)
            } else {
                "gone".to_owned()
            },
            health: "unknown".to_owned(),
            health_reason: None,
            pid: record.identity.map(|i| i.pid).filter(|_| alive),
            port: record.port,
            restarts: record.restarts,
            started_at: None,
            uptime_ms: None,
            reason: (!recorded.supervisor_alive && alive)
                .then(|| "left running by a supervisor that is gone".to_owned()),
        });
        let group = record.pgid.filter(|_| alive).and_then(|g| usage.get(&g));
        performance.push(Performance {
            service: record.name.clone(),
            cpu_percent: None,
            rss_bytes: group.map(|u| u.rss_bytes),
            processes: group.map(|u| u.processes),
            restarts: record.restarts,
            time_to_healthy_ms: None,
            health_checks: None,
        });
    }
    (services, performance)
}

/// Each service's port now and who holds it, by the resolver's detection on a fresh scan.
fn port_rows(
    loaded: &LoadedConfig,
    paths: &StatePaths,
    recorded: Option<&Recorded>,
) -> CliResult<Vec<PortRow>> {
    let config = &loaded.config;
    let memory = PortMemory::load(&paths.ports)
        .map_err(|e| log::warn!("sticky ports not read: {e}"))
        .ok();
    let mut claims = conflicts::claims(config, memory.as_ref())?;
    let configured: Vec<u16> = claims.iter().map(|c| c.port).collect();
    let running = conflicts::running_services(paths);
    conflicts::follow_stack(&mut claims, &running);
    let snapshot = procscan::snapshot(&ScanOptions::default())
        .map_err(|e| CliError::failure(format!("cannot read the socket table: {e}")))?;
    let options = conflicts::plan_options(config, false);
    let supervisor = recorded
        .filter(|r| r.supervisor_alive)
        .map(|r| r.file.supervisor);
    let found = conflicts::discount_supervisor(
        resolver::detect(&claims, &snapshot, &options.detect),
        supervisor,
    );
    let rows = claims
        .iter()
        .zip(configured)
        .map(|(claim, configured_port)| {
            let conflict = found
                .iter()
                .find(|c| c.service == claim.name && c.is_on_primary() && c.port == claim.port);
            let (status, level) = match conflict {
                None => ("free", ConflictLevel::None),
                Some(c)
                    if matches!(c.kind, ConflictKind::Held) && c.level <= ConflictLevel::Low =>
                {
                    ("held", c.level)
                }
                Some(c) => ("conflict", c.level),
            };
            PortRow {
                service: claim.name.clone(),
                protocol: claim.protocol.to_string(),
                configured_port,
                current_port: running.contains_key(&claim.name).then_some(claim.port),
                sticky_port: claim.sticky,
                port: claim.port,
                status,
                level: level.to_string(),
                holders: conflict
                    .map(|c| {
                        c.holders
                            .iter()
                            .map(|h| HolderRow {
                                pid: h.pid(),
                                name: h.name.clone(),
                                description: h.describe(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                detail: conflict
                    .filter(|_| status == "conflict")
                    .map(|c| c.explanation.clone()),
            }
        })
        .collect();
    Ok(rows)
}

fn logs(loaded: &LoadedConfig, paths: &StatePaths) -> Logs {
    let services = loaded
        .config
        .services
        .iter()
        .filter(|(_, s)| s.startup_command.is_some())
        .map(|(name, _)| log_file(Some(name), &paths.log_file(name)))
        .collect();
    Logs {
        dir: paths.logs.clone(),
        startup_log: log_file(None, &paths.startup_log),
        port_manager_log: log_file(None, &paths.port_manager_log),
        services,
    }
}

fn log_file(service: Option<&str>, path: &Path) -> LogFile {
    let bytes = std::fs::metadata(path).ok().map(|m| m.len());
    let rotated = (1..)
        .take_while(|n| {
            let mut rotated = path.as_os_str().to_owned();
            rotated.push(format!(".{n}"));
            Path::new(&rotated).exists()
        })
        .count();
    LogFile {
        service: service.map(str::to_owned),
        path: path.to_path_buf(),
        exists: bytes.is_some(),
        bytes,
        rotated,
    }
}

/// The serde name of an enum value (`running`, `not_checked` ...).
fn enum_name(value: &impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}
