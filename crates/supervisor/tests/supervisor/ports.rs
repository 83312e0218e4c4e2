//! Ports passed on: environment, templates, migration through the arbiter, socket activation.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use supervisor::{Condition, Event, HealthSpec, PortArbiter, RestartPolicy, ServiceSpec};

use crate::common::*;

#[test]
fn dependents_receive_the_ports_of_their_dependencies() {
    let api = fixture_service("api", "--tcp 127.0.0.1:{port}").port(0);
    let web = ServiceSpec::new(
        "web",
        format!(
            "echo \"api={{services.api.port}} env=$PORTWARDEN_API_PORT url=$API_URL own=$PORT self=$PORTWARDEN_WEB_PORT\"; \
             exec {} --tcp 127.0.0.1:{{port}}",
            fixture()
        ),
    )
    .port(0)
    .env("API_URL", "http://127.0.0.1:{services.api.port}/")
    .depends_on("api", Condition::Healthy);
    let mut run = Run::start(vec![api, web]);
    let api_port = port_of(&run.wait_for(LONG, spawned("api")));
    let web_port = port_of(&run.wait_for(LONG, spawned("web")));
    let line = run.wait_for(LONG, output_of("web", "api="));
    assert_eq!(
        line_of(&line),
        format!(
            "api={api_port} env={api_port} url=http://127.0.0.1:{api_port}/ own={web_port} self={web_port}"
        )
    );
    run.shutdown().unwrap();
}

#[test]
fn a_taken_port_moves_through_the_arbiter_and_dependents_follow() {
    let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap().port();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let arbiter: Arc<dyn PortArbiter> = {
        let asked = Arc::clone(&asked);
        Arc::new(move |service: &str, port: u16| {
            asked.lock().unwrap().push((service.to_owned(), port));
            Some(free_port())
        })
    };
    let api = ServiceSpec::new("api", format!("exec {}", bin("demo-api")))
        .port(taken)
        .health(HealthSpec::http("http://127.0.0.1:{port}/health"));
    let web = ServiceSpec::new("web", format!("exec {}", bin("demo-api")))
        .port(0)
        .env("API_URL", "http://127.0.0.1:{services.api.port}/")
        .health(HealthSpec::http("http://127.0.0.1:{port}/health"))
        .depends_on("api", Condition::Healthy);
    let mut run = Run::start_with(vec![api, web], |o| o.arbiter = Some(arbiter));
    assert_eq!(port_of(&run.wait_for(LONG, spawned("api"))), taken);
    let migrated = run.wait_for(LONG, |e| matches!(e, Event::PortMigrated { .. }));
    let Event::PortMigrated { service, from, to } = migrated else {
        unreachable!()
    };
    assert_eq!((service.as_str(), from), ("api", taken));
    assert_eq!(*asked.lock().unwrap(), [("api".to_owned(), taken)]);
    // It crashed on the taken port, said so, and runs on the new one.
    assert!(
        run.position(output_of("api", "already in use")).is_some(),
        "{}",
        run.describe()
    );
    let respawn = run.wait_for(LONG, spawned("api"));
    assert_eq!(port_of(&respawn), to);
    run.wait_for(LONG, healthy("api"));
    let web_port = port_of(&run.wait_for(LONG, spawned("web")));
    run.wait_for(LONG, healthy("web"));
    // The frontend found the API on its new port.
    run.wait_for(
        LONG,
        output_of("web", &format!("forwards / to http://127.0.0.1:{to}/")),
    );
    let (status, body) = get(web_port, "/");
    assert_eq!(status, 200);
    assert!(
        body.contains(&format!("upstream http://127.0.0.1:{to}/ answered 200")),
        "{body}"
    );
    assert_eq!(run.handle.service_status("api").unwrap().port, Some(to));
    run.shutdown().unwrap();
    drop(squatter);
}

/// The value of `key` in a live process's environment.
fn environ_of(pid: u32, key: &str) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ.split(|&b| b == 0).find_map(|entry| {
        let entry = String::from_utf8_lossy(entry);
        entry.strip_prefix(&format!("{key}=")).map(str::to_owned)
    })
}

