//! pm2 as a peer: `pm2 start ecosystem.json` with `PM2_HOME` in the stack's folder (nothing of
//! the user's `~/.pm2` is touched), stopped with `pm2 kill`. The supervising process is pm2's
//! "God" daemon, which the CLI starts detached (pw-bench, the subreaper, adopts it); its pid is
//! in `PM2_HOME/pm2.pid`.
//!
//! Each service is an app with `interpreter: none` (pm2 runs the binary itself, not through
//! node) in fork mode, `autorestart: true`, `restart_delay: 0`; the rest is pm2's default.
//! pm2 has no health checks (pm2.io's are a paid service) and no readiness ordering.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Launched, Stack, StackPlan, Supervisor};
use crate::error::BenchError;
use crate::guard;
use crate::measure::{self, CommandSpec};

/// pm2's CLI.
#[derive(Debug, Clone)]
pub struct Pm2 {
    /// `pm2` (a node script).
    pub pm2: PathBuf,
}

/// `PM2_HOME` for a stack in `dir`.
pub fn home(dir: &Path) -> PathBuf {
    dir.join("pm2")
}

/// The ecosystem file (JSON, which pm2 takes as well as its `.config.js`) for `plan`, logs and
/// pid files inside `dir`.
///
/// ```
/// use std::path::{Path, PathBuf};
/// use std::time::Duration;
/// use pwbench::stacks::{HealthCheck, StackPlan, pm2};
///
/// let plan = StackPlan {
///     services: StackPlan::flat("svc", &[20000]),
///     program: PathBuf::from("/tmp/s/bin/pw-fixture"),
///     check: HealthCheck::Http,
///     check_interval: Duration::from_secs(5),
/// };
/// let eco: serde_json::Value = serde_json::from_str(&pm2::render(&plan, Path::new("/tmp/s"))).unwrap();
/// assert_eq!(eco["apps"][0]["script"], "/tmp/s/bin/pw-fixture");
/// assert_eq!(eco["apps"][0]["args"], serde_json::json!(["--http", "127.0.0.1:20000"]));
/// ```
pub fn render(plan: &StackPlan, dir: &Path) -> String {
    let at = |name: String| dir.join(name).display().to_string();
    let apps: Vec<serde_json::Value> = plan
        .services
        .iter()
        .map(|service| {
            json!({
                "name": service.name,
                "script": plan.program.display().to_string(),
                "args": service.args(),
                "interpreter": "none",
                "exec_mode": "fork",
                "instances": 1,
                "cwd": dir.display().to_string(),
                "autorestart": true,
                "restart_delay": 0,
                "watch": false,
                "out_file": at(format!("logs/{}.out.log", service.name)),
                "error_file": at(format!("logs/{}.err.log", service.name)),
                "pid_file": at(format!("logs/{}.pid", service.name)),
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&json!({ "apps": apps })).unwrap_or_default();
    text.push('\n');
    text
}

impl Pm2 {
    fn cli(&self, stack: &Stack, args: &[&str]) -> CommandSpec {
        CommandSpec::new(&self.pm2, args)
            .with_env("PM2_HOME", &home(stack.dir()).display().to_string())
            .labelled("pm2", args)
    }
}

impl Supervisor for Pm2 {
    fn name(&self) -> &'static str {
        "pm2"
    }

    fn config_name(&self) -> &'static str {
        "ecosystem.json"
    }

    fn render(&self, plan: &StackPlan, dir: &Path) -> String {
        render(plan, dir)
    }

    fn launch(&self, stack: &Stack, timeout: Duration) -> Result<Launched, BenchError> {
        let config = stack.config.display().to_string();
        let spec = self.cli(stack, &["start", &config]);
        let mut buffer = vec![0u8; 64 << 10];
        let started = Instant::now();
        let (sample, output) = measure::run_once(&spec, timeout, true, &mut buffer)?;
        let pid_file = home(stack.dir()).join("pm2.pid");
        let god = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        let (Some(pid), true) = (god, sample.exit.success()) else {
            return Err(BenchError::Stack {
                supervisor: "pm2",
                stage: "start its stack",
                timeout,
                detail: format!(
                    "`pm2 start` ended with {} and no {}: {}",
                    sample.exit,
                    pid_file.display(),
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
                dir: stack.dir().to_path_buf(),
            });
        };
        if !guard::add_group(pid as i32) {
            return Err(BenchError::TooManyGroups {
                max: guard::MAX_GROUPS,
            });
        }
        Ok(Launched {
            pid,
            command: "pm2 God daemon (started by pm2 start ecosystem.json)".to_string(),
            started,
            events: None,
            returned: Some(sample),
        })
    }

    fn shutdown(&self, stack: &Stack) -> CommandSpec {
        self.cli(stack, &["kill"])
    }

    fn status(&self, stack: &Stack) -> CommandSpec {
        self.cli(stack, &["jlist"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stacks::HealthCheck;

    #[test]
    fn one_app_per_service_run_directly_and_restarted_at_once() {
        let plan = StackPlan {
            services: StackPlan::chain("svc", &[20000, 20001]),
            program: PathBuf::from("/tmp/it's/bin/pw-fixture"),
            check: HealthCheck::Http,
            check_interval: Duration::from_secs(5),
        };
        let eco: serde_json::Value =
            serde_json::from_str(&render(&plan, Path::new("/tmp/it's"))).unwrap();
        let apps = eco["apps"].as_array().unwrap();
        assert_eq!(apps.len(), 2);
        let app = &apps[1];
        assert_eq!(app["name"], "svc01");
        assert_eq!(app["script"], "/tmp/it's/bin/pw-fixture");
        assert_eq!(app["args"], json!(["--http", "127.0.0.1:20001"]));
        assert_eq!(app["interpreter"], "none");
        assert_eq!(app["exec_mode"], "fork");
        assert_eq!(
            (app["autorestart"].clone(), app["restart_delay"].clone()),
            (json!(true), json!(0))
        );
        assert_eq!(app["out_file"], "/tmp/it's/logs/svc01.out.log");
    }

    #[test]
    fn every_command_runs_with_its_own_pm2_home() {
        let pm2 = Pm2 {
            pm2: PathBuf::from("/x/pm2"),
        };
        let stack = Stack::create(
            &pm2,
            StackPlan::flat("svc", &[20000]),
            HealthCheck::Http,
            Duration::from_secs(5),
            &std::env::current_exe().unwrap(),
        )
        .unwrap();
        let home = home(stack.dir()).display().to_string();
        for spec in [pm2.status(&stack), pm2.shutdown(&stack)] {
            assert_eq!(spec.env, [("PM2_HOME".to_string(), home.clone())]);
        }
        assert_eq!(pm2.status(&stack).label, "pm2 jlist");
        assert!(stack.config.ends_with("ecosystem.json"));
        let program = std::fs::read_link(&stack.plan.program).unwrap();
        assert_eq!(
            program,
            std::fs::canonicalize(std::env::current_exe().unwrap()).unwrap()
        );
    }
}
