//! A supervisor killed with SIGKILL, then started again on the same state file: the second
//! one stops what the first left running before it starts anything, so nothing runs twice.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};

use crate::common::*;

/// A `supervise` example process whose event lines arrive on a channel.
struct Runner {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Runner {
    /// Runs this test binary again, with only [`runner`] selected and told to supervise.
    fn start(dir: &std::path::Path, mark: &str) -> Runner {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "recovery::runner",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(RUNNER_DIR, dir)
            .env("PW_RECOVERY_MARK", mark)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // The harness may print `test recovery::runner ... ` before the first line.
                if let Some(at) = line.find("EVENT ") {
                    let _ = tx.send(line[at + "EVENT ".len()..].to_owned());
                }
            }
        });
        let stdin = child.stdin.take();
        Runner {
            child,
            stdin,
            lines,
        }
    }

    /// Reads event lines until one holds `needle`; returns all read.
    fn wait_for(&self, needle: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(LONG) {
                Ok(line) => {
                    let done = line.contains(needle);
                    seen.push(line);
                    if done {
                        return seen;
                    }
                }
                Err(_) => panic!("no {needle} within {LONG:?}; seen {seen:#?}"),
            }
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Tells [`runner`] to run a supervisor, with its folder.
const RUNNER_DIR: &str = "PW_RECOVERY_RUNNER_DIR";

/// Not a test by itself: the body of the supervisor process that
/// [`a_supervisor_killed_with_sigkill_never_leaves_services_running_twice`] starts (and
/// kills). Without its variable it does nothing.
#[test]
fn runner() {
    use supervisor::{Condition, ServiceSpec, Stack, Supervisor, SupervisorOptions};
    let Some(dir) = std::env::var_os(RUNNER_DIR).map(std::path::PathBuf::from) else {
        return;
    };
    let fixture = fixture();
    let stack = Stack::new(vec![
        ServiceSpec::new("db", format!("exec {fixture} --tcp 127.0.0.1:{{port}}")).port(0),
        ServiceSpec::new("api", format!("exec {fixture} --tcp 127.0.0.1:{{port}}"))
            .port(0)
            .depends_on("db", Condition::Healthy),
    ])
    .unwrap();
    let handle = Supervisor::start(
        stack,
        SupervisorOptions {
            log_dir: dir.join("logs"),
            state_file: Some(dir.join("state.json")),
            ..SupervisorOptions::default()
        },
    )
    .unwrap();
    let events = handle.events();
    let stopper = handle.clone();
    std::thread::spawn(move || {
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
        stopper.shutdown();
    });
    for event in events.iter() {
        println!("EVENT {}", serde_json::to_string(&event).unwrap());
        let _ = std::io::stdout().flush();
    }
    handle.wait().unwrap();
    std::process::exit(0);
}

/// Live processes of this test's services, by service name.
fn service_pids(mark: &str, service: &str) -> Vec<u32> {
    let mark = format!("PW_RECOVERY_MARK={mark}");
    let name = format!("PORTWARDEN_SERVICE={service}");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| testkit::pid_alive(pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                let vars: Vec<&[u8]> = env.split(|&b| b == 0).collect();
                vars.contains(&mark.as_bytes()) && vars.contains(&name.as_bytes())
            })
        })
        .collect()
}

/// Kills every process of this test on drop, whatever happened.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for service in ["db", "api"] {
            for pid in service_pids(&self.0, service) {
                testkit::kill_pid(pid);
            }
        }
    }
}

#[test]
fn a_supervisor_killed_with_sigkill_never_leaves_services_running_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mark = format!("{}-{:?}", std::process::id(), std::time::Instant::now());
    let _cleanup = Cleanup(mark.clone());

    let mut first = Runner::start(dir.path(), &mark);
    first.wait_for("\"stack_ready\"");
    let (db, api) = (service_pids(&mark, "db"), service_pids(&mark, "api"));
    assert_eq!((db.len(), api.len()), (1, 1), "one of each");

    // SIGKILL: no chance to clean up. The services live on.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert_eq!(service_pids(&mark, "db"), db);
    assert_eq!(service_pids(&mark, "api"), api);

    let mut second = Runner::start(dir.path(), &mark);
    let lines = second.wait_for("\"stack_ready\"");
    let recovered: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("\"recovered\""))
        .collect();
    assert_eq!(recovered.len(), 2, "{lines:#?}");
    // Exactly one copy of each service, and not the old ones.
    let (db2, api2) = (service_pids(&mark, "db"), service_pids(&mark, "api"));
    assert_eq!((db2.len(), api2.len()), (1, 1), "db {db2:?} api {api2:?}");
    assert!(!db2.contains(&db[0]) && !api2.contains(&api[0]));
    assert!(!testkit::pid_alive(db[0]) && !testkit::pid_alive(api[0]));

    // Closing its input shuts the second one down cleanly, state file and all.
    drop(second.stdin.take());
    second.wait_for("\"stack_stopped\"");
    let status = testkit::wait_until(LONG, || second.child.try_wait().ok().flatten().is_some());
    assert!(status, "the supervisor did not exit");
    assert!(service_pids(&mark, "db").is_empty() && service_pids(&mark, "api").is_empty());
    assert!(!dir.path().join("state.json").exists());
}
