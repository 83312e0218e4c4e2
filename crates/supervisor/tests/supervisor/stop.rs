//! Stopping: stop signal to the group, SIGKILL after the timeout, nothing left behind.

use std::time::{Duration, Instant};

use supervisor::{Condition, Event, RestartPolicy, ServiceState};
use testkit::{PidGuard, pid_alive, wait_until};

use crate::common::*;

#[test]
fn a_service_ignoring_sigterm_is_killed_after_its_stop_timeout() {
    let mut spec = fixture_service("stubborn", "--ignore-term --tcp 127.0.0.1:{port}").port(0);
    spec.stop_timeout = Duration::from_millis(400);
    let mut run = Run::start(vec![spec]);
    let pid = pid_of(&run.wait_for(LONG, spawned("stubborn")));
    let _guard = PidGuard(pid);
    run.wait_for(LONG, healthy("stubborn"));
    let asked = Instant::now();
    run.handle.stop_service("stubborn").unwrap();
    run.wait_for(LONG, stopped("stubborn"));
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "stopped after {took:?}: SIGTERM was not ignored?"
    );
    assert!(!pid_alive(pid));
    let status = run.handle.service_status("stubborn").unwrap();
    assert_eq!(status.state, ServiceState::Stopped);
    assert_eq!(status.last_exit.unwrap().signal, Some(libc::SIGKILL));
    run.shutdown().unwrap();
}

#[test]
fn stopping_a_shell_wrapper_stops_the_server_it_started() {
    // sh is the service's pid; the real server is its child and ignores SIGTERM.
    let mut spec = supervisor::ServiceSpec::new(
        "wrapped",
        format!(
            "{} --ignore-term --tcp 127.0.0.1:{{port}} & wait",
            fixture()
        ),
    )
    .port(0);
    spec.stop_timeout = Duration::from_millis(300);
    let mut run = Run::start(vec![spec]);
    let shell = pid_of(&run.wait_for(LONG, spawned("wrapped")));
    let ready = run.wait_for(LONG, output_of("wrapped", "READY"));
    let server: u32 = ready_field(line_of(&ready), "pid")
        .unwrap()
        .parse()
        .unwrap();
    let _guards = (PidGuard(shell), PidGuard(server));
    assert_ne!(shell, server);
    run.wait_for(LONG, healthy("wrapped"));
    run.handle.stop_service("wrapped").unwrap();
    run.wait_for(LONG, stopped("wrapped"));
    assert!(!pid_alive(shell) && !pid_alive(server));
    assert!(
        run.position(|e| matches!(e, Event::Leftovers { .. }))
            .is_none(),
        "{}",
        run.describe()
    );
    run.shutdown().unwrap();
}

#[test]
fn a_grandchild_left_behind_is_stopped_at_shutdown() {
    // The fixture forks a child that starts a grandchild in a new session and exits, then
    // exits itself: the grandchild is orphaned, and re-parented to the supervisor.
    let spec = fixture_service("daemonizer", "--grandchild").restart(RestartPolicy::Never);
    let mut run = Run::start(vec![spec]);
    let ready = run.wait_for(LONG, output_of("daemonizer", "grandchild="));
    let grandchild: u32 = ready_field(line_of(&ready), "grandchild")
        .unwrap()
        .parse()
        .unwrap();
    let _guard = PidGuard(grandchild);
    run.wait_for(
        LONG,
        |e| matches!(e, Event::Exited { service, .. } if service == "daemonizer"),
    );
    assert!(pid_alive(grandchild));
    // Adopted by us, the subreaper.
    assert!(
        wait_until(LONG, || std::fs::read_to_string(format!(
            "/proc/{grandchild}/stat"
        ))
        .ok()
        .and_then(|s| s
            .rsplit_once(')')
            .map(|(_, r)| r.split_whitespace().nth(1).map(str::to_owned)))
        .flatten()
            == Some(std::process::id().to_string())),
        "the grandchild was not re-parented to the test process"
    );
    run.shutdown().unwrap();
    assert!(!pid_alive(grandchild), "the orphan outlived the shutdown");
    // And it was reaped, not left a zombie.
    assert!(wait_until(Duration::from_secs(5), || {
        !std::path::Path::new(&format!("/proc/{grandchild}")).exists()
    }));
}

