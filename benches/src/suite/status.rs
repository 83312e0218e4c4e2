//! `status`: asking a running stack how it is, as a whole process, against the peers' own
//! status commands on stacks of the same size.
//!
//! Three stacks of `--services` services run side by side (portwarden's started with `up -d`,
//! supervisord's, pm2's), then, interleaved round-robin: `portwarden status --json`,
//! `supervisorctl status` and `pm2 jlist`. Each answer must name the pid of the stack's first
//! service (all three print pids), or its figures do not count; portwarden's must be one JSON
//! document.

use std::time::Duration;

use crate::error::BenchError;
use crate::measure;
use crate::report::{Check, CommandResult, Role, SuiteReport, mentions_number};
use crate::stacks::HealthCheck;
use crate::suite::supervisor::{self, skipped_row};
use crate::suite::{self, Context};

/// `portwarden status --json` must answer in under this many milliseconds (median).
pub const MAX_MEDIAN_MS: f64 = 20.0;
/// Its peak RSS must stay below this, MiB.
pub const MAX_RSS_MIB: f64 = 20.0;

/// Options of the status suite.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Services per supervisor.
    #[arg(long, default_value_t = 30, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=500))]
    pub services: u16,
    /// portwarden's health check for every service.
    #[arg(long, value_enum, default_value_t = HealthCheck::Http)]
    pub check: HealthCheck,
    /// The health check's interval once a service is up, seconds.
    #[arg(long, default_value_t = 5, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub check_interval: u64,
    /// How long the stacks rest after every service is up, before the first run, seconds:
    /// supervisord calls a program RUNNING (and shows its pid) only after `startsecs`, 1 s.
    #[arg(long, default_value_t = 3, value_name = "SECS")]
    pub settle: u64,
}

/// Runs the suite.
pub fn run(ctx: &Context, args: &StatusArgs) -> Result<SuiteReport, BenchError> {
    supervisor::sweep();
    let load_before = suite::load_average();
    let services = usize::from(args.services);
    let (supervisors, missing) = supervisor::lineup(ctx, true);
    let mut running = supervisor::start_stacks(
        ctx,
        supervisors,
        services,
        args.check,
        Duration::from_secs(args.check_interval),
    )?;
    std::thread::sleep(Duration::from_secs(args.settle));
    let probes: Vec<Option<u32>> = running
        .iter_mut()
        .map(|r| r.finder.live(services)[0].map(|id| id.pid))
        .collect();
    let processes = suite::process_count();
    let specs: Vec<measure::CommandSpec> = running.iter().map(|r| r.status()).collect();
    crate::note(&format!(
        "measuring {} status commands: {} warm-up + {} timed rounds ...",
        specs.len(),
        ctx.plan.warmup,
        ctx.plan.runs
    ));
    let measured = measure::round_robin(&specs, &ctx.plan);
    let load_after = suite::load_average();
    let stopped = supervisor::stop_stacks(running);
    let measured = measured?;
    stopped?;

    let mut commands: Vec<CommandResult> = measured
        .iter()
        .zip(&probes)
        .enumerate()
        .map(|(i, (m, probe))| {
            let role = if i == 0 { Role::Candidate } else { Role::Peer };
            let mut result = CommandResult::measured(m, role, &[]);
            // Each stack has its own pids: the probe is per command.
            result.saw_fixtures = Some(probe.is_some_and(|pid| {
                mentions_number(&m.output.stdout, pid.into())
                    || mentions_number(&m.output.stderr, pid.into())
            }));
            result
        })
        .collect();
    commands.extend(missing.iter().map(skipped_row));
    let mut notes: Vec<String> = missing.iter().map(|m| m.hint.clone()).collect();
    let [portwarden, peers @ ..] = &commands[..] else {
        return Err(BenchError::Internal("the status suite lost portwarden"));
    };
    let mut checks = vec![Check::median_below(portwarden, MAX_MEDIAN_MS)];
    checks.extend(
        peers
            .iter()
            .map(|p| Check::median_ratio(portwarden, p, None)),
    );
    checks.push(Check::peak_rss(portwarden, MAX_RSS_MIB));
    if let Ok(own) = crate::sys::own_max_rss_kib() {
        notes.push(format!(
            "peak RSS of a child includes pw-bench's own at spawn time ({:.1} MiB), the floor under every figure",
            own as f64 / 1024.0
        ));
    }
    let check = match args.check {
        HealthCheck::Http => format!("an HTTP GET /health every {} s", args.check_interval),
        HealthCheck::Listening => {
            format!("the listening check every {} s", args.check_interval)
        }
    };
    Ok(SuiteReport {
        suite: "status",
        setup: vec![
            format!(
                "{services} services per supervisor, each `pw-fixture --http 127.0.0.1:PORT`, all \
                 three stacks up side by side (portwarden's with `up -d`, checking each with {check})"
            ),
            format!(
                "after every service was up and {} s of rest; each answer must name the pid of its stack's first service",
                args.settle
            ),
            format!("portwarden: {}", ctx.portwarden.display()),
            ctx.network.describe(),
            ctx.describe_plan(),
            format!(
                "machine: {processes} processes, the stacks' included; load average (1 min) {load_before} before, {load_after} after"
            ),
        ],
        network: ctx.network.name(),
        warmup: ctx.plan.warmup,
        runs: ctx.plan.runs,
        commands,
        checks,
        notes,
    })
}
