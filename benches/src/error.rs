//! Why the harness itself failed. A measured tool missing its target is not an error: that is a
//! FAIL in the report.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// A failure of pw-bench itself, each exiting with status 2.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A binary pw-bench needs is not where it looked.
    #[error(
        "{what} not found at {}: build it with `cargo build --release --workspace`, or pass {flag} PATH",
        path.display()
    )]
    MissingBinary {
        /// What the binary is for.
        what: &'static str,
        /// Where it was looked for.
        path: PathBuf,
        /// The option that overrides the path.
        flag: &'static str,
    },
    /// A process could not be started.
    #[error("could not start `{command}`")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A fixture exited (or closed its stdout) before printing its READY line.
    #[error("fixture #{index} (`{command}`) exited before it was ready: {stderr}")]
    FixtureDied {
        /// Its position in the fleet.
        index: usize,
        /// Its command line.
        command: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// A fixture printed something that is not a READY line.
    #[error("fixture #{index} (`{command}`) printed {line:?} instead of a READY line")]
    BadReady {
        /// Its position in the fleet.
        index: usize,
        /// Its command line.
        command: String,
        /// What it printed.
        line: String,
    },
    /// Some fixtures did not report ready before the deadline.
    #[error(
        "{pending} of {total} fixtures were not ready after {timeout:?} (the first is #{first}: `{command}`)"
    )]
    FixtureTimeout {
        /// How many were still silent.
        pending: usize,
        /// How many were started.
        total: usize,
        /// The deadline.
        timeout: Duration,
        /// The first silent one's position.
        first: usize,
        /// Its command line.
        command: String,
    },
    /// More fixture process groups than the signal-safe record holds.
    #[error("cannot track more than {max} fixture process groups; start fewer fixtures")]
    TooManyGroups {
        /// The record's size.
        max: usize,
    },
    /// Fixture processes were still alive after they were killed.
    #[error("{} fixture process group(s) still alive {timeout:?} after SIGKILL: {pgids:?}", pgids.len())]
    LeftBehind {
        /// The groups still holding processes.
        pgids: Vec<i32>,
        /// How long cleanup waited.
        timeout: Duration,
    },
    /// A measured command ran past its deadline (it was killed).
    #[error("`{command}` did not finish within {timeout:?}; it was killed (raise --timeout?)")]
    RunTimeout {
        /// The command line.
        command: String,
        /// The deadline.
        timeout: Duration,
    },
    /// Waiting for or reading from a process failed.
    #[error("{action} `{command}` failed")]
    Io {
        /// What pw-bench was doing ("waiting for", "reading the output of", ...).
        action: &'static str,
        /// The command line.
        command: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// pw-bench cannot measure on this platform.
    #[error("pw-bench needs {what}, which this system does not provide")]
    Unsupported {
        /// The missing facility.
        what: &'static str,
        /// The OS's answer.
        #[source]
        source: io::Error,
    },
    /// A supervisor under test did not start its stack, settle, or stop.
    #[error("{supervisor} did not {stage} within {timeout:?}: {detail} (its files: {})", dir.display())]
    Stack {
        /// The supervisor.
        supervisor: &'static str,
        /// What it did not do ("start its stack", "settle", "stop").
        stage: &'static str,
        /// How long it had.
        timeout: Duration,
        /// What was seen.
        detail: String,
        /// The stack's folder (config, logs), kept until pw-bench exits.
        dir: PathBuf,
    },
    /// Service processes outlived their supervisor's shutdown.
    #[error("{supervisor} left {} service process(es) running after it stopped: {pids:?} (pw-bench killed them)", pids.len())]
    StackLeftovers {
        /// The supervisor.
        supervisor: &'static str,
        /// The processes left.
        pids: Vec<u32>,
    },
    /// A stack's folder or file could not be written.
    #[error("could not write {}", path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Not enough free ports on 127.0.0.1 for the stacks.
    #[error("found only {found} of {wanted} free ports on 127.0.0.1 in {from}..{to}")]
    Ports {
        /// How many were needed.
        wanted: usize,
        /// How many were free.
        found: usize,
        /// The first port tried.
        from: u16,
        /// The end of the range (the ephemeral range's start).
        to: u16,
    },
    /// A bug in pw-bench.
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// Writing the report failed (other than a closed pipe, which is fine).
    #[error("writing the report failed")]
    Output(#[source] io::Error),
}
