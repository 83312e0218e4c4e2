//! `supervisor/idle`: what each supervisor costs while nothing happens.
//!
//! Over one window, the same for all (they run side by side), each supervising process's CPU
//! time is read from `/proc/PID/stat` at both ends (utime + stime: every thread, exited ones
//! included), and its memory at the end from `/proc/PID/status`. Per-thread figures
//! (`/proc/PID/task/*/stat` and the context switches in `status`) say where the time went:
//! each voluntary switch is a wake-up.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{Missing, SupervisorArgs};
use crate::error::BenchError;
use crate::procfs::{self, Identity, ThreadTicks};
use crate::report::{Check, CommandResult, Role, SuiteReport, Usage};
use crate::stacks::{HealthCheck, Running};
use crate::suite::Context;
use crate::sys;

/// portwarden's idle CPU must stay below this share of one core, percent.
pub const MAX_CPU_PERCENT: f64 = 0.5;
/// portwarden's peak RSS (`VmHWM`) must stay below this, MiB.
pub const MAX_RSS_MIB: f64 = 20.0;

/// One supervisor's readings at one end of the window.
#[derive(Debug, Clone)]
struct Reading {
    cpu_ticks: u64,
    threads: BTreeMap<u32, ThreadTicks>,
    services: Vec<Option<Identity>>,
}

fn read(stack: &mut Running, services: usize) -> Reading {
    Reading {
        cpu_ticks: procfs::stat(stack.pid()).map_or(0, |s| s.cpu_ticks),
        threads: procfs::threads(stack.pid()),
        services: stack.finder.live(services),
    }
}

/// Usage over a window from CPU ticks at both ends.
pub fn usage(ticks: u64, hz: u64, window: Duration, memory: procfs::Memory) -> Usage {
    let cpu_ms = ticks as f64 * 1000.0 / hz.max(1) as f64;
    let window_ms = window.as_secs_f64() * 1000.0;
    Usage {
        window_s: window.as_secs_f64(),
        cpu_ms,
        cpu_percent: if window_ms > 0.0 {
            cpu_ms / window_ms * 100.0
        } else {
            0.0
        },
        rss_kib: memory.rss_kib,
        hwm_kib: memory.hwm_kib,
        threads: memory.threads,
    }
}

/// A thread name with its trailing digits replaced by `*`, so that one thread per service
/// (`pw-health-s07`) adds up under one name (`pw-health-s*`).
pub fn thread_group(name: &str) -> String {
    let trimmed = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if trimmed.len() < name.len() && !trimmed.is_empty() {
        format!("{trimmed}*")
    } else {
        name.to_string()
    }
}

