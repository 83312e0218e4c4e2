//! A fleet of `pw-fixture` processes holding real sockets for the tools under test to find.
//!
//! All fixtures are spawned first and their READY lines awaited together afterwards, against a
//! single deadline, so 300 processes start in about the time one takes. Each one leads its own
//! process group, which the `guard` module records so that Ctrl-C, SIGTERM or a panic kills
//! it and anything it forked; [`Fleet::stop`] kills the groups, reaps them and fails if any
//! process is left.

use std::io::Read;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ChildStderr, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::BenchError;
use crate::guard;
use crate::sys::{self, Exit};

/// How long [`Fleet::stop`] waits for killed groups to disappear.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often [`Fleet::await_exit`] looks for exited fixtures.
const AWAIT_POLL: Duration = Duration::from_millis(1);
/// How much of a failing fixture's stderr is kept for the error message.
const STDERR_LIMIT: usize = 4096;

/// What a fixture reported on its `READY` line: the fields the benches use. Other fields (bound,
/// http, client, grandchild) are accepted and ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Ready {
    /// The fixture's pid (and process group).
    pub pid: u32,
    /// Its listening TCP sockets.
    pub tcp: Vec<SocketAddr>,
    /// Its UDP sockets.
    pub udp: Vec<SocketAddr>,
    /// The forked child that shares its sockets.
    pub child: Option<u32>,
}

impl Ready {
    /// Parses `READY pid=P tcp=A,B udp=C child=Q`; `None` unless it starts with `READY`, has a
    /// pid, and every address and pid in it parses.
    ///
    /// ```
    /// let ready = pwbench::fleet::Ready::parse("READY pid=7 tcp=127.0.0.1:80,[::1]:81").unwrap();
    /// assert_eq!((ready.pid, ready.tcp.len(), ready.child), (7, 2, None));
    /// ```
    pub fn parse(line: &str) -> Option<Ready> {
        let mut words = line.split_whitespace();
        if words.next()? != "READY" {
            return None;
        }
        let addrs = |value: &str| -> Option<Vec<SocketAddr>> {
            value.split(',').map(|a| a.parse().ok()).collect()
        };
        let mut ready = Ready::default();
        let mut pid = None;
        for word in words {
            let (key, value) = word.split_once('=')?;
            match key {
                "pid" => pid = Some(value.parse().ok()?),
                "tcp" => ready.tcp = addrs(value)?,
                "udp" => ready.udp = addrs(value)?,
                "child" => ready.child = Some(value.parse().ok()?),
                _ => {}
            }
        }
        ready.pid = pid?;
        Some(ready)
    }
}

/// Running fixtures, killed (process group and all) when stopped or dropped.
#[derive(Debug)]
pub struct Fleet {
    groups: Vec<i32>,
    ready: Vec<Ready>,
}

/// A fixture that has not printed its READY line yet.
struct Pending {
    index: usize,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    line: Vec<u8>,
    errors: Vec<u8>,
}

