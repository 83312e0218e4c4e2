//! `supervisor/crash`: from SIGKILLing a service to its replacement running, for each
//! supervisor, interleaved round-robin.
//!
//! Each run picks the next service (round-robin over the stack), SIGKILLs its process and polls
//! the supervisor's children every [`POLL`] until a new process runs the service program with
//! the service's address: the same test for all three, whatever they log. A full scan of every
//! thread's children runs every [`FULL_SCAN_EVERY`] polls, the threads that spawned services
//! before are read at every poll. Only first restarts count: a service is crashed again only
//! once it has been up for [`STABLE`], past portwarden's 10 s after which its backoff resets
//! (supervisord restarts a process that ran past `startsecs` at once, pm2 one that ran past
//! `min_uptime`, 1 s).
//!
//! portwarden's own events (`exited`, `restarting`, `spawned` of `up --json`) are read too: when
//! pw-bench saw them, and the backoff delay portwarden chose, are in the notes.

use std::time::{Duration, Instant};

use super::{Missing, SupervisorArgs};
use crate::error::BenchError;
use crate::measure;
use crate::procfs::Identity;
use crate::report::{Check, CommandResult, Role, SuiteReport};
use crate::stacks::{self, Running, event_number, is_event};
use crate::stats;
use crate::suite::Context;
use crate::sys;

/// portwarden must bring a crashed service back in under this many milliseconds (median).
pub const MAX_MEDIAN_MS: f64 = 10.0;
/// How often the supervisor's children are looked at.
pub const POLL: Duration = Duration::from_micros(500);
/// Every this many polls, every thread's children are read, not only the hinted threads'.
pub const FULL_SCAN_EVERY: u32 = 10;
/// How long a service must have run before it is crashed again.
pub const STABLE: Duration = Duration::from_secs(11);
/// How long the replacement gets to accept connections before the next run (untimed).
const BACK_UP_WITHIN: Duration = Duration::from_secs(5);

/// What portwarden's events said about one crash, times from the kill.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Seen {
    /// `exited` read by pw-bench, ms.
    pub exited_ms: Option<f64>,
    /// `spawned` read by pw-bench, ms.
    pub spawned_ms: Option<f64>,
    /// The delay `restarting` announced, ms.
    pub delay_ms: Option<u64>,
}

/// One supervisor's runs.
#[derive(Debug, Default)]
struct Series {
    ms: Vec<f64>,
    problems: Vec<Option<String>>,
    seen: Vec<Seen>,
    /// When each service's process was last replaced.
    replaced: Vec<Option<Instant>>,
}

/// One crash: kills service `k`'s process and times until a new one runs.
fn crash(
    stack: &mut Running,
    k: usize,
    services: usize,
    within: Duration,
) -> Result<(Option<f64>, Option<String>, Seen), BenchError> {
    let name = stack.stack.plan.services[k].name.clone();
    let Some(victim) = stack.finder.live(services)[k] else {
        return Ok((
            None,
            Some(format!("{name} had no process to kill")),
            Seen::default(),
        ));
    };
    let from = stack.launched.events.as_ref().map_or(0, |e| e.len());
    let killed = Instant::now();
    if let Err(err) = sys::send_signal(victim.pid, libc::SIGKILL) {
        return Ok((
            None,
            Some(format!("kill {}: {err}", victim.pid)),
            Seen::default(),
        ));
    }
    let mut polls = 0u32;
    let replaced: Option<(Identity, Duration)> = loop {
        let full = polls.is_multiple_of(FULL_SCAN_EVERY);
        if let Some(new) = stack.finder.find(k, Some(victim), full) {
            break Some((new, killed.elapsed()));
        }
        if killed.elapsed() >= within {
            break None;
        }
        polls += 1;
        std::thread::sleep(POLL);
    };
    let seen = stack
        .launched
        .events
        .as_ref()
        .map(|events| {
            let deadline = Instant::now() + Duration::from_secs(1);
            let since = |at: Instant| at.saturating_duration_since(killed).as_secs_f64() * 1000.0;
            let exited = events.wait_for(from, deadline, |l| {
                is_event(l, "exited", Some(&name))
                    && event_number(l, "pid") == Some(u64::from(victim.pid))
            });
            let after = exited.as_ref().map_or(from, |(i, _)| i + 1);
            let spawned = events.wait_for(after, deadline, |l| is_event(l, "spawned", Some(&name)));
            let restarting = events.find(after, |l| is_event(l, "restarting", Some(&name)));
            Seen {
                exited_ms: exited.map(|(_, l)| since(l.at)),
                spawned_ms: spawned.map(|(_, l)| since(l.at)),
                delay_ms: restarting.and_then(|(_, l)| event_number(&l.text, "delay_ms")),
            }
        })
        .unwrap_or_default();
    let Some((_, took)) = replaced else {
        return Ok((
            None,
            Some(format!(
                "no new {name} process within {within:?} of the kill"
            )),
            seen,
        ));
    };
    // Untimed: the next run starts on a stack that is whole again.
    let port = stack.stack.plan.services[k].port;
    let back = Instant::now() + BACK_UP_WITHIN;
    while !stacks::accepts(port) && Instant::now() < back {
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok((Some(took.as_secs_f64() * 1000.0), None, seen))
}

/// Median of the present values, ms.
fn median_of(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let present: Vec<f64> = values.flatten().collect();
    stats::summarize(&present).map(|s| s.median)
}

/// What portwarden's events said, over the timed runs.
pub fn describe_seen(seen: &[Seen]) -> String {
    let exited = median_of(seen.iter().map(|s| s.exited_ms));
    let spawned = median_of(seen.iter().map(|s| s.spawned_ms));
    let delays: Vec<u64> = seen.iter().filter_map(|s| s.delay_ms).collect();
    let max_delay = delays.iter().max().copied();
    let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2} ms"));
    format!(
        "portwarden's own events, as pw-bench read them from `up --json` (medians from the kill): \
         `exited` {}, `spawned` {}; `restarting` announced {} of {} crashes, largest delay {}",
        fmt(exited),
        fmt(spawned),
        delays.len(),
        seen.len(),
        max_delay.map_or("-".to_string(), |d| format!("{d} ms"))
    )
}

