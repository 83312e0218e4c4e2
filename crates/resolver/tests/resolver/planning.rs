//! Planning: ports are never given twice, exclusions hold, sticky ports win, limits hold, and
//! a misbehaving strategy cannot get past the planner's checks.

use std::collections::BTreeSet;

use proptest::prelude::*;
use resolver::{
    Action, Claim, Conflict, ConflictKind, Conservative, Decision, DecisionContext, Intelligent,
    Plan, PortRole, Strategy, detect, plan,
};

use crate::support::{ME, Snap, detect_options, identity, plan_options, process};

fn node(pid: u32) -> procscan::ProcessInfo {
    process(pid, "node", "node server.js", ME)
}

fn assert_no_port_given_twice(plan: &Plan) {
    let mut seen = BTreeSet::new();
    for (service, port) in plan.resolved_ports() {
        assert!(
            seen.insert(port),
            "port {port} given twice (again to {service}): {plan:#?}"
        );
    }
}

#[test]
fn services_sharing_alternatives_never_get_the_same_port() {
    let claims: Vec<Claim> = (0..4)
        .map(|i| Claim::new(format!("svc{i}"), 8000 + i).with_alternatives([9001, 9002, 9003]))
        .collect();
    // Every primary is taken by someone else's process.
    let snapshot = (0..4)
        .fold(Snap::new(), |s, i| {
            s.listener(8000 + i, node(200 + u32::from(i)))
        })
        .build();
    let plan = plan(&claims, &snapshot, &Conservative, &plan_options());
    assert_no_port_given_twice(&plan);
    let ports = plan.resolved_ports();
    assert_eq!(ports["svc0"], 9001);
    assert_eq!(ports["svc1"], 9002);
    assert_eq!(ports["svc2"], 9003);
    assert!(matches!(
        plan.entry("svc3").unwrap().decision,
        Decision::Unresolvable { .. }
    ));
}

#[test]
fn reserved_ports_and_other_services_primaries_are_never_migration_targets() {
    let claims = [
        Claim::new("web", 3000),
        // 5432 is reserved (PostgreSQL), 3000 is web's port: 8081 is the first allowed.
        Claim::new("api", 8080).with_alternatives([5432, 3000, 8081]),
    ];
    let snapshot = Snap::new().listener(8080, node(200)).build();
    let plan = plan(&claims, &snapshot, &Conservative, &plan_options());
    assert_eq!(plan.resolved_ports()["api"], 8081);
    assert_eq!(plan.resolved_ports()["web"], 3000);
    // The overlap with web's port is reported as an advisory double claim.
    let advisory = &plan.entry("api").unwrap().advisories[0];
    assert_eq!(
        advisory.kind,
        ConflictKind::DoubleClaim {
            other: "web".into(),
            ours: PortRole::Alternative,
            theirs: PortRole::Primary
        }
    );
    assert_eq!(advisory.port, 3000);
}

#[test]
fn a_double_claimed_primary_goes_to_the_first_service_only() {
    let claims = [
        Claim::new("a", 8000).with_alternatives([8001]),
        Claim::new("b", 8000).with_alternatives([8001, 8002]),
    ];
    let conflicts = detect(&claims, &Snap::new().build(), &detect_options());
    assert_eq!(conflicts.len(), 1, "{conflicts:#?}");
    assert_eq!(conflicts[0].service, "b");
    let plan = plan(&claims, &Snap::new().build(), &Intelligent, &plan_options());
    // b may not take a's port; a's alternative 8001 is fair game while a keeps 8000.
    assert_eq!(plan.resolved_ports()["a"], 8000);
    assert_eq!(plan.resolved_ports()["b"], 8001);
    assert_no_port_given_twice(&plan);
}

#[test]
fn the_sticky_port_is_preferred_while_it_is_free() {
    let claim = Claim::new("api", 8000).with_alternatives([8001, 8002, 8003]);
    let taken = Snap::new().listener(8000, node(200));
    let plan_a = plan(
        &[claim.clone().with_sticky(8003)],
        &taken.build(),
        &Conservative,
        &plan_options(),
    );
    assert_eq!(plan_a.resolved_ports()["api"], 8003);
    let plan_b = plan(
        &[claim.with_sticky(8003)],
        &Snap::new()
            .listener(8000, node(200))
            .listener(8003, node(201))
            .build(),
        &Conservative,
        &plan_options(),
    );
    assert_eq!(plan_b.resolved_ports()["api"], 8001);
}

#[test]
fn max_alternative_ports_bounds_the_search() {
    let claims = [Claim::new("api", 8000).with_alternatives([8001, 8002])];
    let snapshot = Snap::new()
        .listener(8000, node(200))
        .listener(8001, node(201))
        .build();
    let mut options = plan_options();
    options.settings.max_alternative_ports = 1;
    let bounded = plan(&claims, &snapshot, &Conservative, &options);
    let Decision::Unresolvable { reason } = &bounded.entries[0].decision else {
        panic!("{bounded:#?}")
    };
    assert!(reason.contains("8001"), "{reason}");
    options.settings.max_alternative_ports = 2;
    let wider = plan(&claims, &snapshot, &Conservative, &options);
    assert_eq!(wider.resolved_ports()["api"], 8002);
}

