//! `lookup_port` finds exactly the local port asked for.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use portcore::Protocol;
use procscan::{ProcessDetail, SocketState, StateFilter, lookup_port};
use testkit::{Fixture, wait_until};

#[test]
fn finds_the_port_and_its_holders_only() {
    let f = Fixture::spawn(&[
        "--tcp",
        "127.0.0.1:0",
        "--udp",
        "127.0.0.1:0",
        "--fork-child",
    ]);
    let port = f.ready.tcp_port();
    let found = lookup_port(
        port,
        Some(Protocol::Tcp),
        StateFilter::Listening,
        ProcessDetail::Basic,
    )
    .unwrap();
    assert_eq!(found.sockets.len(), 1, "{:#?}", found.sockets);
    let s = &found.sockets[0];
    assert_eq!((s.local, s.state), (f.ready.tcp[0], SocketState::Listen));
    let mut both = vec![f.pid(), f.ready.child.unwrap()];
    both.sort_unstable();
    assert_eq!(s.holders, both);
    assert_eq!(found.processes.keys().copied().collect::<Vec<_>>(), both);

    let udp_port = f.ready.udp[0].port();
    let udp = lookup_port(udp_port, None, StateFilter::Listening, ProcessDetail::Pids).unwrap();
    assert!(udp.sockets.iter().all(|s| s.port() == udp_port));
    assert!(
        udp.sockets
            .iter()
            .any(|s| s.protocol == Protocol::Udp && s.holders == both)
    );
    assert!(
        lookup_port(0, None, StateFilter::All, ProcessDetail::Pids)
            .unwrap()
            .sockets
            .is_empty()
    );
}

/// Ports whose decimal digits start with another's (P and 10P+d) must not be confused, as
/// text-matching tools do. Needs P < 6554 with both free.
#[test]
fn a_port_is_not_confused_with_one_whose_digits_start_with_it() {
    // Free on loopback, and nothing at all on that port anywhere (any state, any address).
    let free = |port: u16| {
        TcpListener::bind(("127.0.0.1", port)).is_ok()
            && lookup_port(port, None, StateFilter::All, ProcessDetail::Pids)
                .is_ok_and(|s| s.sockets.is_empty())
    };
    let base = 2000 + (std::process::id() % 4000) as u16;
    let Some((short, long)) = (0..200u16)
        .map(|i| 1024 + (base + i * 7) % 5500)
        .map(|p| (p, p * 10 + 7))
        .find(|&(p, q)| free(p) && free(q))
    else {
        skip!("no free pair of ports P, 10P+7 with P < 6554 on loopback");
    };
    let a = Fixture::spawn(&["--tcp", &format!("127.0.0.1:{short}")]);
    let b = Fixture::spawn(&["--tcp", &format!("127.0.0.1:{long}")]);
    let found = lookup_port(short, None, StateFilter::All, ProcessDetail::Pids).unwrap();
    assert_eq!(found.sockets.len(), 1, "{:#?}", found.sockets);
    assert_eq!(found.sockets[0].holders, vec![a.pid()]);
    let found = lookup_port(long, None, StateFilter::All, ProcessDetail::Pids).unwrap();
    assert_eq!(found.sockets.len(), 1, "{:#?}", found.sockets);
    assert_eq!(found.sockets[0].holders, vec![b.pid()]);
}