/// Runs the crash part on the settled stacks.
pub fn run(
    ctx: &Context,
    args: &SupervisorArgs,
    running: &mut [Running],
    missing: &[Missing],
    load_before: &str,
) -> Result<SuiteReport, BenchError> {
    let services = usize::from(args.services);
    let within = Duration::from_secs(args.respawn_within);
    let mut series: Vec<Series> = running
        .iter()
        .map(|_| Series {
            replaced: vec![None; services],
            ..Series::default()
        })
        .collect();
    crate::note(&format!(
        "crashing services: {} warm-up + {} timed rounds over {} supervisors ...",
        ctx.plan.warmup,
        ctx.plan.runs,
        running.len()
    ));
    measure::interleave(running.len(), &ctx.plan, |turn| {
        let k = turn.round % services;
        let s = &mut series[turn.index];
        if let Some(at) = s.replaced[k] {
            let up = at.elapsed();
            if up < STABLE {
                std::thread::sleep(STABLE - up);
            }
        }
        let (ms, problem, seen) = crash(&mut running[turn.index], k, services, within)?;
        s.replaced[k] = Some(Instant::now());
        if turn.timed {
            s.ms.push(ms.unwrap_or(within.as_secs_f64() * 1000.0));
            s.problems.push(problem);
            s.seen.push(seen);
        }
        Ok(())
    })?;

    let mut commands: Vec<CommandResult> = running
        .iter()
        .zip(&series)
        .map(|(stack, s)| {
            let role = if stack.name() == "portwarden" {
                Role::Candidate
            } else {
                Role::Peer
            };
            CommandResult::in_process(
                stack.name(),
                &format!(
                    "SIGKILL a service of `{}`; until a new process runs it",
                    stack.launched.command
                ),
                role,
                s.ms.clone(),
                &s.problems,
            )
        })
        .collect();
    commands.extend(missing.iter().map(super::skipped_row));
    let mut notes: Vec<String> = missing.iter().map(|m| m.hint.clone()).collect();
    if let Some(s) = series.first() {
        notes.push(describe_seen(&s.seen));
    }
    let [portwarden, peers @ ..] = &commands[..] else {
        return Err(BenchError::Internal("the crash part lost portwarden"));
    };
    let mut checks = vec![Check::median_below(portwarden, MAX_MEDIAN_MS)];
    checks.extend(
        peers
            .iter()
            .map(|p| Check::median_ratio(portwarden, p, None)),
    );

    let mut setup = vec![
        format!(
            "{services} services per supervisor (`pw-fixture --http 127.0.0.1:PORT`, restarted always), \
             all three stacks up side by side"
        ),
        format!(
            "each run: SIGKILL the next service's process, then poll the supervisor's children \
             (/proc/PID/task/*/children) every {} ms until a new process runs the service program \
             (portwarden's through `sh -c 'exec ...'`: timed to the exec); a service is crashed \
             again only after {} s up (first restarts only, no backoff)",
            POLL.as_secs_f64() * 1000.0,
            STABLE.as_secs()
        ),
        format!(
            "{} timed runs per supervisor after {} warm-up(s), interleaved round-robin; a run \
             fails after {within:?} without a new process",
            ctx.plan.runs, ctx.plan.warmup
        ),
    ];
    setup.extend(super::machine(ctx, load_before, args.background));
    Ok(SuiteReport {
        suite: "supervisor/crash",
        setup,
        network: ctx.network.name(),
        warmup: ctx.plan.warmup,
        runs: ctx.plan.runs,
        commands,
        checks,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_summary_gives_medians_and_delays() {
        let seen = [
            Seen {
                exited_ms: Some(1.0),
                spawned_ms: Some(3.0),
                delay_ms: Some(0),
            },
            Seen {
                exited_ms: Some(2.0),
                spawned_ms: Some(5.0),
                delay_ms: Some(0),
            },
            Seen::default(),
        ];
        let text = describe_seen(&seen);
        assert!(
            text.contains("`exited` 1.50 ms, `spawned` 4.00 ms"),
            "{text}"
        );
        assert!(
            text.contains("announced 2 of 3 crashes, largest delay 0 ms"),
            "{text}"
        );
    }
}