#[test]
fn shutdown_stops_dependents_before_their_dependencies() {
    let mut run = Run::start(vec![
        fixture_service("db", "--tcp 127.0.0.1:{port}").port(0),
        fixture_service("api", "--tcp 127.0.0.1:{port}")
            .port(0)
            .depends_on("db", Condition::Healthy),
        fixture_service("web", "--tcp 127.0.0.1:{port}")
            .port(0)
            .depends_on("api", Condition::Healthy),
    ]);
    run.handle.wait_ready(LONG).unwrap();
    run.shutdown().unwrap();
    let stopping = |name: &'static str| move |e: &Event| matches!(e, Event::Stopping { service } if service == name);
    let web_stopped = run.position(stopped("web")).unwrap();
    let api_stopping = run.position(stopping("api")).unwrap();
    let api_stopped = run.position(stopped("api")).unwrap();
    let db_stopping = run.position(stopping("db")).unwrap();
    assert!(
        web_stopped < api_stopping && api_stopped < db_stopping,
        "{}",
        run.describe()
    );
    assert!(run.position(|e| matches!(e, Event::StackStopped)).is_some());
}

#[test]
fn a_second_shutdown_request_kills_at_once() {
    let mut spec = fixture_service("stubborn", "--ignore-term --tcp 127.0.0.1:{port}").port(0);
    spec.stop_timeout = Duration::from_secs(60);
    let mut run = Run::start(vec![spec]);
    let pid = pid_of(&run.wait_for(LONG, spawned("stubborn")));
    let _guard = PidGuard(pid);
    run.wait_for(LONG, healthy("stubborn"));
    let asked = Instant::now();
    run.handle.shutdown();
    run.wait_for(LONG, |e| matches!(e, Event::Stopping { .. }));
    run.handle.shutdown();
    run.handle.wait_timeout(LONG).unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );
    assert!(!pid_alive(pid));
}

#[test]
fn a_stop_the_user_asked_for_is_never_restarted() {
    let spec = fixture_service("svc", "--tcp 127.0.0.1:{port}")
        .port(0)
        .restart(RestartPolicy::Always);
    let mut run = Run::start(vec![spec]);
    run.wait_for(LONG, healthy("svc"));
    run.handle.stop_service("svc").unwrap();
    run.wait_for(LONG, stopped("svc"));
    assert!(
        !run.watch(Duration::from_millis(600), spawned("svc")),
        "{}",
        run.describe()
    );
    assert_eq!(
        run.handle.service_status("svc").unwrap().state,
        ServiceState::Stopped
    );
    // Started by hand, it runs again; a restart gives it a new process.
    run.handle.start_service("svc").unwrap();
    let first = pid_of(&run.wait_for(LONG, spawned("svc")));
    run.wait_for(LONG, healthy("svc"));
    run.handle.restart_service("svc").unwrap();
    let second = pid_of(&run.wait_for(LONG, spawned("svc")));
    assert_ne!(first, second);
    assert!(!pid_alive(first));
    run.shutdown().unwrap();
}

#[test]
fn a_service_named_like_a_protected_process_can_still_be_stopped() {
    // procscan protects `redis-server` from being signalled by a port cleanup; a stack that
    // runs its own must still be able to stop it.
    let dir = tempfile::tempdir().unwrap();
    let renamed = dir.path().join("redis-server");
    std::fs::copy(testkit::fixture_path(), &renamed).unwrap();
    let mut spec = supervisor::ServiceSpec::new(
        "cache",
        format!(
            "exec {} --ignore-term --tcp 127.0.0.1:{{port}}",
            renamed.display()
        ),
    )
    .port(0);
    spec.stop_timeout = Duration::from_millis(200);
    let mut run = Run::start(vec![spec]);
    let pid = pid_of(&run.wait_for(LONG, spawned("cache")));
    let _guard = PidGuard(pid);
    run.wait_for(LONG, healthy("cache"));
    run.handle.stop_service("cache").unwrap();
    run.wait_for(LONG, stopped("cache"));
    assert!(!pid_alive(pid));
    run.shutdown().unwrap();
}
