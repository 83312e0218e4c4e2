//! `supervisor/chain`: how long portwarden takes to bring up a chain of services that are
//! ready at once, beyond the services' own start.
//!
//! Interleaved round-robin, four rows: `up --json` of a `--levels` chain (each service
//! depends on the previous one, `condition: healthy`), timed from spawn until pw-bench reads
//! `stack_ready`; the same for one service alone; `up -d` of the chain, until it returns; and
//! the service itself, `pw-fixture --http` started by pw-bench, timed until `GET /health`
//! answers 200 (probed every 0.2 ms): its own start-to-healthy, the baseline. Each stack is
//! stopped (`portwarden stop`, untimed) after its run and started again from the same folder.
//!
//! With L levels, T(L) the chain's median, T(1) the single service's and b the baseline's:
//! the chain's overhead is T(L) - L*b (portwarden's start-up included) and the cost of one
//! more level is (T(L) - T(1)) / (L - 1) - b. supervisord and pm2 have nothing to compare:
//! neither can start a service only once another is ready.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::SupervisorArgs;
use crate::error::BenchError;
use crate::guard;
use crate::measure;
use crate::report::{Check, CommandResult, Role, SuiteReport};
use crate::stacks::portwarden::Portwarden;
use crate::stacks::{self, Running, Stack, StackPlan, event_number, is_event};
use crate::stats;
use crate::suite::Context;
use crate::sys;

/// portwarden's overhead per level must stay below this, ms.
pub const MAX_PER_LEVEL_MS: f64 = 30.0;
/// How often the baseline's `/health` is probed.
const PROBE_EVERY: Duration = Duration::from_micros(200);

/// One row's runs.
#[derive(Debug, Default)]
struct Series {
    ms: Vec<f64>,
    problems: Vec<Option<String>>,
    /// portwarden's own `stack_ready.after_ms`, for the foreground rows.
    ready_after: Vec<f64>,
}

/// How one run went.
#[derive(Debug, Clone, Default, PartialEq)]
struct Outcome {
    /// The time, ms, when the run succeeded.
    ms: Option<f64>,
    /// Why it does not count, when it does not.
    problem: Option<String>,
    /// portwarden's own `stack_ready.after_ms`, in the foreground.
    ready_after: Option<f64>,
}

impl Outcome {
    fn timed(ms: f64) -> Outcome {
        Outcome {
            ms: Some(ms),
            ..Outcome::default()
        }
    }

    fn failed(problem: String) -> Outcome {
        Outcome {
            problem: Some(problem),
            ..Outcome::default()
        }
    }
}

impl Series {
    fn push(&mut self, outcome: Outcome, timeout: Duration) {
        self.ms
            .push(outcome.ms.unwrap_or(timeout.as_secs_f64() * 1000.0));
        self.problems.push(outcome.problem);
        self.ready_after.extend(outcome.ready_after);
    }

    fn median(&self) -> Option<f64> {
        stats::summarize(&self.ms).map(|s| s.median)
    }
}

/// The figures the checks judge, from the medians: (chain overhead, overhead per level).
pub fn overheads(levels: usize, chain: f64, single: f64, service: f64) -> (f64, f64) {
    let l = levels as f64;
    let chain_overhead = chain - l * service;
    let per_level = (chain - single) / (l - 1.0).max(1.0) - service;
    (chain_overhead, per_level)
}

/// `up --json` in the foreground until `stack_ready`.
fn foreground(ctx: &Context, stack: &Stack) -> Result<Outcome, BenchError> {
    let supervisor = Box::new(Portwarden {
        binary: ctx.portwarden.clone(),
        detached: false,
        monitoring: None,
    });
    let running = Running::start(supervisor, stack.clone(), ctx.plan.timeout)?;
    let deadline = running.launched.started + ctx.plan.timeout;
    let outcome = running.launched.events.as_ref().and_then(|events| {
        events.wait_for(0, deadline, |l| {
            is_event(l, "stack_ready", None) || is_event(l, "stack_failed", None)
        })
    });
    let result = match outcome {
        Some((_, line)) if is_event(&line.text, "stack_ready", None) => Outcome {
            ready_after: event_number(&line.text, "after_ms").map(|v| v as f64),
            ..Outcome::timed(
                line.at
                    .saturating_duration_since(running.launched.started)
                    .as_secs_f64()
                    * 1000.0,
            )
        },
        Some((_, line)) => Outcome::failed(format!("the stack failed: {}", line.text)),
        None => Outcome::failed(format!(
            "no stack_ready within {:?}; last lines: {:?}",
            ctx.plan.timeout,
            running.launched.events.as_ref().map(|e| e.tail(3))
        )),
    };
    running.stop(stacks::STOP_TIMEOUT)?;
    Ok(result)
}

