//! supervisord as a peer: `supervisord -c supervisord.conf -n` (in the foreground, a child of
//! pw-bench), its control socket in the stack's folder, stopped with
//! `supervisorctl -c supervisord.conf shutdown`.
//!
//! Each service is a `[program:NAME]` with `autorestart=true`; everything else is
//! supervisord's default (`startsecs=1`, `startretries=3`, `loglevel=info`), as a user would
//! write it. supervisord has no health checks and no readiness ordering.

use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Launched, Stack, StackPlan, Supervisor};
use crate::error::BenchError;
use crate::guard;
use crate::measure::CommandSpec;

/// supervisord and its supervisorctl, from the same install.
#[derive(Debug, Clone)]
pub struct Supervisord {
    /// `supervisord`.
    pub supervisord: PathBuf,
    /// `supervisorctl`.
    pub supervisorctl: PathBuf,
}

/// A value for supervisord's config: its parser expands `%(name)s`, so a `%` is doubled.
fn ini_value(text: &str) -> String {
    text.replace('%', "%%")
}

/// `supervisord.conf` for `plan`, everything (socket, pid file, logs) inside `dir`.
///
/// ```
/// use std::path::{Path, PathBuf};
/// use std::time::Duration;
/// use pwbench::stacks::{HealthCheck, StackPlan, supervisord};
///
/// let plan = StackPlan {
///     services: StackPlan::flat("svc", &[20000]),
///     program: PathBuf::from("/tmp/s/bin/pw-fixture"),
///     check: HealthCheck::Http,
///     check_interval: Duration::from_secs(5),
/// };
/// let conf = supervisord::render(&plan, Path::new("/tmp/s"));
/// assert!(conf.contains("[program:svc00]\ncommand=/tmp/s/bin/pw-fixture --http 127.0.0.1:20000\n"));
/// assert!(conf.contains("serverurl=unix:///tmp/s/supervisor.sock\n"));
/// ```
pub fn render(plan: &StackPlan, dir: &Path) -> String {
    let at = |name: &str| ini_value(&dir.join(name).display().to_string());
    let mut out = format!(
        "; Written by pw-bench: {count} pw-fixture services.\n\
         [supervisord]\n\
         nodaemon=true\n\
         logfile={log}\n\
         pidfile={pid}\n\
         childlogdir={logs}\n\
         \n\
         [unix_http_server]\n\
         file={sock}\n\
         \n\
         [rpcinterface:supervisor]\n\
         supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\
         \n\
         [supervisorctl]\n\
         serverurl=unix://{sock}\n",
        count = plan.services.len(),
        log = at("supervisord.log"),
        pid = at("supervisord.pid"),
        logs = at("logs"),
        sock = at("supervisor.sock"),
    );
    for service in &plan.services {
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "\n[program:{name}]\n\
             command={command}\n\
             directory={dir}\n\
             autostart=true\n\
             autorestart=true\n\
             stopsignal=TERM\n\
             redirect_stderr=true\n\
             stdout_logfile={log}\n",
            name = service.name,
            command = ini_value(&plan.shell_command(service)),
            dir = ini_value(&dir.display().to_string()),
            log = at(&format!("logs/{}.log", service.name)),
        );
    }
    out
}

impl Supervisord {
    fn ctl(&self, stack: &Stack, args: &[&str]) -> CommandSpec {
        let config = stack.config.display().to_string();
        let mut full = vec!["-c", config.as_str()];
        full.extend_from_slice(args);
        CommandSpec::new(&self.supervisorctl, &full).labelled("supervisorctl", args)
    }
}

impl Supervisor for Supervisord {
    fn name(&self) -> &'static str {
        "supervisord"
    }

    fn config_name(&self) -> &'static str {
        "supervisord.conf"
    }

    fn render(&self, plan: &StackPlan, dir: &Path) -> String {
        render(plan, dir)
    }

    fn launch(&self, stack: &Stack, _timeout: Duration) -> Result<Launched, BenchError> {
        let out_path = stack.dir().join("supervisord.out");
        let out = std::fs::File::create(&out_path).map_err(|source| BenchError::Write {
            path: out_path.clone(),
            source,
        })?;
        let err = out.try_clone().map_err(|source| BenchError::Write {
            path: out_path,
            source,
        })?;
        let config = stack.config.display().to_string();
        let spec = CommandSpec::new(&self.supervisord, &["-c", &config, "-n"]);
        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let blocked = crate::sys::block_termination_signals();
        blocked.unblock_in_child(&mut command);
        let started = Instant::now();
        let child = command.spawn().map_err(|source| BenchError::Spawn {
            command: spec.command_line(),
            source,
        })?;
        let pid = child.id();
        if !guard::add_group(pid as i32) {
            crate::sys::kill_group(pid as i32);
            return Err(BenchError::TooManyGroups {
                max: guard::MAX_GROUPS,
            });
        }
        drop(blocked);
        Ok(Launched {
            pid,
            command: "supervisord -c supervisord.conf -n".to_string(),
            started,
            events: None,
            returned: None,
        })
    }

    fn shutdown(&self, stack: &Stack) -> CommandSpec {
        self.ctl(stack, &["shutdown"])
    }

    fn status(&self, stack: &Stack) -> CommandSpec {
        self.ctl(stack, &["status"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stacks::HealthCheck;

    fn plan() -> StackPlan {
        StackPlan {
            services: StackPlan::chain("svc", &[20000, 20001]),
            program: PathBuf::from("/tmp/100%/bin/pw-fixture"),
            check: HealthCheck::Listening,
            check_interval: Duration::from_secs(5),
        }
    }

    #[test]
    fn one_program_per_service_restarted_always_logging_in_the_folder() {
        let conf = render(&plan(), Path::new("/tmp/100%"));
        assert_eq!(conf.matches("[program:").count(), 2);
        assert_eq!(conf.matches("autorestart=true\n").count(), 2);
        assert!(conf.contains("command=/tmp/100%%/bin/pw-fixture --http 127.0.0.1:20001\n"));
        assert!(conf.contains("stdout_logfile=/tmp/100%%/logs/svc01.log\n"));
        assert!(conf.contains("file=/tmp/100%%/supervisor.sock\n"));
        assert!(conf.contains("nodaemon=true\n"));
        // supervisord cannot wait for a service to be ready: the chain is not expressed.
        assert!(!conf.contains("depends"));
    }

    #[test]
    fn every_section_parses_as_ini() {
        // Each line is a section header, a key=value pair, a comment or blank.
        let conf = render(&plan(), Path::new("/tmp/x"));
        for line in conf.lines() {
            let ok = line.is_empty()
                || line.starts_with(';')
                || (line.starts_with('[') && line.ends_with(']'))
                || line
                    .split_once('=')
                    .is_some_and(|(k, _)| !k.trim().is_empty());
            assert!(ok, "{line:?}");
        }
    }
}
