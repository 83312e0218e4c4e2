//! pw-bench: times portwarden against the tools it replaces, in the same run, and prints the
//! ratios of their medians against portwarden's targets.
//!
//! Each suite (`scan`, `kill-port`, `scan-steady`, `supervisor`, `status`, `monitor`) starts
//! real fixture processes holding real sockets (in a private network namespace when it may),
//! runs portwarden and its peers as whole processes (or, for the supervisors, side by side),
//! interleaved round-robin, and reports median, p90, min and peak RSS per command (or CPU and
//! memory of a resident process) plus PASS or FAIL per target. See `benches/README.md` for how
//! to run it.
//!
//! The building blocks are public for the suites' tests; the command is `pw-bench`:
//!
//! ```
//! // The statistics every row of the table shows, over a command's wall times in ms.
//! let s = pwbench::stats::summarize(&[12.0, 10.0, 11.0, 30.0]).unwrap();
//! assert_eq!((s.min, s.median), (10.0, 11.5));
//! ```
#![deny(missing_docs)]

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

mod cli;
mod error;
pub mod fleet;
mod guard;
pub mod measure;
mod network;
mod peers;
pub mod procfs;
pub mod report;
pub mod stacks;
pub mod stats;
mod suite;
mod sys;

pub use cli::{Args, Suite};
pub use error::BenchError;

use report::{Report, SuiteReport};
use suite::Context;

/// How long 300-odd fixtures get to print READY; they take well under a second on 2 cores.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Writes a line on stderr; a closed stderr is not worth failing over.
pub(crate) fn note(message: &str) {
    let _ = writeln!(io::stderr(), "pw-bench: {message}");
}

/// Runs pw-bench with the process's arguments and returns its exit status: 0 when the harness
/// ran, 1 with `--strict` when a target was missed, 2 when the harness failed.
pub fn main() -> ExitCode {
    let args = Args::parse();
    guard::install();
    // Before any thread or child exists, so all of them share the namespace.
    let network = network::choose(args.host_net);
    if let Err(err) = sys::set_child_subreaper() {
        note(&format!(
            "warning: cannot adopt orphans ({err}); a fixture's forked child is reaped by init"
        ));
    }
    match run(&args, network) {
        Ok(missed) if missed && args.strict => ExitCode::from(1),
        Ok(_) => ExitCode::SUCCESS,
        Err(err) => {
            let mut message = format!("error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                message += &format!("\n  caused by: {cause}");
                source = cause.source();
            }
            let _ = writeln!(io::stderr(), "pw-bench: {message}");
            ExitCode::from(2)
        }
    }
}

/// Runs the chosen suite and writes its report; `Ok(true)` when a target was missed.
fn run(args: &Args, network: network::Network) -> Result<bool, BenchError> {
    let here = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let binary = |given: &Option<PathBuf>, name, what, flag| {
        let path = given.clone().unwrap_or_else(|| here.join(name));
        if path.is_file() {
            Ok(path)
        } else {
            Err(BenchError::MissingBinary { what, path, flag })
        }
    };
    if cfg!(debug_assertions) {
        note(
            "warning: this is a debug build; the portwarden next to it is probably one too (use --release)",
        );
    }
    let ctx = Context {
        plan: measure::Plan {
            warmup: args.warmup as usize,
            runs: args.runs as usize,
            timeout: Duration::from_secs(args.timeout),
        },
        portwarden: binary(
            &args.portwarden,
            "portwarden",
            "the portwarden binary",
            "--portwarden",
        )?,
        fixture: binary(
            &args.fixture,
            "pw-fixture",
            "the pw-fixture binary",
            "--fixture",
        )?,
        network,
        startup_timeout: STARTUP_TIMEOUT,
    };
    note(&format!("running suite {}", args.suite.name()));
    let suites: Vec<SuiteReport> = match &args.suite {
        Suite::Scan(scan) => vec![suite::scan::run(&ctx, scan)?],
        Suite::KillPort(kill) => vec![suite::kill_port::run(&ctx, kill)?],
        Suite::ScanSteady(steady) => vec![suite::scan_steady::run(&ctx, steady)?],
        Suite::Supervisor(sup) => suite::supervisor::run(&ctx, sup)?,
        Suite::Status(status) => vec![suite::status::run(&ctx, status)?],
        Suite::Monitor(monitor) => vec![suite::monitor::run(&ctx, monitor)?],
    };
    let missed = suites.iter().any(SuiteReport::missed);
    let report = Report {
        pw_bench: env!("CARGO_PKG_VERSION"),
        suites,
    };
    write_report(&report, args.json).map_err(BenchError::Output)?;
    Ok(missed)
}

/// The table on stdout, or with `--json` the table on stderr and the JSON on stdout. A closed
/// pipe (`pw-bench scan | head`) is not an error.
fn write_report(report: &Report, json: bool) -> io::Result<()> {
    match write_streams(report, json) {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn write_streams(report: &Report, json: bool) -> io::Result<()> {
    let mut table: Box<dyn Write> = if json {
        Box::new(io::stderr().lock())
    } else {
        Box::new(io::stdout().lock())
    };
    for (i, suite) in report.suites.iter().enumerate() {
        if i > 0 {
            writeln!(table)?;
        }
        report::write_table(&mut table, suite)?;
    }
    table.flush()?;
    drop(table);
    if json {
        let mut out = io::stdout().lock();
        report::write_json(&mut out, report)?;
        out.flush()?;
    }
    Ok(())
}
