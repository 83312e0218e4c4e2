//! `up -d`: the supervisor in the background. The parent plans the ports (it may ask at the
//! terminal), then starts `portwarden __supervise` in a new session, stdin `/dev/null`,
//! stdout and stderr appended to the startup log, handing it the project's lock and the port
//! decisions. The parent then follows the daemon's events over the control socket until the
//! stack is ready (or failed).

use std::fs::{File, OpenOptions};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::client::Client;
use super::paths::StatePaths;
use crate::commands::Context;
use crate::exit::{CliError, CliResult};
use crate::stack::Prepared;
use crate::sys;

/// The hidden subcommand the daemon runs.
pub const SUBCOMMAND: &str = "__supervise";

/// How long the daemon may take to open its control socket.
const SOCKET_WAIT: Duration = Duration::from_secs(30);

/// Starts the daemon for `prepared` and returns it (its lock passed on).
pub fn spawn(ctx: &Context<'_>, prepared: &Prepared) -> CliResult<Child> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::failure(format!("cannot find portwarden's own binary: {e}")))?;
    let log = open_log(&prepared.paths)?;
    let config =
        std::path::absolute(&prepared.loaded.path).unwrap_or_else(|_| prepared.loaded.path.clone());
    let decisions = serde_json::to_string(&prepared.decisions)?;
    let lock_fd = prepared.lock.raw_fd();
    let mut command = Command::new(exe);
    command.arg("--config").arg(&config);
    for _ in 0..ctx.global.verbose {
        command.arg("-v");
    }
    command
        .arg(SUBCOMMAND)
        .arg("--lock-fd")
        .arg(lock_fd.to_string())
        .arg("--decisions")
        .arg(decisions);
    if let Some(services) = &prepared.selection {
        command.arg("--").args(services);
    }
    command
        .current_dir(&prepared.loaded.base_dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: only async-signal-safe calls (setsid, fcntl) between fork and exec.
    unsafe {
        command.pre_exec(move || {
            sys::new_session()?;
            // The lock travels to the daemon: clear close-on-exec on this one descriptor.
            sys::set_cloexec(lock_fd, false)
        });
    }
    command
        .spawn()
        .map_err(|e| CliError::failure(format!("cannot start the background supervisor: {e}")))
}

fn open_log(paths: &StatePaths) -> CliResult<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&paths.startup_log)
        .map_err(|e| CliError::failure(format!("{}: {e}", paths.startup_log.display())))
}

/// Waits until the daemon answers on its control socket. Fails, with the end of the startup
/// log, when it exits first.
pub fn connect(paths: &StatePaths, daemon: &mut Child) -> CliResult<Client> {
    let deadline = Instant::now() + SOCKET_WAIT;
    loop {
        if let Some(status) = daemon.try_wait()? {
            return Err(CliError::failure(format!(
                "the background supervisor exited ({status}) before it was ready{}",
                log_tail(paths)
            )));
        }
        // Only our daemon can answer: we held the project's lock until it took it over.
        if let Some(client) = Client::connect(paths)? {
            return Ok(client);
        }
        if Instant::now() >= deadline {
            return Err(CliError::failure(format!(
                "the background supervisor (pid {}) did not open its control socket within {}s{}",
                daemon.id(),
                SOCKET_WAIT.as_secs(),
                log_tail(paths)
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The last lines of the startup log, to explain a failed start.
fn log_tail(paths: &StatePaths) -> String {
    match crate::control::logfiles::tail_lines(&paths.startup_log, 8) {
        Ok(lines) if !lines.is_empty() => format!(
            "; the end of {}:\n  {}",
            paths.startup_log.display(),
            lines.join("\n  ")
        ),
        _ => format!("; see {}", paths.startup_log.display()),
    }
}

/// Stops a daemon that is of no use: SIGTERM (it stops its services in order), SIGKILL after
/// 30 s.
pub fn stop(daemon: &mut Child) {
    if let Ok(pid) = i32::try_from(daemon.id()) {
        // SAFETY: kill(2) on our own child, which has not been reaped yet.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    if !wait_exit(daemon, Duration::from_secs(30)) {
        let _ = daemon.kill();
    }
    let _ = daemon.wait();
}

/// Waits up to `limit` for the daemon to exit.
pub fn wait_exit(daemon: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        match daemon.try_wait() {
            Ok(Some(_)) | Err(_) => return true,
            Ok(None) if Instant::now() >= deadline => return false,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}
