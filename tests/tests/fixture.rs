//! The fixture itself behaves as documented.
use std::time::Duration;

use testkit::{Fixture, pid_alive, wait_until};

#[test]
fn fixture_binds_forks_and_dies_with_its_guard() {
    let (pid, child) = {
        let f = Fixture::spawn(&[
            "--tcp",
            "127.0.0.1:0",
            "--udp",
            "127.0.0.1:0",
            "--fork-child",
        ]);
        assert_eq!(f.ready.tcp.len(), 1);
        assert_eq!(f.ready.udp.len(), 1);
        assert_ne!(f.ready.tcp_port(), 0);
        let child = f.ready.child.expect("a forked child");
        assert!(pid_alive(f.pid()) && pid_alive(child));
        (f.pid(), child)
    };
    assert!(wait_until(Duration::from_secs(5), || !pid_alive(pid)
        && !pid_alive(child)));
}

#[test]
fn fixture_http_health_turns_ready() {
    use std::io::{Read, Write};
    let f = Fixture::spawn(&["--http", "127.0.0.1:0", "--healthy-after", "200"]);
    let addr = f.ready.http.unwrap();
    let get = || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    assert!(get().contains("503"));
    assert!(wait_until(Duration::from_secs(5), || get().contains("200 OK")));
}