/// Where the time and the wake-ups went between two per-thread readings, busiest first:
/// `pw-health-s* x30: 40 ms, 12.0 wake-ups/s`. `total_ticks` is the whole process's CPU time
/// over the window: what the threads alive at the end do not account for was spent by
/// threads that started and ended within it (or ended during it), which only the process
/// total sees.
pub fn thread_summary(
    before: &BTreeMap<u32, ThreadTicks>,
    after: &BTreeMap<u32, ThreadTicks>,
    total_ticks: u64,
    hz: u64,
    window: Duration,
) -> String {
    #[derive(Default)]
    struct Group {
        threads: usize,
        ticks: u64,
        switches: u64,
    }
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut started = 0;
    for (tid, now) in after {
        let (ticks, switches) = match before.get(tid) {
            Some(then) => (
                now.cpu_ticks.saturating_sub(then.cpu_ticks),
                now.switches.saturating_sub(then.switches),
            ),
            None => {
                started += 1;
                (now.cpu_ticks, now.switches)
            }
        };
        let group = groups.entry(thread_group(&now.name)).or_default();
        group.threads += 1;
        group.ticks += ticks;
        group.switches += switches;
    }
    let ended = before.keys().filter(|t| !after.contains_key(t)).count();
    let seen: u64 = groups.values().map(|g| g.ticks).sum();
    let unseen = total_ticks.saturating_sub(seen);
    let mut rows: Vec<(String, Group)> = groups.into_iter().collect();
    rows.sort_by(|a, b| {
        (b.1.ticks, b.1.switches)
            .cmp(&(a.1.ticks, a.1.switches))
            .then(a.0.cmp(&b.0))
    });
    let secs = window.as_secs_f64().max(f64::EPSILON);
    let total: u64 = rows.iter().map(|r| r.1.switches).sum();
    let mut parts: Vec<String> = rows
        .iter()
        .filter(|(_, g)| g.ticks > 0 || g.switches > 0)
        .take(6)
        .map(|(name, g)| {
            let count = if g.threads > 1 {
                format!(" x{}", g.threads)
            } else {
                String::new()
            };
            format!(
                "{name}{count}: {:.0} ms, {:.1} wake-ups/s",
                g.ticks as f64 * 1000.0 / hz.max(1) as f64,
                g.switches as f64 / secs
            )
        })
        .collect();
    if parts.is_empty() {
        parts.push("no thread ran".to_string());
    }
    format!(
        "{}; {:.1} wake-ups/s in all; {started} thread(s) started and {ended} ended during the window; \
         {:.0} ms in threads that did not live through it",
        parts.join("; "),
        total as f64 / secs,
        unseen as f64 * 1000.0 / hz.max(1) as f64
    )
}

/// Runs the idle part on the settled stacks.
pub fn run(
    ctx: &Context,
    args: &SupervisorArgs,
    running: &mut [Running],
    missing: &[Missing],
    load_before: &str,
) -> Result<SuiteReport, BenchError> {
    let services = usize::from(args.services);
    let hz = sys::clock_ticks();
    let window = Duration::from_secs(args.idle);
    let before: Vec<Reading> = running.iter_mut().map(|s| read(s, services)).collect();
    let started = Instant::now();
    std::thread::sleep(window);
    let after: Vec<Reading> = running.iter_mut().map(|s| read(s, services)).collect();
    let elapsed = started.elapsed();
    let mut commands = Vec::new();
    let mut notes = Vec::new();
    for ((stack, then), now) in running.iter().zip(&before).zip(&after) {
        let memory = procfs::memory(stack.pid()).unwrap_or_default();
        let used = usage(
            now.cpu_ticks.saturating_sub(then.cpu_ticks),
            hz,
            elapsed,
            memory,
        );
        let restarted = then
            .services
            .iter()
            .zip(&now.services)
            .filter(|(a, b)| a.is_none() || a != b)
            .count();
        let problem = if !stack.alive() {
            Some("the supervisor exited during the window".to_string())
        } else if restarted > 0 {
            Some(format!(
                "{restarted} service(s) were down or restarted during the window"
            ))
        } else {
            None
        };
        let role = if stack.name() == "portwarden" {
            Role::Candidate
        } else {
            Role::Peer
        };
        notes.push(format!(
            "{} threads: {}",
            stack.name(),
            thread_summary(
                &then.threads,
                &now.threads,
                now.cpu_ticks.saturating_sub(then.cpu_ticks),
                hz,
                elapsed
            )
        ));
        commands.push(CommandResult::resident(
            stack.name(),
            &stack.launched.command,
            role,
            used,
            problem,
        ));
    }
    commands.extend(missing.iter().map(super::skipped_row));
    notes.extend(missing.iter().map(|m| m.hint.clone()));

    let Some(portwarden) = commands.first().cloned() else {
        return Err(BenchError::Internal("the idle part lost portwarden"));
    };
    let cpu = portwarden.usage.map(|u| u.cpu_percent);
    let checks = vec![
        Check::figure_below(&portwarden, "idle CPU", "%", cpu, MAX_CPU_PERCENT),
        Check::peak_rss(&portwarden, MAX_RSS_MIB),
    ];
    for peer in commands.iter().skip(1) {
        if let (Some(pw), Some(p)) = (&portwarden.usage, &peer.usage) {
            notes.push(format!(
                "portwarden vs {}: {} the CPU, {} the peak RSS",
                peer.label,
                times(pw.cpu_ms, p.cpu_ms),
                times(pw.hwm_kib as f64, p.hwm_kib as f64)
            ));
        }
    }
    let check = match args.check {
        HealthCheck::Http => format!("an HTTP GET /health every {} s", args.check_interval),
        HealthCheck::Listening => format!(
            "its default listening check (the socket table) every {} s",
            args.check_interval
        ),
    };
    let mut setup = vec![
        format!(
            "{services} services per supervisor, each `pw-fixture --http 127.0.0.1:PORT`, restarted always"
        ),
        format!(
            "portwarden checks each with {check}; supervisord and pm2 have no health checks (they only watch the process)"
        ),
        format!(
            "after every service was up and {} s of rest: CPU time (utime+stime, all threads) of the supervising process over {:.1} s, \
             memory at the end; pm2's is its God daemon, supervisord's its python process",
            args.settle,
            elapsed.as_secs_f64()
        ),
    ];
    setup.extend(super::machine(ctx, load_before, args.background));
    Ok(SuiteReport {
        suite: "supervisor/idle",
        setup,
        network: ctx.network.name(),
        warmup: 0,
        runs: 1,
        commands,
        checks,
        notes,
    })
}

