//! `up -d`, then other processes play the other terminals: status, stop one service,
//! restart it, read its logs, stop the stack.

use std::time::Duration;

use crate::stack_support::{demo_stack, pid_of, port_is_free, service};
use crate::support::{stderr, stdout};

#[test]
fn a_detached_stack_is_controlled_from_other_processes() {
    let (project, api_port, _alt, web_port) = demo_stack();
    let out = project.up_detached();
    let text = stdout(&out);
    assert!(text.contains("stack ready"), "{text}");
    assert!(
        text.contains(&format!("http://127.0.0.1:{api_port}")),
        "the URL is shown when healthy:\n{text}"
    );

    // status --json from another process.
    let status = project.status();
    assert_eq!(status["schema"], "portwarden.status/1");
    assert_eq!(status["running"], true);
    assert_eq!(status["stack"], "ready");
    assert_eq!(status["supervisor"]["mode"], "detached");
    for name in ["api", "web", "worker"] {
        let s = service(&status, name);
        assert_eq!(s["state"], "running", "{s:#}");
        assert!(testkit::pid_alive(pid_of(&status, name)));
    }
    assert_eq!(service(&status, "api")["port"], api_port);
    assert_eq!(service(&status, "api")["health"], "healthy");
    assert_eq!(
        service(&status, "web")["url"],
        format!("http://127.0.0.1:{web_port}")
    );
    let (api, web, worker) = (
        pid_of(&status, "api"),
        pid_of(&status, "web"),
        pid_of(&status, "worker"),
    );

    // stop api: api gone and its port free; the rest untouched.
    let out = project.run(&["stop", "api"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!("port {api_port} is free")),
        "{}",
        stdout(&out)
    );
    assert!(!testkit::pid_alive(api));
    assert!(port_is_free(api_port));
    let status = project.status();
    assert_eq!(service(&status, "api")["state"], "stopped");
    assert!(service(&status, "api")["pid"].is_null());
    assert_eq!(pid_of(&status, "web"), web);
    assert_eq!(pid_of(&status, "worker"), worker);
    assert_eq!(service(&status, "web")["state"], "running");

    // restart api: a new process.
    let out = project.run(&["restart", "api"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let status = project.status();
    let new_api = pid_of(&status, "api");
    assert_ne!(new_api, api);
    assert_eq!(service(&status, "api")["state"], "running");
    assert_eq!(project.live_copies("api"), vec![new_api]);

    // the seed's spelling restarts too.
    let out = project.run(&["--restart", "web"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_ne!(pid_of(&project.status(), "web"), web);

    // logs api --tail 5.
    let out = project.run(&["logs", "api", "--tail", "5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(!lines.is_empty() && lines.len() <= 5, "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("listening on")),
        "{lines:?}"
    );
    let out = project.run(&["logs", "--tail", "1"]);
    let all = stdout(&out);
    for name in ["api", "web", "worker"] {
        assert!(
            all.lines()
                .any(|l| l.starts_with(name) && l.contains(" | ")),
            "{all}"
        );
    }

    // stop: everything ends, the supervisor exits, nothing is left.
    let supervisor = status["supervisor"]["pid"].as_u64().unwrap() as u32;
    let out = project.run(&["stop"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(testkit::wait_until(Duration::from_secs(5), || {
        !testkit::pid_alive(supervisor)
    }));
    assert!(
        project.processes().is_empty(),
        "left: {:?}",
        project.processes()
    );
    assert!(!project.path().join(".portwarden/state.json").exists());
    assert!(!project.path().join(".portwarden/control.sock").exists());
    let out = project.run(&["status"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no supervisor is running"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_port_taken_while_the_stack_runs_moves_the_service_at_its_next_start() {
    let (project, api_port, alt, _web) = demo_stack();
    project.up_detached();
    let out = project.run(&["stop", "api"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Someone takes api's port while it is down; api then fails to bind it.
    let squatter = testkit::Fixture::spawn(&["--tcp", &format!("127.0.0.1:{api_port}")]);
    let out = project.run(&["start-service", "api", "--json"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let status = project.status();
    assert_eq!(service(&status, "api")["port"], alt, "{status:#}");
    assert_eq!(service(&status, "api")["state"], "running");
    assert!(
        testkit::pid_alive(squatter.pid()),
        "nobody else is stopped at run time"
    );
    // The move was the resolver's, recorded in the history and the sticky ports.
    let history =
        std::fs::read_to_string(project.path().join(".portwarden/history.jsonl")).unwrap();
    let record = history
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["service"] == "api" && r["resolved_port"] == alt)
        .unwrap_or_else(|| panic!("no move of api in the history:\n{history}"));
    assert_eq!(record["strategy"], "conservative");
    let ports = std::fs::read_to_string(project.path().join(".portwarden/ports.json")).unwrap();
    assert!(ports.contains(&format!("\"api\": {alt}")), "{ports}");
    let log = std::fs::read_to_string(
        project
            .path()
            .join(".portwarden/logs/fullstack_startup.log"),
    )
    .unwrap();
    assert!(
        log.contains(&format!(
            "port {api_port} was taken by pid {}",
            squatter.pid()
        )),
        "{log}"
    );
}
