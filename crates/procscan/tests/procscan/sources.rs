//! Netlink and `/proc/net` describe the same sockets.

use portcore::Protocol;
use procscan::{
    ScanOptions, ScanSource, Snapshot, SocketState, SourcePreference, StateFilter, snapshot,
};
use testkit::{Fixture, ipv6_available};

/// What both sources report of a socket (holders come from the same pass either way).
type Key = (
    Protocol,
    std::net::SocketAddr,
    Option<std::net::SocketAddr>,
    SocketState,
    u64,
    u32,
);

fn keys(snap: &Snapshot) -> Vec<Key> {
    snap.sockets
        .iter()
        // Bound-only TCP sockets (Linux 6.9+) are in netlink dumps only.
        .filter(|s| !(s.protocol == Protocol::Tcp && s.state == SocketState::Close))
        .map(|s| (s.protocol, s.local, s.remote, s.state, s.inode, s.uid))
        .collect()
}

#[test]
fn netlink_and_proc_net_agree() {
    let mut args = vec![
        "--tcp",
        "127.0.0.1:0",
        "--udp",
        "127.0.0.1:0",
        "--fork-child",
    ];
    if ipv6_available() {
        args.extend(["--tcp", "[::1]:0", "--udp", "[::1]:0"]);
    }
    let f = Fixture::spawn(&args);
    for states in [StateFilter::Listening, StateFilter::All] {
        let with = |source| ScanOptions {
            states,
            source,
            ..ScanOptions::default()
        };
        let netlink = snapshot(&with(SourcePreference::Netlink)).unwrap();
        let procnet = snapshot(&with(SourcePreference::ProcNet)).unwrap();
        let again = snapshot(&with(SourcePreference::Netlink)).unwrap();
        assert_eq!(netlink.source, ScanSource::Netlink);
        assert_eq!(procnet.source, ScanSource::ProcNet);
        // Other tests open and close sockets meanwhile: compare what both netlink reads saw.
        let (first, second, text) = (keys(&netlink), keys(&again), keys(&procnet));
        let stable: Vec<&Key> = first.iter().filter(|k| second.contains(k)).collect();
        for key in &stable {
            // TIME_WAIT entries expire; connections change state between reads.
            if key.3 == SocketState::Listen || key.3 == SocketState::Close {
                assert!(text.contains(key), "/proc/net lacks {key:?}");
            }
        }
        // (The converse cannot be checked while other tests run: a socket may live only
        // between the two netlink reads.)
        for addr in f.ready.tcp.iter().chain(&f.ready.udp) {
            let a = netlink.sockets.iter().find(|s| s.local == *addr).unwrap();
            let b = procnet.sockets.iter().find(|s| s.local == *addr).unwrap();
            assert_eq!(a, b, "both sources give the same socket and holders");
            assert_eq!(a.holders.len(), 2);
        }
    }
}
