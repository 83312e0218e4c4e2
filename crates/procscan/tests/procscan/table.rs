//! `snapshot` finds every kind of socket a fixture binds, with the right holders.

use std::time::Duration;

use portcore::{Family, Protocol};
use procscan::{ProcessDetail, ScanOptions, SocketState, StateFilter, snapshot};
use testkit::{Fixture, ipv6_available, wait_until};

use crate::support::{find, kernel_version};

#[test]
fn listeners_of_each_protocol_and_family_are_found_with_their_one_holder() {
    if !ipv6_available() {
        skip!("no IPv6 loopback here");
    }
    let f = Fixture::spawn(&[
        "--tcp",
        "127.0.0.1:0",
        "--tcp",
        "[::1]:0",
        "--udp",
        "127.0.0.1:0",
        "--udp",
        "[::1]:0",
    ]);
    let snap = snapshot(&ScanOptions::default()).unwrap();
    let expected = [
        (
            Protocol::Tcp,
            f.ready.tcp[0],
            Family::V4,
            SocketState::Listen,
        ),
        (
            Protocol::Tcp,
            f.ready.tcp[1],
            Family::V6,
            SocketState::Listen,
        ),
        (
            Protocol::Udp,
            f.ready.udp[0],
            Family::V4,
            SocketState::Close,
        ),
        (
            Protocol::Udp,
            f.ready.udp[1],
            Family::V6,
            SocketState::Close,
        ),
    ];
    for (protocol, addr, family, state) in expected {
        let s = find(&snap, protocol, addr)
            .unwrap_or_else(|| panic!("{protocol} {addr} is missing from {:#?}", snap.sockets));
        assert_eq!(
            (s.family, s.state, s.remote),
            (family, state, None),
            "{s:?}"
        );
        assert!(s.is_listening());
        assert_eq!(s.holders, vec![f.pid()], "{s:?}");
        assert_ne!(s.inode, 0);
        assert_eq!(s.uid, our_euid());
    }
    let info = snap
        .process(f.pid())
        .expect("the holder's details are read");
    assert_eq!(info.name, "pw-fixture");
    assert!(info.cmdline.iter().any(|a| a == "--udp"));
    assert_eq!(info.pgid, f.pid(), "the fixture leads its own group");
}

#[test]
fn a_listener_shared_with_a_forked_child_lists_both_pids() {
    let f = Fixture::spawn(&[
        "--tcp",
        "127.0.0.1:0",
        "--udp",
        "127.0.0.1:0",
        "--fork-child",
    ]);
    let child = f.ready.child.expect("the fixture forked");
    let snap = snapshot(&ScanOptions::default()).unwrap();
    let mut both = vec![f.pid(), child];
    both.sort_unstable();
    for (protocol, addr) in [
        (Protocol::Tcp, f.ready.tcp[0]),
        (Protocol::Udp, f.ready.udp[0]),
    ] {
        let s = find(&snap, protocol, addr).expect("the shared socket is found");
        assert_eq!(s.holders, both, "{s:?}");
    }
    assert_eq!(snap.process(child).map(|p| p.ppid), Some(f.pid()));
}

#[test]
fn a_bound_only_tcp_socket_is_found_in_every_state_scans() {
    if kernel_version() < (6, 9) {
        skip!(
            "Linux {:?} does not dump bound-only TCP sockets (6.9+ does)",
            kernel_version()
        );
    }
    let f = Fixture::spawn(&["--bound", "127.0.0.1:0"]);
    let addr = f.ready.bound[0];
    let all = ScanOptions {
        states: StateFilter::All,
        ..ScanOptions::default()
    };
    let snap = snapshot(&all).unwrap();
    let s = find(&snap, Protocol::Tcp, addr).expect("the bound-only socket is found");
    assert_eq!((s.state, s.remote), (SocketState::Close, None));
    assert!(!s.is_listening());
    assert_eq!(s.holders, vec![f.pid()]);
    let listening = snapshot(&ScanOptions::default()).unwrap();
    assert!(
        find(&listening, Protocol::Tcp, addr).is_none(),
        "a bound-only socket is not listening"
    );
}

#[test]
fn the_table_is_sorted_and_filters_apply() {
    let f = Fixture::spawn(&["--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0"]);
    let snap = snapshot(&ScanOptions::default()).unwrap();
    let keys: Vec<_> = snap
        .sockets
        .iter()
        .map(|s| (s.protocol, s.port(), s.local.ip()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert!(snap.sockets.iter().all(|s| s.holders.is_sorted()));

    let tcp_port = f.ready.tcp_port();
    let only = ScanOptions {
        protocols: vec![Protocol::Udp],
        families: vec![Family::V4],
        ports: portcore::PortRange::new(f.ready.udp[0].port(), f.ready.udp[0].port()),
        detail: ProcessDetail::Pids,
        ..ScanOptions::default()
    };
    let snap = snapshot(&only).unwrap();
    assert_eq!(snap.sockets.len(), 1, "{:#?}", snap.sockets);
    assert_eq!(snap.sockets[0].local, f.ready.udp[0]);
    assert!(snap.processes.is_empty(), "Pids detail reads no process");
    assert!(snap.on_port(tcp_port, None).next().is_none());
}

#[test]
fn a_socket_closed_by_its_process_leaves_the_table() {
    let mut f = Fixture::spawn(&["--tcp", "127.0.0.1:0", "--exit-after", "300"]);
    let addr = f.ready.tcp[0];
    assert!(
        find(
            &snapshot(&ScanOptions::default()).unwrap(),
            Protocol::Tcp,
            addr
        )
        .is_some()
    );
    assert!(f.wait_exit(Duration::from_secs(10)).is_some());
    assert!(wait_until(Duration::from_secs(5), || {
        find(
            &snapshot(&ScanOptions::default()).unwrap(),
            Protocol::Tcp,
            addr,
        )
        .is_none()
    }));
}

/// Our effective uid (the uid the fixture's sockets belong to).
fn our_euid() -> u32 {
    procscan::process_info(std::process::id(), ProcessDetail::Basic)
        .map(|p| p.uid)
        .unwrap_or(u32::MAX)
}
