//! Test support for portwarden's crates.
//!
//! - [`Fixture`]: a running `pw-fixture` process (see `src/bin/pw-fixture.rs`) that holds real
//!   sockets, parsed from its `READY` line, and is killed (with its whole process group and any
//!   forked child) when dropped, even when the test fails.
//! - [`wait_until`]: polling against a deadline instead of sleeping.
//! - [`bin_path`]: finds a binary of this workspace next to the running test.
//! - [`test_user`]: an unprivileged user to run things as, created when running as root.
#![deny(missing_docs)]
#![allow(clippy::print_stderr)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Polls `check` every 10 ms until it returns true or `timeout` passes; returns whether it did.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The path of a binary target of this workspace, found next to the running test executable
/// (`target/<profile>/<name>`). Building the workspace (`cargo nextest run --workspace`, or
/// `cargo build --workspace`) builds every binary first.
///
/// # Panics
/// When the binary has not been built, with a message saying how to build it.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    // target/<profile>/deps/<test>-<hash>  ->  target/<profile>/<name>
    let mut dir = exe
        .parent()
        .expect("test executable has a folder")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` (or the README's test command) first",
        path.display()
    );
    path
}

/// The path of the `pw-fixture` binary.
pub fn fixture_path() -> PathBuf {
    bin_path("pw-fixture")
}

/// What a fixture reported on its `READY` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ready {
    /// The fixture's pid.
    pub pid: u32,
    /// Listening TCP sockets.
    pub tcp: Vec<SocketAddr>,
    /// Bound UDP sockets.
    pub udp: Vec<SocketAddr>,
    /// TCP sockets bound without listening.
    pub bound: Vec<SocketAddr>,
    /// Local addresses of client connections.
    pub client: Vec<SocketAddr>,
    /// The HTTP server's address.
    pub http: Option<SocketAddr>,
    /// The forked child sharing the sockets.
    pub child: Option<u32>,
    /// The detached grandchild.
    pub grandchild: Option<u32>,
}

impl Ready {
    /// Parses a `READY ...` line.
    pub fn parse(line: &str) -> Option<Ready> {
        let rest = line.trim().strip_prefix("READY")?;
        let mut ready = Ready::default();
        for field in rest.split_whitespace() {
            let (key, value) = field.split_once('=')?;
            let addrs = || {
                value
                    .split(',')
                    .filter_map(|a| a.parse().ok())
                    .collect::<Vec<_>>()
            };
            match key {
                "pid" => ready.pid = value.parse().ok()?,
                "tcp" => ready.tcp = addrs(),
                "udp" => ready.udp = addrs(),
                "bound" => ready.bound = addrs(),
                "client" => ready.client = addrs(),
                "http" => ready.http = value.parse().ok(),
                "child" => ready.child = value.parse().ok(),
                "grandchild" => ready.grandchild = value.parse().ok(),
                _ => {}
            }
        }
        Some(ready)
    }

    /// The port of the first TCP listener.
    pub fn tcp_port(&self) -> u16 {
        self.tcp.first().expect("the fixture listens on TCP").port()
    }
}

/// A running `pw-fixture`, killed with everything it forked when dropped.
#[derive(Debug)]
pub struct Fixture {
    child: Child,
    /// What the fixture reported.
    pub ready: Ready,
    /// The rest of its stdout, for fixtures that keep writing.
    pub stdout: Option<BufReader<ChildStdout>>,
}

impl Fixture {
    /// Starts `pw-fixture` with `args` in its own process group and waits (up to 10 s) for its
    /// READY line.
    ///
    /// # Panics
    /// When the fixture cannot start or does not report ready in time.
    pub fn spawn(args: &[&str]) -> Fixture {
        Fixture::spawn_with(Command::new(fixture_path()).args(args))
    }

    /// Like [`Fixture::spawn`] with a prepared command (to set a uid, say). The command's stdout
    /// is captured; it is put in its own process group.
    pub fn spawn_with(command: &mut Command) -> Fixture {
        use std::os::unix::process::CommandExt;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("pw-fixture starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        // Read the READY line on a thread so a silent fixture cannot hang the test.
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send((line, reader));
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok((line, reader)) => match Ready::parse(&line) {
                Some(ready) => Fixture {
                    child,
                    ready,
                    stdout: Some(reader),
                },
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("pw-fixture printed {line:?} instead of READY");
                }
            },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("pw-fixture did not report READY within 10 s");
            }
        }
    }

    /// The fixture's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the fixture to exit; returns its exit status if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut status = None;
        wait_until(timeout, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let pgid = self.child.id() as i32;
        // SAFETY: kill(2) on the process group we created for this fixture.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        for pid in [self.ready.child, self.ready.grandchild]
            .into_iter()
            .flatten()
        {
            kill_pid(pid);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends SIGKILL to `pid` if it is alive (best effort, for cleanup).
pub fn kill_pid(pid: u32) {
    if pid > 1 {
        // SAFETY: kill(2) with a positive pid we started.
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
        }
    }
}

/// Whether a process with this pid exists (and is not a zombie).
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state follows the closing parenthesis of the command name.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
        Err(_) => false,
    }
}

/// Kills a pid when dropped (for processes a test learns about but did not spawn itself).
#[derive(Debug)]
pub struct PidGuard(pub u32);

impl Drop for PidGuard {
    fn drop(&mut self) {
        kill_pid(self.0);
    }
}

/// An unprivileged user for tests that need "another user": `(uid, gid)`.
///
/// When running as root this creates the system user `pwtest` (with `useradd`) if it does not
/// exist. Returns `None`, with the reason, when that is not possible (not root and no such
/// user); the caller prints the reason and skips.
pub fn test_user() -> Result<(u32, u32), String> {
    const NAME: &str = "pwtest";
    let lookup = || -> Option<(u32, u32)> {
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&NAME))
                .then(|| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
                .flatten()
        })
    };
    if let Some(ids) = lookup() {
        return Ok(ids);
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(format!(
            "no user `{NAME}` and not root, so none can be created"
        ));
    }
    let status = Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            NAME,
        ])
        .status()
        .map_err(|e| format!("useradd could not run: {e}"))?;
    // Another test may have created it meanwhile (exit 9: already exists).
    if !status.success() && status.code() != Some(9) {
        return Err(format!("useradd {NAME} failed: {status}"));
    }
    lookup().ok_or_else(|| format!("useradd succeeded but `{NAME}` is not in /etc/passwd"))
}

/// The unprivileged test user for a test that must run something as another user, or `None`
/// after printing why the test is skipped (not root, or the user cannot be made). `needs`
/// says what the test needs root for.
///
/// ```no_run
/// let Some((uid, gid)) = testkit::other_user_or_skip("to start a listener as another user") else {
///     return;
/// };
/// # let _ = (uid, gid);
/// ```
pub fn other_user_or_skip(needs: &str) -> Option<(u32, u32)> {
    if !is_root() {
        eprintln!("skipped: needs root {needs}");
        return None;
    }
    match test_user() {
        Ok(ids) => Some(ids),
        Err(reason) => {
            eprintln!("skipped: {reason}");
            None
        }
    }
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether IPv6 loopback is usable here.
pub fn ipv6_available() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_line_parses() {
        let r =
            Ready::parse("READY pid=42 tcp=127.0.0.1:5000,[::1]:5001 udp=127.0.0.1:53 child=43\n")
                .unwrap();
        assert_eq!(r.pid, 42);
        assert_eq!(r.tcp.len(), 2);
        assert_eq!(r.udp[0].port(), 53);
        assert_eq!(r.child, Some(43));
        assert!(Ready::parse("hello").is_none());
    }
}