/// `up -d` until it returns (ready or failed).
fn detached(ctx: &Context, stack: &Stack) -> Result<Outcome, BenchError> {
    let supervisor = Box::new(Portwarden {
        binary: ctx.portwarden.clone(),
        detached: true,
        monitoring: None,
    });
    let running = Running::start(supervisor, stack.clone(), ctx.plan.timeout)?;
    let result = match running.launched.returned {
        Some(sample) if sample.exit.success() => Outcome::timed(sample.wall.as_secs_f64() * 1000.0),
        Some(sample) => Outcome::failed(format!("`up -d` ended with {}", sample.exit)),
        None => Outcome::failed("`up -d` was not timed".to_string()),
    };
    running.stop(stacks::STOP_TIMEOUT)?;
    Ok(result)
}

/// Whether `GET /health` on 127.0.0.1:`port` answers 200.
pub fn healthy(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.ends_with(b" 200")
}

/// The service alone: spawn until `/health` answers 200, then killed.
fn service_alone(fixture: &Path, port: u16, timeout: Duration) -> Result<Outcome, BenchError> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port)).to_string();
    let mut command = Command::new(fixture);
    command
        .args(["--http", &address])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let blocked = sys::block_termination_signals();
    blocked.unblock_in_child(&mut command);
    let started = Instant::now();
    let mut child = command.spawn().map_err(|source| BenchError::Spawn {
        command: format!("{} --http {address}", fixture.display()),
        source,
    })?;
    let pgid = child.id() as i32;
    if !guard::add_group(pgid) {
        sys::kill_group(pgid);
        let _ = child.wait();
        return Err(BenchError::TooManyGroups {
            max: guard::MAX_GROUPS,
        });
    }
    drop(blocked);
    let took = loop {
        if healthy(port) {
            break Some(started.elapsed());
        }
        if started.elapsed() >= timeout {
            break None;
        }
        std::thread::sleep(PROBE_EVERY);
    };
    sys::kill_group(pgid);
    let _ = child.wait();
    guard::remove_group(pgid);
    Ok(match took {
        Some(t) => Outcome::timed(t.as_secs_f64() * 1000.0),
        None => Outcome::failed(format!("/health never answered 200 within {timeout:?}")),
    })
}

