//! Every built-in strategy on the same scenarios gives the decision documented in the crate's
//! decision table.

use procscan::Snapshot;
use resolver::{
    Aggressive, Claim, ConflictKind, ConflictLevel, Conservative, Decision, HolderClass,
    Intelligent, ResolutionSettings, Strategy, detect, plan,
};

use crate::support::{ME, OUR_PID, Snap, detect_options, identity, plan_options, process};

/// The decision expected, without the details that do not matter for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Keep,
    Migrate(u16),
    RestartOurs,
    Terminate,
    Unresolvable,
}

fn summarize(decision: &Decision) -> Expect {
    match decision {
        Decision::Keep => Expect::Keep,
        Decision::Migrate { to } => Expect::Migrate(*to),
        Decision::RestartOurs { .. } => Expect::RestartOurs,
        Decision::Terminate { .. } => Expect::Terminate,
        Decision::Unresolvable { .. } => Expect::Unresolvable,
        other => panic!("unexpected decision {other:?}"),
    }
}

struct Scenario {
    name: &'static str,
    claims: Vec<Claim>,
    snapshot: Snapshot,
    settings: ResolutionSettings,
    level: ConflictLevel,
    /// conservative, aggressive, intelligent
    expect: [Expect; 3],
}

fn api() -> Claim {
    Claim::new("api", 8000)
        .with_alternatives([8001, 8002])
        .with_patterns(["api-server"])
        .unwrap()
}

fn no_preserve() -> ResolutionSettings {
    ResolutionSettings {
        preserve_external_processes: false,
        ..ResolutionSettings::default()
    }
}

