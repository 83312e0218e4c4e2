//! Restart policies, backoff and the final `failed` state.

use std::time::Duration;

use supervisor::{Event, RestartLimits, RestartPolicy, ServiceSpec, ServiceState};

use crate::common::*;

#[test]
fn a_crash_loop_backs_off_then_ends_failed() {
    let mut spec = ServiceSpec::new("crasher", "echo starting; exit 3");
    spec.restart_limits = RestartLimits {
        max_attempts: 3,
        backoff_initial: Duration::from_millis(100),
        ..RestartLimits::default()
    };
    let mut run = Run::start(vec![spec]);
    let failure = run.wait_for(LONG, failed("crasher"));
    let spawns: Vec<_> = run
        .seen
        .iter()
        .filter(|(_, e)| spawned("crasher")(e))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(
        spawns.len(),
        4,
        "first run and 3 restarts\n{}",
        run.describe()
    );
    let delays: Vec<Duration> = run
        .seen
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Restarting { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect();
    assert_eq!(delays.len(), 3);
    assert_eq!(delays[0], Duration::ZERO, "the first restart is immediate");
    // 100 ms then 200 ms, ±20 % jitter; the spawns really waited.
    assert!(delays[1] >= Duration::from_millis(80) && delays[1] <= Duration::from_millis(120));
    assert!(delays[2] >= Duration::from_millis(160) && delays[2] <= Duration::from_millis(240));
    // Arrival times carry some scheduling noise: compare the sum.
    assert!(
        spawns[3] - spawns[1] + Duration::from_millis(20) >= delays[1] + delays[2],
        "{}",
        run.describe()
    );
    let Event::Failed { reason, .. } = failure else {
        unreachable!()
    };
    assert!(
        reason.contains("exit status 3") && reason.contains("3 times"),
        "{reason}"
    );
    let status = run.handle.service_status("crasher").unwrap();
    assert_eq!(status.state, ServiceState::Failed);
    assert_eq!(status.restarts, 3);
    assert!(run.shutdown().is_err());
}

#[test]
fn policies_decide_which_exits_restart() {
    let mut run = Run::start(vec![
        ServiceSpec::new("never", "exit 1").restart(RestartPolicy::Never),
        ServiceSpec::new("on-failure-ok", "exit 0").restart(RestartPolicy::OnFailure),
        ServiceSpec::new("on-failure-bad", "sleep 0.1; exit 1").restart(RestartPolicy::OnFailure),
        ServiceSpec::new("always", "sleep 0.1; exit 0").restart(RestartPolicy::Always),
    ]);
    run.wait_for(LONG, failed("never"));
    let restarted = |name: &'static str| move |e: &Event| matches!(e, Event::Restarting { service, .. } if service == name);
    run.wait_for(LONG, restarted("on-failure-bad"));
    run.wait_for(LONG, restarted("always"));
    run.watch(Duration::from_millis(300), |_| false);
    assert!(run.position(restarted("never")).is_none());
    assert!(
        run.position(restarted("on-failure-ok")).is_none(),
        "{}",
        run.describe()
    );
    let state = |name| run.handle.service_status(name).unwrap().state;
    assert_eq!(state("never"), ServiceState::Failed);
    assert_eq!(state("on-failure-ok"), ServiceState::Exited);
    let _ = run.shutdown();
}
