//! Plans executed against real processes (pw-fixture) and the real socket table.

use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use portcore::{Protocol, probe_port};
use procscan::{
    ProcessDetail, ProcessIdentity, Refusal, ScanOptions, StateFilter, lookup_port,
    process_identity, snapshot,
};
use resolver::{
    Action, Aggressive, Claim, ClassifyContext, ConflictKind, ConflictLevel, Decision,
    DetectOptions, EntryOutcome, ExecuteOptions, KillOptions, Outcome, Plan, PlanOptions,
    ResolutionSettings, detect, execute, plan, plan_kill_port,
};
use testkit::{Fixture, pid_alive, wait_until};

use crate::support::serial;

const GRACE: Duration = Duration::from_millis(300);

fn scan() -> procscan::Snapshot {
    snapshot(&ScanOptions::default()).unwrap()
}

fn kill_options() -> KillOptions {
    KillOptions {
        grace: GRACE,
        ..KillOptions::default()
    }
}

fn terminate_action(identity: ProcessIdentity, port: u16) -> Action {
    Action::Terminate {
        identity,
        name: "pw-fixture".into(),
        port,
        protocol: Protocol::Tcp,
        signal: procscan::Signal::Term,
        grace: GRACE,
        group: false,
    }
}

fn one_action_plan(action: Action, port: u16) -> Plan {
    Plan {
        strategy: "test".into(),
        snapshot_taken_at: std::time::SystemTime::now(),
        entries: vec![resolver::PlanEntry {
            service: None,
            port,
            protocol: Protocol::Tcp,
            level: ConflictLevel::High,
            conflict: None,
            advisories: Vec::new(),
            decision: Decision::Keep,
            actions: vec![action],
            resolved_port: Some(port),
        }],
    }
}

fn outcomes(report: &resolver::Report) -> Vec<&Outcome> {
    report
        .entries
        .iter()
        .flat_map(|e| &e.actions)
        .map(|a| &a.outcome)
        .collect()
}

#[test]
fn a_holder_ignoring_sigterm_is_killed_after_the_grace_period_and_the_port_verified_free() {
    let _serial = serial();
    let mut fixture = Fixture::spawn(&["--tcp", "127.0.0.1:0", "--ignore-term"]);
    let port = fixture.ready.tcp_port();
    let claims = [Claim::new("api", port)];
    let options = PlanOptions {
        settings: ResolutionSettings {
            grace_period: GRACE,
            ..ResolutionSettings::default()
        },
        ..PlanOptions::default()
    };
    let plan = plan(&claims, &scan(), &Aggressive, &options);
    let entry = &plan.entries[0];
    assert_eq!(entry.level, ConflictLevel::High, "{entry:#?}");
    assert!(matches!(entry.decision, Decision::Terminate { .. }));

    let report = execute(&plan, &ExecuteOptions::default());
    let done = &report.entries[0];
    assert!(
        matches!(
            done.actions[0].outcome,
            Outcome::Done {
                escalated: true,
                ..
            }
        ),
        "{done:#?}"
    );
    assert!(done.actions[0].duration >= GRACE);
    assert!(done.verification.as_ref().unwrap().free, "{done:#?}");
    assert_eq!(done.outcome(), EntryOutcome::Done);
    assert_eq!(done.resolved_port, Some(port));
    assert!(fixture.wait_exit(Duration::from_secs(5)).is_some());
    assert!(probe_port(port, Protocol::Tcp).is_free());
}

#[test]
fn a_recorded_process_replaced_by_another_is_never_signalled() {
    let _serial = serial();
    let first = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    let port = first.ready.tcp_port();
    let old_plan = plan_kill_port(port, Some(Protocol::Tcp), &scan(), &kill_options());
    assert!(matches!(
        old_plan.entries[0].decision,
        Decision::Terminate { .. }
    ));
    let old_identity = process_identity(first.pid()).unwrap();
    drop(first);
    assert!(wait_until(Duration::from_secs(5), || !pid_alive(
        old_identity.pid
    )));

    // Another process takes the port.
    let newcomer = Fixture::spawn(&["--tcp", &format!("127.0.0.1:{port}")]);
    let report = execute(&old_plan, &ExecuteOptions::default());
    match outcomes(&report)[0] {
        Outcome::Skipped { reason } => assert!(reason.contains("exited"), "{reason}"),
        other => panic!("the old plan acted: {other:?}"),
    }
    // The same pid with the old start time: what a reused pid looks like. Start times count
    // clock ticks (10 ms), and the two fixtures may start within one tick: then the recorded
    // time is taken one tick earlier, as it would be for any earlier holder of the pid.
    let newcomer_start = process_identity(newcomer.pid()).unwrap().start_time;
    let reused = ProcessIdentity {
        pid: newcomer.pid(),
        start_time: if old_identity.start_time == newcomer_start {
            newcomer_start - 1
        } else {
            old_identity.start_time
        },
    };
    let report = execute(
        &one_action_plan(terminate_action(reused, port), port),
        &ExecuteOptions::default(),
    );
    assert!(
        matches!(
            outcomes(&report)[0],
            Outcome::Refused {
                refusal: Refusal::IdentityMismatch { .. }
            }
        ),
        "{report:#?}"
    );
    assert!(pid_alive(newcomer.pid()));
    assert!(!probe_port(port, Protocol::Tcp).is_free());
}

