//! A supervisor killed with SIGKILL is replaced by the next `up -d` without running anything
//! twice, and two projects on one machine never meet.

use std::time::Duration;

use crate::stack_support::{Project, demo_stack, demo_yaml, free_port, pid_of, service};
use crate::support::{stderr, stdout};

#[test]
fn a_killed_supervisor_is_replaced_with_exactly_one_copy_of_each_service() {
    let (project, _api, _alt, _web) = demo_stack();
    project.up_detached();
    let status = project.status();
    let supervisor = status["supervisor"]["pid"].as_u64().unwrap() as u32;
    let before: Vec<u32> = ["api", "web", "worker"]
        .iter()
        .map(|n| pid_of(&status, n))
        .collect();

    // SAFETY: kill(2) on the supervisor this test started.
    unsafe {
        libc::kill(supervisor as i32, libc::SIGKILL);
    }
    assert!(testkit::wait_until(Duration::from_secs(5), || {
        !testkit::pid_alive(supervisor)
    }));

    // No supervisor answers; what it left is listed.
    let out = project.run(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["running"], false);
    assert_eq!(doc["services"].as_array().unwrap().len(), 3, "{doc:#}");
    assert!(
        stderr(&out).contains("left 3 services running"),
        "{}",
        stderr(&out)
    );

    // The next up -d stops them first, then starts one copy of each.
    let out = project.up_detached();
    assert!(
        stdout(&out).contains("left running by an earlier supervisor"),
        "{}",
        stdout(&out)
    );
    for pid in before {
        assert!(
            !testkit::pid_alive(pid),
            "pid {pid} of the killed supervisor lives on"
        );
    }
    let status = project.status();
    for name in ["api", "web", "worker"] {
        assert_eq!(
            project.live_copies(name),
            vec![pid_of(&status, name)],
            "{name} must run exactly once"
        );
    }
}

#[test]
fn two_projects_run_side_by_side() {
    let (one, one_api, _, _) = demo_stack();
    let (api, alt, web) = (free_port(), free_port(), free_port());
    let two = Project::new(&demo_yaml(api, alt, web));
    one.up_detached();
    two.up_detached();
    let (s1, s2) = (one.status(), two.status());
    assert_ne!(s1["supervisor"]["pid"], s2["supervisor"]["pid"]);
    assert_ne!(s1["supervisor"]["socket"], s2["supervisor"]["socket"]);
    assert_eq!(service(&s1, "api")["port"], one_api);
    assert_eq!(service(&s2, "api")["port"], api);

    let out = one.run(&["stop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(one.processes().is_empty());
    let after = two.status();
    for name in ["api", "web", "worker"] {
        assert_eq!(
            pid_of(&after, name),
            pid_of(&s2, name),
            "{name} of project two"
        );
    }
}