fn scenarios() -> Vec<Scenario> {
    use Expect::*;
    let node = || process(200, "node", "node server.js", ME);
    vec![
        Scenario {
            name: "free port",
            claims: vec![api()],
            snapshot: Snap::new().listener(9999, node()).build(),
            settings: ResolutionSettings::default(),
            level: ConflictLevel::None,
            expect: [Keep, Keep, Keep],
        },
        Scenario {
            name: "ours healthy",
            claims: vec![api().with_last_instance(identity(100))],
            snapshot: Snap::new()
                .listener(
                    8000,
                    process(100, "api-server", "api-server --port 8000", ME),
                )
                .build(),
            settings: ResolutionSettings::default(),
            level: ConflictLevel::Low,
            expect: [Keep, Keep, Keep],
        },
        Scenario {
            name: "ours healthy, with a forked worker sharing the listener",
            claims: vec![api().with_last_instance(identity(100))],
            snapshot: Snap::new()
                .shared(
                    8000,
                    vec![
                        process(100, "api-server", "api-server --port 8000", ME),
                        crate::support::child_of(101, 100, "api-server", "api-server --worker"),
                    ],
                )
                .build(),
            settings: ResolutionSettings::default(),
            level: ConflictLevel::Low,
            expect: [Keep, Keep, Keep],
        },
        Scenario {
            name: "ours stale",
            claims: vec![api()],
            snapshot: Snap::new()
                .listener(
                    8000,
                    process(101, "api-server", "api-server --port 8000", ME),
                )
                .build(),
            settings: ResolutionSettings::default(),
            level: ConflictLevel::Medium,
            expect: [Migrate(8001), RestartOurs, RestartOurs],
        },
        Scenario {
            name: "ours stale, an older recorded instance gone",
            claims: vec![api().with_last_instance(identity(55))],
            snapshot: Snap::new()
                .listener(8000, process(101, "api-server", "api-server", ME))
                .build(),
            settings: ResolutionSettings::default(),
            level: ConflictLevel::Medium,
            expect: [Migrate(8001), RestartOurs, RestartOurs],
        },
        Scenario {
            name: "TIME_WAIT only",
            claims: vec![api()],
            snapshot: Snap::new().time_wait(8000).time_wait(8000).build(),
            settings: ResolutionSettings::default(),
            level: ConflictLevel::Medium,
            expect: [Keep, Keep, Keep],
        },
        Scenario {
            name: "external, same user",
            claims: vec![api()],
            snapshot: Snap::new().listener(8000, node()).build(),
            settings: ResolutionSettings::default(),
            level: ConflictLevel::High,
            expect: [Migrate(8001), Terminate, Migrate(8001)],
        },
        Scenario {
            name: "external, same user, migration disabled",
            claims: vec![api()],
            snapshot: Snap::new().listener(8000, node()).build(),
            settings: ResolutionSettings {
                allow_port_migration: false,
                ..no_preserve()
            },
            level: ConflictLevel::High,
            // Not critical: intelligent does not stop it.
            expect: [Unresolvable, Terminate, Unresolvable],
        },
        Scenario {
            name: "external, critical service, no alternative, preserve off",
            claims: vec![Claim::new("db-api", 8000).critical(true)],
            snapshot: Snap::new().listener(8000, node()).build(),
            settings: no_preserve(),
            level: ConflictLevel::Critical,
            expect: [Unresolvable, Terminate, Terminate],
        },
        Scenario {
            name: "critical with no free alternative (preserve on)",
            claims: vec![api().critical(true)],
            snapshot: Snap::new()
                .listener(8000, node())
                .listener(8001, process(201, "python3", "python3 -m http.server", ME))
                .listener(8002, process(202, "ruby", "ruby app.rb", ME))
                .build(),
            settings: ResolutionSettings::default(),
            level: ConflictLevel::Critical,
            expect: [Unresolvable, Terminate, Unresolvable],
        },
        Scenario {
            name: "other user",
            claims: vec![api()],
            snapshot: Snap::new()
                .listener(8000, process(300, "node", "node other.js", 1001))
                .build(),
            settings: no_preserve(),
            level: ConflictLevel::Critical,
            expect: [Migrate(8001), Migrate(8001), Migrate(8001)],
        },
        Scenario {
            name: "other user, critical, no alternative, force",
            claims: vec![Claim::new("db-api", 8000).critical(true)],
            snapshot: Snap::new()
                .listener(8000, process(300, "node", "node other.js", 1001))
                .build(),
            settings: ResolutionSettings {
                force: true,
                ..no_preserve()
            },
            level: ConflictLevel::Critical,
            expect: [Unresolvable, Terminate, Terminate],
        },
        Scenario {
            name: "other user, critical, no alternative, no force",
            claims: vec![Claim::new("db-api", 8000).critical(true)],
            snapshot: Snap::new()
                .listener(8000, process(300, "node", "node other.js", 1001))
                .build(),
            settings: no_preserve(),
            level: ConflictLevel::Critical,
            expect: [Unresolvable, Unresolvable, Unresolvable],
        },
        Scenario {
            name: "protected name",
            claims: vec![api()],
            snapshot: Snap::new()
                .listener(8000, process(400, "postgres", "postgres -D /data", ME))
                .build(),
            settings: no_preserve(),
            level: ConflictLevel::Critical,
            expect: [Migrate(8001), Migrate(8001), Migrate(8001)],
        },
        Scenario {
            name: "system user",
            claims: vec![api()],
            snapshot: Snap::new()
                .listener(8000, process(401, "nginx", "nginx: worker process", 33))
                .build(),
            settings: ResolutionSettings {
                force: true,
                ..no_preserve()
            },
            level: ConflictLevel::Critical,
            expect: [Migrate(8001), Migrate(8001), Migrate(8001)],
        },
        Scenario {
            name: "portwarden itself",
            claims: vec![api()],
            snapshot: Snap::new()
                .listener(8000, process(OUR_PID, "portwarden", "portwarden up", ME))
                .build(),
            settings: no_preserve(),
            level: ConflictLevel::Critical,
            expect: [Migrate(8001), Migrate(8001), Migrate(8001)],
        },
        Scenario {
            name: "owner unknown",
            claims: vec![api()],
            snapshot: Snap::new().unseen(8000, 0).build(),
            settings: ResolutionSettings {
                force: true,
                ..no_preserve()
            },
            level: ConflictLevel::Critical,
            expect: [Migrate(8001), Migrate(8001), Migrate(8001)],
        },
        Scenario {
            name: "owner unknown, no alternative",
            claims: vec![Claim::new("solo", 8000)],
            snapshot: Snap::new().unseen(8000, 0).build(),
            settings: no_preserve(),
            level: ConflictLevel::Critical,
            expect: [Unresolvable, Unresolvable, Unresolvable],
        },
        Scenario {
            name: "docker-proxy",
            claims: vec![api()],
            snapshot: Snap::new()
                .listener(
                    8000,
                    process(
                        500,
                        "docker-proxy",
                        "/usr/bin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8000 \
                         -container-ip 172.17.0.2 -container-port 80",
                        0,
                    ),
                )
                .build(),
            settings: ResolutionSettings {
                force: true,
                ..no_preserve()
            },
            level: ConflictLevel::Critical,
            expect: [Migrate(8001), Migrate(8001), Migrate(8001)],
        },
        Scenario {
            name: "double claim",
            claims: vec![
                Claim::new("web", 8000),
                Claim::new("api", 8000).with_alternatives([8001]),
            ],
            snapshot: Snap::new().build(),
            settings: ResolutionSettings::default(),
            level: ConflictLevel::High,
            expect: [Migrate(8001), Migrate(8001), Migrate(8001)],
        },
    ]
}

