//! Stacks of `pw-fixture` services run by a supervisor under test: portwarden, supervisord or
//! pm2, each on a config generated from the same [`StackPlan`], in a temp folder of its own.
//!
//! Every service is `pw-fixture --http 127.0.0.1:PORT` (an HTTP server whose `/health` answers
//! 200 at once), restarted whenever it exits. Its program is a link to pw-fixture inside the
//! stack's folder, so `argv[0]` tells this stack's services from every other process on the
//! machine: that is how they are found ([`finder`]) and how leftovers are caught after a stop.
//!
//! A [`Supervisor`] is one implementation per file (`portwarden.rs`, `supervisord.rs`,
//! `pm2.rs`): it renders its config (a pure function the tests check without the peers
//! installed), starts, and names its status and shutdown commands. [`Running`] is the started
//! stack: it waits for it to settle, finds its services, and stops it, failing when a service
//! process outlives its supervisor. Ctrl-C and panics are covered by the guard, which kills
//! the supervisor's group and then every child of pw-bench, the orphaned services included.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::BenchError;
use crate::guard;
use crate::measure::{self, CommandSpec, Sample};
use crate::procfs::{self, Identity};
use crate::sys::{self, Exit};

pub mod finder;
pub mod lines;
pub mod pm2;
pub mod portwarden;
pub mod supervisord;

pub use finder::Finder;
pub use lines::{Line, Lines, event_number, is_event};

/// How long a supervisor gets to stop its stack and exit (portwarden and supervisord wait up to
/// 10 s for a service that ignores SIGTERM; pw-fixture does not).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How often [`Running::await_settled`] looks.
const SETTLE_POLL: Duration = Duration::from_millis(20);
/// The lowest port handed to services: the stacks use 127.0.0.1 ports from here up, below the
/// kernel's ephemeral range, so no outgoing connection can take one between runs.
pub const FIRST_PORT: u16 = 20000;

/// How portwarden checks its services' health (supervisord and pm2 have no health checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HealthCheck {
    /// `GET /health` every interval (portwarden's `health_check_url`).
    Http,
    /// The service listens on its port (portwarden's default check; read from the socket
    /// table, no traffic).
    Listening,
}

/// One service of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan {
    /// Its name (`svc00`).
    pub name: String,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The service it waits for (healthy) before starting, when any: only portwarden orders
    /// starts by readiness.
    pub after: Option<String>,
}

impl ServicePlan {
    /// The address argument that tells it apart: `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)).to_string()
    }

    /// pw-fixture's arguments.
    pub fn args(&self) -> Vec<String> {
        vec!["--http".to_string(), self.address()]
    }
}

/// What to supervise, the same for every supervisor.
#[derive(Debug, Clone, PartialEq)]
pub struct StackPlan {
    /// The services, in order.
    pub services: Vec<ServicePlan>,
    /// The service program: the stack's own link to pw-fixture.
    pub program: PathBuf,
    /// portwarden's health check.
    pub check: HealthCheck,
    /// Its interval once a service is up.
    pub check_interval: Duration,
}

impl StackPlan {
    /// `ports.len()` independent services named `PREFIX00`, `PREFIX01`, ...
    pub fn flat(prefix: &str, ports: &[u16]) -> Vec<ServicePlan> {
        ports
            .iter()
            .enumerate()
            .map(|(i, &port)| ServicePlan {
                name: format!("{prefix}{i:02}"),
                port,
                after: None,
            })
            .collect()
    }

    /// A chain: each service waits for the previous one to be healthy.
    pub fn chain(prefix: &str, ports: &[u16]) -> Vec<ServicePlan> {
        let mut services = StackPlan::flat(prefix, ports);
        for i in 1..services.len() {
            services[i].after = Some(services[i - 1].name.clone());
        }
        services
    }

    /// The services' address arguments, in order.
    pub fn addresses(&self) -> Vec<String> {
        self.services.iter().map(ServicePlan::address).collect()
    }

