//! Timing whole processes: wall time from spawn to reap, peak RSS from `wait4`, interleaved
//! round-robin so drift (frequency scaling, page cache, a noisy neighbour) hits every command alike.

use std::io::{IsTerminal, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{ChildStderr, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::BenchError;
use crate::guard;
use crate::sys::{self, Exit};

/// The most output kept from a captured run; the rest is counted and dropped.
const CAPTURE_LIMIT: usize = 8 << 20;

/// One command to time, run as a whole process with stdin from /dev/null and its stdout and
/// stderr drained through pipes (as `cmd | jq` would).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandSpec {
    /// The name shown in the report (`ss -tulpn`).
    pub label: String,
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Variables added to pw-bench's environment for it (pm2's `PM2_HOME`).
    pub env: Vec<(String, String)>,
}

/// `name` and `args` joined with spaces.
pub fn label_of<S: AsRef<str>>(name: &str, args: &[S]) -> String {
    std::iter::once(name)
        .chain(args.iter().map(AsRef::as_ref))
        .collect::<Vec<_>>()
        .join(" ")
}

impl CommandSpec {
    /// A command labelled with its program's file name and its arguments.
    pub fn new(program: impl Into<PathBuf>, args: &[&str]) -> CommandSpec {
        let program = program.into();
        let name = program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| program.display().to_string());
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        CommandSpec {
            label: label_of(&name, &args),
            program,
            args,
            env: Vec::new(),
        }
    }

    /// The same command shown in the report as `name` followed by `shown` (a peer's usual
    /// name instead of its path; a config flag left out).
    pub fn labelled<S: AsRef<str>>(mut self, name: &str, shown: &[S]) -> CommandSpec {
        self.label = label_of(name, shown);
        self
    }

    /// The same command run with `key=value` added to its environment.
    pub fn with_env(mut self, key: &str, value: &str) -> CommandSpec {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// The full command line, with its added environment first, for error messages.
    pub fn command_line(&self) -> String {
        self.env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .chain(std::iter::once(self.program.display().to_string()))
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One timed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// From just before spawn to just after the process was reaped.
    pub wall: Duration,
    /// `ru_maxrss` of the process, KiB.
    pub max_rss_kib: u64,
    /// How it ended.
    pub exit: Exit,
    /// How much it wrote on stdout.
    pub stdout_bytes: u64,
}

/// What a captured run printed (each stream cut at 8 MiB).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Its stdout.
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: Vec<u8>,
}

/// How many runs, and how long one may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Untimed rounds first (page cache, dentries, lazy binding).
    pub warmup: usize,
    /// Timed rounds.
    pub runs: usize,
    /// Deadline for a single run; past it the process is killed and the harness fails.
    pub timeout: Duration,
}

/// A command's timed runs, and what its first run printed (to check it saw the fixtures).
#[derive(Debug, Clone)]
pub struct Measured {
    /// The command.
    pub spec: CommandSpec,
    /// One per timed round.
    pub samples: Vec<Sample>,
    /// The output of the first round (a warm-up when there is one).
    pub output: Output,
}

/// One run of [`interleave`]: which command, in which round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turn {
    /// The command's position in the list.
    pub index: usize,
    /// The round, from 0; the first `plan.warmup` rounds are warm-ups.
    pub round: usize,
    /// Whether the run counts (it is past the warm-ups).
    pub timed: bool,
}

impl Turn {
    /// Whether this is the command's first run, whose output the checks read.
    pub fn first(self) -> bool {
        self.round == 0
    }
}

/// Calls `run` once per command per round, `plan.warmup + plan.runs` rounds. Each round starts
/// one command further along the list, so no command always runs first (or right after the
/// heaviest one). Suites whose runs need set-up of their own (a fresh holder to kill, a scan
/// in this process) drive them through this; [`round_robin`] is it for plain commands.
pub fn interleave(
    count: usize,
    plan: &Plan,
    mut run: impl FnMut(Turn) -> Result<(), BenchError>,
) -> Result<(), BenchError> {
    let rounds = plan.warmup + plan.runs;
    let progress = std::io::stderr().is_terminal();
    for round in 0..rounds {
        if progress {
            let _ = write!(std::io::stderr(), "\rround {}/{rounds} ", round + 1);
        }
        for k in 0..count {
            run(Turn {
                index: (round + k) % count,
                round,
                timed: round >= plan.warmup,
            })?;
        }
    }
    if progress {
        let _ = write!(std::io::stderr(), "\r\x1b[K");
    }
    Ok(())
}

