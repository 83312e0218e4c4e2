//! Starting a service's process: its own session, stdin from /dev/null, stdout and stderr
//! piped, an exact environment, and optionally a listening socket as fd 3.

use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ChildStderr, ChildStdout, Command, Stdio};

use super::reaper::{OnExit, reaper};
use crate::sys::ExecImage;

/// What to run.
pub(crate) struct Launch<'a> {
    /// Run through `/bin/sh -c`.
    pub(crate) command: &'a str,
    pub(crate) working_dir: Option<&'a Path>,
    /// The whole environment.
    pub(crate) env: &'a [(String, String)],
    /// A socket to hand over as fd 3, with `LISTEN_PID` set to the child's pid.
    pub(crate) listen_fd: Option<RawFd>,
}

/// A started process.
pub(crate) struct Launched {
    pub(crate) pid: u32,
    pub(crate) stdout: Option<ChildStdout>,
    pub(crate) stderr: Option<ChildStderr>,
}

/// Starts `launch`; `on_exit` is called (on the reaper thread) once it has been reaped.
pub(crate) fn launch(launch: Launch<'_>, on_exit: OnExit) -> io::Result<Launched> {
    let mut image = ExecImage::new(launch.command, launch.env, launch.listen_fd)?;
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(launch.command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = launch.working_dir {
        command.current_dir(dir);
    }
    // SAFETY: the closure only makes async-signal-safe calls on memory prepared before the
    // fork (see `ExecImage::exec_in_child`); it execs, and returns only an error.
    unsafe {
        command.pre_exec(move || Err(image.exec_in_child()));
    }
    let (pid, (stdout, stderr)) = reaper()?.spawn_watched(
        || {
            let mut child = command.spawn()?;
            // Dropping `Child` neither waits nor kills: the reaper owns the exit status.
            Ok((child.id(), (child.stdout.take(), child.stderr.take())))
        },
        on_exit,
    )?;
    Ok(Launched {
        pid,
        stdout,
        stderr,
    })
}
