//! `report` end to end: after a real start with a migration, and with no supervisor at all.

use std::io::Write;

use serde_json::Value;
use testkit::Fixture;

use crate::stack_support::{Project, free_port};
use crate::support::{stderr, stdout};

fn report_json(project: &Project) -> Value {
    let out = project.run(&["report", "--json"]);
    assert!(
        out.status.success(),
        "report failed: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn named<'a>(rows: &'a Value, key: &str, name: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r[key] == name)
        .unwrap_or_else(|| panic!("no {name} in {rows:#}"))
}

/// db ← api ← web, each healthy only after a while, so the start-up order is plain.
fn chain_yaml(db: u16, api: u16, alternative: u16, web: u16) -> String {
    format!(
        r#"services:
  db:
    port: {db}
    startup_command: exec @DEMO_API@
    health_check_url: "http://127.0.0.1:{{port}}/health"
    env: {{DEMO_READY_AFTER_MS: "300"}}
  api:
    port: {api}
    alternative_ports: [{alternative}]
    startup_command: exec @DEMO_API@
    health_check_url: "http://127.0.0.1:{{port}}/health"
    env: {{DEMO_READY_AFTER_MS: "200"}}
    depends_on: {{db: {{condition: healthy}}}}
  web:
    port: {web}
    startup_command: exec @DEMO_API@
    health_check_url: "http://127.0.0.1:{{port}}/health"
    depends_on: [api, db]
"#
    )
}

#[test]
fn report_after_a_start_with_a_migration_has_every_section() {
    let (db, api, alternative, web) = (free_port(), free_port(), free_port(), free_port());
    let squatter = Fixture::spawn(&["--tcp", &format!("127.0.0.1:{api}")]);
    let project = Project::new(&chain_yaml(db, api, alternative, web));
    project.up_detached();
    // A resolve while the stack runs finds the stack's own services on their ports: nothing to
    // do (and nothing migrated away from them).
    let resolve = project.run(&["resolve", "--json"]);
    assert!(resolve.status.success(), "{}", stderr(&resolve));
    let resolved: Value = serde_json::from_slice(&resolve.stdout).unwrap();
    assert!(
        resolved["report"]["migrations"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{resolved:#}"
    );

    let doc = report_json(&project);
    assert_eq!(doc["schema"], "portwarden.report/1");
    assert_eq!(doc["source"], "supervisor");
    assert_eq!(doc["stack"], "ready");

    // Port status: api runs on its alternative, which it holds itself.
    let api_port = named(&doc["ports"], "service", "api");
    assert_eq!(api_port["configured_port"], api);
    assert_eq!(api_port["current_port"], alternative);
    assert_eq!(api_port["status"], "held");
    assert_eq!(named(&doc["ports"], "service", "db")["status"], "held");

    // Service health and performance, from the supervisor.
    for name in ["db", "api", "web"] {
        let service = named(&doc["services"], "name", name);
        assert_eq!(service["state"], "running", "{service:#}");
        assert_eq!(service["health"], "healthy");
        let perf = named(&doc["performance"], "service", name);
        assert!(perf["rss_bytes"].as_u64().unwrap() > 0, "{perf:#}");
        let checks = &perf["health_checks"];
        assert!(checks["checks"].as_u64().unwrap() >= 1, "{perf:#}");
        assert!(checks["p50_ms"].as_u64().is_some() && checks["p95_ms"].as_u64().is_some());
        assert!(perf["time_to_healthy_ms"].as_u64().is_some(), "{perf:#}");
    }

    // The history counts the start's migration.
    let history = &doc["history"];
    assert!(history["conflicts"].as_u64().unwrap() >= 1, "{history:#}");
    assert_eq!(history["services"]["api"]["migrations"], 1);
    assert_eq!(history["strategies"]["intelligent"]["done"], 1);
    assert!(history["outcomes"]["done"].as_u64() >= Some(1));
    assert_eq!(history["truncated_tail"], false);
    let last = history["last"].as_array().unwrap();
    assert!(last.iter().any(|r| r["service"] == "api"
        && r["decision"]["decision"] == "migrate"
        && r["resolved_port"] == alternative));

    // Start-up: web waited for api, which waited for db (ready before api, but api was the
    // one web waited for last).
    let startup = &doc["startup"];
    let chain: Vec<&str> = startup["critical_chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["service"].as_str().unwrap())
        .collect();
    assert_eq!(chain, ["db", "api", "web"], "{startup:#}");
    let at = |name: &str, field: &str| {
        named(&startup["services"], "service", name)[field]
            .as_u64()
            .unwrap()
    };
    assert!(at("db", "ready_ms") >= 300, "{startup:#}");
    assert!(at("api", "spawned_ms") >= at("db", "ready_ms"));
    assert!(at("web", "spawned_ms") >= at("api", "ready_ms"));
    assert!(startup["ready_after_ms"].as_u64() >= Some(at("web", "ready_ms")));

    // The logs: the startup log, the port manager's (the migration) and each service's.
    let logs = &doc["logs"];
    for log in [&logs["startup_log"], &logs["port_manager_log"]] {
        assert_eq!(log["exists"], true, "{logs:#}");
        assert!(std::path::Path::new(log["path"].as_str().unwrap()).exists());
    }
    assert!(
        logs["port_manager_log"]["path"]
            .as_str()
            .unwrap()
            .ends_with(".portwarden/logs/port_manager.log")
    );
    assert_eq!(named(&logs["services"], "service", "api")["exists"], true);

    // For people: the chain drawn like systemd's, and where the logs are.
    let out = project.run(&["report"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("critical chain"), "{text}");
    assert!(text.contains("web @") && text.contains("└─api @") && text.contains("  └─db @"));
    assert!(text.contains("fullstack_startup.log") && text.contains("port_manager.log"));
    drop(squatter);
}

#[test]
fn report_without_a_supervisor_works_from_the_history_and_says_what_was_wrong_with_it() {
    let (port, alternative) = (free_port(), free_port());
    let holder = Fixture::spawn(&["--tcp", &format!("127.0.0.1:{port}")]);
    let project = Project::new(&format!(
        "services:\n  api:\n    port: {port}\n    alternative_ports: [{alternative}]\n    startup_command: 'true'\n"
    ));
    let resolve = project.run(&["resolve"]);
    assert!(resolve.status.success(), "{}", stderr(&resolve));
    let history = project.path().join(".portwarden/history.jsonl");
    // A line that is not a record, and a writer that died mid-line.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&history)
        .unwrap();
    file.write_all(b"not a record\n{\"timestamp\":\"2026-")
        .unwrap();
    drop(file);

    let doc = report_json(&project);
    assert_eq!(doc["source"], "none");
    assert!(doc["services"].as_array().unwrap().is_empty());
    assert!(doc["startup"].is_null());
    let h = &doc["history"];
    assert_eq!(h["records"], 1, "{h:#}");
    assert_eq!(h["services"]["api"]["migrations"], 1);
    assert_eq!(h["truncated_tail"], true);
    assert_eq!(h["bad_lines"], serde_json::json!([2]));
    let api = named(&doc["ports"], "service", "api");
    assert_eq!(api["status"], "conflict");
    assert_eq!(api["sticky_port"], alternative);
    assert_eq!(api["holders"][0]["pid"], holder.pid());

    let out = project.run(&["report"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("no supervisor runs this stack"), "{text}");
    assert!(
        text.contains("cut off") && text.contains("line 2"),
        "{text}"
    );
}

#[test]
fn report_with_a_bad_config_is_a_config_error() {
    let project = Project::new("services:\n  api:\n    port: 70000\n");
    let out = project.run(&["report"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn regression_the_supervisor_holding_a_socket_activated_port_is_no_conflict() {
    // The supervisor binds a socket-activated service's port itself and hands it over: report
    // and monitor once called that port "held by another process of yours".
    let port = free_port();
    let project = Project::new(&format!(
        r#"services:
  api:
    port: {port}
    socket_activation: true
    startup_command: exec @DEMO_API@
    health_check_url: "http://127.0.0.1:{{port}}/health"
"#
    ));
    project.up_detached();
    let doc = report_json(&project);
    let api = named(&doc["ports"], "service", "api");
    assert_eq!(api["status"], "held", "{api:#}");

    let out = project.run(&["monitor", "--json", "--interval", "100ms", "--count", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let events: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "monitor_stopped" && e["reason"] == "count")
    );
    assert!(
        !events.iter().any(|e| e["type"] == "conflict"),
        "{events:#?}"
    );
    assert!(!project.path().join(".portwarden/history.jsonl").exists());

    // resolve agrees: the service keeps its port (it once found it unresolvable).
    let out = project.run(&["resolve", "--dry-run", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        plan["plan"]["entries"][0]["decision"]["decision"], "keep",
        "{plan:#}"
    );
}
