//! The safety checks refuse what they must, and refusing signals nothing.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use procscan::{
    ProcessDetail, ProcessIdentity, Refusal, SafetyPolicy, Signal, SignalError, check_target,
    process_identity, processes, send_signal,
};
use testkit::{Fixture, fixture_path, is_root, pid_alive, test_user};

use crate::support::parent_pid;

fn refusal(target: &ProcessIdentity, policy: &SafetyPolicy) -> Refusal {
    match send_signal(target, Signal::Term, policy) {
        Err(SignalError::Refused(r)) => r,
        other => panic!("expected a refusal for {target}, got {other:?}"),
    }
}

#[test]
fn init_ourselves_and_our_parent_are_refused() {
    let policy = SafetyPolicy::default();
    for pid in [0, 1] {
        let id = ProcessIdentity { pid, start_time: 0 };
        assert_eq!(refusal(&id, &policy), Refusal::Init { pid });
    }
    let me = process_identity(std::process::id()).unwrap();
    assert_eq!(refusal(&me, &policy), Refusal::OurSelf { pid: me.pid });
    let parent = process_identity(parent_pid()).unwrap();
    assert!(
        matches!(refusal(&parent, &policy), Refusal::Ancestor { pid, .. } if pid == parent.pid)
    );
}

#[test]
fn a_kernel_thread_is_refused() {
    let all = processes(ProcessDetail::Basic).unwrap();
    let Some(kthread) = all.iter().find(|p| p.kernel_thread) else {
        skip!("no kernel thread is visible in this pid namespace");
    };
    let r = refusal(&kthread.identity(), &SafetyPolicy::default());
    assert!(
        matches!(r, Refusal::KernelThread { pid, .. } if pid == kthread.pid),
        "{r:?}"
    );
}

#[test]
fn a_protected_name_is_refused_and_left_alive() {
    let f = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    let id = process_identity(f.pid()).unwrap();
    let policy = SafetyPolicy {
        protected_names: vec!["pw-fixture".into()],
        ..SafetyPolicy::default()
    };
    assert_eq!(
        refusal(&id, &policy),
        Refusal::Protected {
            pid: f.pid(),
            name: "pw-fixture".into()
        }
    );
    assert!(pid_alive(f.pid()));
    // The defaults protect system daemons, not our fixture.
    assert!(SafetyPolicy::default().protects("sshd"));
    assert!(check_target(&id, &SafetyPolicy::default()).is_ok());
}

#[test]
fn an_identity_off_by_one_tick_signals_nothing() {
    let f = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    let id = process_identity(f.pid()).unwrap();
    let stale = ProcessIdentity {
        start_time: id.start_time + 1,
        ..id
    };
    assert_eq!(
        refusal(&stale, &SafetyPolicy::default()),
        Refusal::IdentityMismatch {
            pid: id.pid,
            expected: stale.start_time,
            found: id.start_time
        }
    );
    std::thread::sleep(Duration::from_millis(50));
    assert!(pid_alive(f.pid()), "nothing was signalled");
}

#[test]
fn an_exited_process_is_gone() {
    let mut f = Fixture::spawn(&["--exit-after", "10"]);
    let id = ProcessIdentity {
        pid: f.pid(),
        start_time: 1,
    };
    assert!(f.wait_exit(Duration::from_secs(5)).is_some());
    let err = send_signal(&id, Signal::Term, &SafetyPolicy::default()).unwrap_err();
    assert!(err.is_gone(), "{err:?}");
}

#[test]
fn another_users_process_is_refused_unless_allowed() {
    if !is_root() {
        // Unprivileged: any visible process of another user will do.
        let (me, _) = (std::process::id(), ());
        let our_uid = procscan::process_info(me, ProcessDetail::Basic)
            .unwrap()
            .uid;
        let all = processes(ProcessDetail::Basic).unwrap();
        let Some(other) = all
            .iter()
            .find(|p| p.uid != our_uid && !p.kernel_thread && p.pid > 1)
        else {
            skip!("not root and no other user's process is visible");
        };
        let r = check_target(&other.identity(), &SafetyPolicy::default()).unwrap_err();
        assert!(
            matches!(
                r.refusal(),
                Some(Refusal::OtherUser { .. })
                    | Some(Refusal::Ancestor { .. })
                    | Some(Refusal::Protected { .. })
            ),
            "{r:?}"
        );
        return;
    }
    let (uid, gid) = match test_user() {
        Ok(ids) => ids,
        Err(reason) => skip!("{reason}"),
    };
    let mut command = Command::new(fixture_path());
    command.args(["--tcp", "127.0.0.1:0"]).uid(uid).gid(gid);
    let f = Fixture::spawn_with(&mut command);
    let id = process_identity(f.pid()).unwrap();
    assert_eq!(
        refusal(&id, &SafetyPolicy::default()),
        Refusal::OtherUser {
            pid: f.pid(),
            name: "pw-fixture".into(),
            uid,
            our_uid: 0
        }
    );
    assert!(pid_alive(f.pid()));
    let allowed = SafetyPolicy {
        allow_other_users: true,
        ..SafetyPolicy::default()
    };
    assert_eq!(check_target(&id, &allowed).unwrap().uid, uid);
}

#[test]
fn signal_names_round_trip() {
    for signal in Signal::ALL {
        assert_eq!(signal.to_string().parse::<Signal>(), Ok(signal));
        assert_eq!(signal.name().parse::<Signal>(), Ok(signal));
        assert_eq!(signal.number().to_string().parse::<Signal>(), Ok(signal));
    }
}