/// `0.25x` (or `-` when the peer used nothing).
fn times(candidate: f64, peer: f64) -> String {
    crate::stats::ratio(candidate, peer)
        .map_or("- (the peer used none)".to_string(), |r| format!("{r:.2}x"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread(name: &str, cpu_ticks: u64, switches: u64) -> ThreadTicks {
        ThreadTicks {
            name: name.to_string(),
            cpu_ticks,
            switches,
        }
    }

    #[test]
    fn usage_is_cpu_time_over_the_window() {
        let memory = procfs::Memory {
            rss_kib: 100,
            hwm_kib: 200,
            threads: 3,
        };
        let u = usage(15, 100, Duration::from_secs(30), memory);
        assert!((u.cpu_ms - 150.0).abs() < 1e-9);
        assert!((u.cpu_percent - 0.5).abs() < 1e-9);
        assert_eq!((u.rss_kib, u.hwm_kib, u.threads), (100, 200, 3));
    }

    #[test]
    fn per_service_threads_add_up_under_one_name() {
        assert_eq!(thread_group("pw-health-s07"), "pw-health-s*");
        assert_eq!(thread_group("portwarden-reap"), "portwarden-reap");
        assert_eq!(thread_group("1234"), "1234");
        let before: BTreeMap<u32, ThreadTicks> = [
            (1, thread("portwarden", 10, 5)),
            (2, thread("pw-health-s00", 0, 0)),
            (3, thread("pw-health-s01", 0, 0)),
            (9, thread("gone", 0, 0)),
        ]
        .into();
        let after: BTreeMap<u32, ThreadTicks> = [
            (1, thread("portwarden", 10, 5)),
            (2, thread("pw-health-s00", 2, 30)),
            (3, thread("pw-health-s01", 1, 30)),
            (4, thread("pw-check", 1, 2)),
        ]
        .into();
        let summary = thread_summary(&before, &after, 9, 100, Duration::from_secs(10));
        assert!(
            summary.starts_with(
                "pw-health-s* x2: 30 ms, 6.0 wake-ups/s; pw-check: 10 ms, 0.2 wake-ups/s"
            ),
            "{summary}"
        );
        assert!(summary.contains("6.2 wake-ups/s in all"), "{summary}");
        assert!(
            summary.ends_with(
                "1 thread(s) started and 1 ended during the window; 50 ms in threads that did not live through it"
            ),
            "{summary}"
        );
    }
}
