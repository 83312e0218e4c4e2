//! `monitor`: what `portwarden monitor` costs while it watches a stack.
//!
//! A stack of `--services` services runs under `portwarden up -d` (the config's `monitoring`
//! section sets monitor's health interval and both resource thresholds, so it follows every
//! service's CPU and memory too). Then `portwarden monitor --interval 1s --json` runs as a
//! long-running process, its events read as they come. After `monitor_started` and `--settle`
//! seconds, its CPU time (utime + stime, all threads) is read from `/proc/PID/stat` over a
//! `--window`, and its memory (`VmRSS`, `VmHWM`) at the end; the supervisor is sampled over
//! the same window, for reference (monitor asks it for `status` every 2 s). Then monitor gets
//! SIGTERM, and must say `monitor_stopped` and exit.
//!
//! Nothing happens to the stack meanwhile, so monitor's only events after its start are each
//! service's first health result: a `conflict`, `alert` or `warning` in the window fails the
//! row (monitor would be reporting the stack's own services).

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::BenchError;
use crate::guard;
use crate::procfs;
use crate::report::{Check, CommandResult, Role, SuiteReport};
use crate::stacks::portwarden::{Monitoring, Portwarden};
use crate::stacks::{self, HealthCheck, Lines, Running, Stack, StackPlan, is_event};
use crate::suite::supervisor::idle::{thread_summary, usage};
use crate::suite::{self, Context, supervisor};
use crate::sys;

/// monitor's CPU must stay below this share of one core, percent.
pub const MAX_CPU_PERCENT: f64 = 0.5;
/// Its peak RSS (`VmHWM`) must stay below this, MiB.
pub const MAX_RSS_MIB: f64 = 20.0;
/// How long monitor gets to exit after SIGTERM.
const EXIT_WITHIN: Duration = Duration::from_secs(10);
/// Thresholds high enough never to fire for pw-fixture, set so that monitor reads every
/// service's figures: CPU percent of one core, memory MiB.
const THRESHOLDS: (f64, u64) = (80.0, 512);

/// Options of the monitor suite.
#[derive(Debug, Clone, clap::Args)]
pub struct MonitorArgs {
    /// Services in the stack.
    #[arg(long, default_value_t = 30, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=500))]
    pub services: u16,
    /// monitor's `--interval`.
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    pub interval: String,
    /// The sampling window, seconds (30 to 60 is what the target is stated for).
    #[arg(long, default_value_t = 30, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub window: u64,
    /// How long monitor runs after `monitor_started` before the window, seconds.
    #[arg(long, default_value_t = 3, value_name = "SECS")]
    pub settle: u64,
    /// `monitoring.health_check_interval`, seconds (portwarden's default is 60).
    #[arg(long, default_value_t = 60, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub health_interval: u64,
    /// The services' health check (the one monitor runs too).
    #[arg(long, value_enum, default_value_t = HealthCheck::Http)]
    pub check: HealthCheck,
    /// The supervisor's health-check interval once a service is up, seconds.
    #[arg(long, default_value_t = 5, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub check_interval: u64,
    /// Idle background processes started first (the rest of a machine).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub background: usize,
}

/// A process's CPU ticks and threads at one moment.
struct Reading {
    ticks: u64,
    threads: BTreeMap<u32, procfs::ThreadTicks>,
}

fn read(pid: u32) -> Reading {
    Reading {
        ticks: procfs::stat(pid).map_or(0, |s| s.cpu_ticks),
        threads: procfs::threads(pid),
    }
}

/// How many events of each type `lines` holds.
pub fn count_events(lines: &[String]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in lines {
        let kind = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("type")?.as_str().map(str::to_string))
            .unwrap_or_else(|| "(not an event)".to_string());
        *counts.entry(kind).or_insert(0) += 1;
    }
    counts
}

/// Why the events seen during the window mean monitor was not at rest, if they do.
pub fn unrest(counts: &BTreeMap<String, usize>) -> Option<String> {
    let bad: Vec<String> = ["conflict", "alert", "warning", "conflict_unresolved"]
        .iter()
        .filter_map(|k| counts.get(*k).map(|n| format!("{n} {k}")))
        .collect();
    (!bad.is_empty()).then(|| format!("monitor reported {} during the window", bad.join(", ")))
}