/// Runs every command `plan.warmup + plan.runs` times through [`interleave`], keeping the
/// timed runs and the first run's output of each.
pub fn round_robin(specs: &[CommandSpec], plan: &Plan) -> Result<Vec<Measured>, BenchError> {
    let mut measured: Vec<Measured> = specs
        .iter()
        .map(|spec| Measured {
            spec: spec.clone(),
            samples: Vec::with_capacity(plan.runs),
            output: Output::default(),
        })
        .collect();
    let mut buffer = vec![0u8; 64 << 10];
    interleave(specs.len(), plan, |turn| {
        let (sample, output) =
            run_once(&specs[turn.index], plan.timeout, turn.first(), &mut buffer)?;
        let m = &mut measured[turn.index];
        if turn.first() {
            m.output = output;
        }
        if turn.timed {
            m.samples.push(sample);
        }
        Ok(())
    })?;
    Ok(measured)
}

/// How often [`run_until`] checks its condition once the process has exited.
pub const SETTLE_POLL: Duration = Duration::from_millis(1);

/// A run whose clock kept going after the process exited, until a condition held.
#[derive(Debug, Clone)]
pub struct Settled {
    /// `wall` is from spawn until the condition was first seen to hold (or was given up on).
    pub sample: Sample,
    /// What it printed, when captured.
    pub output: Output,
    /// From spawn until the process was reaped: when "the command returned".
    pub exited: Duration,
    /// Whether the condition held in time; when not, `sample.wall` includes the wait.
    pub settled: bool,
}

/// Runs `spec` as [`run_once`] does, then keeps the clock running until `done` returns true,
/// checking it every [`SETTLE_POLL`] for at most `within` after the exit. A tool is judged on
/// its effect ("the port is free"), not on when it returned: a killer that only sends a
/// signal and leaves is timed until the signal has done its work.
pub fn run_until(
    spec: &CommandSpec,
    timeout: Duration,
    capture: bool,
    buffer: &mut [u8],
    within: Duration,
    done: &mut dyn FnMut() -> bool,
) -> Result<Settled, BenchError> {
    let (mut sample, output, start) = spawn_and_reap(spec, timeout, capture, buffer)?;
    let exited = sample.wall;
    let give_up = Instant::now() + within;
    let settled = loop {
        if done() {
            break true;
        }
        if Instant::now() >= give_up {
            break false;
        }
        std::thread::sleep(SETTLE_POLL);
    };
    sample.wall = start.elapsed();
    Ok(Settled {
        sample,
        output,
        exited,
        settled,
    })
}

/// A child's output pipe while it is open.
enum Stream {
    Out(ChildStdout),
    Err(ChildStderr),
}

impl Stream {
    fn fd(&self) -> RawFd {
        match self {
            Stream::Out(s) => s.as_raw_fd(),
            Stream::Err(s) => s.as_raw_fd(),
        }
    }

    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Out(s) => s.read(buffer),
            Stream::Err(s) => s.read(buffer),
        }
    }
}

/// Runs `spec` once: the clock starts before spawn and stops when the process has been reaped,
/// with its output drained meanwhile so a full pipe never stalls it.
pub fn run_once(
    spec: &CommandSpec,
    timeout: Duration,
    capture: bool,
    buffer: &mut [u8],
) -> Result<(Sample, Output), BenchError> {
    spawn_and_reap(spec, timeout, capture, buffer).map(|(sample, output, _)| (sample, output))
}

