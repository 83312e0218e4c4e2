//! `monitor` end to end: a real process takes a claimed port while the monitor watches; a
//! running service stops answering its health check and recovers; a memory threshold fires.

use std::time::Duration;

use serde_json::Value;
use testkit::{Fixture, pid_alive};

use crate::stack_support::{Foreground, Project, free_port, pid_of};

/// A project whose one service `api` is not running: its port `port`, one alternative.
fn idle_api(port: u16, alternative: u16, extra: &str) -> Project {
    Project::new(&format!(
        "services:\n  api:\n    port: {port}\n    alternative_ports: [{alternative}]\n    startup_command: 'true'\n{extra}"
    ))
}

/// `monitor --json -v --interval 200ms` in `project`, once it has started watching.
fn monitor(project: &Project, extra: &[&str]) -> Foreground {
    let mut args = vec![
        "monitor",
        "--json",
        "-v",
        "--interval",
        "200ms",
        "--for",
        "60s",
    ];
    args.extend_from_slice(extra);
    let mut monitor = Foreground::command(project, &args);
    monitor.wait_for("monitor_started");
    monitor
}

fn history(project: &Project) -> Vec<Value> {
    std::fs::read_to_string(project.path().join(".portwarden/history.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn of_service<'a>(service: &'a str, port: u16) -> impl Fn(&Value) -> bool + 'a {
    move |e| e["service"] == service && e["port"] == port
}

#[test]
fn a_process_taking_a_claimed_port_is_a_conflict_and_the_service_migrates() {
    let (port, alternative) = (free_port(), free_port());
    let project = idle_api(port, alternative, "");
    let mut monitor = monitor(&project, &[]);
    let holder = Fixture::spawn(&["--tcp", &format!("127.0.0.1:{port}")]);

    let conflict = monitor.wait_for_where("conflict", of_service("api", port));
    assert_eq!(conflict["holders"][0]["pid"], holder.pid());
    assert_eq!(conflict["level"], "high");
    assert!(conflict["at"].as_str().unwrap().ends_with('Z'));
    let migrated = monitor.wait_for_where("port_migrated", |e| e["service"] == "api");
    assert_eq!(
        (migrated["from"].as_u64(), migrated["to"].as_u64()),
        (Some(port.into()), Some(alternative.into()))
    );
    let resolved = monitor.wait_for_where("conflict_resolved", of_service("api", port));
    assert_eq!(resolved["how"], "migrated");
    // The next ticks do not report the same conflict again.
    let seen = monitor.wait_for("tick")["tick"].as_u64().unwrap();
    monitor.wait_for_where("tick", |t| t["tick"].as_u64() > Some(seen + 2));
    assert_eq!(monitor.of_type("conflict").len(), 1);

    let records = history(&project);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["decision"]["decision"], "migrate");
    assert_eq!(records[0]["outcome"], "done");
    let memory: Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join(".portwarden/ports.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(memory["ports"]["api"], alternative);
    let log =
        std::fs::read_to_string(project.path().join(".portwarden/logs/port_manager.log")).unwrap();
    assert!(log.contains("[monitor] conflict api port"), "{log}");
    assert!(log.contains("[monitor] migrated api"), "{log}");
    assert!(pid_alive(holder.pid()), "a migration stops nothing");
}

#[test]
fn without_auto_resolve_a_conflict_is_reported_and_its_end_too() {
    let (port, alternative) = (free_port(), free_port());
    let project = idle_api(
        port,
        alternative,
        "monitoring:\n  auto_resolve_conflicts: false\n",
    );
    let mut monitor = monitor(&project, &[]);
    let holder = Fixture::spawn(&["--tcp", &format!("127.0.0.1:{port}")]);
    monitor.wait_for_where("conflict", of_service("api", port));
    let seen = monitor.wait_for("tick")["tick"].as_u64().unwrap();
    monitor.wait_for_where("tick", |t| t["tick"].as_u64() > Some(seen + 2));
    drop(holder);
    let gone = monitor.wait_for_where("conflict_resolved", of_service("api", port));
    assert_eq!(gone["how"], "released");
    monitor.interrupt();
    let (status, stderr) = monitor.finish();
    assert!(
        status.success(),
        "Ctrl-C ends monitoring normally: {stderr}"
    );
    let stopped = monitor.of_type("monitor_stopped");
    assert_eq!(stopped[0]["reason"], "signal");
    for kind in ["port_migrated", "conflict_unresolved"] {
        assert!(
            monitor.of_type(kind).is_empty(),
            "{kind}: {:#?}",
            monitor.events
        );
    }
    assert!(
        history(&project).is_empty(),
        "nothing was resolved, nothing recorded"
    );
    assert!(!project.path().join(".portwarden/ports.json").exists());
}

#[test]
fn unattended_monitoring_never_stops_a_process_without_yes() {
    let (port, alternative) = (free_port(), free_port());
    let project = idle_api(
        port,
        alternative,
        "conflict_resolution:\n  strategy: aggressive\n",
    );
    let mut monitor = monitor(&project, &[]);
    let holder = Fixture::spawn(&["--tcp", &format!("127.0.0.1:{port}")]);
    monitor.wait_for_where("conflict", of_service("api", port));
    let unresolved = monitor.wait_for_where("conflict_unresolved", of_service("api", port));
    assert_eq!(unresolved["decision"], "terminate");
    let reason = unresolved["reason"].as_str().unwrap();
    assert!(
        reason.contains("--yes") && reason.contains(&holder.pid().to_string()),
        "{reason}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(pid_alive(holder.pid()), "not stopped without --yes");
    let records = history(&project);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["outcome"], "skipped");
    assert!(monitor.of_type("conflict_resolved").is_empty());
}

#[test]
fn with_yes_the_aggressive_strategy_stops_the_holder() {
    let (port, alternative) = (free_port(), free_port());
    let project = idle_api(
        port,
        alternative,
        "conflict_resolution:\n  strategy: aggressive\n  grace_period: 2s\n",
    );
    let mut monitor = monitor(&project, &["--yes"]);
    let mut holder = Fixture::spawn(&["--tcp", &format!("127.0.0.1:{port}")]);
    monitor.wait_for_where("conflict", of_service("api", port));
    let resolved = monitor.wait_for_where("conflict_resolved", of_service("api", port));
    assert_eq!(resolved["how"], "terminated");
    assert_eq!(resolved["pids"][0], holder.pid());
    assert!(
        holder.wait_exit(Duration::from_secs(10)).is_some(),
        "the holder was stopped"
    );
    let records = history(&project);
    assert_eq!(records[0]["decision"]["decision"], "terminate");
    assert_eq!(records[0]["outcome"], "done");
}

#[test]
fn a_running_service_that_stops_answering_is_reported_and_memory_alerts_fire() {
    let (api, alternative) = (free_port(), free_port());
    // The supervisor checks api once an hour after its start, so it does not restart it while
    // the test makes it hang; the monitor checks every 300 ms.
    let project = Project::new(&format!(
        r#"services:
  api:
    port: {api}
    alternative_ports: [{alternative}]
    startup_command: exec @DEMO_API@
    health_check_url: "http://127.0.0.1:{{port}}/health"
    health_check: {{interval: 1h, timeout: 500ms}}
monitoring:
  health_check_interval: 300ms
  memory_threshold_mb: 1
"#
    ));
    project.up_detached();
    let pid = pid_of(&project.status(), "api");
    let mut monitor = monitor(&project, &[]);

    let alert = monitor.wait_for_where("alert", |e| e["service"] == "api");
    assert_eq!(alert["metric"], "memory");
    assert!(alert["value"].as_f64().unwrap() > 1.0, "{alert}");
    assert_eq!(alert["threshold"].as_f64(), Some(1.0));

    let first = monitor.wait_for_where("health", |e| e["service"] == "api");
    assert_eq!(
        (&first["healthy"], &first["previous"]),
        (&Value::Bool(true), &Value::from("unknown"))
    );
    // SAFETY: kill(2) on the service this test's stack runs.
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    let sick = monitor.wait_for_where("health", |e| e["service"] == "api" && e["healthy"] == false);
    // SAFETY: as above.
    unsafe { libc::kill(pid as i32, libc::SIGCONT) };
    assert_eq!(sick["previous"], "healthy", "{sick}");
    assert!(sick["reason"].as_str().is_some_and(|r| !r.is_empty()));
    let well = monitor.wait_for_where("health", |e| {
        e["service"] == "api" && e["healthy"] == true && e["previous"] != "unknown"
    });
    assert_eq!(well["previous"], "unhealthy");
    assert!(well["latency_ms"].as_f64().is_some());
    assert!(well["check"].as_str().unwrap().contains(&api.to_string()));

    // Our own running service holds its port: that is no conflict.
    assert!(
        monitor.of_type("conflict").is_empty(),
        "{:#?}",
        monitor.events
    );
    assert!(
        monitor.of_type("monitor_started")[0]["supervisor"]
            .as_u64()
            .is_some(),
        "the monitor sees the running supervisor"
    );
}