impl Fleet {
    /// Starts `fixture` once per entry of `fleet` (each entry is one process's arguments) and
    /// waits up to `timeout` for every READY line.
    pub fn start(
        fixture: &Path,
        fleet: &[Vec<String>],
        timeout: Duration,
    ) -> Result<Fleet, BenchError> {
        let command_line = |index: usize| {
            std::iter::once(fixture.display().to_string())
                .chain(fleet[index].iter().cloned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        // On any early return, dropping `started` kills what was started so far.
        let mut started = Fleet {
            groups: Vec::with_capacity(fleet.len()),
            ready: Vec::new(),
        };
        let mut pending = Vec::with_capacity(fleet.len());
        {
            let blocked = sys::block_termination_signals();
            for (index, args) in fleet.iter().enumerate() {
                let mut command = Command::new(fixture);
                command
                    .args(args)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .process_group(0);
                // A signal mask survives fork and exec: without this every fixture would start
                // deaf to SIGTERM, and a holder could only be SIGKILLed.
                blocked.unblock_in_child(&mut command);
                let mut child = command.spawn().map_err(|source| BenchError::Spawn {
                    command: command_line(index),
                    source,
                })?;
                let pgid = child.id() as i32;
                if !guard::add_group(pgid) {
                    sys::kill_group(pgid);
                    return Err(BenchError::TooManyGroups {
                        max: guard::MAX_GROUPS,
                    });
                }
                started.groups.push(pgid);
                pending.push(Pending {
                    index,
                    stdout: child.stdout.take(),
                    stderr: child.stderr.take(),
                    line: Vec::new(),
                    errors: Vec::new(),
                });
            }
        }

        let mut ready: Vec<Option<Ready>> = vec![None; fleet.len()];
        let deadline = Instant::now() + timeout;
        while !pending.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                return Err(BenchError::FixtureTimeout {
                    pending: pending.len(),
                    total: fleet.len(),
                    timeout,
                    first: pending[0].index,
                    command: command_line(pending[0].index),
                });
            }
            let fds: Vec<RawFd> = pending.iter().flat_map(Pending::fds).collect();
            let polled =
                sys::poll_readable(&fds, deadline - now).map_err(|source| BenchError::Io {
                    action: "waiting for the READY lines of",
                    command: command_line(pending[0].index),
                    source,
                })?;
            let mut readable = polled.into_iter();
            let mut still = Vec::with_capacity(pending.len());
            for mut fixture in pending {
                let flags: Vec<bool> = readable.by_ref().take(fixture.fds().count()).collect();
                match fixture.advance(&flags, &fleet[fixture.index], deadline) {
                    Advance::Waiting => still.push(fixture),
                    Advance::Ready(r) => ready[fixture.index] = Some(r),
                    Advance::Died(stderr) => {
                        return Err(BenchError::FixtureDied {
                            index: fixture.index,
                            command: command_line(fixture.index),
                            stderr,
                        });
                    }
                    Advance::Bad(line) => {
                        return Err(BenchError::BadReady {
                            index: fixture.index,
                            command: command_line(fixture.index),
                            line,
                        });
                    }
                }
            }
            pending = still;
        }
        started.ready = ready.into_iter().flatten().collect();
        Ok(started)
    }

    /// What each fixture reported, in the order they were asked for.
    pub fn ready(&self) -> &[Ready] {
        &self.ready
    }

    /// Kills every fixture's process group, reaps them, and fails if any process is still
    /// there after a few seconds.
    pub fn stop(mut self) -> Result<(), BenchError> {
        let result = self.kill_and_reap(STOP_TIMEOUT);
        // Reported here; dropping must not wait for the same groups again.
        self.groups.clear();
        result
    }

    /// Waits up to `within` for every fixture to exit by itself (someone else signalled it),
    /// reaping each as it goes, then kills and reaps whatever is left as [`Fleet::stop`] does.
    /// Returns how each fixture (the process the READY line names) ended, in fleet order:
    /// `None` for one that was still alive after `within` (or was reaped by someone else).
    pub fn await_exit(mut self, within: Duration) -> Result<Vec<Option<Exit>>, BenchError> {
        let mut ended: Vec<Option<Exit>> = vec![None; self.ready.len()];
        let leaders: Vec<u32> = self.ready.iter().map(|r| r.pid).collect();
        let deadline = Instant::now() + within;
        loop {
            self.groups.retain(|&pgid| {
                while let Ok(Some((pid, exit))) = sys::reap_group(pgid) {
                    if let Some(i) = leaders.iter().position(|&l| l == pid) {
                        ended[i] = Some(exit);
                    }
                }
                let alive = sys::group_alive(pgid);
                if !alive {
                    guard::remove_group(pgid);
                }
                alive
            });
            if self.groups.is_empty() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(AWAIT_POLL);
        }
        self.stop()?;
        Ok(ended)
    }

