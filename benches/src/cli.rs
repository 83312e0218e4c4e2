//! pw-bench's command line: shared options, then one subcommand per suite.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::suite::kill_port::KillPortArgs;
use crate::suite::monitor::MonitorArgs;
use crate::suite::scan::ScanArgs;
use crate::suite::scan_steady::ScanSteadyArgs;
use crate::suite::status::StatusArgs;
use crate::suite::supervisor::SupervisorArgs;

/// Times portwarden against the tools it replaces, in the same run, and prints the ratios.
///
/// Build first: `cargo build --release --workspace` (pw-bench finds portwarden and pw-fixture
/// next to itself). Exit status: 0 when the harness ran (targets missed are printed as FAIL),
/// 1 with --strict when a target was missed, 2 when the harness itself failed.
#[derive(Debug, Parser)]
#[command(
    name = "pw-bench",
    version,
    subcommand_value_name = "SUITE",
    subcommand_help_heading = "Suites"
)]
pub struct Args {
    /// The suite to run.
    #[command(subcommand)]
    pub suite: Suite,

    /// Timed runs per command.
    #[arg(long, global = true, default_value_t = 30, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub runs: u32,

    /// Untimed warm-up runs per command before the timed ones.
    #[arg(long, global = true, default_value_t = 3, value_name = "N")]
    pub warmup: u32,

    /// Longest a single run may take before it is killed and the harness fails.
    #[arg(long, global = true, default_value_t = 60, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,

    /// Print the results as one JSON document on stdout (the table goes to stderr).
    #[arg(long, global = true)]
    pub json: bool,

    /// Exit 1 when any target is missed (FAIL) or cannot be judged (ERROR).
    #[arg(long, global = true)]
    pub strict: bool,

    /// The portwarden binary to measure [default: next to pw-bench].
    #[arg(long, global = true, value_name = "PATH")]
    pub portwarden: Option<PathBuf>,

    /// The pw-fixture binary [default: next to pw-bench].
    #[arg(long, global = true, value_name = "PATH")]
    pub fixture: Option<PathBuf>,

    /// Use the host's network instead of a private network namespace.
    #[arg(long, global = true)]
    pub host_net: bool,
}

/// A benchmark suite.
#[derive(Debug, Subcommand)]
pub enum Suite {
    /// Full socket scan vs `ss -tulpn` and `lsof -nP -i`; one port vs `fuser P/tcp`.
    Scan(ScanArgs),
    /// Freeing a held port vs `fuser -k -TERM P/tcp` and npm's `kill-port P`.
    KillPort(KillPortArgs),
    /// procscan's long-lived Scanner in steady state vs cold snapshots, in process.
    ScanSteady(ScanSteadyArgs),
    /// The supervisor vs supervisord and pm2: idle CPU and memory, crash to respawn, and
    /// start-to-healthy of a dependency chain.
    Supervisor(SupervisorArgs),
    /// `portwarden status --json` vs `supervisorctl status` and `pm2 jlist`, 30 services up.
    Status(StatusArgs),
    /// `portwarden monitor --interval 1s` watching 30 services: its CPU and memory.
    Monitor(MonitorArgs),
}

impl Suite {
    /// The suite's name.
    pub fn name(&self) -> &'static str {
        match self {
            Suite::Scan(_) => "scan",
            Suite::KillPort(_) => "kill-port",
            Suite::ScanSteady(_) => "scan-steady",
            Suite::Supervisor(_) => "supervisor",
            Suite::Status(_) => "status",
            Suite::Monitor(_) => "monitor",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn shared_options_go_before_or_after_the_suite() {
        let a = Args::try_parse_from(["pw-bench", "--runs", "5", "scan", "--json"]).unwrap();
        let b = Args::try_parse_from(["pw-bench", "scan", "--runs", "5", "--json"]).unwrap();
        assert_eq!((a.runs, a.json), (b.runs, b.json));
        assert_eq!((a.runs, a.warmup, a.strict), (5, 3, false));
    }

    #[test]
    fn the_new_suites_parse_with_their_options() {
        let a = Args::try_parse_from([
            "pw-bench",
            "kill-port",
            "--procs",
            "10",
            "--free-within",
            "3",
        ])
        .unwrap();
        match a.suite {
            Suite::KillPort(k) => assert_eq!(
                (k.background.procs, k.background.sockets, k.free_within),
                (10, 3, 3)
            ),
            other => panic!("{other:?}"),
        }
        let b = Args::try_parse_from([
            "pw-bench",
            "--json",
            "scan-steady",
            "--full-pass-every",
            "5",
        ])
        .unwrap();
        assert_eq!(b.suite.name(), "scan-steady");
        match b.suite {
            Suite::ScanSteady(s) => {
                assert_eq!((s.background.procs, s.full_pass_every), (300, Some(5)))
            }
            other => panic!("{other:?}"),
        }
        assert!(
            Args::try_parse_from(["pw-bench", "scan-steady", "--full-pass-every", "0"]).is_err()
        );
    }

    #[test]
    fn the_supervisor_suites_parse_with_their_options() {
        let a = Args::try_parse_from([
            "pw-bench",
            "supervisor",
            "--services",
            "5",
            "--idle",
            "10",
            "--parts",
            "idle,crash",
        ])
        .unwrap();
        match a.suite {
            Suite::Supervisor(s) => {
                assert_eq!(
                    (s.services, s.idle, s.levels, s.parts.len()),
                    (5, 10, 10, 2)
                )
            }
            other => panic!("{other:?}"),
        }
        let b = Args::try_parse_from(["pw-bench", "status", "--runs", "50"]).unwrap();
        assert_eq!((b.suite.name(), b.runs), ("status", 50));
        let c = Args::try_parse_from(["pw-bench", "monitor", "--window", "60"]).unwrap();
        match c.suite {
            Suite::Monitor(m) => assert_eq!(
                (m.window, m.interval.as_str(), m.services, m.health_interval),
                (60, "1s", 30, 60)
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn zero_runs_is_refused() {
        assert!(Args::try_parse_from(["pw-bench", "scan", "--runs", "0"]).is_err());
    }
}
