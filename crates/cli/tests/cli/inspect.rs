//! `scan`, `port`, `service` and `export-config` against real listeners.

use std::process::Stdio;

use serde_json::Value;
use tempfile::TempDir;
use testkit::Fixture;

use crate::support::{json, portwarden, run, stderr, stdout, write_config};

/// The listener rows of `scan --json` for one port.
fn rows_for(doc: &Value, port: u16) -> Vec<Value> {
    doc["listeners"]
        .as_array()
        .expect("listeners is an array")
        .iter()
        .filter(|row| row["port"] == port)
        .cloned()
        .collect()
}

fn pids_of(row: &Value) -> Vec<u64> {
    row["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect()
}

#[test]
fn scan_json_attributes_every_socket_with_pid_user_and_cmdline() {
    let dir = TempDir::new().unwrap();
    let tcp = Fixture::spawn(&["--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0"]);
    let shared = Fixture::spawn(&["--tcp", "127.0.0.1:0", "--fork-child"]);
    let out = run(portwarden(dir.path()).args(["scan", "--json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["schema"], "portwarden.scan/1");

    let rows = rows_for(&doc, tcp.ready.tcp_port());
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["protocol"], "tcp");
    assert_eq!(row["address"], "127.0.0.1");
    assert_eq!(pids_of(row), vec![u64::from(tcp.pid())]);
    let holder = &row["processes"][0];
    assert!(holder["user"].is_string(), "{holder}");
    assert!(
        holder["cmdline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().contains("pw-fixture")),
        "{holder}"
    );

    let udp_port = tcp.ready.udp[0].port();
    let udp = rows_for(&doc, udp_port);
    assert!(
        udp.iter()
            .any(|r| r["protocol"] == "udp" && pids_of(r) == vec![u64::from(tcp.pid())]),
        "{udp:?}"
    );

    let shared_rows = rows_for(&doc, shared.ready.tcp_port());
    let mut expected = vec![
        u64::from(shared.pid()),
        u64::from(shared.ready.child.unwrap()),
    ];
    expected.sort_unstable();
    assert_eq!(pids_of(&shared_rows[0]), expected);
}

#[test]
fn scan_flag_spelling_filters_and_service_claims() {
    let dir = TempDir::new().unwrap();
    let f = Fixture::spawn(&["--tcp", "127.0.0.1:0", "--tcp", "127.0.0.1:0"]);
    let (claimed, other) = (f.ready.tcp[0].port(), f.ready.tcp[1].port());
    write_config(
        dir.path(),
        &format!(
            "services:\n  api:\n    port: {claimed}\n    process_patterns: ['pw-fixture']\n    startup_command: 'true'\n"
        ),
    );
    // The seed's flag spelling is the same command.
    let out = run(portwarden(dir.path()).args(["--scan", "--json", "--service", "api"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = json(&out);
    let rows = rows_for(&doc, claimed);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["service"], "api");
    assert_eq!(rows[0]["class"], "ours");
    assert!(
        rows_for(&doc, other).is_empty(),
        "--service keeps only the service's ports"
    );

    let lo = claimed.min(other);
    let out = run(portwarden(dir.path()).args([
        "scan",
        "--json",
        "--proto",
        "udp",
        "--range",
        &format!("{lo}-{lo}"),
    ]));
    assert!(json(&out)["listeners"].as_array().unwrap().is_empty());

    // Tables for people name the service and the class.
    let out =
        run(portwarden(dir.path()).args(["scan", "--range", &format!("{claimed}-{claimed}")]));
    let text = stdout(&out);
    assert!(
        text.contains("api") && text.contains("ours") && text.contains("pw-fixture"),
        "{text}"
    );
}

#[test]
fn port_on_a_free_port_says_free_for_each_address() {
    let dir = TempDir::new().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out =
        run(portwarden(dir.path()).args(["port", &port.to_string(), "--proto", "tcp", "--json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["status"], "free", "{doc}");
    assert!(doc["listeners"].as_array().unwrap().is_empty());
    let binds = doc["probes"][0]["binds"].as_array().unwrap();
    assert_eq!(binds.len(), 8);
    for b in binds {
        assert!(
            b["outcome"] == "free" || b["outcome"] == "address_unavailable",
            "{b}"
        );
    }
}

#[test]
fn port_held_on_loopback_v4_says_which_binds_would_still_succeed() {
    let dir = TempDir::new().unwrap();
    let f = Fixture::spawn(&["--tcp", "127.0.0.1:0", "--fork-child"]);
    let port = f.ready.tcp_port();
    let out =
        run(portwarden(dir.path()).args(["--port", &port.to_string(), "--proto", "tcp", "--json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["status"], "held");
    let listener = &doc["listeners"][0];
    let pids: Vec<u64> = listener["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    assert!(
        pids.contains(&u64::from(f.pid())) && pids.contains(&u64::from(f.ready.child.unwrap()))
    );
    let first = &listener["processes"][0];
    assert!(
        first["cwd"].is_string() && first["parents"].as_array().is_some_and(|p| !p.is_empty()),
        "{first}"
    );
    let outcome = |addr: &str| -> Value {
        doc["probes"][0]["binds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["address"] == addr && b["reuse_address"] == true)
            .unwrap()["outcome"]
            .clone()
    };
    assert_eq!(outcome("127.0.0.1"), "in_use");
    assert_eq!(outcome("0.0.0.0"), "in_use");
    if testkit::ipv6_available() {
        assert_eq!(
            outcome("::1"),
            "free",
            "IPv6 loopback is a different address"
        );
    }
    // The human rendering says the same.
    let out = run(portwarden(dir.path()).args(["port", &port.to_string(), "--proto", "tcp"]));
    let text = stdout(&out);
    assert!(
        text.contains("in use") && text.contains("pw-fixture") && text.contains("parents:"),
        "{text}"
    );
}

#[test]
fn service_lists_preferred_and_alternative_ports_with_holders() {
    let dir = TempDir::new().unwrap();
    let f = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    let held = f.ready.tcp_port();
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    write_config(
        dir.path(),
        &format!(
            "services:\n  web:\n    port: {held}\n    alternative_ports: [{free}]\n    startup_command: 'true'\n"
        ),
    );
    let out = run(portwarden(dir.path()).args(["--service", "web", "--json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["ports"][0]["status"], "held");
    assert_eq!(doc["ports"][0]["holders"][0]["pid"], u64::from(f.pid()));
    assert_eq!(doc["ports"][1]["status"], "free");
    assert_eq!(doc["ports"][1]["role"], "alternative");

    let out = run(portwarden(dir.path()).args(["service", "nope"]));
    assert_eq!(out.status.code(), Some(6), "unknown service is 'not found'");
    assert!(
        stderr(&out).contains("web"),
        "the error lists the known services"
    );
}

#[test]
fn bad_config_is_exit_3_naming_file_line_and_field() {
    let dir = TempDir::new().unwrap();
    write_config(dir.path(), "services:\n  api:\n    prot: 8000\n");
    let out = run(portwarden(dir.path()).args(["scan"]));
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains("portwarden.yaml:3") && err.contains("services.api.prot"),
        "{err}"
    );
    assert!(err.contains("did you mean `port`"), "{err}");

    // An explicit config that does not exist is also a config error.
    let out = run(portwarden(dir.path()).args(["--config", "missing.yaml", "scan"]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn usage_errors_are_exit_2() {
    let dir = TempDir::new().unwrap();
    for args in [
        &["port", "0"][..],
        &["port", "70000"],
        &["scan", "--range", "9-1"],
        &["frobnicate"],
    ] {
        let out = run(portwarden(dir.path()).args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn export_config_writes_a_file_that_loads_back_the_same() {
    let dir = TempDir::new().unwrap();
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/revoagent.yaml");
    let exported = dir.path().join("exported.yaml");
    let out = run(portwarden(dir.path())
        .args(["--config", examples, "--export-config"])
        .arg(&exported));
    assert!(out.status.success(), "{}", stderr(&out));
    let original = portwarden::config::load_with_env(
        std::path::Path::new(examples),
        Vec::<(String, String)>::new(),
    )
    .unwrap();
    let again =
        portwarden::config::load_with_env(&exported, Vec::<(String, String)>::new()).unwrap();
    assert_eq!(original.config, again.config);
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let dir = TempDir::new().unwrap();
    let _many: Vec<Fixture> = (0..3)
        .map(|_| Fixture::spawn(&["--tcp", "127.0.0.1:0"]))
        .collect();
    let mut child = portwarden(dir.path())
        .args(["scan", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end at once: portwarden's writes then fail with EPIPE.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?} {}", out.status, stderr(&out));
}

#[test]
fn another_users_listener_shows_as_owner_unknown_to_an_unprivileged_scan() {
    use std::os::unix::process::CommandExt;
    let Some((uid, gid)) =
        testkit::other_user_or_skip("to start a listener as another user than the scanning one")
    else {
        return;
    };
    let f = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    let dir = TempDir::new().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let out = run(portwarden(dir.path())
        .args(["scan", "--json"])
        .uid(uid)
        .gid(gid));
    assert!(out.status.success(), "{}", stderr(&out));
    let doc = json(&out);
    let rows = rows_for(&doc, f.ready.tcp_port());
    assert_eq!(rows.len(), 1, "the socket is listed, not dropped");
    assert_eq!(rows[0]["uid"], 0);
    assert_eq!(rows[0]["class"], "unknown");
    assert!(rows[0]["holders"].as_array().unwrap().is_empty());
    assert!(
        doc["unreadable_pids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == u64::from(f.pid()))
    );
}