    fn kill_and_reap(&mut self, timeout: Duration) -> Result<(), BenchError> {
        for &pgid in &self.groups {
            sys::kill_group(pgid);
        }
        let deadline = Instant::now() + timeout;
        loop {
            self.groups.retain(|&pgid| {
                // Bounded: each iteration reaps one of our finitely many children.
                while let Ok(Some(_)) = sys::reap_group(pgid) {}
                let alive = sys::group_alive(pgid);
                if !alive {
                    guard::remove_group(pgid);
                }
                alive
            });
            if self.groups.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(BenchError::LeftBehind {
                    pgids: self.groups.clone(),
                    timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // Stop was not called (an error on the way): kill what is there, reporting leftovers.
        if let Err(err) = self.kill_and_reap(STOP_TIMEOUT) {
            crate::note(&format!("warning: {err}"));
        }
    }
}

enum Advance {
    Waiting,
    Ready(Ready),
    Died(String),
    Bad(String),
}

impl Pending {
    fn fds(&self) -> impl Iterator<Item = RawFd> + '_ {
        let out = self.stdout.as_ref().map(AsRawFd::as_raw_fd);
        let err = self.stderr.as_ref().map(AsRawFd::as_raw_fd);
        out.into_iter().chain(err)
    }

    /// Reads what `flags` (one per fd of [`Pending::fds`]) says is readable.
    fn advance(&mut self, flags: &[bool], args: &[String], deadline: Instant) -> Advance {
        let mut buffer = [0u8; 4096];
        let mut flags = flags.iter().copied();
        let stdout_ready = self.stdout.is_some() && flags.next().unwrap_or(false);
        let stderr_ready = self.stderr.is_some() && flags.next().unwrap_or(false);
        if stderr_ready {
            self.read_stderr(&mut buffer);
        }
        if !stdout_ready {
            return Advance::Waiting;
        }
        let Some(stdout) = self.stdout.as_mut() else {
            return Advance::Waiting;
        };
        match stdout.read(&mut buffer) {
            Ok(0) | Err(_) => {
                self.stdout = None;
                self.finish_stderr(deadline);
                let stderr = String::from_utf8_lossy(&self.errors).trim().to_string();
                Advance::Died(if stderr.is_empty() {
                    "(nothing on stderr)".to_string()
                } else {
                    stderr
                })
            }
            Ok(n) => {
                self.line.extend_from_slice(&buffer[..n]);
                let Some(end) = self.line.iter().position(|&b| b == b'\n') else {
                    return Advance::Waiting;
                };
                let line = String::from_utf8_lossy(&self.line[..end]).into_owned();
                let asked = |flag: &str| args.iter().filter(|a| *a == flag).count();
                match Ready::parse(&line) {
                    Some(r) if r.tcp.len() == asked("--tcp") && r.udp.len() == asked("--udp") => {
                        // Done with the pipes: fixtures print nothing after READY.
                        self.stdout = None;
                        self.stderr = None;
                        Advance::Ready(r)
                    }
                    _ => Advance::Bad(line),
                }
            }
        }
    }

    fn read_stderr(&mut self, buffer: &mut [u8]) {
        if let Some(stderr) = self.stderr.as_mut() {
            match stderr.read(buffer) {
                Ok(0) | Err(_) => self.stderr = None,
                Ok(n) => {
                    let room = STDERR_LIMIT.saturating_sub(self.errors.len());
                    self.errors.extend_from_slice(&buffer[..n.min(room)]);
                }
            }
        }
    }

    /// Collects the rest of a dead fixture's stderr, for at most a second.
    fn finish_stderr(&mut self, deadline: Instant) {
        let deadline = deadline.min(Instant::now() + Duration::from_secs(1));
        let mut buffer = [0u8; 4096];
        while let Some(fd) = self.stderr.as_ref().map(AsRawFd::as_raw_fd) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            match sys::poll_readable(&[fd], deadline - now) {
                Ok(flags) if flags.first() == Some(&true) => self.read_stderr(&mut buffer),
                _ => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| a.to_string()).collect()
    }

    fn start(fleet: &[Vec<String>]) -> Result<Fleet, BenchError> {
        // As pw-bench's main does, so a forked child is reaped here rather than by init.
        let _ = sys::set_child_subreaper();
        Fleet::start(&testkit::fixture_path(), fleet, Duration::from_secs(20))
    }

    #[test]
    fn a_fleet_starts_and_stops_leaving_nothing() {
        let plan = vec![
            args(&["--tcp", "127.0.0.1:0", "--tcp", "127.0.0.1:0"]),
            args(&["--udp", "127.0.0.1:0"]),
            args(&["--tcp", "127.0.0.1:0", "--fork-child"]),
        ];
        let fleet = start(&plan).unwrap();
        let ready = fleet.ready().to_vec();
        assert_eq!(
            ready.iter().map(|r| r.tcp.len()).collect::<Vec<_>>(),
            [2, 0, 1]
        );
        assert_eq!(ready[1].udp.len(), 1);
        let child = ready[2].child.expect("the forked child is reported");
        std::net::TcpStream::connect(ready[2].tcp[0]).unwrap();
        let pids: Vec<u32> = ready.iter().map(|r| r.pid).chain([child]).collect();
        assert!(pids.iter().all(|&p| testkit::pid_alive(p)));
        fleet.stop().unwrap();
        for pid in pids {
            assert!(!testkit::pid_alive(pid), "pid {pid} survived");
        }
    }

    #[test]
    fn a_fixture_that_cannot_bind_fails_the_start() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = taken.local_addr().unwrap().to_string();
        let plan = vec![args(&["--tcp", "127.0.0.1:0"]), args(&["--tcp", &taken])];
        let err = start(&plan).unwrap_err();
        match &err {
            BenchError::FixtureDied { index, stderr, .. } => {
                assert_eq!(*index, 1);
                assert!(stderr.contains("bind"), "{stderr}");
            }
            other => panic!("unexpected error: {other}"),
        }
    }

    #[test]
    fn await_exit_reports_how_each_fixture_ended() {
        let plan = vec![
            args(&["--tcp", "127.0.0.1:0"]),
            args(&["--tcp", "127.0.0.1:0"]),
        ];
        let fleet = start(&plan).unwrap();
        let ready = fleet.ready().to_vec();
        // SAFETY: kill takes integers only; the pid is our own fixture.
        unsafe { libc::kill(ready[0].pid as i32, libc::SIGTERM) };
        let ended = fleet.await_exit(Duration::from_millis(300)).unwrap();
        assert_eq!(ended, [Some(Exit::Signal(libc::SIGTERM)), None]);
        assert!(ready.iter().all(|r| !testkit::pid_alive(r.pid)));
    }

    #[test]
    fn fixtures_do_not_inherit_the_blocked_termination_signals() {
        let fleet = start(&[args(&["--tcp", "127.0.0.1:0"])]).unwrap();
        let pid = fleet.ready()[0].pid;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let blocked = status
            .lines()
            .find_map(|l| l.strip_prefix("SigBlk:"))
            .map(|mask| u64::from_str_radix(mask.trim(), 16).unwrap());
        // Bits are signal - 1: SIGHUP, SIGINT, SIGTERM.
        let termination =
            (1 << (libc::SIGHUP - 1)) | (1 << (libc::SIGINT - 1)) | (1 << (libc::SIGTERM - 1));
        assert_eq!(blocked.map(|m| m & termination), Some(0), "{status}");
        fleet.stop().unwrap();
    }

    #[test]
    fn dropping_a_fleet_kills_it() {
        let fleet = start(&[args(&["--tcp", "127.0.0.1:0", "--fork-child"])]).unwrap();
        let ready = fleet.ready()[0].clone();
        drop(fleet);
        assert!(!testkit::pid_alive(ready.pid));
        assert!(!testkit::pid_alive(ready.child.unwrap()));
    }

    #[test]
    fn parses_a_full_ready_line() {
        let line = "READY pid=42 tcp=127.0.0.1:4000,[::1]:4001 udp=127.0.0.1:5000 child=43\n";
        let ready = Ready::parse(line).unwrap();
        assert_eq!(ready.pid, 42);
        assert_eq!(
            ready.tcp,
            vec![
                "127.0.0.1:4000".parse::<SocketAddr>().unwrap(),
                "[::1]:4001".parse().unwrap()
            ]
        );
        assert_eq!(ready.udp, vec!["127.0.0.1:5000".parse().unwrap()]);
        assert_eq!(ready.child, Some(43));
    }

    #[test]
    fn empty_lists_are_omitted_by_the_fixture() {
        let ready = Ready::parse("READY pid=1").unwrap();
        assert!(ready.tcp.is_empty() && ready.udp.is_empty() && ready.child.is_none());
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let ready = Ready::parse("READY pid=5 bound=127.0.0.1:1 http=127.0.0.1:2 grandchild=9");
        assert_eq!(ready.map(|r| r.pid), Some(5));
    }

    #[test]
    fn rejects_what_is_not_a_ready_line() {
        for line in [
            "",
            "pw-fixture: bind tcp 127.0.0.1:1: permission denied",
            "READYpid=1",
            "READY tcp=127.0.0.1:1",
            "READY pid=x",
            "READY pid=1 tcp=127.0.0.1",
            "READY pid=1 tcp=127.0.0.1:1,nonsense",
            "READY pid=1 child=",
            "READY pid=1 stray",
        ] {
            assert_eq!(Ready::parse(line), None, "{line:?}");
        }
    }
}
