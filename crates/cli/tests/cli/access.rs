//! Only the owner (and root) may use a stack's control socket.
#![allow(clippy::print_stderr)]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use crate::stack_support::{demo_stack, run_limited};
use crate::support::{portwarden, stderr};

#[test]
fn another_user_cannot_use_the_control_socket() {
    let Some((uid, gid)) = testkit::other_user_or_skip("to run a client as another user") else {
        return;
    };
    let (project, ..) = demo_stack();
    project.up_detached();
    let as_other = || {
        let mut cmd = portwarden(project.path());
        cmd.arg("status").uid(uid).gid(gid);
        run_limited(&mut cmd, Duration::from_secs(30))
    };
    let open = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    // The other user may walk to the project and read its config.
    open(project.path(), 0o755);
    open(&project.config, 0o644);

    // As created, the state folder keeps it away from the socket.
    let out = as_other();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("ermission denied"),
        "{}",
        stderr(&out)
    );

    // Even with the folder and the socket opened to everyone, the supervisor checks who
    // connects (SO_PEERCRED) and refuses.
    let state = project.path().join(".portwarden");
    open(&state, 0o755);
    open(&state.join("control.sock"), 0o666);
    let out = as_other();
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}{}",
        crate::support::stdout(&out),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(&format!("uid {uid} may not control this stack")),
        "{}",
        stderr(&out)
    );
    let log = std::fs::read_to_string(state.join("logs/fullstack_startup.log")).unwrap();
    assert!(
        log.contains(&format!("refused a connection from uid {uid}")),
        "the refusal is logged:\n{log}"
    );
    // The owner still gets in.
    assert_eq!(project.status()["running"], true);
}