    /// A service's whole command line for `sh`, quoted.
    pub fn shell_command(&self, service: &ServicePlan) -> String {
        std::iter::once(self.program.display().to_string())
            .chain(service.args())
            .map(|a| sh_quote(&a))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `word` as one `sh` word: unchanged when it is made of safe characters, else single-quoted.
///
/// ```
/// assert_eq!(pwbench::stacks::sh_quote("/tmp/a/pw-fixture"), "/tmp/a/pw-fixture");
/// assert_eq!(pwbench::stacks::sh_quote("it's"), r"'it'\''s'");
/// ```
pub fn sh_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A supervisor under test.
pub trait Supervisor: fmt::Debug {
    /// Its name in the report.
    fn name(&self) -> &'static str;
    /// Its config file's name in the stack's folder.
    fn config_name(&self) -> &'static str;
    /// The config that runs `plan`, whose folder is `dir`.
    fn render(&self, plan: &StackPlan, dir: &Path) -> String;
    /// Starts supervising `stack`; returns once the supervising process is known.
    fn launch(&self, stack: &Stack, timeout: Duration) -> Result<Launched, BenchError>;
    /// The command that stops every service and then the supervisor.
    fn shutdown(&self, stack: &Stack) -> CommandSpec;
    /// The command that shows the stack's status.
    fn status(&self, stack: &Stack) -> CommandSpec;
}

/// A stack's folder, with its config written and its link to pw-fixture made. Clones share
/// the folder, which is removed with the last of them: a stack started again and again (the
/// chain's runs) keeps its state between runs, as a developer's project does.
#[derive(Debug, Clone)]
pub struct Stack {
    dir: std::sync::Arc<tempfile::TempDir>,
    /// The config file.
    pub config: PathBuf,
    /// What it runs.
    pub plan: StackPlan,
}

impl Stack {
    /// Makes a folder for `supervisor` to run `services` (pw-fixture at `fixture`), and writes
    /// its config there.
    pub fn create(
        supervisor: &dyn Supervisor,
        services: Vec<ServicePlan>,
        check: HealthCheck,
        check_interval: Duration,
        fixture: &Path,
    ) -> Result<Stack, BenchError> {
        let write = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BenchError::Write { path, source }
        };
        let dir = tempfile::Builder::new()
            .prefix(&format!("pw-bench-{}-", supervisor.name()))
            .tempdir()
            .map_err(write(&std::env::temp_dir()))?;
        let bin = dir.path().join("bin");
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).map_err(write(&logs))?;
        std::fs::create_dir_all(&bin).map_err(write(&bin))?;
        let program = bin.join("pw-fixture");
        let target = std::fs::canonicalize(fixture).map_err(write(fixture))?;
        std::os::unix::fs::symlink(target, &program).map_err(write(&program))?;
        let plan = StackPlan {
            services,
            program,
            check,
            check_interval,
        };
        let owner = dir.path().join(OWNER_FILE);
        let me = procfs::identity(std::process::id())
            .map_or(String::new(), |id| format!("{} {}", id.pid, id.start_time));
        std::fs::write(&owner, me).map_err(write(&owner))?;
        let config = dir.path().join(supervisor.config_name());
        std::fs::write(&config, supervisor.render(&plan, dir.path())).map_err(write(&config))?;
        Ok(Stack {
            dir: std::sync::Arc::new(dir),
            config,
            plan,
        })
    }

    /// The stack's folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A started supervisor.
#[derive(Debug)]
pub struct Launched {
    /// The supervising process (pm2's God daemon, supervisord's python, portwarden's
    /// supervisor): whose CPU and memory are measured, whose children the services are.
    pub pid: u32,
    /// Its command line, for the report.
    pub command: String,
    /// When the command that started it was spawned.
    pub started: Instant,
    /// What it prints as events, when it is followed (portwarden's `up --json`).
    pub events: Option<Lines>,
    /// The starting command's run, when it returns (`up -d`, `pm2 start`).
    pub returned: Option<Sample>,
}

/// A running stack: stopped with [`Running::stop`], or killed when dropped.
#[derive(Debug)]
pub struct Running {
    supervisor: Box<dyn Supervisor>,
    /// Its folder, config and plan.
    pub stack: Stack,
    /// The started supervisor.
    pub launched: Launched,
    identity: Option<Identity>,
    /// Finds the services' processes.
    pub finder: Finder,
    stopped: bool,
}

impl Running {
    /// Starts `supervisor` on `stack`.
    pub fn start(
        supervisor: Box<dyn Supervisor>,
        stack: Stack,
        timeout: Duration,
    ) -> Result<Running, BenchError> {
        let launched = supervisor.launch(&stack, timeout)?;
        let finder = Finder::new(launched.pid, &stack.plan.program, &stack.plan.addresses());
        Ok(Running {
            identity: procfs::identity(launched.pid),
            supervisor,
            stack,
            launched,
            finder,
            stopped: false,
        })
    }

    /// The supervisor's name.
    pub fn name(&self) -> &'static str {
        self.supervisor.name()
    }

    /// The supervising process's pid.
    pub fn pid(&self) -> u32 {
        self.launched.pid
    }

