//! Health checks: timeouts without pile-up, restarts of unhealthy services, blocked
//! dependents, the exec and TCP checks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use supervisor::{
    Condition, Event, ExecCheck, HealthCheck, HealthContext, HealthResult, HealthSpec,
    HealthTiming, HttpCheck, RestartPolicy, ServiceSpec, TcpCheck,
};

use crate::common::*;

/// An HTTP check that can be switched to a hanging endpoint, waits far longer than the
/// monitor's timeout when it hangs, and counts how many of its calls run at once.
#[derive(Default)]
struct Hanging {
    hang: AtomicBool,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    calls: AtomicUsize,
}

impl HealthCheck for Hanging {
    fn check(&self, ctx: &HealthContext) -> HealthResult {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        let path = if self.hang.load(Ordering::SeqCst) {
            "hang"
        } else {
            "health"
        };
        let url = format!("http://127.0.0.1:{}/{path}", ctx.port.unwrap_or(0));
        // Ignore the timeout the monitor gives: a badly behaved check.
        let slow = HealthContext {
            timeout: ctx.timeout * 4,
            ..ctx.clone()
        };
        let result = HttpCheck::new(url).check(&slow);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }

    fn describe(&self) -> String {
        "hanging http".into()
    }
}

#[test]
fn a_hanging_endpoint_is_timed_out_without_pile_up_and_the_service_restarted() {
    let check = Arc::new(Hanging::default());
    let mut spec = fixture_service("api", "--http 127.0.0.1:{port}")
        .port(0)
        .health(HealthSpec::Custom(check.clone()));
    spec.health_timing = HealthTiming {
        interval: Duration::from_millis(20),
        timeout: Duration::from_millis(150),
        retries: 3,
        start_period: Duration::from_secs(10),
        ..HealthTiming::default()
    };
    let mut run = Run::start(vec![spec]);
    let first = pid_of(&run.wait_for(LONG, spawned("api")));
    run.wait_for(LONG, healthy("api"));
    check.hang.store(true, Ordering::SeqCst);
    let hung_at = Instant::now();
    let unhealthy = run.wait_for(LONG, |e| matches!(e, Event::Unhealthy { .. }));
    let Event::Unhealthy { reason, .. } = &unhealthy else {
        unreachable!()
    };
    assert!(
        reason.contains("3 failed checks") && reason.contains("did not answer within 150ms"),
        "{reason}"
    );
    // Three failures, each waited for its hung predecessor: no check started while one ran,
    // although the interval (20 ms) is far shorter than a hung check (600 ms).
    assert_eq!(check.most_in_flight.load(Ordering::SeqCst), 1);
    assert!(
        hung_at.elapsed() >= Duration::from_millis(1200),
        "{:?}",
        hung_at.elapsed()
    );
    check.hang.store(false, Ordering::SeqCst);
    let second = pid_of(&run.wait_for(LONG, spawned("api")));
    assert_ne!(first, second);
    assert!(!testkit::pid_alive(first));
    run.wait_for(LONG, healthy("api"));
    let status = run.handle.service_status("api").unwrap();
    assert_eq!(status.restarts, 1);
    // Every check was recorded, the timed-out ones at their full wait (at least 150 ms).
    let stats = status.health_checks;
    assert!(stats.failures >= 3, "{stats:?}");
    assert!(stats.checks > stats.failures, "{stats:?}");
    assert!(stats.p95_ms.is_some_and(|p| p >= 150), "{stats:?}");
    run.shutdown().unwrap();
    assert_eq!(check.most_in_flight.load(Ordering::SeqCst), 1);
}

#[test]
fn a_dependency_that_never_becomes_healthy_blocks_its_dependents() {
    let mut api = fixture_service("api", "--http 127.0.0.1:{port} --healthy-after 600000")
        .port(0)
        .health(HealthSpec::http("http://127.0.0.1:{port}/health"))
        .restart(RestartPolicy::Never);
    api.health_timing.start_period = Duration::from_millis(400);
    let web = fixture_service("web", "--tcp 127.0.0.1:{port}")
        .port(0)
        .depends_on("api", Condition::Healthy);
    let mut run = Run::start(vec![api, web]);
    let blocked = run.wait_for(LONG, |e| matches!(e, Event::Blocked { .. }));
    assert!(
        matches!(&blocked, Event::Blocked { service, dependency, reason }
            if service == "web" && dependency == "api" && reason.contains("start period")),
        "{blocked:?}"
    );
    let unhealthy = run.position(|e| matches!(e, Event::Unhealthy { service, reason } if service == "api" && reason.contains("503"))).expect("api reported unhealthy with the status");
    assert!(unhealthy < run.position(failed("api")).unwrap());
    let err = run.handle.wait_ready(LONG).unwrap_err();
    assert!(err.to_string().contains("api"), "{err}");
    run.wait_for(LONG, |e| matches!(e, Event::StackFailed { .. }));
    assert!(run.position(spawned("web")).is_none(), "{}", run.describe());
    assert!(run.shutdown().is_err());
}

fn ctx(port: Option<u16>, timeout: Duration) -> HealthContext {
    HealthContext {
        service: "t".into(),
        port,
        bind_address: "127.0.0.1".parse().unwrap(),
        protocol: portcore::Protocol::Tcp,
        timeout,
        pid: None,
        working_dir: None,
    }
}

#[test]
fn an_exec_check_that_runs_over_is_killed_and_reaped() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let check = ExecCheck::new(format!("echo $$ > {}; exec sleep 30", pidfile.display()));
    let started = Instant::now();
    let result = check.check(&ctx(None, Duration::from_millis(300)));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(&result, HealthResult::Unhealthy { reason } if reason.contains("did not finish")),
        "{result:?}"
    );
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Gone, and no zombie left: it was reaped.
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(
        ExecCheck::new("exit 0").check(&ctx(None, LONG)),
        HealthResult::Healthy
    );
    assert!(
        !ExecCheck::new("exit 4")
            .check(&ctx(None, LONG))
            .is_healthy()
    );
}

#[test]
fn exec_and_tcp_checks_gate_a_service() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ServiceSpec::new("slow", "sleep 0.3; touch ready; exec sleep 30").health(
        HealthSpec::Exec {
            command: "test -f ready".into(),
        },
    );
    spec.working_dir = Some(dir.path().into());
    let tcp = fixture_service("tcp", "--tcp 127.0.0.1:{port}")
        .port(0)
        .health(HealthSpec::Tcp {
            address: "localhost:{port}".into(),
        });
    let mut run = Run::start(vec![spec, tcp]);
    let healthy_event = run.wait_for(LONG, healthy("slow"));
    let Event::Healthy { after, .. } = healthy_event else {
        unreachable!()
    };
    assert!(after >= Duration::from_millis(300), "{after:?}");
    run.wait_for(LONG, healthy("tcp"));
    run.shutdown().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    assert!(
        TcpCheck::new(format!("127.0.0.1:{port}"))
            .check(&ctx(None, LONG))
            .is_healthy()
    );
    drop(listener);
    assert!(
        !TcpCheck::new(format!("127.0.0.1:{port}"))
            .check(&ctx(None, LONG))
            .is_healthy()
    );
}
