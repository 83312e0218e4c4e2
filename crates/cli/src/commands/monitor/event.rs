//! What `monitor` reports: one event per change, as a line for people, a JSON object per line
//! for programs, and a line in `port_manager.log` (the seed's port manager log).

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

use serde::Serialize;

use crate::control::paths::StatePaths;
use crate::exit::CliResult;
use crate::output::{Output, Style, rfc3339};
use crate::sys;

/// One holder of a conflicting port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HolderInfo {
    /// Its pid (`None`: an owner we cannot see).
    pub pid: Option<u32>,
    /// Its name.
    pub name: Option<String>,
    /// Who it is, in a few words ("pid 4242 (python3), another process of yours").
    pub description: String,
}

/// What a threshold alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// CPU, in percent of one core (`monitoring.cpu_threshold_percent`).
    Cpu,
    /// Resident memory, in MiB (`monitoring.memory_threshold_mb`).
    Memory,
}

impl Metric {
    fn describe(self, value: f64) -> String {
        match self {
            Metric::Cpu => format!("CPU {value:.1}%"),
            Metric::Memory => format!("memory {value:.1} MiB"),
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Metric::Cpu => "%",
            Metric::Memory => " MiB",
        }
    }
}

/// A monitor event. Serialized with a `type` tag (snake_case); see `docs/control.md`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The monitor starts watching.
    MonitorStarted {
        /// The config file.
        config: PathBuf,
        /// Time between port checks.
        interval_ms: u64,
        /// Time between health checks.
        health_check_interval_ms: u64,
        /// Services in the config.
        services: usize,
        /// Of which claim a port.
        ports: usize,
        /// The running supervisor's pid, when one runs.
        supervisor: Option<u32>,
        /// Whether new conflicts are resolved (`monitoring.auto_resolve_conflicts`).
        auto_resolve: bool,
        /// The strategy they are resolved with.
        strategy: String,
        /// Whether resolving may stop processes (`--yes`).
        terminate: bool,
    },
    /// A claimed port is newly taken by someone else.
    Conflict {
        /// The service.
        service: String,
        /// Its port (the running one, else the configured one).
        port: u16,
        /// `tcp` or `udp`.
        protocol: String,
        /// `medium`, `high` or `critical`.
        level: String,
        /// Who holds it.
        holders: Vec<HolderInfo>,
        /// Why this is a conflict, for people.
        detail: String,
    },
    /// A conflict is over.
    ConflictResolved {
        /// The service.
        service: String,
        /// The port.
        port: u16,
        /// `migrated` (the service was given another port), `terminated` (the holders were
        /// stopped) or `released` (the holders let go of the port, or the service moved).
        how: String,
        /// The service's port now, after a migration.
        to: Option<u16>,
        /// The stopped processes, after a termination.
        pids: Vec<u32>,
    },
    /// A conflict stays: auto-resolution is off, or found nothing it may do.
    ConflictUnresolved {
        /// The service.
        service: String,
        /// The port.
        port: u16,
        /// The strategy's decision (`terminate`, `unresolvable`, ...).
        decision: String,
        /// Why nothing was done.
        reason: String,
    },
    /// A service was given another port (recorded in `ports.json`: its next start uses it).
    PortMigrated {
        /// The service.
        service: String,
        /// The taken port.
        from: u16,
        /// The new one.
        to: u16,
    },
    /// A service's first health-check result, and each change after it.
    Health {
        /// The service.
        service: String,
        /// Whether the check passed.
        healthy: bool,
        /// The state before: `healthy`, `unhealthy` or `unknown` (first check).
        previous: String,
        /// What was checked.
        check: String,
        /// How long the check took.
        latency_ms: f64,
        /// Why it failed.
        reason: Option<String>,
    },
    /// A service's processes went above a threshold.
    Alert {
        /// The service.
        service: String,
        /// `cpu` or `memory`.
        metric: Metric,
        /// The value (percent of one core, or MiB).
        value: f64,
        /// The configured threshold.
        threshold: f64,
    },
    /// A service's processes are back under a threshold (below 90% of it, so a value that
    /// hovers at the threshold does not flap).
    AlertCleared {
        /// The service.
        service: String,
        /// `cpu` or `memory`.
        metric: Metric,
        /// The value.
        value: f64,
        /// The configured threshold.
        threshold: f64,
    },
    /// One port check (only with `-v`).
    Tick {
        /// Its number, from 1.
        tick: u64,
        /// How long the check took.
        duration_ms: f64,
        /// Whether the scan re-read every process's descriptors.
        full_scan: bool,
        /// Ports watched.
        ports: usize,
        /// Conflicts open now.
        conflicts: usize,
    },
    /// Something went wrong for a moment (a scan failed); monitoring goes on.
    Warning {
        /// What happened.
        message: String,
    },
    /// The monitor stops.
    MonitorStopped {
        /// Port checks made.
        ticks: u64,
        /// `signal`, `duration` (`--for`) or `count` (`--count`).
        reason: String,
    },
}

