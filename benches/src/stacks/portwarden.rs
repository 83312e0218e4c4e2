//! portwarden as the supervisor under test: `portwarden -c portwarden.yaml up --json` in the
//! foreground (its events read as they come), or `up -d` (the `__supervise` daemon, adopted by
//! pw-bench once `up -d` returns).

use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{HealthCheck, Launched, Lines, Stack, StackPlan, Supervisor, event_number, is_event};
use crate::error::BenchError;
use crate::guard;
use crate::measure::{self, CommandSpec};

/// How many restarts a service gets within `restart_window` (60 s) before portwarden gives up:
/// more than any run crashes one service, as supervisord and pm2 never give up on a process
/// that ran for a while.
const MAX_RESTARTS: u32 = 1000;

/// portwarden, foreground or detached.
#[derive(Debug, Clone)]
pub struct Portwarden {
    /// The binary.
    pub binary: PathBuf,
    /// `up -d` rather than `up --json` in the foreground.
    pub detached: bool,
    /// The config's `monitoring` section, for `portwarden monitor`; none: the defaults.
    pub monitoring: Option<Monitoring>,
}

/// The `monitoring` section `portwarden monitor` reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Monitoring {
    /// `health_check_interval`: how often monitor runs every service's check.
    pub health_check_interval: Duration,
    /// `cpu_threshold_percent` and `memory_threshold_mb`, so that monitor follows every
    /// service's CPU and memory (it reads them only when a threshold is set).
    pub thresholds: Option<(f64, u64)>,
}

/// A string as a YAML scalar: JSON's double-quoted strings are valid YAML.
fn yaml_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// `portwarden.yaml` for `plan`: every service `exec`s its fixture (so the service process is
/// pw-fixture itself, not a shell), is restarted always, checked as `plan.check` says, and
/// waits for its `after` service to be healthy.
///
/// ```
/// use std::path::PathBuf;
/// use std::time::Duration;
/// use pwbench::stacks::{HealthCheck, StackPlan, portwarden};
///
/// let plan = StackPlan {
///     services: StackPlan::chain("lvl", &[20000, 20001]),
///     program: PathBuf::from("/tmp/s/bin/pw-fixture"),
///     check: HealthCheck::Http,
///     check_interval: Duration::from_secs(5),
/// };
/// let yaml = portwarden::render(&plan);
/// assert!(yaml.contains(r#"startup_command: "exec /tmp/s/bin/pw-fixture --http 127.0.0.1:20001""#));
/// assert!(yaml.contains("      lvl00:\n        condition: healthy\n"));
/// ```
pub fn render(plan: &StackPlan) -> String {
    render_with(plan, None)
}

/// [`render`], with a `monitoring` section when one is given.
///
/// ```
/// use std::path::PathBuf;
/// use std::time::Duration;
/// use pwbench::stacks::{HealthCheck, StackPlan, portwarden};
///
/// let plan = StackPlan {
///     services: StackPlan::flat("s", &[20000]),
///     program: PathBuf::from("/tmp/s/bin/pw-fixture"),
///     check: HealthCheck::Http,
///     check_interval: Duration::from_secs(5),
/// };
/// let monitoring = portwarden::Monitoring {
///     health_check_interval: Duration::from_secs(60),
///     thresholds: Some((80.0, 512)),
/// };
/// let yaml = portwarden::render_with(&plan, Some(monitoring));
/// assert!(yaml.starts_with("# Written by pw-bench"));
/// assert!(yaml.contains("monitoring:\n  health_check_interval: 60000ms\n  cpu_threshold_percent: 80\n  memory_threshold_mb: 512\n"));
/// ```
pub fn render_with(plan: &StackPlan, monitoring: Option<Monitoring>) -> String {
    let mut out = format!(
        "# Written by pw-bench: {} pw-fixture services.\n",
        plan.services.len()
    );
    if let Some(m) = monitoring {
        let _ = write!(
            out,
            "monitoring:\n  health_check_interval: {}ms\n",
            m.health_check_interval.as_millis()
        );
        if let Some((cpu, memory)) = m.thresholds {
            let _ = write!(
                out,
                "  cpu_threshold_percent: {cpu}\n  memory_threshold_mb: {memory}\n"
            );
        }
    }
    out.push_str("services:\n");
    let interval = format!("{}ms", plan.check_interval.as_millis());
    for service in &plan.services {
        let command = format!("exec {}", plan.shell_command(service));
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "  {name}:\n    port: {port}\n    startup_command: {command}\n    restart: always\n    \
             max_restart_attempts: {MAX_RESTARTS}\n    health_check:\n",
            name = service.name,
            port = service.port,
            command = yaml_string(&command),
        );
        let _ = match plan.check {
            HealthCheck::Http => write!(
                out,
                "      type: http\n      url: {}\n      interval: {interval}\n",
                yaml_string("http://127.0.0.1:{port}/health")
            ),
            HealthCheck::Listening => {
                write!(out, "      type: listening\n      interval: {interval}\n")
            }
        };
        if let Some(after) = &service.after {
            let _ = write!(
                out,
                "    depends_on:\n      {after}:\n        condition: healthy\n"
            );
        }
    }
    out
}

