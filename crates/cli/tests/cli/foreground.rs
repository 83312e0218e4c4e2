//! `up` in the foreground: Ctrl-C, a dependency that never becomes healthy, a cycle, a taken
//! port, and the `--json` event stream.

use testkit::Fixture;

use crate::stack_support::{Foreground, Project, demo_stack, free_port, http_get, pid_of, service};
use crate::support::{stderr, stdout};

/// Every event type `up --json` documents (docs/control.md).
const DOCUMENTED: &[&str] = &[
    "stack_starting",
    "port_decision",
    "setup_started",
    "setup_finished",
    "spawned",
    "healthy",
    "unhealthy",
    "restarting",
    "port_migrated",
    "exited",
    "stopping",
    "stopped",
    "leftovers",
    "failed",
    "blocked",
    "output",
    "recovered",
    "stack_ready",
    "stack_failed",
    "stack_stopped",
    "warning",
];

#[test]
fn ctrl_c_stops_services_in_reverse_order_and_exits_zero() {
    let (project, ..) = demo_stack();
    let mut up = Foreground::start(&project, &[]);
    up.wait_for("stack_ready");
    let pids: Vec<u32> = up
        .of_type("spawned")
        .iter()
        .map(|e| e["pid"].as_u64().unwrap() as u32)
        .collect();
    assert_eq!(pids.len(), 3);
    // Another terminal sees it running in the foreground.
    assert_eq!(project.status()["supervisor"]["mode"], "foreground");

    up.interrupt();
    let (status, err) = up.finish();
    assert!(status.success(), "exit {status}: {err}");
    let stopping: Vec<&str> = up
        .of_type("stopping")
        .iter()
        .map(|e| e["service"].as_str().unwrap())
        .collect();
    let api_at = stopping.iter().position(|&s| s == "api").unwrap();
    for dependent in ["web", "worker"] {
        let at = stopping.iter().position(|&s| s == dependent).unwrap();
        assert!(at < api_at, "{dependent} stops before api: {stopping:?}");
    }
    assert_eq!(up.events.last().unwrap()["type"], "stack_stopped");
    for pid in pids {
        assert!(!testkit::pid_alive(pid), "pid {pid} survived");
    }
    assert!(project.processes().is_empty());
    // One JSON object per line, each of a documented type.
    for event in &up.events {
        let kind = event["type"].as_str().unwrap();
        assert!(DOCUMENTED.contains(&kind), "undocumented event {event}");
    }
    assert!(!up.of_type("port_decision").is_empty());
    assert!(!up.of_type("output").is_empty());
}

