//! The socket table from `/proc/net/{tcp,tcp6,udp,udp6}`: the fallback when netlink
//! `sock_diag` is unavailable (or not wanted). Slower (the kernel formats every socket as text
//! and nothing is filtered in the kernel) but available everywhere procfs is.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use portcore::{Family, Protocol};

use crate::table::{self, Query};
use crate::{Error, Socket};

/// Reads every (family, protocol) the query asks for into `out`.
pub(crate) fn read(query: &Query, out: &mut Vec<Socket>) -> Result<(), Error> {
    for (protocol, family) in query.combinations() {
        let path = match (protocol, family) {
            (Protocol::Tcp, Family::V4) => "/proc/net/tcp",
            (Protocol::Tcp, Family::V6) => "/proc/net/tcp6",
            (Protocol::Udp, Family::V4) => "/proc/net/udp",
            (Protocol::Udp, Family::V6) => "/proc/net/udp6",
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            // No IPv6 in this kernel: no IPv6 sockets.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && family == Family::V6 => {
                continue;
            }
            Err(e) => return Err(Error::proc(path, e)),
        };
        out.extend(
            text.lines()
                .skip(1)
                .filter_map(|line| parse_line(line, protocol, family))
                .filter(|s| table::keep(s, query)),
        );
    }
    Ok(())
}

/// One line: `sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...`.
pub(crate) fn parse_line(line: &str, protocol: Protocol, family: Family) -> Option<Socket> {
    let mut fields = line.split_whitespace();
    let _slot = fields.next()?;
    let local = parse_address(fields.next()?, family)?;
    let remote = parse_address(fields.next()?, family)?;
    let state = table::state_from_kernel(u8::from_str_radix(fields.next()?, 16).ok()?)?;
    let mut rest = fields.skip(3);
    let uid = rest.next()?.parse().ok()?;
    let _timeout = rest.next()?;
    let inode = rest.next()?.parse().ok()?;
    let remote = (remote.port() != 0 || !remote.ip().is_unspecified()).then_some(remote);
    Some(Socket {
        protocol,
        family,
        local,
        remote,
        state,
        inode,
        uid,
        holders: Vec::new(),
    })
}

/// `0100007F:1F90`: the address as the kernel's 32-bit words in native byte order, in hex, then
/// the port in hex.
fn parse_address(text: &str, family: Family) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = addr.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    let ip = match family {
        Family::V4 if addr.len() == 8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        Family::V6 if addr.len() == 32 => {
            let mut octets = [0u8; 16];
            for i in 0..4 {
                octets[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SocketState;

    #[cfg(target_endian = "little")]
    #[test]
    fn parses_kernel_lines() {
        let v4 = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0000000000000000 100 0 0 10 0";
        let s = parse_line(v4, Protocol::Tcp, Family::V4).unwrap();
        assert_eq!(s.local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(s.state, SocketState::Listen);
        assert_eq!((s.uid, s.inode, s.remote), (1000, 12345, None));

        let v6 = "   1: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 999 2 0000000000000000 0";
        let s = parse_line(v6, Protocol::Udp, Family::V6).unwrap();
        assert_eq!(s.local, "[::1]:53".parse().unwrap());
        assert_eq!(s.state, SocketState::Close);
        assert!(parse_line("garbage", Protocol::Udp, Family::V6).is_none());
    }
}