/// Runs the suite.
pub fn run(ctx: &Context, args: &MonitorArgs) -> Result<SuiteReport, BenchError> {
    supervisor::sweep();
    let fleet = supervisor::background(ctx, args.background)?;
    let load_before = suite::load_average();
    let services = usize::from(args.services);
    let ports = stacks::free_ports(services, &[])?;
    let pw = Portwarden {
        binary: ctx.portwarden.clone(),
        detached: true,
        monitoring: Some(Monitoring {
            health_check_interval: Duration::from_secs(args.health_interval),
            thresholds: Some(THRESHOLDS),
        }),
    };
    let stack = Stack::create(
        &pw,
        StackPlan::flat("s", &ports),
        args.check,
        Duration::from_secs(args.check_interval),
        &ctx.fixture,
    )?;
    crate::note(&format!(
        "starting {services} services under portwarden (up -d) ..."
    ));
    let mut running = Running::start(Box::new(pw), stack, ctx.startup_timeout)?;
    running.await_settled(ctx.startup_timeout)?;
    let measured = watch(ctx, args, &running);
    let stopped = running.stop(stacks::STOP_TIMEOUT);
    if let Some(fleet) = fleet {
        fleet.stop()?;
    }
    let (commands, notes, processes) = measured?;
    stopped?;

    let Some(monitor) = commands.first() else {
        return Err(BenchError::Internal("the monitor suite lost monitor"));
    };
    let cpu = monitor.usage.map(|u| u.cpu_percent);
    let checks = vec![
        Check::figure_below(monitor, "CPU", "%", cpu, MAX_CPU_PERCENT),
        Check::peak_rss(monitor, MAX_RSS_MIB),
    ];
    let check = match args.check {
        HealthCheck::Http => "HTTP GET /health",
        HealthCheck::Listening => "the listening check",
    };
    Ok(SuiteReport {
        suite: "monitor",
        setup: vec![
            format!(
                "{services} services (`pw-fixture --http 127.0.0.1:PORT`) under `portwarden up -d`, \
                 checked by the supervisor every {} s with {check}",
                args.check_interval
            ),
            format!(
                "`portwarden monitor --interval {} --json`, monitoring.health_check_interval {} s, \
                 CPU and memory thresholds set ({} % and {} MiB, never reached)",
                args.interval, args.health_interval, THRESHOLDS.0, THRESHOLDS.1
            ),
            format!(
                "after monitor_started and {} s: CPU time (utime+stime, all threads) over {} s, \
                 memory at the end; the supervisor over the same window, for reference",
                args.settle, args.window
            ),
            format!("portwarden: {}", ctx.portwarden.display()),
            ctx.network.describe(),
            format!(
                "machine: {processes} processes ({} of them pw-bench's idle background); load average (1 min) {load_before} before, {} after",
                args.background,
                suite::load_average()
            ),
        ],
        network: ctx.network.name(),
        warmup: 0,
        runs: 1,
        commands,
        checks,
        notes,
    })
}

