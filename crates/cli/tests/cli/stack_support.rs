//! Helpers for the stack tests: a project folder whose processes all die with it, bounded
//! runs of the binary, a foreground `up --json` to follow, and ports that are free.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tempfile::TempDir;

use crate::support::{portwarden, stderr, stdout};

/// The longest any one command may take in these tests.
pub const LIMIT: Duration = Duration::from_secs(60);

/// The environment variable that marks every process of one test's project (services inherit
/// it from the supervisor), so that a guard can find and kill them all.
const MARKER: &str = "PWTEST_PROJECT";

/// A project folder with a `portwarden.yaml`. Dropping it stops the stack (`portwarden
/// stop`) and then kills every process still carrying its marker (supervisor and services),
/// whatever the test did.
#[derive(Debug)]
pub struct Project {
    pub dir: TempDir,
    pub config: PathBuf,
    marker: String,
}

impl Project {
    /// A project with this config; `@DEMO_API@`, `@DEMO_WORKER@` and `@FIXTURE@` stand for
    /// the demo binaries' paths.
    pub fn new(yaml: &str) -> Project {
        let dir = TempDir::new().unwrap();
        let yaml = yaml
            .replace(
                "@DEMO_API@",
                &testkit::bin_path("demo-api").display().to_string(),
            )
            .replace(
                "@DEMO_WORKER@",
                &testkit::bin_path("demo-worker").display().to_string(),
            )
            .replace("@FIXTURE@", &testkit::fixture_path().display().to_string());
        let config = crate::support::write_config(dir.path(), &yaml);
        let marker = format!("{}", dir.path().display());
        Project {
            dir,
            config,
            marker,
        }
    }

    /// The project folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `portwarden` in the project folder, its processes marked.
    pub fn pw(&self) -> Command {
        let mut cmd = portwarden(self.path());
        cmd.env(MARKER, &self.marker);
        cmd
    }

    /// Runs `portwarden ARGS` with the time limit.
    pub fn run(&self, args: &[&str]) -> Output {
        run_limited(self.pw().args(args), LIMIT)
    }

