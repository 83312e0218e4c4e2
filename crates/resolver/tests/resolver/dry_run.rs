//! `--dry-run`: planning and a dry execution change nothing, and the history says so.

use std::time::Duration;

use portcore::{Protocol, probe_port};
use procscan::Signal;
use resolver::{
    Action, Decision, EntryOutcome, ExecuteOptions, History, Outcome, Plan, PlanEntry, PortMemory,
    execute,
};
use testkit::{Fixture, pid_alive};

use crate::support::{live_identity, serial};

fn plan_against(fixture: &Fixture) -> Plan {
    let port = fixture.ready.tcp_port();
    let entry = |service: &str, actions: Vec<Action>, decision: Decision| PlanEntry {
        service: Some(service.to_owned()),
        port,
        protocol: Protocol::Tcp,
        level: resolver::ConflictLevel::High,
        conflict: None,
        advisories: Vec::new(),
        decision,
        actions,
        resolved_port: Some(port),
    };
    let identity = live_identity(fixture.pid());
    Plan {
        strategy: "aggressive".into(),
        snapshot_taken_at: std::time::SystemTime::now(),
        entries: vec![
            entry(
                "api",
                vec![Action::Terminate {
                    identity,
                    name: "pw-fixture".into(),
                    port,
                    protocol: Protocol::Tcp,
                    signal: Signal::Kill,
                    grace: Duration::ZERO,
                    group: true,
                }],
                Decision::Terminate {
                    targets: vec![identity],
                    group: true,
                },
            ),
            entry(
                "web",
                vec![Action::Migrate {
                    service: "web".into(),
                    from: port,
                    to: 1,
                }],
                Decision::Migrate { to: 1 },
            ),
        ],
    }
}

#[test]
fn a_dry_run_signals_nothing_moves_nothing_and_is_recorded_as_such() {
    let _serial = serial();
    let fixture = Fixture::spawn(&["--tcp", "127.0.0.1:0", "--fork-child"]);
    let port = fixture.ready.tcp_port();
    let plan = plan_against(&fixture);

    let report = execute(
        &plan,
        &ExecuteOptions {
            dry_run: true,
            ..ExecuteOptions::default()
        },
    );

    assert!(report.dry_run);
    assert!(!report.success());
    assert!(report.migrations.is_empty());
    for entry in &report.entries {
        assert_eq!(entry.outcome(), EntryOutcome::Skipped);
        assert!(entry.verification.is_none());
        for action in &entry.actions {
            assert_eq!(
                action.outcome,
                Outcome::Skipped {
                    reason: "dry run".into()
                }
            );
        }
    }
    assert!(pid_alive(fixture.pid()));
    assert!(pid_alive(fixture.ready.child.unwrap()));
    assert!(
        !probe_port(port, Protocol::Tcp).is_free(),
        "port {port} was freed"
    );

    let dir = tempfile::tempdir().unwrap();
    let history = History::new(dir.path().join(".portwarden/history.jsonl"));
    assert_eq!(history.record(&plan, &report).unwrap(), 2);
    let log = history.read().unwrap();
    assert!(log.records.iter().all(|r| r.dry_run));
    assert!(
        log.records
            .iter()
            .all(|r| r.outcome == EntryOutcome::Skipped)
    );

    let mut memory = PortMemory::load(dir.path().join("ports.json")).unwrap();
    assert!(
        !memory.record(&report),
        "a dry run must not move sticky ports"
    );
}