impl Event {
    /// The event's name in the human line (short, aligned).
    fn label(&self) -> (&'static str, Style) {
        match self {
            Event::MonitorStarted { .. } => ("monitor", Style::Bold),
            Event::Conflict { .. } => ("conflict", Style::Red),
            Event::ConflictResolved { .. } => ("resolved", Style::Green),
            Event::ConflictUnresolved { .. } => ("unresolved", Style::Yellow),
            Event::PortMigrated { .. } => ("migrated", Style::Yellow),
            Event::Health { healthy: true, .. } => ("healthy", Style::Green),
            Event::Health { .. } => ("unhealthy", Style::Red),
            Event::Alert { .. } => ("alert", Style::Red),
            Event::AlertCleared { .. } => ("cleared", Style::Green),
            Event::Tick { .. } => ("tick", Style::Dim),
            Event::Warning { .. } => ("warning", Style::Yellow),
            Event::MonitorStopped { .. } => ("stopped", Style::Bold),
        }
    }

    /// The service and what happened, for people.
    fn text(&self) -> (Option<&str>, String) {
        match self {
            Event::MonitorStarted {
                services,
                ports,
                interval_ms,
                health_check_interval_ms,
                supervisor,
                auto_resolve,
                strategy,
                terminate,
                ..
            } => (
                None,
                format!(
                    "watching {services} service{} ({ports} port{}) every {}, health every {}; {}; {}",
                    plural(*services),
                    plural(*ports),
                    ms(*interval_ms),
                    ms(*health_check_interval_ms),
                    match supervisor {
                        Some(pid) => format!("supervisor pid {pid}"),
                        None => "no supervisor running".to_owned(),
                    },
                    match (auto_resolve, terminate) {
                        (false, _) => "conflicts are reported, not resolved".to_owned(),
                        (true, false) => format!(
                            "conflicts resolved with {strategy} (never stopping a process: --yes allows it)"
                        ),
                        (true, true) => format!("conflicts resolved with {strategy}"),
                    }
                ),
            ),
            Event::Conflict {
                service,
                port,
                level,
                holders,
                ..
            } => {
                let who: Vec<&str> = holders.iter().map(|h| h.description.as_str()).collect();
                (
                    Some(service),
                    format!("port {port} taken by {} [{level}]", who.join("; ")),
                )
            }
            Event::ConflictResolved {
                service,
                port,
                how,
                to,
                pids,
            } => (
                Some(service),
                match (how.as_str(), to) {
                    ("migrated", Some(to)) => format!("port {port}: moved to {to}"),
                    ("terminated", _) => {
                        let pids: Vec<String> = pids.iter().map(|p| format!("pid {p}")).collect();
                        format!("port {port}: stopped {}", pids.join(", "))
                    }
                    _ => format!("port {port} is no longer in conflict"),
                },
            ),
            Event::ConflictUnresolved {
                service,
                port,
                reason,
                ..
            } => (Some(service), format!("port {port}: {reason}")),
            Event::PortMigrated { service, from, to } => (
                Some(service),
                format!(
                    "from port {from} to {to} (recorded in ports.json: its next start uses it)"
                ),
            ),
            Event::Health {
                service,
                healthy,
                check,
                latency_ms,
                reason,
                previous,
            } => (
                Some(service),
                format!(
                    "check `{check}` {} after {latency_ms:.1}ms{}{}",
                    if *healthy { "passed" } else { "failed" },
                    reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default(),
                    if previous == "unknown" {
                        String::new()
                    } else {
                        format!(" (was {previous})")
                    }
                ),
            ),
            Event::Alert {
                service,
                metric,
                value,
                threshold,
            } => (
                Some(service),
                format!(
                    "{} above {threshold}{}",
                    metric.describe(*value),
                    metric.unit()
                ),
            ),
            Event::AlertCleared {
                service,
                metric,
                value,
                threshold,
            } => (
                Some(service),
                format!(
                    "{} back under {threshold}{}",
                    metric.describe(*value),
                    metric.unit()
                ),
            ),
            Event::Tick {
                tick,
                duration_ms,
                full_scan,
                ports,
                conflicts,
            } => (
                None,
                format!(
                    "#{tick} in {duration_ms:.1}ms: {ports} port{}, {conflicts} conflict{}, {} scan",
                    plural(*ports),
                    plural(*conflicts),
                    if *full_scan { "full" } else { "incremental" }
                ),
            ),
            Event::Warning { message } => (None, message.clone()),
            Event::MonitorStopped { ticks, reason } => (
                None,
                format!(
                    "after {ticks} check{} ({})",
                    plural(*ticks as usize),
                    match reason.as_str() {
                        "signal" => "interrupted",
                        "duration" => "--for elapsed",
                        "count" => "--count reached",
                        other => other,
                    }
                ),
            ),
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn ms(ms: u64) -> String {
    crate::output::format_duration(std::time::Duration::from_millis(ms))
}

/// An event with its time, as `--json` prints it: `{"type": ..., ..., "at": "..."}`.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    event: &'a Event,
    at: String,
}

/// Where events go: stdout (a line or a JSON object each) and `port_manager.log`.
#[derive(Debug)]
pub struct Emitter {
    out: Output,
    verbose: bool,
    paths: StatePaths,
    log: Option<File>,
    log_failed: bool,
}

impl Emitter {
    /// Writes to `out`, and appends to the `port_manager.log` of `paths`. Ticks are shown only
    /// when `verbose`.
    pub fn new(out: Output, paths: &StatePaths, verbose: bool) -> Emitter {
        Emitter {
            out,
            verbose,
            paths: paths.clone(),
            log: None,
            log_failed: false,
        }
    }

    /// Reports `event`. `Err` only when stdout is gone (the monitor then stops).
    pub fn emit(&mut self, event: &Event) -> CliResult {
        let now = SystemTime::now();
        let is_tick = matches!(event, Event::Tick { .. });
        if is_tick && !self.verbose {
            return Ok(());
        }
        let (service, text) = event.text();
        let (label, style) = event.label();
        if !is_tick {
            self.log(&format!(
                "{} [monitor] {label} {}{text}",
                rfc3339(now),
                service.map(|s| format!("{s} ")).unwrap_or_default()
            ));
        }
        if self.out.json {
            return self.out.json_line(&Line {
                event,
                at: rfc3339(now),
            });
        }
        self.out.line(format!(
            "{} {} {}{text}",
            self.out.paint(Style::Dim, sys::local_time_of_day(now)),
            self.out.paint(style, format!("{label:<10}")),
            service
                .map(|s| format!("{} ", self.out.paint(Style::Bold, s)))
                .unwrap_or_default()
        ))
    }

    fn log(&mut self, line: &str) {
        if self.log.is_none() && !self.log_failed {
            let opened = self.paths.ensure().and_then(|()| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.paths.port_manager_log)
            });
            match opened {
                Ok(file) => self.log = Some(file),
                Err(e) => {
                    self.log_failed = true;
                    self.out.warn(format!(
                        "{} cannot be written: {e}",
                        self.paths.port_manager_log.display()
                    ));
                }
            }
        }
        if let Some(file) = self.log.as_mut() {
            // One write per line (O_APPEND): lines of concurrent writers never interleave.
            let _ = file.write_all(format!("{line}\n").as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_carry_type_fields_and_time() {
        let event = Event::PortMigrated {
            service: "api".into(),
            from: 8000,
            to: 8001,
        };
        let value = serde_json::to_value(Line {
            event: &event,
            at: "2026-01-01T00:00:00.000Z".into(),
        })
        .unwrap();
        assert_eq!(value["type"], "port_migrated");
        assert_eq!(value["to"], 8001);
        assert_eq!(value["at"], "2026-01-01T00:00:00.000Z");
    }

    #[test]
    fn human_lines_name_the_service_and_the_holder() {
        let event = Event::Conflict {
            service: "api".into(),
            port: 8000,
            protocol: "tcp".into(),
            level: "high".into(),
            holders: vec![HolderInfo {
                pid: Some(4242),
                name: Some("python3".into()),
                description: "pid 4242 (python3), another process of yours".into(),
            }],
            detail: String::new(),
        };
        let (service, text) = event.text();
        assert_eq!(service, Some("api"));
        assert_eq!(
            text,
            "port 8000 taken by pid 4242 (python3), another process of yours [high]"
        );
    }
}