#[test]
fn a_dependency_that_never_becomes_healthy_keeps_its_dependents_from_starting() {
    let project = Project::new(&format!(
        r#"services:
  db:
    port: {}
    startup_command: exec @DEMO_API@
    health_check:
      url: "http://127.0.0.1:{{port}}/health"
      start_period: 1s
    env:
      DEMO_READY_AFTER_MS: "600000"
    restart: never
  app:
    port: {}
    startup_command: exec @DEMO_API@
    depends_on: [db]
"#,
        free_port(),
        free_port()
    ));
    let mut up = Foreground::start(&project, &[]);
    let (status, err) = up.finish();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("the stack did not start: db:"), "{err}");
    assert!(err.contains("answered 503"), "{err}");
    assert!(
        up.of_type("spawned").iter().all(|e| e["service"] == "db"),
        "app must never start: {:#?}",
        up.events
    );
    assert_eq!(up.of_type("blocked")[0]["service"], "app");
    assert!(project.processes().is_empty());

    // For people: a line says why app did not start.
    let out = project.run(&["up"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("app  not started: dependency `db` failed"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_cycle_stops_check_and_up_naming_it() {
    let project = Project::new(
        "services:
  a:
    startup_command: exec sleep 60
    depends_on: [b]
  b:
    startup_command: exec sleep 60
    depends_on: [a]
",
    );
    let check = project.run(&["check"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        stdout(&check).contains("dependency cycle: a -> b -> a"),
        "{}",
        stdout(&check)
    );
    let up = project.run(&["up"]);
    assert!(!up.status.success());
    assert!(
        stderr(&up).contains("dependency cycle: a -> b -> a"),
        "{}",
        stderr(&up)
    );
    assert!(project.processes().is_empty());
}

#[test]
fn a_taken_port_moves_the_service_and_its_dependent_gets_the_new_one() {
    let squatter = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    let taken = squatter.ready.tcp_port();
    let (alt, web) = (free_port(), free_port());
    let project = Project::new(&crate::stack_support::demo_yaml(taken, alt, web));
    let mut up = Foreground::start(&project, &[]);
    up.wait_for("stack_ready");
    let decision = up
        .of_type("port_decision")
        .into_iter()
        .find(|d| d["service"] == "api")
        .cloned()
        .unwrap();
    assert_eq!(decision["decision"], "migrate", "{decision:#}");
    assert_eq!(decision["resolved_port"], alt);
    assert!(
        decision["holders"][0]
            .as_str()
            .unwrap()
            .contains(&format!("pid {}", squatter.pid())),
        "{decision:#}"
    );

    let status = project.status();
    assert_eq!(service(&status, "api")["port"], alt);
    assert_eq!(service(&status, "api")["configured_port"], taken);
    // web got the new port, in its environment and in what it answers.
    let web_env = crate::stack_support::environ(pid_of(&status, "web"));
    assert!(
        web_env.contains(&format!("API_URL=http://127.0.0.1:{alt}/")),
        "{web_env:?}"
    );
    assert!(web_env.contains(&format!("PORTWARDEN_API_PORT={alt}")));
    let page = http_get(web, "/").unwrap();
    assert!(
        page.contains(&format!("upstream http://127.0.0.1:{alt}/ answered 200")),
        "{page}"
    );
    // The squatter was left alone, and the move is in the history.
    assert!(testkit::pid_alive(squatter.pid()));
    let history =
        std::fs::read_to_string(project.path().join(".portwarden/history.jsonl")).unwrap();
    assert!(history.contains("\"service\":\"api\""), "{history}");

    up.interrupt();
    let (status, err) = up.finish();
    assert!(status.success(), "{err}");
}

#[test]
fn the_demo_stack_starts_in_order_within_seconds() {
    // The README's scenario on free ports: api healthy before web starts, URLs shown.
    let (project, _api, _alt, web) = demo_stack();
    let started = std::time::Instant::now();
    let out = project.up_detached();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let text = stdout(&out);
    let line = |service: &str, what: &str| {
        text.lines()
            .position(|l| l.starts_with(service) && l.contains(what) && !l.contains(" | "))
            .unwrap_or_else(|| panic!("no `{service} {what}` line in:\n{text}"))
    };
    assert!(line("api", "healthy") < line("web", "started"), "{text}");
    assert!(line("api", "healthy") < line("worker", "started"), "{text}");
    assert!(text.contains(&format!("http://127.0.0.1:{web}")), "{text}");
}

#[test]
fn a_second_ctrl_c_kills_what_ignores_the_first() {
    // It listens only once it ignores SIGTERM: healthy means stubborn.
    let project = Project::new(&format!(
        "services:
  stubborn:
    port: {}
    startup_command: exec @FIXTURE@ --ignore-term --tcp 127.0.0.1:{{port}}
    stop_timeout: 60s
",
        free_port()
    ));
    let mut up = Foreground::start(&project, &[]);
    up.wait_for("stack_ready");
    let pid = up.of_type("spawned")[0]["pid"].as_u64().unwrap() as u32;
    up.interrupt();
    up.wait_for("stopping");
    assert!(testkit::pid_alive(pid), "it ignores SIGTERM");
    let started = std::time::Instant::now();
    up.interrupt();
    let (status, err) = up.finish();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the second Ctrl-C does not wait for the 60 s stop timeout"
    );
    assert!(status.success(), "{err}");
    assert!(!testkit::pid_alive(pid));
    let exited = up.of_type("exited");
    assert_eq!(exited[0]["signal"], 9, "{exited:?}");
}

#[test]
fn stopping_another_process_needs_yes_without_a_terminal() {
    let holder = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    let port = holder.ready.tcp_port();
    let project = Project::new(&format!(
        "conflict_resolution:
  strategy: aggressive
services:
  api:
    port: {port}
    startup_command: exec @DEMO_API@
"
    ));
    // No terminal to ask on: refused, nothing stopped, nothing started.
    let out = project.run(&["up", "-d"]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(&format!("stop pid {}", holder.pid())),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    assert!(testkit::pid_alive(holder.pid()));
    assert!(project.processes().is_empty());

    // With --yes the holder is stopped and api gets its own port.
    let out = project.run(&["up", "-d", "--yes"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(!testkit::pid_alive(holder.pid()));
    assert_eq!(service(&project.status(), "api")["port"], port);
}
