//! `kill-port`: freeing a port held by a listener, against `fuser -k` and npm's `kill-port`.
//!
//! On a background of `--procs` x `--sockets` listeners (so every tool walks as many
//! `/proc/PID/fd` folders as on a machine running a big stack), each run starts a fresh holder,
//! `pw-fixture --tcp 127.0.0.1:P`, untimed, and then times the killer from spawn until the port
//! is free: the killer has exited *and* a bind on 127.0.0.1:P succeeds, checked every
//! millisecond for at most `--free-within`. A tool is judged on "the port is free", not on "the
//! command returned": `fuser -k` only sends a signal and leaves, portwarden waits for the exit.
//!
//! Every holder must then be gone: pw-bench reaps it and counts how it ended (SIGTERM from
//! portwarden and fuser, SIGKILL from npm's `kill -9`); one still alive is killed and fails
//! the run. P is the same port for every run, so every command line is the same too.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use crate::error::BenchError;
use crate::fleet::Fleet;
use crate::measure::{self, Measured, Output};
use crate::peers;
use crate::report::{Check, SuiteReport};
use crate::stats;
use crate::suite::{self, BackgroundArgs, Context, Lineup, Wanted};
use crate::sys::Exit;

/// portwarden must free the port in under this many milliseconds (median).
pub const MAX_MEDIAN_MS: f64 = 100.0;
/// How long a holder may outlive the moment its port was seen free: it closes its listener as
/// it exits, so anything beyond a moment means the killer ended something else.
const HOLDER_EXIT_WAIT: Duration = Duration::from_secs(2);

/// Options of the kill-port suite.
#[derive(Debug, Clone, clap::Args)]
pub struct KillPortArgs {
    /// The background fleet.
    #[command(flatten)]
    pub background: BackgroundArgs,
    /// How long the port may stay bound after the killer exited before the run fails
    /// (portwarden's default grace before SIGKILL is 5 s).
    #[arg(long, default_value_t = 10, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub free_within: u64,
}

/// How the holders of one command's timed runs ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fates {
    /// Ended by SIGTERM.
    pub term: usize,
    /// Ended by SIGKILL.
    pub kill: usize,
    /// Ended otherwise (another signal, an exit).
    pub other: usize,
    /// Still alive two seconds after the port was free (or after giving up on it); pw-bench
    /// killed them.
    pub survived: usize,
}

impl Fates {
    /// Counts one holder's end (`None`: it survived).
    pub fn count(&mut self, ended: Option<Exit>) {
        match ended {
            Some(Exit::Signal(libc::SIGTERM)) => self.term += 1,
            Some(Exit::Signal(libc::SIGKILL)) => self.kill += 1,
            Some(_) => self.other += 1,
            None => self.survived += 1,
        }
    }

    /// `30 by SIGTERM, 0 survived`, leaving out kinds that did not happen (survivors always
    /// shown).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (n, how) in [
            (self.term, "by SIGTERM"),
            (self.kill, "by SIGKILL"),
            (self.other, "otherwise"),
        ] {
            if n > 0 {
                parts.push(format!("{n} ended {how}"));
            }
        }
        parts.push(format!("{} survived", self.survived));
        parts.join(", ")
    }
}

/// What one command's runs gave.
#[derive(Debug)]
struct Contender {
    measured: Measured,
    /// Spawn to reap, ms, per timed run: when the command returned.
    exited_ms: Vec<f64>,
    /// Per timed run: why it does not count, if it does not.
    problems: Vec<Option<String>>,
    fates: Fates,
}

/// Why a timed run does not count, if it does not: the killer failed, the port stayed bound,
/// or the holder outlived it.
pub fn run_problem(
    exit: Exit,
    port_freed: bool,
    holder: Option<Exit>,
    port: u16,
    free_within: Duration,
) -> Option<String> {
    if !exit.success() {
        Some(exit.to_string())
    } else if !port_freed {
        Some(format!(
            "127.0.0.1:{port} was still bound {free_within:?} after the command exited"
        ))
    } else if holder.is_none() {
        Some(format!(
            "the holder was still alive {HOLDER_EXIT_WAIT:?} after its port was free"
        ))
    } else {
        None
    }
}

/// A port for the holders: one the kernel hands out now, free again once the probe closes.
fn pick_port() -> Result<u16, BenchError> {
    let probe = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map_err(|source| BenchError::Io {
            action: "choosing a port for",
            command: "the kill-port holders".to_string(),
            source,
        })?;
    Ok(probe.port())
}

/// Whether a new listener could take `addr` now, as a restarted dev server would (std sets
/// SO_REUSEADDR, as Node and most servers do, so only a live listener is in the way).
fn port_free(addr: SocketAddr) -> bool {
    TcpListener::bind(addr).is_ok()
}