/// Runs the chain part.
pub fn run(ctx: &Context, args: &SupervisorArgs) -> Result<SuiteReport, BenchError> {
    let load_before = crate::suite::load_average();
    let levels = usize::from(args.levels);
    let ports = stacks::free_ports(2 * levels + 2, &[])?;
    let check_interval = Duration::from_secs(args.check_interval);
    let pw = Portwarden {
        binary: ctx.portwarden.clone(),
        detached: false,
        monitoring: None,
    };
    let make = |services| Stack::create(&pw, services, args.check, check_interval, &ctx.fixture);
    let chain = make(StackPlan::chain("lvl", &ports[..levels]))?;
    let chain_d = make(StackPlan::chain("lvl", &ports[levels..2 * levels]))?;
    let single = make(StackPlan::flat("one", &ports[2 * levels..2 * levels + 1]))?;
    let alone_port = ports[2 * levels + 1];

    let labels = [
        format!("up --json, {levels} levels, to stack_ready"),
        "up --json, 1 service, to stack_ready".to_string(),
        format!("up -d, {levels} levels, until it returns"),
        "pw-fixture alone, to /health 200".to_string(),
    ];
    let mut series: Vec<Series> = labels.iter().map(|_| Series::default()).collect();
    crate::note(&format!(
        "starting a {levels}-level chain: {} warm-up + {} timed rounds ...",
        ctx.plan.warmup, ctx.plan.runs
    ));
    let timeout = ctx.plan.timeout;
    measure::interleave(labels.len(), &ctx.plan, |turn| {
        let outcome = match turn.index {
            0 => foreground(ctx, &chain)?,
            1 => foreground(ctx, &single)?,
            2 => detached(ctx, &chain_d)?,
            _ => service_alone(&ctx.fixture, alone_port, timeout)?,
        };
        if turn.timed {
            series[turn.index].push(outcome, timeout);
        }
        Ok(())
    })?;

    let mut commands: Vec<CommandResult> = labels
        .iter()
        .zip(&series)
        .enumerate()
        .map(|(i, (label, s))| {
            let (role, command) = match i {
                3 => (
                    Role::Peer,
                    "pw-fixture --http 127.0.0.1:PORT, spawned by pw-bench",
                ),
                2 => (Role::Candidate, "portwarden -c CONFIG up -d --json"),
                _ => (Role::Candidate, "portwarden -c CONFIG up --json"),
            };
            CommandResult::in_process(label, command, role, s.ms.clone(), &s.problems)
        })
        .collect();
    let no_equivalent = |name: &str, why: &str| {
        CommandResult::skipped(
            name.to_string(),
            Role::Peer,
            format!("no equivalent: {why}"),
        )
    };
    commands.push(no_equivalent(
        "supervisord",
        "no readiness ordering (priority orders the spawns, nothing waits for a program to be up)",
    ));
    commands.push(no_equivalent(
        "pm2",
        "no readiness ordering (apps start together; wait_ready only delays an app's own online state)",
    ));

    // A row with failed runs has the time-out in place of those runs: no figure from it.
    let medians: Vec<Option<f64>> = series
        .iter()
        .map(|s| {
            s.median()
                .filter(|_| s.problems.iter().all(Option::is_none))
        })
        .collect();
    let figures = match (medians[0], medians[1], medians[3]) {
        (Some(chain), Some(single), Some(service)) => {
            Some(overheads(levels, chain, single, service))
        }
        _ => None,
    };
    let checks = vec![
        Check::figure_below(
            &commands[0],
            "chain overhead",
            "ms",
            figures.map(|f| f.0),
            MAX_PER_LEVEL_MS * levels as f64,
        ),
        Check::figure_below(
            &commands[0],
            "overhead per level",
            "ms",
            figures.map(|f| f.1),
            MAX_PER_LEVEL_MS,
        ),
    ];
    let mut notes = Vec::new();
    if let (Some(d), Some(service)) = (medians[2], medians[3]) {
        notes.push(format!(
            "up -d: {} for the chain, {:.1} ms over its services' own start ({levels} x {})",
            fmt_ms(d),
            d - levels as f64 * service,
            fmt_ms(service)
        ));
    }
    for (i, what) in [(0, "the chain"), (1, "one service")] {
        if let Some(after) = stats::summarize(&series[i].ready_after) {
            notes.push(format!(
                "portwarden's own stack_ready.after_ms for {what}: median {:.0} ms",
                after.median
            ));
        }
    }
    let check = match args.check {
        stacks::HealthCheck::Http => "GET /health (health_check type http)",
        stacks::HealthCheck::Listening => "the listening check",
    };
    let mut setup = vec![
        format!(
            "a chain of {levels} services, each `pw-fixture --http 127.0.0.1:PORT` depending on the \
             previous with `condition: healthy`, checked by {check}; each answers 200 at once"
        ),
        "chain overhead = T(chain) - levels x T(service alone); per level = (T(chain) - T(one)) / (levels - 1) - T(service alone), from the medians".to_string(),
        format!(
            "{} timed runs per row after {} warm-up(s), interleaved round-robin; each stack is \
             stopped (portwarden stop, untimed) and started again from the same folder",
            ctx.plan.runs, ctx.plan.warmup
        ),
    ];
    setup.extend(super::machine(ctx, &load_before, args.background));
    Ok(SuiteReport {
        suite: "supervisor/chain",
        setup,
        network: ctx.network.name(),
        warmup: ctx.plan.warmup,
        runs: ctx.plan.runs,
        commands,
        checks,
        notes,
    })
}

fn fmt_ms(v: f64) -> String {
    format!("{v:.1} ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overheads_subtract_the_services_own_start() {
        // 10 levels at 20 ms each (2 of them the service's own start), 30 ms of start-up.
        let (chain, per_level) = overheads(10, 230.0, 50.0, 2.0);
        assert!((chain - 210.0).abs() < 1e-9);
        assert!((per_level - 18.0).abs() < 1e-9);
    }

    #[test]
    fn a_fixture_alone_is_healthy_within_a_second() {
        let port = stacks::free_ports(1, &[]).unwrap()[0];
        let outcome =
            service_alone(&testkit::fixture_path(), port, Duration::from_secs(10)).unwrap();
        assert_eq!(outcome.problem, None);
        assert!(outcome.ms.is_some_and(|ms| ms < 1000.0), "{outcome:?}");
        assert!(!healthy(port));
    }
}