    /// Whether the supervising process is still the one started.
    pub fn alive(&self) -> bool {
        self.identity.is_some_and(procfs::alive)
    }

    /// The command that shows the stack's status.
    pub fn status(&self) -> CommandSpec {
        self.supervisor.status(&self.stack)
    }

    /// Waits until every service runs and accepts connections on its port (and, when the
    /// supervisor's events are followed, it said `stack_ready`); returns when that was first
    /// seen.
    pub fn await_settled(&mut self, timeout: Duration) -> Result<Instant, BenchError> {
        let deadline = Instant::now() + timeout;
        let services = self.stack.plan.services.len();
        let mut missing = String::new();
        while Instant::now() < deadline {
            if !self.alive() {
                return Err(self.failed("start its stack", timeout, "it exited".into()));
            }
            let ready = match &self.launched.events {
                Some(events) => events
                    .find(0, |l| is_event(l, "stack_ready", None))
                    .is_some(),
                None => true,
            };
            let live = self.finder.live(services);
            let down: Vec<&str> = self
                .stack
                .plan
                .services
                .iter()
                .zip(&live)
                .filter(|(s, id)| id.is_none() || !accepts(s.port))
                .map(|(s, _)| s.name.as_str())
                .collect();
            if ready && down.is_empty() {
                return Ok(Instant::now());
            }
            missing = if down.is_empty() {
                "no stack_ready event".to_string()
            } else {
                format!("not up: {}", down.join(", "))
            };
            std::thread::sleep(SETTLE_POLL);
        }
        Err(self.failed("settle", timeout, missing))
    }

    fn failed(&self, stage: &'static str, timeout: Duration, detail: String) -> BenchError {
        let mut detail = detail;
        if let Some(events) = &self.launched.events {
            detail += &format!("; last lines: {:?}", events.tail(3));
        }
        BenchError::Stack {
            supervisor: self.supervisor.name(),
            stage,
            timeout,
            detail,
            dir: self.stack.dir().to_path_buf(),
        }
    }

    /// Stops the stack with the supervisor's own command, waits for the supervisor to exit
    /// (reaping it: pw-bench started or adopted it), and fails if any service process is left.
    pub fn stop(mut self, timeout: Duration) -> Result<Exit, BenchError> {
        self.stopped = true;
        let spec = self.supervisor.shutdown(&self.stack);
        let mut buffer = vec![0u8; 16 << 10];
        let shutdown = measure::run_once(&spec, timeout, true, &mut buffer);
        let exit = wait_gone(self.launched.pid, self.identity, timeout);
        let leftovers = finder::processes_running(&self.stack.plan.program);
        let result = match (&shutdown, exit, leftovers.is_empty()) {
            (Err(_), _, _) | (_, None, _) => {
                let why = match shutdown {
                    Err(err) => format!("`{}` failed: {err}", spec.label),
                    Ok((sample, output)) => format!(
                        "`{}` ({}) did not stop it within {timeout:?}: {}",
                        spec.label,
                        sample.exit,
                        String::from_utf8_lossy(&output.stderr).trim()
                    ),
                };
                Err(self.failed("stop", timeout, why))
            }
            (Ok(_), Some(_), false) => Err(BenchError::StackLeftovers {
                supervisor: self.supervisor.name(),
                pids: leftovers.clone(),
            }),
            (Ok(_), Some(exit), true) => Ok(exit),
        };
        self.kill_all();
        guard::remove_group(self.launched.pid as i32);
        result
    }