/// [`run_once`], also returning when the clock started.
fn spawn_and_reap(
    spec: &CommandSpec,
    timeout: Duration,
    capture: bool,
    buffer: &mut [u8],
) -> Result<(Sample, Output, Instant), BenchError> {
    let io_error = |action, source| BenchError::Io {
        action,
        command: spec.command_line(),
        source,
    };
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so what it forks (npm's kill-port runs sh, lsof, xargs) is killed
        // with it on Ctrl-C or a time-out.
        .process_group(0);

    let start = Instant::now();
    let mut child = command.spawn().map_err(|source| BenchError::Spawn {
        command: spec.command_line(),
        source,
    })?;
    let pid = child.id();
    guard::set_measured(pid as i32);
    let pidfd = match sys::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(source) => {
            sys::kill_group(pid as i32);
            let _ = sys::wait4(pid);
            end_group(pid);
            guard::set_measured(0);
            return Err(BenchError::Unsupported {
                what: "pidfd_open (Linux 5.3 or later)",
                source,
            });
        }
    };
    let mut streams: Vec<(Stream, bool)> = Vec::with_capacity(2);
    if let Some(out) = child.stdout.take() {
        streams.push((Stream::Out(out), true));
    }
    if let Some(err) = child.stderr.take() {
        streams.push((Stream::Err(err), false));
    }
    let deadline = start + timeout;
    let mut output = Output::default();
    let mut stdout_bytes = 0u64;

    let reaped = loop {
        let now = Instant::now();
        if now >= deadline {
            sys::kill_group(pid as i32);
            let _ = sys::wait4(pid);
            end_group(pid);
            guard::set_measured(0);
            return Err(BenchError::RunTimeout {
                command: spec.command_line(),
                timeout,
            });
        }
        let mut fds = vec![pidfd.as_raw_fd()];
        fds.extend(streams.iter().map(|(s, _)| s.fd()));
        let ready =
            sys::poll_readable(&fds, deadline - now).map_err(|e| io_error("waiting for", e))?;
        drain_ready(
            &mut streams,
            &ready[1..],
            buffer,
            capture,
            &mut output,
            &mut stdout_bytes,
        )
        .map_err(|e| io_error("reading the output of", e))?;
        if ready[0] {
            break sys::wait4(pid).map_err(|e| io_error("waiting for", e))?;
        }
    };
    let wall = start.elapsed();
    // Untimed: anything it left behind in its group (none of the measured tools does).
    end_group(pid);
    guard::set_measured(0);

    // Whatever is still buffered in the pipes; a lingering grandchild holding them open does not
    // keep us here past the deadline.
    while !streams.is_empty() && Instant::now() < deadline {
        let fds: Vec<RawFd> = streams.iter().map(|(s, _)| s.fd()).collect();
        let ready = sys::poll_readable(&fds, Duration::ZERO)
            .map_err(|e| io_error("reading the output of", e))?;
        if !ready.iter().any(|r| *r) {
            break;
        }
        drain_ready(
            &mut streams,
            &ready,
            buffer,
            capture,
            &mut output,
            &mut stdout_bytes,
        )
        .map_err(|e| io_error("reading the output of", e))?;
    }
    Ok((
        Sample {
            wall,
            max_rss_kib: reaped.max_rss_kib,
            exit: reaped.exit,
            stdout_bytes,
        },
        output,
        start,
    ))
}

/// How long [`end_group`] waits for a measured command's leftovers to die.
const LEFTOVER_WAIT: Duration = Duration::from_secs(1);