/// Runs monitor on the settled stack and samples it: the rows, the notes, and how many
/// processes the machine had.
fn watch(
    ctx: &Context,
    args: &MonitorArgs,
    running: &Running,
) -> Result<(Vec<CommandResult>, Vec<String>, usize), BenchError> {
    let config = running.stack.config.display().to_string();
    let label = format!("portwarden monitor --interval {}", args.interval);
    let mut command = Command::new(&ctx.portwarden);
    let stderr_path = running.stack.dir().join("monitor.stderr");
    let stderr = std::fs::File::create(&stderr_path).map_err(|source| BenchError::Write {
        path: stderr_path.clone(),
        source,
    })?;
    command
        .args([
            "-c",
            &config,
            "monitor",
            "--interval",
            &args.interval,
            "--json",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .process_group(0);
    let blocked = sys::block_termination_signals();
    blocked.unblock_in_child(&mut command);
    let mut child = command.spawn().map_err(|source| BenchError::Spawn {
        command: format!("{} -c {config} monitor", ctx.portwarden.display()),
        source,
    })?;
    let pid = child.id();
    if !guard::add_group(pid as i32) {
        sys::kill_group(pid as i32);
        let _ = child.wait();
        return Err(BenchError::TooManyGroups {
            max: guard::MAX_GROUPS,
        });
    }
    drop(blocked);
    let events = child.stdout.take().map(Lines::follow).unwrap_or_default();
    // From here on the child is reaped by pid, like the supervisors.
    drop(child);
    let result = sample(ctx, args, running, pid, &label, &events);
    let identity = procfs::identity(pid);
    let _ = sys::send_signal(pid, libc::SIGTERM);
    let exit = stacks::wait_gone(pid, identity, EXIT_WITHIN);
    sys::kill_group(pid as i32);
    let _ = sys::reap_pid(pid);
    guard::remove_group(pid as i32);
    let (mut commands, mut notes, processes) = result?;
    let said_stopped = events
        .wait_for(0, Instant::now() + Duration::from_secs(1), |l| {
            is_event(l, "monitor_stopped", None)
        })
        .map(|(_, l)| l.text);
    match (exit, said_stopped) {
        (Some(exit), Some(line)) => {
            notes.push(format!("monitor ended with {exit} after SIGTERM: {line}"))
        }
        (exit, _) => {
            let why = match exit {
                Some(exit) => {
                    format!("monitor ended with {exit} after SIGTERM, without monitor_stopped")
                }
                None => format!("monitor was still running {EXIT_WITHIN:?} after SIGTERM"),
            };
            if let Some(row) = commands.first_mut() {
                row.failed_runs = 1;
                row.failure.get_or_insert(why);
            }
        }
    }
    Ok((commands, notes, processes))
}

fn sample(
    ctx: &Context,
    args: &MonitorArgs,
    running: &Running,
    pid: u32,
    label: &str,
    events: &Lines,
) -> Result<(Vec<CommandResult>, Vec<String>, usize), BenchError> {
    let started = events.wait_for(0, Instant::now() + ctx.startup_timeout, |l| {
        is_event(l, "monitor_started", None)
    });
    if started.is_none() {
        return Err(BenchError::Stack {
            supervisor: "portwarden monitor",
            stage: "start",
            timeout: ctx.startup_timeout,
            detail: format!("no monitor_started event; last lines: {:?}", events.tail(3)),
            dir: running.stack.dir().to_path_buf(),
        });
    }
    crate::note(&format!(
        "monitor is watching; {} s, then sampling {} s ...",
        args.settle, args.window
    ));
    std::thread::sleep(Duration::from_secs(args.settle));
    let hz = sys::clock_ticks();
    let supervisor = running.pid();
    let from = events.len();
    let (m0, s0) = (read(pid), read(supervisor));
    let began = Instant::now();
    std::thread::sleep(Duration::from_secs(args.window));
    let (m1, s1) = (read(pid), read(supervisor));
    let window = began.elapsed();
    let processes = suite::process_count();
    let seen: Vec<String> = events
        .tail(events.len().saturating_sub(from))
        .into_iter()
        .collect();
    let counts = count_events(&seen);
    let monitor_alive = procfs::identity(pid).is_some_and(procfs::alive);
    let problem = if !monitor_alive {
        Some("monitor exited during the window".to_string())
    } else {
        unrest(&counts)
    };
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for (who, p, then, now, problem) in [
        (label.to_string(), pid, &m0, &m1, problem),
        (
            "portwarden supervisor (up -d), for reference".to_string(),
            supervisor,
            &s0,
            &s1,
            (!running.alive()).then(|| "the supervisor exited during the window".to_string()),
        ),
    ] {
        let ticks = now.ticks.saturating_sub(then.ticks);
        let used = usage(ticks, hz, window, procfs::memory(p).unwrap_or_default());
        notes.push(format!(
            "{who} threads: {}",
            thread_summary(&then.threads, &now.threads, ticks, hz, window)
        ));
        rows.push(CommandResult::resident(
            &who,
            &who,
            Role::Candidate,
            used,
            problem,
        ));
    }
    notes.push(format!(
        "monitor's events during the window: {}",
        if counts.is_empty() {
            "none".to_string()
        } else {
            counts
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    ));
    Ok((rows, notes, processes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_counted_by_type_and_trouble_is_named() {
        let lines: Vec<String> = [
            r#"{"type":"health","service":"s00","healthy":true}"#,
            r#"{"type":"health","service":"s01","healthy":true}"#,
            "not json",
        ]
        .iter()
        .map(|l| l.to_string())
        .collect();
        let counts = count_events(&lines);
        assert_eq!(counts.get("health"), Some(&2));
        assert_eq!(counts.get("(not an event)"), Some(&1));
        assert_eq!(unrest(&counts), None);
        let mut bad = counts.clone();
        bad.insert("conflict".into(), 1);
        bad.insert("alert".into(), 2);
        assert_eq!(
            unrest(&bad).as_deref(),
            Some("monitor reported 1 conflict, 2 alert during the window")
        );
    }
}
