//! Start order: dependencies first, gated on their condition; independents in parallel.

use std::time::Duration;

use supervisor::{Condition, Event, HealthSpec, RestartPolicy, ServiceSpec};

use crate::common::*;

fn slow_http(name: &str, ready_after_ms: u64) -> ServiceSpec {
    fixture_service(
        name,
        &format!("--http 127.0.0.1:{{port}} --healthy-after {ready_after_ms}"),
    )
    .port(0)
    .health(HealthSpec::http("http://127.0.0.1:{port}/health"))
}

#[test]
fn a_dependent_starts_only_after_its_dependency_is_healthy() {
    let mut run = Run::start(vec![
        fixture_service("web", "--tcp 127.0.0.1:{port}")
            .port(0)
            .depends_on("api", Condition::Healthy),
        slow_http("api", 300),
    ]);
    run.wait_for(LONG, healthy("web"));
    let api_spawned = run.position(spawned("api")).unwrap();
    let api_healthy = run.position(healthy("api")).unwrap();
    let web_spawned = run.position(spawned("web")).unwrap();
    assert!(
        api_spawned < api_healthy && api_healthy < web_spawned,
        "{}",
        run.describe()
    );
    // The health gate really waited for the slow endpoint.
    let gap = run.time_of(spawned("web")).unwrap() - run.time_of(spawned("api")).unwrap();
    assert!(
        gap >= Duration::from_millis(300),
        "{gap:?}\n{}",
        run.describe()
    );
    run.handle.wait_ready(LONG).unwrap();
    run.shutdown().unwrap();
}

#[test]
fn independent_services_start_in_parallel() {
    let mut run = Run::start(vec![
        slow_http("a", 500),
        slow_http("b", 500),
        slow_http("c", 500),
    ]);
    run.wait_for(LONG, |e| matches!(e, Event::StackReady { .. }));
    // Every spawn came before the first service was healthy.
    let first_healthy = run
        .position(|e| matches!(e, Event::Healthy { .. }))
        .unwrap();
    for name in ["a", "b", "c"] {
        assert!(
            run.position(spawned(name)).unwrap() < first_healthy,
            "{}",
            run.describe()
        );
    }
    // One at a time would take at least 1.5 s.
    let first = run.time_of(spawned("a")).unwrap();
    let last = run
        .time_of(|e| matches!(e, Event::StackReady { .. }))
        .unwrap();
    assert!(
        last - first < Duration::from_millis(1400),
        "{}",
        run.describe()
    );
    run.shutdown().unwrap();
}

#[test]
fn completed_successfully_waits_for_a_zero_exit() {
    let mut run = Run::start(vec![
        ServiceSpec::new("migrate", "sleep 0.2; echo migrated").restart(RestartPolicy::Never),
        fixture_service("app", "--tcp 127.0.0.1:{port}")
            .port(0)
            .depends_on("migrate", Condition::CompletedSuccessfully),
    ]);
    run.wait_for(LONG, |e| matches!(e, Event::StackReady { .. }));
    let exited = run
        .position(
            |e| matches!(e, Event::Exited { service, code: Some(0), .. } if service == "migrate"),
        )
        .unwrap();
    assert!(
        exited < run.position(spawned("app")).unwrap(),
        "{}",
        run.describe()
    );
    run.shutdown().unwrap();
}

#[test]
fn a_failed_job_blocks_what_needs_it_completed() {
    let mut run = Run::start(vec![
        ServiceSpec::new("migrate", "exit 3").restart(RestartPolicy::Never),
        fixture_service("app", "--tcp 127.0.0.1:{port}")
            .port(0)
            .depends_on("migrate", Condition::CompletedSuccessfully),
    ]);
    let blocked = run.wait_for(LONG, |e| matches!(e, Event::Blocked { .. }));
    assert!(
        matches!(&blocked, Event::Blocked { service, dependency, reason }
            if service == "app" && dependency == "migrate" && reason.contains("exit status 3")),
        "{blocked:?}"
    );
    let err = run.handle.wait_ready(LONG).unwrap_err();
    assert!(err.to_string().contains("migrate"), "{err}");
    assert!(run.position(spawned("app")).is_none());
    assert!(run.shutdown().is_err(), "a failed run reports failure");
}
