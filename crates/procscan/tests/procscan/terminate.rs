//! `terminate`: polite first, forceful after the grace period, whole groups on request.

use std::time::Duration;

use procscan::{SafetyPolicy, Signal, TerminateOptions, process_identity, send_signal, terminate};
use testkit::{Fixture, pid_alive, wait_until};

fn options(grace_ms: u64) -> TerminateOptions {
    TerminateOptions {
        grace: Duration::from_millis(grace_ms),
        ..TerminateOptions::default()
    }
}

#[test]
fn a_process_that_obeys_sigterm_exits_quickly() {
    let f = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    let id = process_identity(f.pid()).unwrap();
    let outcome = terminate(&id, &options(10_000), &SafetyPolicy::default()).unwrap();
    assert!(outcome.exited && !outcome.killed, "{outcome:?}");
    assert!(outcome.elapsed < Duration::from_secs(5), "{outcome:?}");
    assert_eq!(outcome.identity, id);
    assert!(!pid_alive(f.pid()));
}

#[test]
fn a_process_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let f = Fixture::spawn(&["--tcp", "127.0.0.1:0", "--ignore-term"]);
    let id = process_identity(f.pid()).unwrap();
    let outcome = terminate(&id, &options(300), &SafetyPolicy::default()).unwrap();
    assert!(outcome.exited && outcome.killed, "{outcome:?}");
    assert!(outcome.elapsed >= Duration::from_millis(300), "{outcome:?}");
    assert!(!pid_alive(f.pid()));
}

#[test]
fn without_escalation_a_stubborn_process_is_left_running() {
    let f = Fixture::spawn(&["--ignore-term"]);
    let id = process_identity(f.pid()).unwrap();
    let opts = TerminateOptions {
        escalate: false,
        ..options(200)
    };
    let outcome = terminate(&id, &opts, &SafetyPolicy::default()).unwrap();
    assert!(!outcome.exited && !outcome.killed, "{outcome:?}");
    assert!(pid_alive(f.pid()));
}

#[test]
fn a_group_terminate_ends_the_leader_and_its_forked_child() {
    let f = Fixture::spawn(&["--tcp", "127.0.0.1:0", "--fork-child", "--ignore-term"]);
    let child = f.ready.child.unwrap();
    let id = process_identity(f.pid()).unwrap();
    let opts = TerminateOptions {
        group: true,
        ..options(300)
    };
    let outcome = terminate(&id, &opts, &SafetyPolicy::default()).unwrap();
    assert!(outcome.exited && outcome.killed, "{outcome:?}");
    assert!(!pid_alive(f.pid()));
    // The child's parent (the fixture) is gone; its reaper may take a moment.
    assert!(wait_until(Duration::from_secs(5), || !pid_alive(child)));
}

#[test]
fn without_group_only_the_leader_is_signalled() {
    let f = Fixture::spawn(&["--fork-child"]);
    let child = f.ready.child.unwrap();
    let id = process_identity(f.pid()).unwrap();
    let outcome = terminate(&id, &options(5_000), &SafetyPolicy::default()).unwrap();
    assert!(outcome.exited);
    assert!(pid_alive(child), "the child was not part of the request");
}

#[test]
fn send_signal_delivers_through_the_pidfd() {
    let mut f = Fixture::spawn(&["--udp", "127.0.0.1:0"]);
    let id = process_identity(f.pid()).unwrap();
    send_signal(&id, Signal::Kill, &SafetyPolicy::default()).unwrap();
    assert!(f.wait_exit(Duration::from_secs(5)).is_some());
    // Signalling it again: the process has exited.
    let err = send_signal(&id, Signal::Term, &SafetyPolicy::default()).unwrap_err();
    assert!(err.is_gone(), "{err:?}");
}

/// A group with one refused member is not signalled at all, and the refusal names that member.
#[test]
fn a_group_with_a_protected_member_is_refused_whole() {
    use std::os::unix::process::CommandExt;
    let f = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    // A second process joins the fixture's group (same session, so setpgid allows it).
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .process_group(f.pid() as i32)
        .spawn()
        .unwrap();
    let _guard = testkit::PidGuard(sleeper.id());
    assert!(wait_until(Duration::from_secs(5), || {
        procscan::group_members(f.pid())
            .iter()
            .any(|m| m.pid == sleeper.id())
            && procscan::process_info(sleeper.id(), procscan::ProcessDetail::Basic)
                .is_ok_and(|p| p.name == "sleep")
    }));
    let policy = SafetyPolicy {
        protected_names: vec!["sleep".into()],
        ..SafetyPolicy::default()
    };
    let id = process_identity(f.pid()).unwrap();
    let opts = TerminateOptions {
        group: true,
        ..options(300)
    };
    let err = terminate(&id, &opts, &policy).unwrap_err();
    assert!(
        matches!(err.refusal(), Some(procscan::Refusal::Protected { pid, .. }) if *pid == sleeper.id()),
        "{err:?}"
    );
    assert!(
        pid_alive(f.pid()) && pid_alive(sleeper.id()),
        "nothing was signalled"
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}