#[test]
fn a_process_that_no_longer_holds_the_port_is_skipped() {
    let _serial = serial();
    let recorded = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    let other = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    // The plan says `recorded` holds `other`'s port (as if it had moved away since).
    let port = other.ready.tcp_port();
    let identity = process_identity(recorded.pid()).unwrap();
    let report = execute(
        &one_action_plan(terminate_action(identity, port), port),
        &ExecuteOptions::default(),
    );
    match outcomes(&report)[0] {
        Outcome::Skipped { reason } => assert!(reason.contains("no longer holds"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(pid_alive(recorded.pid()) && pid_alive(other.pid()));
}

/// A port `p` and `p * 10 + 1`, both bindable on loopback now.
fn prefix_pair() -> Option<(u16, u16)> {
    let seed = std::process::id();
    (0..200u32).find_map(|i| {
        let p = 1024 + ((seed.wrapping_mul(7919) + i * 104_729) % (6553 - 1024)) as u16;
        let long = p.checked_mul(10)?.checked_add(1)?;
        let a = TcpListener::bind(("127.0.0.1", p)).ok()?;
        let b = TcpListener::bind(("127.0.0.1", long)).ok()?;
        drop((a, b));
        Some((p, long))
    })
}

#[test]
fn kill_port_touches_only_the_exact_port() {
    let _serial = serial();
    let Some((port, longer)) = prefix_pair() else {
        eprintln!("skipped: no pair P, P*10+1 both bindable on 127.0.0.1 was found");
        return;
    };
    let target = Fixture::spawn(&["--tcp", &format!("127.0.0.1:{port}")]);
    let bystander = Fixture::spawn(&["--tcp", &format!("127.0.0.1:{longer}")]);
    // A client connected to the port: not a target either.
    let client = Fixture::spawn(&["--connect", &format!("127.0.0.1:{port}")]);
    let plan = plan_kill_port(port, None, &scan(), &kill_options());
    let targets: Vec<u32> = plan
        .entries
        .iter()
        .flat_map(|e| &e.actions)
        .filter_map(|a| match a {
            Action::Terminate { identity, .. } => Some(identity.pid),
            _ => None,
        })
        .collect();
    assert_eq!(targets, [target.pid()], "{plan:#?}");
    let report = execute(&plan, &ExecuteOptions::default());
    assert!(report.success(), "{report:#?}");
    assert!(wait_until(Duration::from_secs(5), || !pid_alive(
        target.pid()
    )));
    assert!(pid_alive(bystander.pid()));
    assert!(pid_alive(client.pid()));
}

#[test]
fn a_listener_shared_by_parent_and_child_is_ended_as_a_group() {
    let _serial = serial();
    let fixture = Fixture::spawn(&["--tcp", "127.0.0.1:0", "--fork-child", "--ignore-term"]);
    let port = fixture.ready.tcp_port();
    let child = fixture.ready.child.unwrap();
    let plan = plan_kill_port(port, None, &scan(), &kill_options());
    let entry = &plan.entries[0];
    let Decision::Terminate { targets, group } = &entry.decision else {
        panic!("{entry:#?}")
    };
    let mut pids: Vec<u32> = targets.iter().map(|t| t.pid).collect();
    pids.sort_unstable();
    assert_eq!(pids, [fixture.pid(), child]);
    assert!(*group);
    let report = execute(&plan, &ExecuteOptions::default());
    assert!(report.success(), "{report:#?}");
    assert!(wait_until(Duration::from_secs(5), || {
        !pid_alive(fixture.pid()) && !pid_alive(child)
    }));
    assert!(report.entries[0].verification.as_ref().unwrap().free);
}

#[test]
fn protected_targets_are_refused_and_nothing_is_signalled() {
    let _serial = serial();
    let policy = ExecuteOptions::default();
    let init = process_identity(1).unwrap();
    let report = execute(&one_action_plan(terminate_action(init, 1), 1), &policy);
    assert!(
        matches!(
            outcomes(&report)[0],
            Outcome::Refused {
                refusal: Refusal::Init { pid: 1 }
            }
        ),
        "{report:#?}"
    );
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() } as u32;
    if parent > 1 {
        let identity = process_identity(parent).unwrap();
        let report = execute(&one_action_plan(terminate_action(identity, 2), 2), &policy);
        assert!(
            matches!(
                outcomes(&report)[0],
                Outcome::Refused {
                    refusal: Refusal::Ancestor { .. }
                }
            ),
            "{report:#?}"
        );
        assert!(pid_alive(parent));
    }
}

/// Another user's process, seen from an unprivileged user: the helper below runs as `pwtest`
/// (the test binary re-executed with a uid change) against a fixture owned by root.
#[test]
fn another_users_process_is_refused_to_an_unprivileged_user() {
    let _serial = serial();
    let Some((uid, gid)) = testkit::other_user_or_skip("to start a process of another user") else {
        return;
    };
    let fixture = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    let port = fixture.ready.tcp_port();
    let identity = process_identity(fixture.pid()).unwrap();
    let exe = std::env::current_exe().unwrap();
    use std::os::unix::process::CommandExt;
    let output = Command::new(exe)
        .args([
            "live::unprivileged_helper",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            "PW_RESOLVER_HELPER",
            format!("{port} {} {}", identity.pid, identity.start_time),
        )
        .uid(uid)
        .gid(gid)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "helper failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("HELPER plan: unresolvable"), "{stdout}");
    assert!(
        stdout.contains("HELPER execute: refused other_user"),
        "{stdout}"
    );
    assert!(pid_alive(fixture.pid()));
    assert!(!probe_port(port, Protocol::Tcp).is_free());
}

/// Runs only inside [`another_users_process_is_refused_to_an_unprivileged_user`].
#[test]
fn unprivileged_helper() {
    let Ok(args) = std::env::var("PW_RESOLVER_HELPER") else {
        return;
    };
    let numbers: Vec<u64> = args.split(' ').map(|n| n.parse().unwrap()).collect();
    let (port, pid, start_time) = (numbers[0] as u16, numbers[1] as u32, numbers[2]);
    let plan = plan_kill_port(port, Some(Protocol::Tcp), &scan(), &kill_options());
    let terminations = plan
        .entries
        .iter()
        .flat_map(|e| &e.actions)
        .filter(|a| matches!(a, Action::Terminate { .. }))
        .count();
    assert_eq!(terminations, 0, "{plan:#?}");
    println!("HELPER plan: {}", plan.entries[0].decision.name());
    let identity = ProcessIdentity { pid, start_time };
    let report = execute(
        &one_action_plan(terminate_action(identity, port), port),
        &ExecuteOptions::default(),
    );
    match outcomes(&report)[0] {
        Outcome::Refused {
            refusal: Refusal::OtherUser { .. },
        } => println!("HELPER execute: refused other_user"),
        other => println!("HELPER execute: {other:?}"),
    }
}

#[test]
fn a_port_with_only_time_wait_sockets_is_held_by_nobody() {
    let _serial = serial();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (server_side, _) = listener.accept().unwrap();
    // The server closes first, so its end (local port `port`) goes to TIME_WAIT.
    drop(server_side);
    drop(listener);
    let mut buf = [0u8; 1];
    let _ = std::io::Read::read(&mut &client, &mut buf);
    drop(client);
    let found = wait_until(Duration::from_secs(5), || {
        lookup_port(
            port,
            Some(Protocol::Tcp),
            StateFilter::All,
            ProcessDetail::Basic,
        )
        .is_ok_and(|s| {
            s.sockets
                .iter()
                .any(|s| s.state == procscan::SocketState::TimeWait)
        })
    });
    assert!(found, "no TIME_WAIT socket appeared on {port}");
    let snap = snapshot(&ScanOptions {
        states: StateFilter::All,
        ..ScanOptions::default()
    })
    .unwrap();
    let conflicts = detect(&[Claim::new("api", port)], &snap, &DetectOptions::default());
    assert_eq!(conflicts.len(), 1, "{conflicts:#?}");
    assert!(matches!(
        conflicts[0].kind,
        ConflictKind::TimeWaitOnly { .. }
    ));
    assert_eq!(conflicts[0].level, ConflictLevel::Medium);
    assert!(conflicts[0].explanation.contains("SO_REUSEADDR"));
    // The nuance, for real: a typical server binds, a bind without SO_REUSEADDR does not.
    let probe = probe_port(port, Protocol::Tcp);
    assert!(probe.is_free());
    assert!(!probe.is_clean());
}

#[test]
fn a_dry_run_of_a_real_plan_changes_nothing() {
    let _serial = serial();
    let fixture = Fixture::spawn(&["--tcp", "127.0.0.1:0", "--fork-child"]);
    let port = fixture.ready.tcp_port();
    let claims = [Claim::new("api", port)];
    let options = PlanOptions {
        detect: DetectOptions {
            context: ClassifyContext::current(),
            ..DetectOptions::default()
        },
        ..PlanOptions::default()
    };
    let plan = plan(&claims, &scan(), &Aggressive, &options);
    assert!(matches!(
        plan.entries[0].decision,
        Decision::Terminate { .. }
    ));
    let report = execute(
        &plan,
        &ExecuteOptions {
            dry_run: true,
            ..ExecuteOptions::default()
        },
    );
    assert_eq!(report.entries[0].outcome(), EntryOutcome::Skipped);
    assert!(pid_alive(fixture.pid()) && pid_alive(fixture.ready.child.unwrap()));
    let still = lookup_port(
        port,
        Some(Protocol::Tcp),
        StateFilter::Listening,
        ProcessDetail::Pids,
    )
    .unwrap();
    assert_eq!(
        still.sockets[0].holders,
        [fixture.pid(), fixture.ready.child.unwrap()]
    );
}
