//! `scan-steady`: a long-lived [`procscan::Scanner`] against cold [`procscan::snapshot`]s, in
//! this process, on the background fleet; `portwarden scan --json` as a whole process for
//! reference.
//!
//! Nothing changes between scans, so the scanner's scans are steady state: the socket table
//! dumped anew, the descriptors of known processes not read again. It still redoes the whole
//! pass every `--full-pass-every` scans (procscan's default is 20), and a socket whose holder
//! it does not know forces one; those scans are reported apart. Two figures come out: the
//! median of the steady scans alone (the target) and the mean of every scan, full passes
//! included, which is what a monitor polling forever pays on average.
//!
//! Every scan, cold or steady, must show every background listener held by its fixture, or
//! that run fails: a scanner that is fast because it stopped looking does not pass.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Instant;

use procscan::{ScanOptions, Scanner, Snapshot};

use crate::error::BenchError;
use crate::fleet::Fleet;
use crate::measure;
use crate::report::{Check, CommandResult, Role, SuiteReport};
use crate::stats;
use crate::suite::{self, BackgroundArgs, Context, Lineup, Wanted};

/// A steady scan's median at most this fraction of a cold snapshot's.
pub const STEADY_VS_COLD: f64 = 0.2;

/// Options of the scan-steady suite.
#[derive(Debug, Clone, clap::Args)]
pub struct ScanSteadyArgs {
    /// The background fleet.
    #[command(flatten)]
    pub background: BackgroundArgs,
    /// Scans between the scanner's full passes [default: procscan's, 20].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub full_pass_every: Option<u32>,
}

/// What kind of pass a scanner's scan was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Only what changed was read.
    Steady,
    /// The scanner's first scan, always full.
    First,
    /// A full pass on the schedule (every N scans).
    Scheduled,
    /// A full pass forced by a socket whose holder the scanner did not know.
    Forced,
}

/// Classifies a scan from [`Scanner::last_scan_was_full`], the number of steady scans since
/// the last full one before it, and the schedule, mirroring procscan's rule (a full pass when
/// `since_full + 1 >= every`).
pub fn classify(full: bool, first: bool, since_full: u32, every: u32) -> Pass {
    match (full, first) {
        (false, _) => Pass::Steady,
        (true, true) => Pass::First,
        (true, false) if since_full + 1 >= every => Pass::Scheduled,
        (true, false) => Pass::Forced,
    }
}

/// What a scanner polling forever pays per scan on average: `every - 1` steady scans and one
/// full pass per cycle.
pub fn amortised(steady_mean: f64, full_mean: f64, every: u32) -> f64 {
    let every = f64::from(every.max(1));
    ((every - 1.0) * steady_mean + full_mean) / every
}

/// Why `snapshot` does not show the fleet, if it does not: every `(listener, pid)` in
/// `expected` must be a socket held by that pid.
pub fn missed_listeners(snapshot: &Snapshot, expected: &[(SocketAddr, u32)]) -> Option<String> {
    let held: HashSet<(SocketAddr, u32)> = snapshot
        .sockets
        .iter()
        .flat_map(|s| s.holders.iter().map(move |&pid| (s.local, pid)))
        .collect();
    let missing = expected.iter().filter(|e| !held.contains(e)).count();
    (missing > 0).then(|| {
        format!(
            "{missing} of {} fixture listeners missing or shown without their holder",
            expected.len()
        )
    })
}

/// One in-process series: wall times and per-run problems.
#[derive(Debug, Default)]
struct Series {
    ms: Vec<f64>,
    problems: Vec<Option<String>>,
}

impl Series {
    fn push(&mut self, ms: f64, problem: Option<String>) {
        self.ms.push(ms);
        self.problems.push(problem);
    }

    fn result(&self, label: &str, command: &str, role: Role) -> CommandResult {
        CommandResult::in_process(label, command, role, self.ms.clone(), &self.problems)
    }

    fn mean(&self) -> Option<f64> {
        stats::summarize(&self.ms).map(|s| s.mean)
    }
}