/// Kills and reaps whatever is left in the process group a measured command led (its leader
/// already reaped): orphans are adopted by pw-bench, the subreaper, so it reaps them too.
fn end_group(pgid: u32) {
    let pgid = pgid as i32;
    let give_up = Instant::now() + LEFTOVER_WAIT;
    while sys::group_alive(pgid) && Instant::now() < give_up {
        sys::kill_group(pgid);
        while let Ok(Some(_)) = sys::reap_group(pgid) {}
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// One read from each stream `ready` marks; streams at end of file are dropped.
fn drain_ready(
    streams: &mut Vec<(Stream, bool)>,
    ready: &[bool],
    buffer: &mut [u8],
    capture: bool,
    output: &mut Output,
    stdout_bytes: &mut u64,
) -> std::io::Result<()> {
    let mut open = Vec::with_capacity(streams.len());
    for (index, (mut stream, is_stdout)) in streams.drain(..).enumerate() {
        let is_ready = ready.get(index).copied().unwrap_or(false);
        if !is_ready {
            open.push((stream, is_stdout));
            continue;
        }
        let n = match stream.read(buffer) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                open.push((stream, is_stdout));
                continue;
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            continue;
        }
        if is_stdout {
            *stdout_bytes += n as u64;
        }
        if capture {
            let sink = if is_stdout {
                &mut output.stdout
            } else {
                &mut output.stderr
            };
            let room = CAPTURE_LIMIT.saturating_sub(sink.len());
            sink.extend_from_slice(&buffer[..n.min(room)]);
        }
        open.push((stream, is_stdout));
    }
    *streams = open;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_is_program_name_and_arguments() {
        let spec = CommandSpec::new("/usr/bin/ss", &["-tulpn"]);
        assert_eq!(spec.label, "ss -tulpn");
        assert_eq!(spec.command_line(), "/usr/bin/ss -tulpn");
        let pm2 = CommandSpec::new("/x/pm2", &["jlist"]).with_env("PM2_HOME", "/tmp/h");
        assert_eq!(pm2.label, "pm2 jlist");
        assert_eq!(pm2.command_line(), "PM2_HOME=/tmp/h /x/pm2 jlist");
    }

    #[test]
    fn a_run_gets_its_added_environment() {
        let spec = CommandSpec::new("/bin/sh", &["-c", "echo $PW_BENCH_PROBE"])
            .with_env("PW_BENCH_PROBE", "here");
        let mut buffer = vec![0; 4096];
        let (_, output) = run_once(&spec, Duration::from_secs(10), true, &mut buffer).unwrap();
        assert_eq!(output.stdout, b"here\n");
    }

    #[test]
    fn a_run_reports_exit_output_and_rss() {
        let spec = CommandSpec::new("/bin/sh", &["-c", "echo hello; echo oops >&2; exit 3"]);
        let mut buffer = vec![0; 4096];
        let (sample, output) = run_once(&spec, Duration::from_secs(10), true, &mut buffer).unwrap();
        assert_eq!(sample.exit, Exit::Code(3));
        assert_eq!(output.stdout, b"hello\n");
        assert_eq!(output.stderr, b"oops\n");
        assert_eq!(sample.stdout_bytes, 6);
        assert!(sample.max_rss_kib > 0);
    }

    #[test]
    fn output_larger_than_a_pipe_is_drained() {
        let spec = CommandSpec::new("/bin/sh", &["-c", "head -c 1000000 /dev/zero"]);
        let mut buffer = vec![0; 4096];
        let (sample, _) = run_once(&spec, Duration::from_secs(10), false, &mut buffer).unwrap();
        assert_eq!(sample.stdout_bytes, 1_000_000);
        assert!(sample.exit.success());
    }

    #[test]
    fn what_a_command_leaves_in_its_group_is_killed() {
        let _ = sys::set_child_subreaper();
        // The shell leaves a sleeping child behind in its group and prints its pid.
        let spec = CommandSpec::new("/bin/sh", &["-c", "sleep 30 & echo $!"]);
        let mut buffer = vec![0; 4096];
        let (sample, output) = run_once(&spec, Duration::from_secs(10), true, &mut buffer).unwrap();
        assert!(sample.exit.success());
        let left: u32 = String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap();
        assert!(!testkit::pid_alive(left), "pid {left} survived its group");
    }

    #[test]
    fn a_run_past_its_deadline_is_killed() {
        let spec = CommandSpec::new("/bin/sleep", &["30"]);
        let mut buffer = vec![0; 4096];
        let started = Instant::now();
        let err = run_once(&spec, Duration::from_millis(200), false, &mut buffer).unwrap_err();
        assert!(matches!(err, BenchError::RunTimeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn interleave_rotates_the_first_command_and_marks_warmups() {
        let plan = Plan {
            warmup: 1,
            runs: 2,
            timeout: Duration::from_secs(1),
        };
        let mut turns = Vec::new();
        interleave(3, &plan, |t| {
            turns.push((t.index, t.timed, t.first()));
            Ok(())
        })
        .unwrap();
        let order: Vec<usize> = turns.iter().map(|t| t.0).collect();
        assert_eq!(order, [0, 1, 2, 1, 2, 0, 2, 0, 1]);
        assert_eq!(turns.iter().filter(|t| t.1).count(), 6);
        assert_eq!(turns.iter().filter(|t| t.2).count(), 3);
    }

    #[test]
    fn run_until_keeps_the_clock_running_until_the_condition_holds() {
        let spec = CommandSpec::new("/bin/true", &[]);
        let mut buffer = vec![0; 4096];
        let mut checks = 0;
        let settled = run_until(
            &spec,
            Duration::from_secs(10),
            false,
            &mut buffer,
            Duration::from_secs(10),
            &mut || {
                checks += 1;
                checks == 20
            },
        )
        .unwrap();
        assert!(settled.settled);
        assert_eq!(checks, 20);
        // 19 polls of at least a millisecond each after the exit.
        assert!(settled.sample.wall >= settled.exited + SETTLE_POLL * 19);
    }

    #[test]
    fn run_until_gives_up_after_its_bound() {
        let spec = CommandSpec::new("/bin/true", &[]);
        let mut buffer = vec![0; 4096];
        let within = Duration::from_millis(30);
        let settled = run_until(
            &spec,
            Duration::from_secs(10),
            false,
            &mut buffer,
            within,
            &mut || false,
        )
        .unwrap();
        assert!(!settled.settled);
        assert!(settled.sample.wall >= settled.exited + within);
        assert!(settled.sample.exit.success());
    }

    #[test]
    fn round_robin_keeps_only_timed_rounds() {
        let specs = [
            CommandSpec::new("/bin/true", &[]),
            CommandSpec::new("/bin/sh", &["-c", "echo x"]),
        ];
        let plan = Plan {
            warmup: 2,
            runs: 3,
            timeout: Duration::from_secs(10),
        };
        let measured = round_robin(&specs, &plan).unwrap();
        assert_eq!(measured.len(), 2);
        assert!(measured.iter().all(|m| m.samples.len() == 3));
        assert_eq!(measured[1].output.stdout, b"x\n");
    }
}
