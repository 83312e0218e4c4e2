//! Process identity and the process queries.

use std::time::{Duration, SystemTime};

use procscan::{
    ProcessDetail, ProcessIdentity, ancestors, descendants, group_members, is_same_process,
    process_identity, process_info, processes,
};
use testkit::{Fixture, wait_until};

use crate::support::parent_pid;

#[test]
fn an_identity_with_another_start_time_or_an_exited_process_is_not_the_same() {
    let mut f = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    let id = process_identity(f.pid()).unwrap();
    assert_eq!(id.pid, f.pid());
    assert!(is_same_process(&id));
    // A reused pid shows as a different start time.
    assert!(!is_same_process(&ProcessIdentity {
        start_time: id.start_time + 1,
        ..id
    }));
    assert!(!is_same_process(&ProcessIdentity {
        start_time: id.start_time - 1,
        ..id
    }));
    testkit::kill_pid(f.pid());
    // A zombie has exited: not the same process any more, even before it is reaped.
    assert!(wait_until(Duration::from_secs(5), || !is_same_process(&id)));
    assert!(f.wait_exit(Duration::from_secs(5)).is_some());
    assert!(!is_same_process(&id));
    assert!(matches!(
        process_info(id.pid, ProcessDetail::Basic),
        Err(procscan::Error::ProcessNotFound { pid }) if pid == id.pid
    ));
}

#[test]
fn full_details_of_a_fixture() {
    let f = Fixture::spawn(&["--tcp", "127.0.0.1:0", "--fork-child"]);
    let info = process_info(f.pid(), ProcessDetail::Full).unwrap();
    assert_eq!(info.name, "pw-fixture");
    assert_eq!(info.ppid, std::process::id());
    assert_eq!((info.pgid, info.sid == info.pid), (f.pid(), false));
    assert!(
        info.exe.as_ref().is_some_and(|e| e.ends_with("pw-fixture")),
        "{info:?}"
    );
    assert_eq!(info.cwd, std::env::current_dir().ok());
    assert_eq!(info.cmdline[1..], ["--tcp", "127.0.0.1:0", "--fork-child"]);
    assert!(!info.kernel_thread);
    let age = info.uptime(SystemTime::now()).expect("the start is known");
    assert!(age < Duration::from_secs(120), "{age:?}");
    if info.uid == 0 {
        assert_eq!(info.user.as_deref(), Some("root"));
    }
    let basic = process_info(f.pid(), ProcessDetail::Basic).unwrap();
    assert_eq!((basic.exe, basic.cwd), (None, None));
}

#[test]
fn ancestors_climb_to_init() {
    let chain = ancestors(std::process::id());
    assert_eq!(chain.first().map(|p| p.pid), Some(parent_pid()));
    assert!(chain.windows(2).all(|w| w[0].ppid == w[1].pid));
    // The chain ends at init, or where the parent lies outside our pid namespace (ppid 0).
    assert!(
        chain.last().is_some_and(|p| p.pid == 1 || p.ppid == 0),
        "{chain:#?}"
    );
    assert!(ancestors(u32::MAX).is_empty());
}

#[test]
fn group_members_and_descendants_of_a_forking_fixture() {
    let f = Fixture::spawn(&["--tcp", "127.0.0.1:0", "--fork-child"]);
    let child = f.ready.child.unwrap();
    let members: Vec<u32> = group_members(f.pid()).iter().map(|m| m.pid).collect();
    let mut both = vec![f.pid(), child];
    both.sort_unstable();
    assert_eq!(members, both);
    let below = descendants(f.pid());
    assert_eq!(below, vec![process_identity(child).unwrap()]);
    assert!(
        descendants(std::process::id())
            .iter()
            .any(|d| d.pid == child)
    );
}

#[test]
fn processes_lists_everyone_including_us_and_the_fixture() {
    let f = Fixture::spawn(&["--udp", "127.0.0.1:0"]);
    let all = processes(ProcessDetail::Basic).unwrap();
    assert!(all.is_sorted_by_key(|p| p.pid));
    let fixture = all
        .iter()
        .find(|p| p.pid == f.pid())
        .expect("the fixture is listed");
    assert_eq!(fixture.name, "pw-fixture");
    assert!(all.iter().any(|p| p.pid == std::process::id()));
    assert!(all.iter().any(|p| p.pid == 1));
}