#[test]
fn running_dependents_restart_when_a_dependency_moves_at_run_time() {
    let port = free_port();
    let arbiter: Arc<dyn PortArbiter> = Arc::new(|_: &str, _: u16| Some(free_port()));
    // api crashes every 400 ms; its second restart waits out a backoff, in which the port is
    // taken, so the third start fails with "address already in use" and moves.
    let mut api = fixture_service(
        "api",
        "--tcp 127.0.0.1:{port} --exit-after 400 --exit-code 1",
    )
    .port(port)
    .health(HealthSpec::None)
    .restart(RestartPolicy::OnFailure);
    api.restart_limits.max_attempts = 20;
    let web = fixture_service("web", "--tcp 127.0.0.1:0")
        .env("API_PORT", "{services.api.port}")
        .health(HealthSpec::None)
        .depends_on("api", Condition::Started);
    let mut run = Run::start_with(vec![api, web], |o| o.arbiter = Some(arbiter));
    let first_web = pid_of(&run.wait_for(LONG, spawned("web")));
    assert_eq!(environ_of(first_web, "API_PORT"), Some(port.to_string()));
    let exited_api = |e: &Event| matches!(e, Event::Exited { service, .. } if service == "api");
    run.wait_for(LONG, exited_api);
    run.wait_for(LONG, exited_api);
    // Within the backoff before the next start: another process takes the port.
    let squatter = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let migrated = run.wait_for(LONG, |e| matches!(e, Event::PortMigrated { .. }));
    let Event::PortMigrated { to, .. } = migrated else {
        unreachable!()
    };
    let second_web = pid_of(&run.wait_for(LONG, spawned("web")));
    assert_ne!(first_web, second_web, "web was restarted");
    assert_eq!(environ_of(second_web, "API_PORT"), Some(to.to_string()));
    assert!(!testkit::pid_alive(first_web));
    run.shutdown().unwrap();
    drop(squatter);
}

#[test]
fn without_an_arbiter_a_taken_port_fails_with_the_reason() {
    let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap().port();
    let mut run = Run::start(vec![
        fixture_service("api", "--tcp 127.0.0.1:{port}").port(taken),
    ]);
    let failure = run.wait_for(LONG, failed("api"));
    let Event::Failed { reason, .. } = failure else {
        unreachable!()
    };
    assert!(
        reason.contains(&format!("port {taken} is taken")) && reason.contains("no port arbiter"),
        "{reason}"
    );
    assert_eq!(
        run.seen.iter().filter(|(_, e)| spawned("api")(e)).count(),
        1,
        "it did not loop"
    );
    let _ = run.shutdown();
}

#[test]
fn a_socket_activated_service_serves_on_the_socket_the_supervisor_bound() {
    let mut spec = ServiceSpec::new("socketd", format!("exec {}", bin("demo-socketd")))
        .port(0)
        .health(HealthSpec::http("http://127.0.0.1:{port}/health"));
    spec.socket_activation = true;
    let mut run = Run::start(vec![spec]);
    let first = run.wait_for(LONG, spawned("socketd"));
    let (pid, port) = (pid_of(&first), port_of(&first));
    run.wait_for(LONG, healthy("socketd"));
    let (status, body) = get(port, "/");
    assert_eq!(status, 200);
    assert!(body.contains(&format!("demo-socketd pid {pid}")), "{body}");
    run.wait_for(LONG, output_of("socketd", "serving fd 3 (socketd)"));
    // Killed, it is restarted on the same socket: the port never went free meanwhile.
    testkit::kill_pid(pid);
    let second = run.wait_for(LONG, spawned("socketd"));
    assert_eq!(port_of(&second), port);
    assert!(!portcore::probe_port(port, portcore::Protocol::Tcp).is_free());
    run.wait_for(LONG, healthy("socketd"));
    let (status, body) = get(port, "/");
    assert_eq!(status, 200);
    assert!(body.contains(&format!("pid {}", pid_of(&second))), "{body}");
    run.shutdown().unwrap();
    // Released at shutdown.
    assert!(testkit::wait_until(LONG, || portcore::probe_port(
        port,
        portcore::Protocol::Tcp
    )
    .is_free()));
}

#[test]
fn demo_socketd_refuses_to_run_without_a_socket() {
    let out = std::process::Command::new(bin("demo-socketd"))
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not socket-activated"));
}

/// `GET path`: status and body.
fn get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}