#[test]
fn a_plan_serializes_and_reads_back() {
    let claims = [
        Claim::new("api", 8000).with_alternatives([8001]),
        Claim::new("worker", 8100)
            .with_patterns(["worker"])
            .unwrap()
            .with_last_instance(identity(300)),
    ];
    let snapshot = Snap::new()
        .listener(8000, node(200))
        .listener(8100, process(301, "worker", "worker --stale", ME))
        .build();
    let plan = plan(&claims, &snapshot, &Intelligent, &plan_options());
    let json = serde_json::to_string_pretty(&plan).unwrap();
    assert!(json.contains("\"decision\": \"restart_ours\""), "{json}");
    assert!(
        json.contains("\"grace_ms\": 5000") || json.contains("\"grace\": 5000"),
        "{json}"
    );
    let back: Plan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, plan);
    let actions = &plan.entry("worker").unwrap().actions;
    assert!(matches!(
        actions[0],
        Action::Terminate { identity: id, port: 8100, .. } if id == identity(301)
    ));
}

/// A strategy that tries everything the planner must refuse.
struct Rogue(Decision);

impl Strategy for Rogue {
    fn name(&self) -> &str {
        "rogue"
    }
    fn decide(&self, _conflict: &Conflict, _ctx: &DecisionContext<'_>) -> Decision {
        self.0.clone()
    }
}

#[test]
fn the_planner_refuses_what_a_strategy_must_not_do() {
    let claims = [
        Claim::new("web", 3000),
        Claim::new("api", 8000).with_alternatives([8001]),
    ];
    let snapshot = Snap::new()
        .listener(8000, node(200))
        .listener(8001, node(201))
        .listener(2222, process(400, "sshd", "sshd: user", ME))
        .build();
    let rogue_decisions = [
        // A process that does not hold the port.
        Decision::Terminate {
            targets: vec![identity(201)],
            group: false,
        },
        // A protected process.
        Decision::Terminate {
            targets: vec![identity(400)],
            group: false,
        },
        // Only some of the holders... here none.
        Decision::Terminate {
            targets: vec![],
            group: false,
        },
        // Restarting a process that is not ours.
        Decision::RestartOurs {
            targets: vec![identity(200)],
        },
        // A reserved port, another service's port, a taken port.
        Decision::Migrate { to: 5432 },
        Decision::Migrate { to: 3000 },
        Decision::Migrate { to: 8001 },
        // Keeping a port someone else holds.
        Decision::Keep,
    ];
    for decision in rogue_decisions {
        let plan = plan(
            &claims,
            &snapshot,
            &Rogue(decision.clone()),
            &plan_options(),
        );
        let entry = plan.entry("api").unwrap();
        assert!(
            matches!(entry.decision, Decision::Unresolvable { .. }),
            "{decision:?} was let through: {entry:#?}"
        );
        assert_eq!(entry.resolved_port, None);
        assert!(
            !entry
                .actions
                .iter()
                .any(|a| matches!(a, Action::Terminate { .. } | Action::Migrate { .. }))
        );
    }
}

#[test]
fn a_parent_and_child_sharing_the_port_are_terminated_as_a_group_leader_first() {
    let parent = process(700, "server", "server", ME);
    let mut child = process(701, "server", "server --worker", ME);
    child.ppid = 700;
    child.pgid = 700;
    let snapshot = Snap::new().shared(8000, vec![parent, child]).build();
    let plan = plan(
        &[Claim::new("api", 8000)],
        &snapshot,
        &resolver::Aggressive,
        &plan_options(),
    );
    let entry = &plan.entries[0];
    assert_eq!(
        entry.decision,
        Decision::Terminate {
            targets: vec![identity(700), identity(701)],
            group: true
        }
    );
    let groups: Vec<(u32, bool)> = entry
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Terminate {
                identity, group, ..
            } => Some((identity.pid, *group)),
            _ => None,
        })
        .collect();
    assert_eq!(groups, [(700, true), (701, false)]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever the claims and whatever holds what, no port is given to two services, no
    /// migration lands on a reserved port or on another service's configured port.
    #[test]
    fn no_plan_gives_a_port_twice(
        primaries in proptest::collection::vec(8000u16..8012, 1..8),
        alternatives in proptest::collection::vec(proptest::collection::vec(8000u16..8016, 0..6), 8),
        held in proptest::collection::vec(8000u16..8016, 0..10),
        strategy in 0usize..3,
    ) {
        let claims: Vec<Claim> = primaries
            .iter()
            .enumerate()
            .map(|(i, &p)| Claim::new(format!("s{i}"), p).with_alternatives(alternatives[i].clone()))
            .collect();
        let snapshot = held
            .iter()
            .enumerate()
            .fold(Snap::new(), |s, (i, &port)| s.listener(port, node(1000 + i as u32)))
            .build();
        let strategies: [&dyn Strategy; 3] = [&Conservative, &resolver::Aggressive, &Intelligent];
        let plan = plan(&claims, &snapshot, strategies[strategy], &plan_options());
        let mut seen = BTreeSet::new();
        for entry in &plan.entries {
            let Some(port) = entry.resolved_port else { continue };
            prop_assert!(seen.insert(port), "port {} given twice: {:#?}", port, plan);
            if let Decision::Migrate { to } = entry.decision {
                let service = entry.service.as_deref().unwrap();
                prop_assert!(!claims.iter().any(|c| c.name != service && c.port == to));
                prop_assert!(!held.contains(&to));
            }
        }
    }
}