/// Runs the suite.
pub fn run(ctx: &Context, args: &KillPortArgs) -> Result<SuiteReport, BenchError> {
    let free_within = Duration::from_secs(args.free_within);
    let others = suite::process_count();
    let plan = args.background.plan();
    crate::note(&format!(
        "starting {} background fixture processes ...",
        plan.len()
    ));
    let background = Fleet::start(&ctx.fixture, &plan, ctx.startup_timeout)?;
    let listeners: usize = background.ready().iter().map(|r| r.tcp.len()).sum();

    let port = pick_port()?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let holder_args = vec!["--tcp".to_string(), addr.to_string()];
    let p = port.to_string();
    let strings = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let lineup = Lineup::new(
        ctx,
        &[
            Wanted::Portwarden(strings(&["kill-port", &p, "--yes", "--json"])),
            Wanted::Peer(peers::FUSER, strings(&["-k", "-TERM", &format!("{p}/tcp")])),
            Wanted::Peer(peers::KILL_PORT, strings(&[&p])),
        ],
    );
    let mut notes = lineup.notes.clone();
    let mut contenders: Vec<Contender> = lineup
        .specs
        .iter()
        .map(|spec| Contender {
            measured: Measured {
                spec: spec.clone(),
                samples: Vec::with_capacity(ctx.plan.runs),
                output: Output::default(),
            },
            exited_ms: Vec::with_capacity(ctx.plan.runs),
            problems: Vec::with_capacity(ctx.plan.runs),
            fates: Fates::default(),
        })
        .collect();

    crate::note(&format!(
        "measuring {} killers: {} warm-up + {} timed rounds, a fresh holder on {addr} each run ...",
        lineup.specs.len(),
        ctx.plan.warmup,
        ctx.plan.runs
    ));
    let load_before = suite::load_average();
    let mut buffer = vec![0u8; 64 << 10];
    measure::interleave(lineup.specs.len(), &ctx.plan, |turn| {
        // A failed run's holder is killed by await_exit, so P is free for the next one.
        let holder = Fleet::start(
            &ctx.fixture,
            std::slice::from_ref(&holder_args),
            ctx.startup_timeout,
        )?;
        let run = measure::run_until(
            &lineup.specs[turn.index],
            ctx.plan.timeout,
            turn.first(),
            &mut buffer,
            free_within,
            &mut || port_free(addr),
        )?;
        let ended = holder.await_exit(HOLDER_EXIT_WAIT)?;
        let ended = ended.first().copied().flatten();
        let c = &mut contenders[turn.index];
        if turn.first() {
            c.measured.output = run.output;
        }
        if turn.timed {
            c.exited_ms.push(run.exited.as_secs_f64() * 1000.0);
            c.problems.push(run_problem(
                run.sample.exit,
                run.settled,
                ended,
                port,
                free_within,
            ));
            c.fates.count(ended);
            c.measured.samples.push(run.sample);
        }
        Ok(())
    })?;
    let load_after = suite::load_average();
    background.stop()?;

    let measured: Vec<Measured> = contenders.iter().map(|c| c.measured.clone()).collect();
    // Every killer names the port it was given; the runs' real test is the port coming free.
    let mut commands = lineup.results(&measured, &[port.into()]);
    for command in &mut commands {
        let Some(c) = contenders
            .iter()
            .find(|c| c.measured.spec.label == command.label)
        else {
            continue;
        };
        command.set_run_problems(&c.problems);
        let exited = stats::summarize(&c.exited_ms).map_or(f64::NAN, |s| s.median);
        let freed = command.wall_ms.as_ref().map_or(f64::NAN, |s| s.median);
        notes.push(format!(
            "{}: returned after {exited:.1} ms, port free after {freed:.1} ms (medians); holders: {}",
            command.label,
            c.fates.describe()
        ));
    }
    let [portwarden, fuser, npm] = &commands[..] else {
        return Err(BenchError::Internal(
            "the kill-port suite lost a command on the way",
        ));
    };
    let checks = vec![
        Check::median_below(portwarden, MAX_MEDIAN_MS),
        Check::median_ratio(portwarden, fuser, None),
        Check::median_ratio(portwarden, npm, None),
    ];
    if let Ok(own) = crate::sys::own_max_rss_kib() {
        notes.push(format!(
            "peak RSS of a child includes pw-bench's own at spawn time ({:.1} MiB), the floor under every figure",
            own as f64 / 1024.0
        ));
    }
    let mut setup = vec![
        args.background.describe(listeners),
        format!(
            "each run: a fresh `pw-fixture --tcp {addr}` holder, started untimed; timed from \
                 spawning the killer until it has exited and a bind on {addr} succeeds (checked \
                 every {} ms, for at most {free_within:?})",
            measure::SETTLE_POLL.as_millis()
        ),
    ];
    setup.extend(ctx.common_setup(None, others, &load_before, &load_after));
    Ok(ctx.report("kill-port", setup, commands, checks, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_counts_only_when_the_killer_succeeded_the_port_is_free_and_the_holder_gone() {
        let term = Some(Exit::Signal(libc::SIGTERM));
        let within = Duration::from_secs(10);
        assert_eq!(run_problem(Exit::Code(0), true, term, 4000, within), None);
        assert_eq!(
            run_problem(Exit::Code(1), true, term, 4000, within).as_deref(),
            Some("exit 1")
        );
        let bound = run_problem(Exit::Code(0), false, None, 4000, within).unwrap();
        assert!(bound.contains("127.0.0.1:4000 was still bound"), "{bound}");
        let alive = run_problem(Exit::Code(0), true, None, 4000, within).unwrap();
        assert!(alive.contains("still alive"), "{alive}");
    }

    #[test]
    fn fates_are_counted_by_signal() {
        let mut fates = Fates::default();
        for ended in [
            Some(Exit::Signal(libc::SIGTERM)),
            Some(Exit::Signal(libc::SIGTERM)),
            Some(Exit::Signal(libc::SIGKILL)),
            Some(Exit::Code(0)),
            None,
        ] {
            fates.count(ended);
        }
        assert_eq!(
            fates,
            Fates {
                term: 2,
                kill: 1,
                other: 1,
                survived: 1
            }
        );
        assert_eq!(
            fates.describe(),
            "2 ended by SIGTERM, 1 ended by SIGKILL, 1 ended otherwise, 1 survived"
        );
        assert_eq!(Fates::default().describe(), "0 survived");
    }

    #[test]
    fn a_port_is_free_only_without_a_listener() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(!port_free(addr));
        drop(listener);
        assert!(port_free(addr));
    }
}