    /// `status --json`, which must succeed.
    pub fn status(&self) -> Value {
        let out = self.run(&["status", "--json"]);
        assert!(
            out.status.success(),
            "status failed: {}\n{}",
            stdout(&out),
            stderr(&out)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `up -d`, which must succeed.
    pub fn up_detached(&self) -> Output {
        let out = self.run(&["up", "-d"]);
        assert!(
            out.status.success(),
            "up -d failed ({}):\n{}\n{}\nstartup log:\n{}",
            out.status,
            stdout(&out),
            stderr(&out),
            std::fs::read_to_string(self.path().join(".portwarden/logs/fullstack_startup.log"))
                .unwrap_or_default()
        );
        out
    }

    /// Live (not zombie) processes of this project that run `service`.
    pub fn live_copies(&self, service: &str) -> Vec<u32> {
        marked_processes(&self.marker)
            .into_iter()
            .filter(|&pid| {
                environ(pid)
                    .iter()
                    .any(|v| v == &format!("PORTWARDEN_SERVICE={service}"))
            })
            .collect()
    }

    /// Every live process of this project.
    pub fn processes(&self) -> Vec<u32> {
        marked_processes(&self.marker)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // The polite way first, bounded; then no mercy for anything left.
        let mut stop = self.pw();
        stop.arg("stop");
        let _ = try_run_limited(&mut stop, Duration::from_secs(30));
        for _ in 0..3 {
            let left = marked_processes(&self.marker);
            if left.is_empty() {
                break;
            }
            for pid in left {
                // Whole groups: services lead their own.
                // SAFETY: kill(2) on processes this test started (they carry its marker).
                unsafe {
                    libc::kill(-(pid as i32), libc::SIGKILL);
                    libc::kill(pid as i32, libc::SIGKILL);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The environment of `pid`, one `KEY=value` per entry.
pub fn environ(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|bytes| {
            bytes
                .split(|&b| b == 0)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn marked_processes(marker: &str) -> Vec<u32> {
    let wanted = format!("{MARKER}={marker}");
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me && testkit::pid_alive(pid))
        .filter(|&pid| environ(pid).iter().any(|v| v == &wanted))
        .collect()
}

/// Runs `cmd` (stdin closed, output captured), killing it after `limit`.
pub fn run_limited(cmd: &mut Command, limit: Duration) -> Output {
    try_run_limited(cmd, limit).unwrap_or_else(|partial| {
        panic!(
            "{cmd:?} did not finish within {limit:?}:\n{}\n{}",
            stdout(&partial),
            stderr(&partial)
        )
    })
}

/// Like [`run_limited`]; `Err` with what it printed when it had to be killed.
pub fn try_run_limited(cmd: &mut Command, limit: Duration) -> Result<Output, Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let collect =
        |rx: Receiver<Vec<u8>>| rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
    match status {
        Some(status) => Ok(Output {
            status,
            stdout: collect(out),
            stderr: collect(err),
        }),
        None => Err(Output {
            status: ExitStatus::default(),
            stdout: collect(out),
            stderr: collect(err),
        }),
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = tx.send(bytes);
    });
    rx
}

/// A TCP port free on loopback and the wildcard address, below the ephemeral range (where
/// outgoing connections, health checks among them, could take it meanwhile).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        ^ (u64::from(std::process::id()) << 17);
    let mut given = GIVEN.lock().unwrap();
    loop {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let port = 20_000 + (seed % 12_000) as u16;
        if given.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("0.0.0.0", port)).is_ok()
        {
            given.insert(port);
            return port;
        }
    }
}

/// Whether a server could bind `port` on loopback now.
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// The service `name` in a `status --json` document.
pub fn service<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {status:#}"))
}

/// The pid of `name` in a `status --json` document.
pub fn pid_of(status: &Value, name: &str) -> u32 {
    service(status, name)["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} has no pid: {status:#}")) as u32
}

/// A foreground `portwarden up --json` (or any command printing JSON lines, such as
/// `monitor --json`) whose lines can be awaited.
pub struct Foreground {
    pub child: Child,
    lines: Receiver<String>,
    /// Every event read so far.
    pub events: Vec<Value>,
    stderr: Receiver<Vec<u8>>,
}

impl Foreground {
    /// Starts `portwarden up --json ARGS` in `project`, in a process group of its own.
    pub fn start(project: &Project, args: &[&str]) -> Foreground {
        let mut all = vec!["up", "--json"];
        all.extend_from_slice(args);
        Foreground::command(project, &all)
    }

    /// Starts `portwarden ARGS` (which prints JSON lines) in `project`, in a process group of
    /// its own.
    pub fn command(project: &Project, args: &[&str]) -> Foreground {
        use std::os::unix::process::CommandExt;
        let mut child = project
            .pw()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let (tx, lines) = channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = drain(child.stderr.take().unwrap());
        Foreground {
            child,
            lines,
            events: Vec::new(),
            stderr,
        }
    }

    fn read_one(&mut self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = self.lines.recv_timeout(left).ok()?;
        let event: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        self.events.push(event.clone());
        Some(event)
    }

    /// Reads events until one of type `kind` (returned).
    pub fn wait_for(&mut self, kind: &str) -> Value {
        self.read_until(kind, |_| true)
    }

    /// The first event of type `kind` for which `wanted` holds: one read earlier, or the next
    /// such one.
    pub fn wait_for_where(&mut self, kind: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(event) = self.events.iter().find(|e| e["type"] == kind && wanted(e)) {
            return event.clone();
        }
        self.read_until(kind, wanted)
    }

    fn read_until(&mut self, kind: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + LIMIT;
        loop {
            match self.read_one(deadline) {
                Some(event) if event["type"] == kind && wanted(&event) => return event,
                Some(_) => {}
                None => panic!(
                    "no such `{kind}` event within {LIMIT:?}; events so far:\n{:#?}",
                    self.events
                ),
            }
        }
    }

    /// Sends SIGINT, as Ctrl-C in its terminal would.
    pub fn interrupt(&self) {
        // SAFETY: kill(2) on the child we started.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
    }

    /// Waits for the exit, reading the remaining events; returns the status and stderr.
    pub fn finish(&mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + LIMIT;
        while self.read_one(deadline).is_some() {}
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let err = self
                    .stderr
                    .recv_timeout(Duration::from_secs(5))
                    .unwrap_or_default();
                return (status, String::from_utf8_lossy(&err).into_owned());
            }
            assert!(
                Instant::now() < deadline,
                "portwarden up did not exit in time"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The events of type `kind` read so far.
    pub fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["type"] == kind).collect()
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on the child we started (and its group, which it leads).
            unsafe {
                libc::kill(self.child.id() as i32, libc::SIGKILL);
            }
            let _ = self.child.wait();
        }
    }
}

/// An HTTP GET of `http://127.0.0.1:PORT/PATH`: the body, or `None`.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    Some(text)
}

/// The demo stack of the tests: api (with an alternative), web depending on it and getting
/// its port, worker polling it. Ports are picked free.
pub fn demo_stack() -> (Project, u16, u16, u16) {
    let (api, alt, web) = (free_port(), free_port(), free_port());
    let project = Project::new(&demo_yaml(api, alt, web));
    (project, api, alt, web)
}

/// The YAML of [`demo_stack`].
pub fn demo_yaml(api: u16, alt: u16, web: u16) -> String {
    format!(
        r#"services:
  api:
    port: {api}
    alternative_ports: [{alt}]
    startup_command: exec @DEMO_API@
    health_check_url: "http://127.0.0.1:{{port}}/health"
    stop_timeout: 5s
  web:
    port: {web}
    startup_command: exec @DEMO_API@
    health_check_url: "http://127.0.0.1:{{port}}/health"
    env:
      API_URL: "http://127.0.0.1:{{services.api.port}}/"
    depends_on:
      api:
        condition: healthy
  worker:
    startup_command: exec @DEMO_WORKER@
    env:
      API_URL: "http://127.0.0.1:{{services.api.port}}/health"
      # Seldom: a service writing to the pipe of a supervisor killed with SIGKILL dies of
      # SIGPIPE, and the recovery test counts what the killed supervisor left running.
      DEMO_INTERVAL_MS: "60000"
    depends_on: [api]
"#
    )
}
