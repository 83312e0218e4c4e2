//! `health-check` (one check now, with its latency) and `check` (every pre-start problem).

use testkit::Fixture;

use crate::stack_support::{Project, free_port};
use crate::support::{stderr, stdout};

#[test]
fn health_check_reports_the_result_and_its_latency() {
    let server = Fixture::spawn(&["--http", "127.0.0.1:0"]);
    let port = server.ready.http.unwrap().port();
    let project = Project::new(&format!(
        "services:\n  api:\n    port: {port}\n    health_check_url: \"http://127.0.0.1:{{port}}/health\"\n"
    ));
    let out = project.run(&["health-check", "api", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema"], "portwarden.health_check/1");
    assert_eq!(doc["healthy"], true);
    assert_eq!(doc["port"], port);
    assert_eq!(doc["port_source"], "config");
    assert!(doc["latency_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(doc["check"], format!("GET http://127.0.0.1:{port}/health"));

    let out = project.run(&["--health-check", "api"]);
    assert!(out.status.success());
    assert!(
        stdout(&out).starts_with("api  healthy in "),
        "{}",
        stdout(&out)
    );

    drop(server);
    let out = project.run(&["health-check", "api"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("unhealthy"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("api is unhealthy"),
        "{}",
        stderr(&out)
    );

    let out = project.run(&["health-check", "nope"]);
    assert_eq!(out.status.code(), Some(6));
}

#[test]
fn check_lists_every_problem_and_passes_a_good_config() {
    let holder = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    let held = holder.ready.tcp_port();
    let project = Project::new(&format!(
        r#"conflict_resolution:
  allow_port_migration: false
services:
  lost:
    startup_command: exec definitely-not-a-program-4711
  homeless:
    startup_command: exec sleep 1
    working_directory: no-such-folder
  remote:
    port: {}
    startup_command: exec sleep 1
    health_check:
      url: "http://example.com:{{port}}/health"
  squeezed:
    port: {held}
    startup_command: exec sleep 1
"#,
        free_port()
    ));
    let out = project.run(&["check", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], false);
    let kinds: Vec<(&str, &str)> = doc["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap(),
                p["service"].as_str().unwrap_or(""),
            )
        })
        .collect();
    for expected in [
        ("command_not_found", "lost"),
        ("working_dir_missing", "homeless"),
        ("remote_health_url", "remote"),
        ("port_conflict", "squeezed"),
    ] {
        assert!(
            kinds.contains(&expected),
            "{expected:?} missing from {kinds:?}"
        );
    }
    // Nothing was started, nothing was stopped.
    assert!(testkit::pid_alive(holder.pid()));
    assert!(project.processes().is_empty());

    let good = Project::new(&format!(
        "services:\n  api:\n    port: {}\n    startup_command: exec sleep 1\n",
        free_port()
    ));
    let out = good.run(&["check"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("the stack can start"),
        "{}",
        stdout(&out)
    );
}