#[test]
fn every_strategy_gives_the_documented_decision_in_every_scenario() {
    let strategies: [&dyn Strategy; 3] = [&Conservative, &Aggressive, &Intelligent];
    let mut failures = Vec::new();
    for scenario in scenarios() {
        let mut options = plan_options();
        options.settings = scenario.settings.clone();
        // The decision concerns the last claim (the loser of a double claim).
        let service = &scenario.claims.last().unwrap().name;
        for (strategy, expected) in strategies.iter().zip(scenario.expect) {
            let plan = plan(&scenario.claims, &scenario.snapshot, *strategy, &options);
            let entry = plan.entry(service).unwrap();
            let got = summarize(&entry.decision);
            if got != expected || entry.level != scenario.level {
                failures.push(format!(
                    "{} / {}: expected {expected:?} at {}, got {got:?} at {} ({:?})",
                    scenario.name,
                    strategy.name(),
                    scenario.level,
                    entry.level,
                    entry.decision
                ));
            }
            if let Decision::Unresolvable { reason } = &entry.decision {
                assert!(!reason.is_empty(), "{}: empty reason", scenario.name);
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn docker_proxy_is_reported_as_the_containers_port_and_never_a_target() {
    let claims = [Claim::new("web", 8080)];
    let snapshot = Snap::new()
        .listener(
            8080,
            process(
                500,
                "docker-proxy",
                "docker-proxy -proto tcp -host-port 8080 -container-ip 172.17.0.2 -container-port 80",
                0,
            ),
        )
        .build();
    let mut options = detect_options();
    options.published = vec![resolver::PublishedPort {
        container: "shop-web".into(),
        host_port: 8080,
        container_port: 80,
        protocol: portcore::Protocol::Tcp,
    }];
    let conflicts = detect(&claims, &snapshot, &options);
    let holder = &conflicts[0].holders[0];
    assert_eq!(holder.class, HolderClass::System);
    assert!(
        conflicts[0]
            .explanation
            .contains("Docker container `shop-web`'s published port (172.17.0.2:80)"),
        "{}",
        conflicts[0].explanation
    );
    let without_names = detect(&claims, &snapshot, &detect_options());
    assert!(
        without_names[0]
            .explanation
            .contains("a Docker container's published port (172.17.0.2:80)")
    );
    // Even aggressive with force never targets it.
    let mut plan_opts = plan_options();
    plan_opts.settings.force = true;
    let plan = plan(&claims, &snapshot, &Aggressive, &plan_opts);
    assert!(matches!(
        plan.entries[0].decision,
        Decision::Unresolvable { .. }
    ));
    assert!(
        !plan.entries[0]
            .actions
            .iter()
            .any(|a| matches!(a, resolver::Action::Terminate { .. }))
    );
}

#[test]
fn time_wait_only_is_medium_and_explains_so_reuseaddr() {
    let conflicts = detect(
        &[Claim::new("api", 8000)],
        &Snap::new().time_wait(8000).build(),
        &detect_options(),
    );
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].level, ConflictLevel::Medium);
    assert_eq!(conflicts[0].kind, ConflictKind::TimeWaitOnly { sockets: 1 });
    assert!(conflicts[0].explanation.contains("SO_REUSEADDR"));
    assert!(conflicts[0].holders.is_empty());
}

#[test]
fn unknown_strategy_names_list_the_known_ones() {
    let err = resolver::strategy_by_name("yolo").err().unwrap();
    assert_eq!(err.known, ["conservative", "aggressive", "intelligent"]);
    assert!(err.to_string().contains("yolo"));
    for name in resolver::STRATEGY_NAMES {
        assert_eq!(resolver::strategy_by_name(name).unwrap().name(), *name);
    }
}