/// A client connected to the port from elsewhere has another local port: it is not listed.
/// The server's accepted connection on the port is, as `Established`.
#[test]
fn lists_accepted_connections_but_never_a_mere_client() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = Fixture::spawn(&["--connect", &format!("127.0.0.1:{port}")]);
    let (_accepted, peer) = listener.accept().unwrap();
    assert_eq!(Some(peer), client.ready.client.first().copied());

    let found = lookup_port(
        port,
        Some(Protocol::Tcp),
        StateFilter::All,
        ProcessDetail::Pids,
    )
    .unwrap();
    assert!(
        found.sockets.iter().all(|s| s.port() == port),
        "{:#?}",
        found.sockets
    );
    assert!(
        found
            .sockets
            .iter()
            .all(|s| !s.holders.contains(&client.pid()))
    );
    let me = std::process::id();
    let established = found
        .sockets
        .iter()
        .find(|s| s.state == SocketState::Established)
        .expect("the accepted connection is listed");
    assert_eq!(established.remote, Some(peer));
    assert_eq!(established.holders, vec![me]);
    assert!(
        found
            .sockets
            .iter()
            .any(|s| s.state == SocketState::Listen && s.holders == vec![me])
    );
    // Listening only: the listener, not the connection.
    let listening = lookup_port(
        port,
        Some(Protocol::Tcp),
        StateFilter::Listening,
        ProcessDetail::Pids,
    )
    .unwrap();
    assert_eq!(listening.sockets.len(), 1);
}

/// The side that closes first keeps the connection in TIME_WAIT: listed, inode 0, no holders.
#[test]
fn sees_time_wait_entries_without_holders() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let mut client = TcpStream::connect(addr).unwrap();
    let (server, _) = listener.accept().unwrap();
    // The server closes first; the client reads the EOF and closes too.
    drop(server);
    let mut sink = [0u8; 8];
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(client.read(&mut sink).unwrap_or(0), 0);
    let _ = client.write_all(b"");
    drop(client);
    let mut time_wait = None;
    assert!(
        wait_until(Duration::from_secs(5), || {
            let found = lookup_port(
                addr.port(),
                Some(Protocol::Tcp),
                StateFilter::All,
                ProcessDetail::Pids,
            )
            .unwrap();
            time_wait = found
                .sockets
                .into_iter()
                .find(|s| s.state == SocketState::TimeWait);
            time_wait.is_some()
        }),
        "no TIME_WAIT entry on port {}",
        addr.port()
    );
    let tw = time_wait.unwrap();
    assert_eq!((tw.inode, tw.local), (0, addr));
    assert!(tw.holders.is_empty());
    assert!(!tw.owner_known());
}

#[test]
fn udp_only_and_both_protocols() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let udp = lookup_port(
        port,
        Some(Protocol::Udp),
        StateFilter::Listening,
        ProcessDetail::Pids,
    )
    .unwrap();
    assert_eq!(udp.sockets.len(), 1);
    assert_eq!(udp.sockets[0].holders, vec![std::process::id()]);
    let tcp = lookup_port(
        port,
        Some(Protocol::Tcp),
        StateFilter::All,
        ProcessDetail::Pids,
    )
    .unwrap();
    assert!(tcp.sockets.iter().all(|s| s.protocol == Protocol::Tcp));
}

#[test]
fn holds_port_checks_one_process_and_port_sockets_reads_no_holders() {
    let shared = Fixture::spawn(&["--tcp", "127.0.0.1:0", "--fork-child"]);
    let other = Fixture::spawn(&["--tcp", "127.0.0.1:0"]);
    let port = shared.ready.tcp_port();
    let child = shared.ready.child.unwrap();
    let tcp = Some(Protocol::Tcp);
    for pid in [shared.pid(), child] {
        assert!(procscan::holds_port(pid, port, tcp, StateFilter::Listening).unwrap());
    }
    assert!(!procscan::holds_port(other.pid(), port, tcp, StateFilter::Listening).unwrap());
    assert!(
        !procscan::holds_port(
            shared.pid(),
            port,
            Some(Protocol::Udp),
            StateFilter::Listening
        )
        .unwrap()
    );

    let sockets = procscan::port_sockets(port, tcp, StateFilter::Listening).unwrap();
    assert_eq!(sockets.len(), 1);
    assert_eq!(sockets[0].local, shared.ready.tcp[0]);
    assert!(sockets[0].holders.is_empty());
    drop(shared);
    assert!(wait_until(Duration::from_secs(5), || {
        procscan::port_sockets(port, tcp, StateFilter::Listening)
            .unwrap()
            .is_empty()
    }));
}
