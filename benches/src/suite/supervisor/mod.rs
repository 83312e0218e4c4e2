//! `supervisor`: portwarden's supervisor against supervisord and pm2, each supervising the same
//! `pw-fixture` services, in three parts that report as three tables:
//!
//! - `supervisor/idle`: `--services` services settled, then each supervisor's CPU time
//!   (utime + stime of every thread, from `/proc/PID/stat`) over the same `--idle` window,
//!   and its memory (`VmRSS`, `VmHWM`).
//! - `supervisor/crash`: a service SIGKILLed by pw-bench, timed until its replacement runs the
//!   service program, found the same way for all three (the supervisor's children in `/proc`,
//!   polled every 0.5 ms). Only first restarts: a service is crashed again only after it has
//!   run long enough for portwarden to reset its backoff.
//! - `supervisor/chain`: portwarden alone (the peers cannot order starts by readiness): a
//!   `--levels` chain of services, each waiting for the previous to be healthy, from `up` to
//!   `stack_ready`, against one service alone and the service's own start time.
//!
//! The idle and crash parts share one set of stacks, started together and stopped together:
//! the idle window runs on all three at once, and the crash runs are interleaved round-robin.

use std::time::Duration;

use crate::error::BenchError;
use crate::fleet::Fleet;
use crate::peers;
use crate::report::{CommandResult, Role, SuiteReport};
use crate::stacks::pm2::Pm2;
use crate::stacks::portwarden::Portwarden;
use crate::stacks::supervisord::Supervisord;
use crate::stacks::{self, HealthCheck, Running, Stack, StackPlan, Supervisor};
use crate::suite::{self, Context};

mod chain;
mod crash;
pub mod idle;

/// The parts of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// CPU and memory of each supervisor at rest.
    Idle,
    /// SIGKILL to respawn.
    Crash,
    /// Start-to-healthy of a dependency chain (portwarden only).
    Chain,
}

/// Options of the supervisor suite.
#[derive(Debug, Clone, clap::Args)]
pub struct SupervisorArgs {
    /// Services per supervisor for the idle and crash parts.
    #[arg(long, default_value_t = 30, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=500))]
    pub services: u16,
    /// The idle window, seconds.
    #[arg(long, default_value_t = 30, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle: u64,
    /// How long the stacks rest after every service is up, before the idle window, seconds.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    pub settle: u64,
    /// portwarden's health check for every service.
    #[arg(long, value_enum, default_value_t = HealthCheck::Http)]
    pub check: HealthCheck,
    /// The health check's interval once a service is up, seconds.
    #[arg(long, default_value_t = 5, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub check_interval: u64,
    /// Levels of the dependency chain.
    #[arg(long, default_value_t = 10, value_name = "N",
          value_parser = clap::value_parser!(u16).range(2..=100))]
    pub levels: u16,
    /// Longest a crashed service may take to run again before the run fails, seconds.
    #[arg(long, default_value_t = 10, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub respawn_within: u64,
    /// Which parts to run.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Part::Idle, Part::Crash, Part::Chain])]
    pub parts: Vec<Part>,
    /// Idle background processes to start first (pw-fixture holding nothing), standing in for
    /// the rest of a developer's machine: whatever walks the whole process table slows down
    /// with them.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub background: usize,
}

/// Starts `count` idle pw-fixture processes (none when 0).
pub fn background(ctx: &Context, count: usize) -> Result<Option<Fleet>, BenchError> {
    if count == 0 {
        return Ok(None);
    }
    crate::note(&format!("starting {count} idle background processes ..."));
    Fleet::start(&ctx.fixture, &vec![Vec::new(); count], ctx.startup_timeout).map(Some)
}

/// A peer that is not installed: its rows are skipped with the hint.
#[derive(Debug, Clone)]
pub struct Missing {
    /// The supervisor's name.
    pub name: &'static str,
    /// How to install it.
    pub hint: String,
}

/// supervisord, when both its programs are installed.
pub fn find_supervisord() -> Result<Supervisord, Missing> {
    match (peers::SUPERVISORD.find(), peers::SUPERVISORCTL.find()) {
        (Some(supervisord), Some(supervisorctl)) => Ok(Supervisord {
            supervisord,
            supervisorctl,
        }),
        _ => Err(Missing {
            name: "supervisord",
            hint: peers::SUPERVISORD.missing(),
        }),
    }
}

/// pm2, when it and node are installed.
pub fn find_pm2() -> Result<Pm2, Missing> {
    let node = peers::Tool {
        name: "node",
        source: peers::Source::Apt("nodejs"),
    };
    match (peers::PM2.find(), node.find()) {
        (Some(pm2), Some(_)) => Ok(Pm2 { pm2 }),
        (None, _) => Err(Missing {
            name: "pm2",
            hint: peers::PM2.missing(),
        }),
        (Some(_), None) => Err(Missing {
            name: "pm2",
            hint: node.missing(),
        }),
    }
}