    /// SIGKILLs the supervisor's group and every process of the stack, and reaps what is ours.
    fn kill_all(&self) {
        sys::kill_group(self.launched.pid as i32);
        if self.alive() {
            sys::kill_pid(self.launched.pid as i32);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = finder::processes_running(&self.stack.plan.program);
            for &pid in &left {
                sys::kill_group(pid as i32);
                sys::kill_pid(pid as i32);
            }
            reap_zombie_children();
            if left.is_empty() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = sys::reap_pid(self.launched.pid);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.stopped {
            self.kill_all();
            guard::remove_group(self.launched.pid as i32);
        }
    }
}

/// The file in each stack's folder naming the pw-bench that made it (`PID START_TIME`).
const OWNER_FILE: &str = ".pw-bench-owner";

/// Removes the stack folders (`$TMPDIR/pw-bench-*`) of pw-bench runs that are gone: a run
/// ended by Ctrl-C or a signal kills every process it started, but a signal handler cannot
/// remove folders. Returns how many it removed.
pub fn sweep_stale_folders() -> usize {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with("pw-bench-") {
            continue;
        }
        let Ok(owner) = std::fs::read_to_string(entry.path().join(OWNER_FILE)) else {
            continue;
        };
        if owner_gone(&owner) && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Whether the process an owner file names (`PID START_TIME`) no longer runs.
pub fn owner_gone(owner: &str) -> bool {
    let mut fields = owner.split_whitespace().map(str::parse::<u64>);
    match (fields.next(), fields.next()) {
        (Some(Ok(pid)), Some(Ok(start_time))) => u32::try_from(pid)
            .is_ok_and(|pid| procfs::identity(pid) != Some(Identity { pid, start_time })),
        // Not ours to judge.
        _ => false,
    }
}

/// Whether something accepts connections on 127.0.0.1:`port`.
pub fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Waits up to `timeout` for `pid` (the process `identity`) to be gone, reaping it when it is
/// ours; how it ended when pw-bench reaped it, `Some(Exit::Code(0))` when someone else did
/// (nothing to know), `None` when it is still there.
pub fn wait_gone(pid: u32, identity: Option<Identity>, timeout: Duration) -> Option<Exit> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(exit)) = sys::reap_pid(pid) {
            return Some(exit);
        }
        let still = identity.is_some_and(|id| procfs::identity(pid) == Some(id));
        if !still {
            return Some(Exit::Code(0));
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Reaps every child of pw-bench that is a zombie: services and supervisors re-parented to it
/// (the subreaper) after their parent exited.
pub fn reap_zombie_children() {
    let me = std::process::id();
    for tid in procfs::tasks(me).unwrap_or_default() {
        for pid in procfs::task_children(me, tid).unwrap_or_default() {
            if procfs::stat(pid).is_ok_and(|s| s.state == 'Z') {
                let _ = sys::reap_pid(pid);
            }
        }
    }
}

/// `count` ports on 127.0.0.1 from [`FIRST_PORT`] up that a listener can bind now, below the
/// kernel's ephemeral range, skipping `taken`.
pub fn free_ports(count: usize, taken: &[u16]) -> Result<Vec<u16>, BenchError> {
    let ceiling = ephemeral_floor().unwrap_or(32768).max(FIRST_PORT + 1);
    let mut ports = Vec::with_capacity(count);
    for port in FIRST_PORT..ceiling {
        if ports.len() == count {
            break;
        }
        if !taken.contains(&port) && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            ports.push(port);
        }
    }
    if ports.len() < count {
        return Err(BenchError::Ports {
            wanted: count,
            found: ports.len(),
            from: FIRST_PORT,
            to: ceiling,
        });
    }
    Ok(ports)
}

/// The first port of the kernel's ephemeral range.
fn ephemeral_floor() -> Option<u16> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_waits_on_the_previous_service() {
        let chain = StackPlan::chain("lvl", &[20000, 20001, 20002]);
        let names: Vec<&str> = chain.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["lvl00", "lvl01", "lvl02"]);
        let after: Vec<Option<&str>> = chain.iter().map(|s| s.after.as_deref()).collect();
        assert_eq!(after, [None, Some("lvl00"), Some("lvl01")]);
        assert!(
            StackPlan::flat("svc", &[1, 2])
                .iter()
                .all(|s| s.after.is_none())
        );
    }

    #[test]
    fn a_service_is_an_http_fixture_on_its_port() {
        let s = &StackPlan::flat("svc", &[20007])[0];
        assert_eq!(s.args(), ["--http", "127.0.0.1:20007"]);
        let plan = StackPlan {
            services: vec![s.clone()],
            program: PathBuf::from("/tmp/a b/pw-fixture"),
            check: HealthCheck::Http,
            check_interval: Duration::from_secs(5),
        };
        assert_eq!(
            plan.shell_command(s),
            "'/tmp/a b/pw-fixture' --http 127.0.0.1:20007"
        );
    }

    #[test]
    fn a_folder_is_stale_once_its_owner_is_gone() {
        let me = procfs::identity(std::process::id()).unwrap();
        assert!(!owner_gone(&format!("{} {}", me.pid, me.start_time)));
        assert!(owner_gone(&format!("{} {}", me.pid, me.start_time + 1)));
        assert!(!owner_gone("garbage"));
    }

    #[test]
    fn free_ports_are_below_the_ephemeral_range_and_skip_the_taken() {
        let ports = free_ports(3, &[FIRST_PORT]).unwrap();
        assert_eq!(ports.len(), 3);
        assert!(!ports.contains(&FIRST_PORT));
        let floor = ephemeral_floor().unwrap_or(32768);
        assert!(ports.iter().all(|&p| p >= FIRST_PORT && p < floor));
    }
}
