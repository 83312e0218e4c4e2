//! `resolve`, `cleanup` and `kill-port` end to end: real holders, real signals, the audit trail.

use std::time::Duration;

use tempfile::TempDir;
use testkit::{Fixture, pid_alive, wait_until};

use crate::support::{json, portwarden, run, stderr, stdout, write_config};

/// A free port below the ephemeral range (where a port manager's users put services), found by
/// binding: ports that bind now on 127.0.0.1 and 0.0.0.0.
fn free_port_pair() -> (u16, u16) {
    for base in (20000u16..30000).step_by(37) {
        let ok = |p: u16| std::net::TcpListener::bind(("0.0.0.0", p)).is_ok();
        if ok(base) && ok(base + 1) {
            return (base, base + 1);
        }
    }
    panic!("no free pair of ports between 20000 and 30000");
}

fn api_config(dir: &std::path::Path, port: u16, alternative: u16, extra: &str) {
    write_config(
        dir,
        &format!(
            "services:\n  api:\n    port: {port}\n    alternative_ports: [{alternative}]\n    process_patterns: ['pw-fixture --tcp 127.0.0.1:{port}']\n    startup_command: 'true'\n{extra}"
        ),
    );
}

#[test]
fn resolve_dry_run_changes_nothing_and_records_nothing() {
    let dir = TempDir::new().unwrap();
    let holder = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    let (_, alt) = free_port_pair();
    api_config(
        dir.path(),
        holder.ready.tcp_port(),
        alt,
        "conflict_resolution:\n  strategy: aggressive\n",
    );
    let out = run(portwarden(dir.path()).args(["resolve", "--dry-run", "--json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(
        doc["plan"]["entries"][0]["decision"]["decision"],
        "terminate"
    );
    assert!(doc["report"].is_null());
    assert!(pid_alive(holder.pid()), "a dry run signals nothing");
    assert!(
        !dir.path().join(".portwarden/history.jsonl").exists(),
        "a dry run records nothing"
    );
}

#[test]
fn resolve_migrates_away_from_an_external_holder_and_records_it() {
    let dir = TempDir::new().unwrap();
    let holder = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    let (_, alt) = free_port_pair();
    let port = holder.ready.tcp_port();
    // The holder's command line does not match api's pattern (other port): it is external.
    api_config(dir.path(), port, alt, "");
    let out = run(portwarden(dir.path()).args(["--resolve", "--json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["report"]["migrations"][0]["to"], alt);
    assert!(
        pid_alive(holder.pid()),
        "intelligent preserves external processes"
    );
    let history = std::fs::read_to_string(dir.path().join(".portwarden/history.jsonl")).unwrap();
    let record: serde_json::Value = serde_json::from_str(history.lines().next().unwrap()).unwrap();
    assert_eq!(record["service"], "api");
    assert_eq!(record["decision"]["decision"], "migrate");
    assert_eq!(record["outcome"], "done");
    let memory = std::fs::read_to_string(dir.path().join(".portwarden/ports.json")).unwrap();
    assert!(
        memory.contains(&alt.to_string()),
        "the migration is remembered: {memory}"
    );
    let log =
        std::fs::read_to_string(dir.path().join(".portwarden/logs/port_manager.log")).unwrap();
    assert!(log.contains("migrate"), "{log}");
}

#[test]
fn destructive_plans_need_yes_without_a_terminal() {
    let dir = TempDir::new().unwrap();
    let holder = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    let (_, alt) = free_port_pair();
    api_config(dir.path(), holder.ready.tcp_port(), alt, "");
    let out = run(portwarden(dir.path()).args(["resolve", "--strategy", "aggressive"]));
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("--yes"));
    assert!(pid_alive(holder.pid()));
    let out = run(portwarden(dir.path()).args(["resolve", "--strategy", "aggressive", "--yes"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(wait_until(Duration::from_secs(5), || !pid_alive(
        holder.pid()
    )));
}

#[test]
fn kill_port_touches_only_the_exact_port_and_kills_a_term_ignoring_holder() {
    let dir = TempDir::new().unwrap();
    // Find P and a port whose digits start with P (P*10+d), both bindable.
    let (mut target, mut lookalike) = (None, None);
    for p in (2000u16..6500).step_by(53) {
        let q = p * 10 + 1;
        if let (Ok(a), Ok(b)) = (
            std::net::TcpListener::bind(("127.0.0.1", p)),
            std::net::TcpListener::bind(("127.0.0.1", q)),
        ) {
            drop((a, b));
            target = Some(Fixture::spawn(&[
                "--tcp",
                &format!("127.0.0.1:{p}"),
                "--ignore-term",
            ]));
            lookalike = Some(Fixture::spawn(&["--tcp", &format!("127.0.0.1:{q}")]));
            break;
        }
    }
    let (Some(target), Some(lookalike)) = (target, lookalike) else {
        println!("skipped: no bindable pair P, P*10+1 found");
        return;
    };
    let port = target.ready.tcp_port();
    let out = run(portwarden(dir.path()).args([
        "kill-port",
        &port.to_string(),
        "--grace",
        "300ms",
        "--yes",
        "--json",
    ]));
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let doc = json(&out);
    let report = &doc["ports"][0]["report"];
    assert_eq!(
        report["entries"][0]["verification"]["free"], true,
        "{report}"
    );
    assert_eq!(
        report["entries"][0]["actions"][0]["escalated"], true,
        "it ignored SIGTERM"
    );
    assert!(wait_until(Duration::from_secs(5), || !pid_alive(
        target.pid()
    )));
    assert!(
        pid_alive(lookalike.pid()),
        "port {} was not touched",
        lookalike.ready.tcp_port()
    );
}

#[test]
fn kill_port_never_targets_a_client_connected_to_the_port() {
    let dir = TempDir::new().unwrap();
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let client = Fixture::spawn(&["--connect", &format!("127.0.0.1:{port}")]);
    // The server is this test process: an ancestor... no, the test itself is portwarden's
    // parent, so it is refused; the client is never even a candidate.
    let out =
        run(portwarden(dir.path()).args(["kill-port", &port.to_string(), "--dry-run", "--json"]));
    let doc = json(&out);
    let text = doc.to_string();
    assert!(
        !text.contains(&format!("\"pid\":{}", client.pid())),
        "{text}"
    );
    assert!(pid_alive(client.pid()));
    drop(server);
}

#[test]
fn kill_port_refuses_protected_targets_with_a_reason_and_signals_nothing() {
    let dir = TempDir::new().unwrap();
    // This test process is portwarden's parent: never a target.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = run(portwarden(dir.path()).args(["kill-port", &port.to_string(), "--yes"]));
    assert_eq!(out.status.code(), Some(5), "{}", stdout(&out));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("ancestor"), "{text}");
    // Still listening: accept works.
    std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();

    // A protected name from the config is refused too.
    let f = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    write_config(
        dir.path(),
        "conflict_resolution:\n  protected_processes: [pw-fixture]\nservices: {}\n",
    );
    let out =
        run(portwarden(dir.path()).args(["kill-port", &f.ready.tcp_port().to_string(), "--yes"]));
    assert_eq!(out.status.code(), Some(5));
    assert!(format!("{}{}", stdout(&out), stderr(&out)).contains("protected"));
    assert!(pid_alive(f.pid()));
}

#[test]
fn kill_port_ends_a_parent_and_the_child_sharing_its_listener() {
    let dir = TempDir::new().unwrap();
    let f = Fixture::spawn(&["--tcp", "127.0.0.1:0", "--fork-child"]);
    let child = f.ready.child.unwrap();
    let out =
        run(portwarden(dir.path()).args(["--kill-port", &f.ready.tcp_port().to_string(), "--yes"]));
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(wait_until(Duration::from_secs(5), || !pid_alive(f.pid())
        && !pid_alive(child)));
}

#[test]
fn cleanup_ends_our_strays_and_leaves_others() {
    let dir = TempDir::new().unwrap();
    let (port, alt) = free_port_pair();
    let stray = Fixture::spawn(&["--tcp", &format!("127.0.0.1:{port}")]);
    let other = Fixture::spawn(&["--tcp", &format!("127.0.0.1:{alt}")]);
    api_config(dir.path(), port, alt, "");
    let out = run(portwarden(dir.path()).args(["cleanup", "--dry-run"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&stray.pid().to_string()));
    assert!(pid_alive(stray.pid()));
    let out = run(portwarden(dir.path()).args(["--cleanup", "--yes"]));
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(wait_until(Duration::from_secs(5), || !pid_alive(
        stray.pid()
    )));
    assert!(
        pid_alive(other.pid()),
        "a process that is not ours is left alone"
    );
}

/// Runs `portwarden ARGS` on a pseudo-terminal (util-linux `script`), typing `answer`; returns
/// the exit code and what the terminal showed. `None` when `script` is not installed.
#[allow(clippy::print_stdout, reason = "a skipped test says why")]
fn on_a_terminal(dir: &std::path::Path, args: &str, answer: &str) -> Option<(Option<i32>, String)> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let command = format!("{} {args}", crate::support::BIN);
    let mut child = match Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            println!("skipped: util-linux `script` is not available ({e})");
            return None;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let mut status = None;
    let exited = wait_until(Duration::from_secs(20), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    if !exited {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    Some((
        status.and_then(|s| s.code()),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

#[test]
fn on_a_terminal_a_destructive_plan_asks_and_no_means_nothing_is_signalled() {
    let dir = TempDir::new().unwrap();
    let holder = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    let args = format!("kill-port {} --grace 300ms", holder.ready.tcp_port());
    let Some((code, screen)) = on_a_terminal(dir.path(), &args, "n\n") else {
        return;
    };
    assert!(screen.contains("[y/N]"), "{screen}");
    assert_eq!(code, Some(5), "{screen}");
    assert!(pid_alive(holder.pid()), "answering no signals nothing");

    let (code, screen) = on_a_terminal(dir.path(), &args, "y\n").unwrap();
    assert_eq!(code, Some(0), "{screen}");
    assert!(wait_until(Duration::from_secs(5), || !pid_alive(
        holder.pid()
    )));
}