/// The supervisors to compare: portwarden first, then each peer or why it is missing.
pub fn lineup(ctx: &Context, detached: bool) -> (Vec<Box<dyn Supervisor>>, Vec<Missing>) {
    let mut present: Vec<Box<dyn Supervisor>> = vec![Box::new(Portwarden {
        binary: ctx.portwarden.clone(),
        detached,
        monitoring: None,
    })];
    let mut missing = Vec::new();
    match find_supervisord() {
        Ok(s) => present.push(Box::new(s)),
        Err(m) => missing.push(m),
    }
    match find_pm2() {
        Ok(p) => present.push(Box::new(p)),
        Err(m) => missing.push(m),
    }
    for m in &missing {
        crate::note(&m.hint);
    }
    (present, missing)
}

/// Starts `services` services under each supervisor (their ports all distinct), and waits
/// until every stack has settled.
pub fn start_stacks(
    ctx: &Context,
    supervisors: Vec<Box<dyn Supervisor>>,
    services: usize,
    check: HealthCheck,
    check_interval: Duration,
) -> Result<Vec<Running>, BenchError> {
    let ports = stacks::free_ports(services * supervisors.len(), &[])?;
    let mut running = Vec::with_capacity(supervisors.len());
    for (i, supervisor) in supervisors.into_iter().enumerate() {
        let plan = StackPlan::flat("s", &ports[i * services..(i + 1) * services]);
        let stack = Stack::create(&*supervisor, plan, check, check_interval, &ctx.fixture)?;
        crate::note(&format!(
            "starting {services} services under {} ...",
            supervisor.name()
        ));
        running.push(Running::start(supervisor, stack, ctx.startup_timeout)?);
    }
    for stack in &mut running {
        stack.await_settled(ctx.startup_timeout)?;
    }
    Ok(running)
}

/// Stops every stack, all of them even when one fails; the first failure is returned.
pub fn stop_stacks(running: Vec<Running>) -> Result<(), BenchError> {
    let mut first = Ok(());
    for stack in running {
        let name = stack.name();
        crate::note(&format!("stopping {name} ..."));
        if let Err(err) = stack.stop(stacks::STOP_TIMEOUT) {
            crate::note(&format!("warning: {err}"));
            if first.is_ok() {
                first = Err(err);
            }
        }
    }
    first
}

/// A skipped row for a missing peer.
pub fn skipped_row(missing: &Missing) -> CommandResult {
    CommandResult::skipped(
        missing.name.to_string(),
        Role::Peer,
        format!("{} is not installed", missing.name),
    )
}

/// Removes what interrupted runs left in the temp folder, saying so.
pub fn sweep() {
    let removed = stacks::sweep_stale_folders();
    if removed > 0 {
        crate::note(&format!(
            "removed {removed} stack folder(s) left by interrupted runs"
        ));
    }
}

/// The setup lines every part shows about the machine and the runs.
fn machine(ctx: &Context, load_before: &str, background: usize) -> Vec<String> {
    vec![
        format!("portwarden: {}", ctx.portwarden.display()),
        ctx.network.describe(),
        format!(
            "machine: {} processes ({background} of them pw-bench's idle background); load average (1 min) {load_before} before, {} after",
            suite::process_count(),
            suite::load_average()
        ),
    ]
}

/// Runs the suite's parts; one report each.
pub fn run(ctx: &Context, args: &SupervisorArgs) -> Result<Vec<SuiteReport>, BenchError> {
    sweep();
    let fleet = background(ctx, args.background)?;
    let mut reports = Vec::new();
    let wants = |part| args.parts.contains(&part);
    if wants(Part::Idle) || wants(Part::Crash) {
        let load_before = suite::load_average();
        let (supervisors, missing) = lineup(ctx, false);
        let check_interval = Duration::from_secs(args.check_interval);
        let services = usize::from(args.services);
        let mut running = start_stacks(ctx, supervisors, services, args.check, check_interval)?;
        let measured = (|| {
            let mut out = Vec::new();
            if wants(Part::Idle) {
                crate::note(&format!(
                    "every stack is up; resting {} s, then sampling {} s ...",
                    args.settle, args.idle
                ));
                std::thread::sleep(Duration::from_secs(args.settle));
                out.push(idle::run(ctx, args, &mut running, &missing, &load_before)?);
            }
            if wants(Part::Crash) {
                out.push(crash::run(ctx, args, &mut running, &missing, &load_before)?);
            }
            Ok(out)
        })();
        let stopped = stop_stacks(running);
        reports.extend(measured?);
        stopped?;
    }
    if wants(Part::Chain) {
        reports.push(chain::run(ctx, args)?);
    }
    if let Some(fleet) = fleet {
        fleet.stop()?;
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_parse_as_a_list() {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct Wrap {
            #[command(flatten)]
            args: SupervisorArgs,
        }
        let all = Wrap::try_parse_from(["x"]).unwrap().args;
        assert_eq!(all.parts, [Part::Idle, Part::Crash, Part::Chain]);
        assert_eq!((all.services, all.idle, all.levels), (30, 30, 10));
        let some = Wrap::try_parse_from(["x", "--parts", "crash,chain", "--check", "listening"])
            .unwrap()
            .args;
        assert_eq!(some.parts, [Part::Crash, Part::Chain]);
        assert_eq!(some.check, HealthCheck::Listening);
        assert!(Wrap::try_parse_from(["x", "--levels", "1"]).is_err());
    }
}
