//! A command must exit 0 within the timeout.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use super::{HealthCheck, HealthContext, HealthResult};
use crate::kill::{self, Target};
use crate::sys;

/// Healthy when `/bin/sh -c command` exits 0 within the timeout. The command runs in the
/// service's working folder, gets `PORT` (when the service has one) and runs in a process group of its own, which is killed (and
/// the command reaped) when it runs over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecCheck {
    command: String,
}

impl ExecCheck {
    /// A check running `command`.
    pub fn new(command: impl Into<String>) -> Self {
        ExecCheck {
            command: command.into(),
        }
    }
}

impl HealthCheck for ExecCheck {
    fn check(&self, ctx: &HealthContext) -> HealthResult {
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(&self.command)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group (in our session, so the orphan reaper leaves it to us).
            .process_group(0);
        if let Some(dir) = &ctx.working_dir {
            command.current_dir(dir);
        }
        if let Some(port) = ctx.port {
            command.env("PORT", port.to_string());
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => return HealthResult::unhealthy(format!("`{}`: {e}", self.command)),
        };
        let pid = child.id();
        let finished = match sys::pidfd_open(pid) {
            Ok(pidfd) => {
                use std::os::fd::AsRawFd;
                let ms = ctx.timeout.as_millis().min(i32::MAX as u128) as i32;
                matches!(sys::poll_readable(&[pidfd.as_raw_fd()], ms), Ok(r) if !r.is_empty())
            }
            Err(_) => false,
        };
        if !finished {
            if let Err(e) = kill::send(Target::Group(pid), procscan::Signal::Kill) {
                log::warn!("killing health check `{}` (pid {pid}): {e}", self.command);
            }
            let _ = child.wait();
            return HealthResult::unhealthy(format!(
                "`{}` did not finish within {:?} (killed)",
                self.command, ctx.timeout
            ));
        }
        match child.wait() {
            Ok(status) if status.success() => HealthResult::Healthy,
            Ok(status) => HealthResult::unhealthy(format!("`{}` {status}", self.command)),
            Err(e) => HealthResult::unhealthy(format!("`{}`: {e}", self.command)),
        }
    }

    fn describe(&self) -> String {
        format!("exec `{}`", self.command)
    }
}
