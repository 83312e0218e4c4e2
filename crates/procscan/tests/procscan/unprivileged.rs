//! Another user's socket, seen without privilege: in the table, with its uid, without holders.
//!
//! As root, the test starts a root-owned fixture, then runs this same test binary again as
//! the unprivileged user `pwtest` (created through testkit), asking it to run only
//! `helper_scans_as_whoever_runs_it`, which scans and prints what it saw on one line.

use std::os::unix::process::CommandExt;
use std::process::Command;

use portcore::Protocol;
use procscan::{ProcessDetail, StateFilter, lookup_port};
use testkit::{Fixture, is_root};

const PORT_VAR: &str = "PROCSCAN_TEST_HELPER_PORT";
const PID_VAR: &str = "PROCSCAN_TEST_HELPER_PID";

#[test]
fn a_root_socket_appears_with_uid_0_and_no_holders_to_another_user() {
    let Some((uid, gid)) = testkit::other_user_or_skip("to start a process as another user") else {
        return;
    };
    let f = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    let exe = std::env::current_exe().unwrap();
    let output = Command::new(exe)
        .args([
            "--exact",
            "unprivileged::helper_scans_as_whoever_runs_it",
            "--nocapture",
        ])
        .env(PORT_VAR, f.ready.tcp_port().to_string())
        .env(PID_VAR, f.pid().to_string())
        .current_dir("/")
        .uid(uid)
        .gid(gid)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("HELPER "))
        .unwrap_or_else(|| {
            panic!(
                "the helper printed no result: {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert_eq!(
        line,
        "found=1 uid=0 holders=0 fixture_unreadable=true euid_is_ours=false"
    );
}

/// Not a test of its own: does nothing unless started by the test above.
#[test]
fn helper_scans_as_whoever_runs_it() {
    let (Ok(port), Ok(pid)) = (std::env::var(PORT_VAR), std::env::var(PID_VAR)) else {
        return;
    };
    let port: u16 = port.parse().unwrap();
    let pid: u32 = pid.parse().unwrap();
    let snap = lookup_port(
        port,
        Some(Protocol::Tcp),
        StateFilter::Listening,
        ProcessDetail::Basic,
    )
    .unwrap();
    let socket = snap.sockets.first();
    println!(
        "HELPER found={} uid={} holders={} fixture_unreadable={} euid_is_ours={}",
        snap.sockets.len(),
        socket.map_or(u32::MAX, |s| s.uid),
        socket.map_or(0, |s| s.holders.len()),
        snap.unreadable_pids.contains(&pid),
        is_root(),
    );
}