impl Portwarden {
    fn command(&self, stack: &Stack, args: &[&str]) -> CommandSpec {
        let config = stack.config.display().to_string();
        let mut full = vec!["-c", config.as_str()];
        full.extend_from_slice(args);
        CommandSpec::new(&self.binary, &full).labelled("portwarden", args)
    }

    /// `up --json` in the foreground, leading its own process group, its events followed.
    fn foreground(&self, stack: &Stack) -> Result<Launched, BenchError> {
        let spec = self.command(stack, &["up", "--json"]);
        let stderr_path = stack.dir().join("portwarden.stderr");
        let stderr = std::fs::File::create(&stderr_path).map_err(|source| BenchError::Write {
            path: stderr_path,
            source,
        })?;
        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .process_group(0);
        let blocked = crate::sys::block_termination_signals();
        blocked.unblock_in_child(&mut command);
        let started = Instant::now();
        let mut child = command.spawn().map_err(|source| BenchError::Spawn {
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
        let events = child.stdout.take().map(Lines::follow);
        // The child is reaped by pid (`stacks::wait_gone`), not through `Child`.
        drop(child);
        Ok(Launched {
            pid,
            command: spec.label,
            started,
            events,
            returned: None,
        })
    }

    /// `up -d --json`: returns once the stack is ready; the daemon it started is re-parented to
    /// pw-bench.
    fn detached(&self, stack: &Stack, timeout: Duration) -> Result<Launched, BenchError> {
        let spec = self.command(stack, &["up", "-d", "--json"]);
        let mut buffer = vec![0u8; 64 << 10];
        let started = Instant::now();
        let (sample, output) = measure::run_once(&spec, timeout, true, &mut buffer)?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let daemon = stdout
            .lines()
            .find(|l| is_event(l, "stack_starting", None))
            .and_then(|l| event_number(l, "supervisor_pid"))
            .and_then(|p| u32::try_from(p).ok());
        let (Some(pid), true) = (daemon, sample.exit.success()) else {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(BenchError::Stack {
                supervisor: "portwarden",
                stage: "start its stack",
                timeout,
                detail: format!(
                    "`{}` ended with {} and no supervisor pid: {}",
                    spec.label,
                    sample.exit,
                    stderr.lines().last().unwrap_or("").trim()
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
            command: "portwarden __supervise (started by up -d)".to_string(),
            started,
            events: None,
            returned: Some(sample),
        })
    }
}

impl Supervisor for Portwarden {
    fn name(&self) -> &'static str {
        "portwarden"
    }

    fn config_name(&self) -> &'static str {
        "portwarden.yaml"
    }

    fn render(&self, plan: &StackPlan, _dir: &Path) -> String {
        render_with(plan, self.monitoring)
    }

    fn launch(&self, stack: &Stack, timeout: Duration) -> Result<Launched, BenchError> {
        if self.detached {
            self.detached(stack, timeout)
        } else {
            self.foreground(stack)
        }
    }

    fn shutdown(&self, stack: &Stack) -> CommandSpec {
        self.command(stack, &["stop"])
    }

    fn status(&self, stack: &Stack) -> CommandSpec {
        self.command(stack, &["status", "--json"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(check: HealthCheck) -> StackPlan {
        StackPlan {
            services: StackPlan::flat("svc", &[20000, 20001]),
            program: PathBuf::from("/tmp/pw-bench-x/bin/pw-fixture"),
            check,
            check_interval: Duration::from_millis(5000),
        }
    }

    #[test]
    fn every_service_execs_its_fixture_restarts_always_and_is_checked() {
        let yaml = render(&plan(HealthCheck::Http));
        assert_eq!(yaml.matches("restart: always").count(), 2);
        assert!(yaml.contains(
            "  svc01:\n    port: 20001\n    startup_command: \"exec /tmp/pw-bench-x/bin/pw-fixture --http 127.0.0.1:20001\"\n"
        ));
        assert!(yaml.contains(
            "      type: http\n      url: \"http://127.0.0.1:{port}/health\"\n      interval: 5000ms\n"
        ));
        assert!(!yaml.contains("depends_on"));
        let listening = render(&plan(HealthCheck::Listening));
        assert!(listening.contains("      type: listening\n      interval: 5000ms\n"));
        assert!(!listening.contains("url:"));
    }

    #[test]
    fn the_config_is_what_portwarden_loads() {
        // portwarden's own loader is the judge: `check` validates without starting anything.
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("portwarden.yaml");
        let mut p = plan(HealthCheck::Http);
        p.services = StackPlan::chain("lvl", &[20000, 20001, 20002]);
        p.program = testkit::fixture_path();
        std::fs::write(&config, render(&p)).unwrap();
        let portwarden = testkit::bin_path("portwarden");
        let out = Command::new(portwarden)
            .args(["-c", &config.display().to_string(), "export-config"])
            .arg(dir.path().join("effective.yaml"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let effective = std::fs::read_to_string(dir.path().join("effective.yaml")).unwrap();
        assert!(effective.contains("lvl02"), "{effective}");
    }
}
