//! `Scanner`: repeated scans see what a cold scan sees.

use std::net::TcpListener;
use std::time::Duration;

use portcore::Protocol;
use procscan::{ScanOptions, Scanner, snapshot};
use testkit::{Fixture, wait_until};

use crate::support::find;

#[test]
fn new_processes_new_sockets_and_exits_are_all_noticed() {
    let options = ScanOptions::default();
    let mut scanner = Scanner::with_full_pass_every(1000);
    let a = Fixture::spawn(&["--tcp", "127.0.0.1:0", "--fork-child"]);
    let first = scanner.scan(&options).unwrap();
    assert!(scanner.last_scan_was_full());
    let mut both = vec![a.pid(), a.ready.child.unwrap()];
    both.sort_unstable();
    assert_eq!(
        find(&first, Protocol::Tcp, a.ready.tcp[0]).unwrap().holders,
        both
    );

    // A new process with a new socket: found by reading the new pids only.
    let b = Fixture::spawn(&["--udp", "127.0.0.1:0"]);
    let second = scanner.scan(&options).unwrap();
    assert_eq!(
        find(&second, Protocol::Udp, b.ready.udp[0])
            .unwrap()
            .holders,
        vec![b.pid()]
    );
    assert_eq!(
        find(&second, Protocol::Tcp, a.ready.tcp[0])
            .unwrap()
            .holders,
        both
    );
    assert!(
        second
            .process(b.pid())
            .is_some_and(|p| p.name == "pw-fixture")
    );

    // A process already read opens a socket: its holder is unknown, so a full pass runs.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let third = scanner.scan(&options).unwrap();
    let ours = find(&third, Protocol::Tcp, listener.local_addr().unwrap()).unwrap();
    assert_eq!(ours.holders, vec![std::process::id()]);
    assert!(scanner.last_scan_was_full());

    // An exit: its sockets leave the table, its pid leaves the holders.
    let b_addr = b.ready.udp[0];
    drop(b);
    assert!(wait_until(Duration::from_secs(5), || {
        find(&scanner.scan(&options).unwrap(), Protocol::Udp, b_addr).is_none()
    }));
}

#[test]
fn a_steady_scan_matches_a_cold_snapshot_for_stable_sockets() {
    let options = ScanOptions::default();
    let f = Fixture::spawn(&[
        "--tcp",
        "127.0.0.1:0",
        "--udp",
        "127.0.0.1:0",
        "--fork-child",
    ]);
    let mut scanner = Scanner::new();
    scanner.scan(&options).unwrap();
    let steady = scanner.scan(&options).unwrap();
    let cold = snapshot(&options).unwrap();
    for addr in [f.ready.tcp[0], f.ready.udp[0]] {
        let protocol = if addr == f.ready.tcp[0] {
            Protocol::Tcp
        } else {
            Protocol::Udp
        };
        assert_eq!(find(&steady, protocol, addr), find(&cold, protocol, addr));
        assert_eq!(
            steady.process(f.pid()).map(|p| p.identity()),
            cold.process(f.pid()).map(|p| p.identity())
        );
    }
    assert!(!scanner.last_scan_was_full() || steady.sockets.len() >= 2);
}

#[test]
fn full_passes_come_back_on_schedule() {
    let options = ScanOptions::default();
    let mut scanner = Scanner::with_full_pass_every(3);
    assert_eq!(scanner.full_pass_every(), 3);
    let mut full = Vec::new();
    for _ in 0..7 {
        scanner.scan(&options).unwrap();
        full.push(scanner.last_scan_was_full());
    }
    // Other tests may open sockets meanwhile and force extra full passes (which restart the
    // count), but never do three scans in a row go without one.
    assert!(full[0], "{full:?}");
    assert!(full.windows(3).all(|w| w.contains(&true)), "{full:?}");
}