/// Times one call and checks its answer; the check is not timed.
fn timed_scan(
    scan: impl FnOnce() -> Result<Snapshot, procscan::Error>,
    expected: &[(SocketAddr, u32)],
) -> (f64, Option<String>) {
    let start = Instant::now();
    let result = scan();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let problem = match &result {
        Ok(snapshot) => missed_listeners(snapshot, expected),
        Err(err) => Some(format!("scan failed: {err}")),
    };
    // Dropped untimed, for both alike.
    drop(result);
    (ms, problem)
}

/// Runs the suite.
pub fn run(ctx: &Context, args: &ScanSteadyArgs) -> Result<SuiteReport, BenchError> {
    let every = args
        .full_pass_every
        .unwrap_or(Scanner::DEFAULT_FULL_PASS_EVERY);
    let others = suite::process_count();
    let plan = args.background.plan();
    crate::note(&format!(
        "starting {} background fixture processes ...",
        plan.len()
    ));
    let fleet = Fleet::start(&ctx.fixture, &plan, ctx.startup_timeout)?;
    let expected: Vec<(SocketAddr, u32)> = fleet
        .ready()
        .iter()
        .flat_map(|r| r.tcp.iter().map(move |&a| (a, r.pid)))
        .collect();
    let Some(&(probe_addr, probe_pid)) = expected.last() else {
        return Err(BenchError::Internal(
            "scan-steady needs at least one background listener (--procs 1 or more)",
        ));
    };
    let lineup = Lineup::new(
        ctx,
        &[Wanted::Portwarden(vec![
            "scan".to_string(),
            "--json".to_string(),
        ])],
    );

    let options = ScanOptions::default();
    let mut scanner = Scanner::with_full_pass_every(every);
    let mut scans = 0usize;
    let mut since_full = 0u32;
    let (mut cold, mut steady, mut all) = (Series::default(), Series::default(), Series::default());
    let mut passes: Vec<Pass> = Vec::new();
    let mut whole = measure::Measured {
        spec: lineup.specs[0].clone(),
        samples: Vec::with_capacity(ctx.plan.runs),
        output: measure::Output::default(),
    };
    let mut buffer = vec![0u8; 64 << 10];
    crate::note(&format!(
        "measuring cold snapshots, steady scans and `portwarden scan --json`: {} warm-up + {} timed rounds ...",
        ctx.plan.warmup, ctx.plan.runs
    ));
    let load_before = suite::load_average();
    measure::interleave(3, &ctx.plan, |turn| {
        match turn.index {
            0 => {
                let (ms, problem) = timed_scan(|| procscan::snapshot(&options), &expected);
                if turn.timed {
                    cold.push(ms, problem);
                }
            }
            1 => {
                let (ms, problem) = timed_scan(|| scanner.scan(&options), &expected);
                let full = scanner.last_scan_was_full();
                let pass = classify(full, scans == 0, since_full, every);
                scans += 1;
                since_full = if full { 0 } else { since_full + 1 };
                if turn.timed {
                    if pass == Pass::Steady {
                        steady.push(ms, problem.clone());
                    }
                    all.push(ms, problem);
                    passes.push(pass);
                }
            }
            _ => {
                let (sample, output) =
                    measure::run_once(&whole.spec, ctx.plan.timeout, turn.first(), &mut buffer)?;
                if turn.first() {
                    whole.output = output;
                }
                if turn.timed {
                    whole.samples.push(sample);
                }
            }
        }
        Ok(())
    })?;
    let load_after = suite::load_average();
    fleet.stop()?;

    let full_label = format!("Scanner::scan, all (full every {every})");
    let cold = cold.result(
        "snapshot (cold)",
        "procscan::snapshot(&ScanOptions::default())",
        Role::Peer,
    );
    let steady_result = steady.result(
        "Scanner::scan (steady)",
        "procscan::Scanner::scan, steady scans only",
        Role::Candidate,
    );
    let all_result = all.result(
        &full_label,
        "procscan::Scanner::scan, every scan",
        Role::Candidate,
    );
    let mut notes = lineup.notes.clone();
    let mut whole_results = lineup.results(
        std::slice::from_ref(&whole),
        &[probe_addr.port().into(), probe_pid.into()],
    );
    let Some(whole_result) = whole_results.pop() else {
        return Err(BenchError::Internal(
            "the scan-steady suite lost a command on the way",
        ));
    };
    let checks = vec![
        Check::median_ratio(&steady_result, &cold, Some(STEADY_VS_COLD)),
        Check::mean_ratio(&all_result, &cold, None),
        Check::median_ratio(&whole_result, &cold, None),
    ];

    let count = |p: Pass| passes.iter().filter(|&&q| q == p).count();
    notes.push(format!(
        "{} of {} timed scanner scans were full passes: {} scheduled (every {every}), {} forced by a socket with an unknown holder{}",
        passes.len() - count(Pass::Steady),
        passes.len(),
        count(Pass::Scheduled),
        count(Pass::Forced),
        if count(Pass::First) > 0 { ", 1 the first scan" } else { "" }
    ));
    let full_ms: Vec<f64> = all
        .ms
        .iter()
        .zip(&passes)
        .filter(|(_, p)| **p != Pass::Steady)
        .map(|(ms, _)| *ms)
        .collect();
    let (full_mean, full_from) = match stats::summarize(&full_ms) {
        Some(s) => (Some(s.mean), "the timed full passes"),
        None => (cold.wall_ms.as_ref().map(|s| s.mean), "the cold snapshots"),
    };
    let cold_mean = cold.wall_ms.as_ref().map(|s| s.mean);
    if let (Some(steady_mean), Some(full_mean), Some(cold_mean)) =
        (steady.mean(), full_mean, cold_mean)
    {
        let cycle = amortised(steady_mean, full_mean, every);
        notes.push(format!(
            "over whole cycles ({} steady scans and 1 full pass, its cost taken from {full_from}): mean {cycle:.2} ms per scan, {:.2}x the cold mean ({cold_mean:.2} ms)",
            every - 1,
            cycle / cold_mean
        ));
    }
    notes.push(
        "the in-process rows have no peak RSS: the calls run inside pw-bench, whose RSS includes the fleet's bookkeeping"
            .to_string(),
    );
    let commands = vec![cold, steady_result, all_result, whole_result];
    let runs = format!(
        "{} timed runs each after {} warm-up(s), interleaved round-robin; the in-process rows time the call alone, `portwarden scan --json` spawn to reap",
        ctx.plan.runs, ctx.plan.warmup
    );
    let mut setup = vec![
        args.background.describe(expected.len()),
        format!(
            "in process: procscan::snapshot (cold) vs one long-lived Scanner (full pass every {every} scans), ScanOptions::default() (TCP and UDP listeners, basic detail); every answer checked untimed against the fleet"
        ),
    ];
    setup.extend(ctx.common_setup(Some(runs), others, &load_before, &load_after));
    Ok(ctx.report("scan-steady", setup, commands, checks, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_are_classified_as_procscan_schedules_them() {
        assert_eq!(classify(true, true, 0, 20), Pass::First);
        assert_eq!(classify(false, false, 3, 20), Pass::Steady);
        assert_eq!(classify(true, false, 19, 20), Pass::Scheduled);
        assert_eq!(classify(true, false, 4, 20), Pass::Forced);
        // Every scan a full pass: each one is on schedule.
        assert_eq!(classify(true, false, 0, 1), Pass::Scheduled);
    }

    #[test]
    fn amortised_cost_spreads_one_full_pass_over_a_cycle() {
        assert_eq!(amortised(1.0, 21.0, 20), 2.0);
        assert_eq!(amortised(1.0, 9.0, 1), 9.0);
        assert_eq!(amortised(1.0, 9.0, 0), 9.0);
    }

    #[test]
    fn a_snapshot_must_show_each_listener_with_its_holder() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let me = std::process::id();
        let snapshot = procscan::snapshot(&ScanOptions::default()).unwrap();
        assert_eq!(missed_listeners(&snapshot, &[(addr, me)]), None);
        let wrong = missed_listeners(&snapshot, &[(addr, me), (addr, u32::MAX)]).unwrap();
        assert!(wrong.starts_with("1 of 2"), "{wrong}");
    }

    #[test]
    fn a_steady_scanner_still_sees_the_listeners() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let expected = [(listener.local_addr().unwrap(), std::process::id())];
        let mut scanner = Scanner::new();
        let options = ScanOptions::default();
        for _ in 0..3 {
            let (ms, problem) = timed_scan(|| scanner.scan(&options), &expected);
            assert_eq!(problem, None);
            assert!(ms > 0.0);
        }
        assert!(!scanner.last_scan_was_full());
    }
}
