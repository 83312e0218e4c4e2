//! Kill-port and cleanup plans on hand-built snapshots (the live ones are in `live_kill`).

use resolver::{Action, Claim, Decision, KillOptions, plan_cleanup, plan_kill_port};

use crate::support::{ME, OUR_PARENT, Snap, context, identity, process};

fn options() -> KillOptions {
    KillOptions {
        context: context(),
        ..KillOptions::default()
    }
}

fn targets(plan: &resolver::Plan) -> Vec<u32> {
    plan.entries
        .iter()
        .flat_map(|e| &e.actions)
        .filter_map(|a| match a {
            Action::Terminate { identity, .. } => Some(identity.pid),
            _ => None,
        })
        .collect()
}

#[test]
fn only_listeners_on_exactly_that_port_are_targets() {
    let snapshot = Snap::new()
        .listener(3000, process(100, "node", "node a.js", ME))
        .listener(30001, process(101, "node", "node b.js", ME))
        .listener(300, process(102, "node", "node c.js", ME))
        // A client whose connection goes to port 3000 (local port 41000)...
        .client(41000, 3000, process(103, "curl", "curl localhost:3000", ME))
        // ...and the server side of that connection (held by the listener).
        .client(3000, 41000, process(100, "node", "node a.js", ME))
        .build();
    let plan = plan_kill_port(3000, None, &snapshot, &options());
    assert_eq!(targets(&plan), [100]);
    assert_eq!(plan.strategy, "kill-port");
}

#[test]
fn nothing_listening_is_a_noop() {
    let plan = plan_kill_port(4000, None, &Snap::new().build(), &options());
    assert!(plan.is_noop());
    assert_eq!(plan.entries[0].decision, Decision::Keep);
}

#[test]
fn protected_targets_are_refused_in_the_plan_with_the_reason() {
    let snapshot = Snap::new()
        .listener(1111, process(1, "init", "/sbin/init", 0))
        .listener(2222, process(OUR_PARENT, "bash", "-bash", ME))
        .listener(3333, process(300, "node", "node theirs.js", 1001))
        .listener(
            4444,
            process(400, "redis-server", "redis-server *:4444", ME),
        )
        .unseen(5555, 0)
        .build();
    let cases = [
        (1111, "init"),
        (2222, "ancestor"),
        (3333, "uid 1001"),
        (4444, "protected"),
        (5555, "cannot see"),
    ];
    for (port, needle) in cases {
        let plan = plan_kill_port(port, None, &snapshot, &options());
        assert!(targets(&plan).is_empty(), "port {port}: {plan:#?}");
        let Decision::Unresolvable { reason } = &plan.entries[0].decision else {
            panic!("port {port}: {plan:#?}")
        };
        assert!(reason.contains(needle), "port {port}: {reason}");
    }
    // Another user's process with force: planned (the kernel still decides at execution).
    let forced = KillOptions {
        force: true,
        ..options()
    };
    assert_eq!(
        targets(&plan_kill_port(3333, None, &snapshot, &forced)),
        [300]
    );
}

#[test]
fn a_shared_listener_is_found_in_parent_and_child_and_handled_as_a_group() {
    let parent = process(700, "server", "server", ME);
    let mut child = process(701, "server", "server", ME);
    child.pgid = 700;
    child.ppid = 700;
    let snapshot = Snap::new().shared(8000, vec![parent, child]).build();
    let plan = plan_kill_port(8000, None, &snapshot, &options());
    assert_eq!(targets(&plan), [700, 701]);
    assert!(matches!(
        plan.entries[0].decision,
        Decision::Terminate { group: true, .. }
    ));
    let no_group = KillOptions {
        group: false,
        ..options()
    };
    let plan = plan_kill_port(8000, None, &snapshot, &no_group);
    assert!(matches!(
        plan.entries[0].decision,
        Decision::Terminate { group: false, .. }
    ));
}

#[test]
fn cleanup_targets_our_strays_on_our_ports_only() {
    let claims = [
        Claim::new("api", 8000)
            .with_alternatives([8001])
            .with_patterns(["api-server"])
            .unwrap(),
        Claim::new("web", 3000)
            .with_patterns(["vite"])
            .unwrap()
            .with_last_instance(identity(301)),
    ];
    let snapshot = Snap::new()
        .listener(8000, process(100, "api-server", "api-server", ME))
        .listener(8001, process(101, "node", "node unrelated.js", ME))
        .listener(3000, process(301, "node", "node vite", ME))
        // A copy of ours on a port that is not ours: not a stray of our ports.
        .listener(
            9999,
            process(102, "api-server", "api-server --port 9999", ME),
        )
        // Another user's copy: not ours.
        .listener(8000, process(103, "api-server", "api-server", 1001))
        .build();
    let plan = plan_cleanup(&claims, &snapshot, &options());
    assert_eq!(plan.strategy, "cleanup");
    let mut pids = targets(&plan);
    pids.sort_unstable();
    assert_eq!(pids, [100, 301]);
}
