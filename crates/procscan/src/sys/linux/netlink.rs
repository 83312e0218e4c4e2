//! The socket table from netlink `sock_diag`, as `ss` reads it: one `SOCK_DIAG_BY_FAMILY` dump
//! per (family, protocol), filtered by the kernel on state and, when asked, on local port.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::AsFd;

use portcore::{Family, PortRange, Protocol};

use super::ffi;
use crate::table::{self, Query};
use crate::{Error, Socket};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_HDRLEN: usize = 16;
const INET_DIAG_REQ_BYTECODE: u16 = 1;
const INET_DIAG_BC_S_GE: u8 = 2;
const INET_DIAG_BC_S_LE: u8 = 3;
/// `struct inet_diag_req_v2`.
const REQ_LEN: usize = 56;
/// `struct inet_diag_msg`.
const MSG_LEN: usize = 72;
/// The kernel fills at most ~32 KiB per datagram; a larger buffer never truncates one.
const RECV_BUF: usize = 64 * 1024;

/// Dumps every (family, protocol) the query asks for into `out`.
pub(crate) fn dump(query: &Query, out: &mut Vec<Socket>) -> Result<(), Error> {
    let sock = ffi::netlink_sock_diag().map_err(|source| Error::NetlinkSocket { source })?;
    let mut buf = vec![0u8; RECV_BUF];
    for (seq, (protocol, family)) in query.combinations().enumerate() {
        let request = request(protocol, family, query, seq as u32 + 1);
        dump_one(
            sock.as_fd(),
            &request,
            seq as u32 + 1,
            &mut buf,
            protocol,
            query,
            out,
        )
        .map_err(|source| Error::Netlink {
            protocol,
            family,
            source,
        })?;
    }
    Ok(())
}

fn dump_one(
    sock: std::os::fd::BorrowedFd<'_>,
    request: &[u8],
    seq: u32,
    buf: &mut [u8],
    protocol: Protocol,
    query: &Query,
    out: &mut Vec<Socket>,
) -> io::Result<()> {
    ffi::netlink_send(sock, request)?;
    loop {
        let len = ffi::netlink_recv(sock, buf)?;
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "netlink closed",
            ));
        }
        let mut at = 0;
        while at + NLMSG_HDRLEN <= len {
            let header = &buf[at..at + NLMSG_HDRLEN];
            let msg_len = u32_at(header, 0) as usize;
            let msg_type = u16::from_ne_bytes([header[4], header[5]]);
            let msg_seq = u32_at(header, 8);
            if msg_len < NLMSG_HDRLEN || at + msg_len > len {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "truncated netlink message",
                ));
            }
            let payload = &buf[at + NLMSG_HDRLEN..at + msg_len];
            at += align4(msg_len);
            if msg_seq != seq {
                continue; // a late answer to an earlier request on this socket
            }
            match msg_type {
                NLMSG_DONE => return Ok(()),
                NLMSG_ERROR => {
                    let errno = payload
                        .get(..4)
                        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                        .unwrap_or(0);
                    return Err(if errno < 0 {
                        io::Error::from_raw_os_error(-errno)
                    } else {
                        io::Error::new(io::ErrorKind::InvalidData, "netlink error message")
                    });
                }
                _ => {
                    if let Some(socket) = parse(payload, protocol)
                        && table::keep(&socket, query)
                    {
                        out.push(socket);
                    }
                }
            }
        }
    }
}

/// `nlmsghdr` + `inet_diag_req_v2` (+ an `INET_DIAG_REQ_BYTECODE` port filter).
fn request(protocol: Protocol, family: Family, query: &Query, seq: u32) -> Vec<u8> {
    let bytecode = query.ports.map(port_bytecode);
    let attr_len = bytecode.as_ref().map_or(0, |bc| 4 + bc.len());
    let total = NLMSG_HDRLEN + REQ_LEN + attr_len;
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(&(total as u32).to_ne_bytes());
    m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    // inet_diag_req_v2
    m.push(match family {
        Family::V4 => libc::AF_INET as u8,
        Family::V6 => libc::AF_INET6 as u8,
    });
    m.push(match protocol {
        Protocol::Tcp => libc::IPPROTO_TCP as u8,
        Protocol::Udp => libc::IPPROTO_UDP as u8,
    });
    m.push(0); // idiag_ext: no extensions needed
    m.push(0);
    m.extend_from_slice(&table::state_mask(protocol, query.states).to_ne_bytes());
    // inet_diag_sockid: for a single port, TCP dumps also skip on idiag_sport before running
    // the bytecode; the bytecode is what filters UDP and bound-only TCP sockets.
    let sport = match query.ports {
        Some(r) if r.start() == r.end() => r.start(),
        _ => 0,
    };
    m.extend_from_slice(&sport.to_be_bytes());
    m.extend_from_slice(&[0u8; 46]);
    if let Some(bc) = bytecode {
        m.extend_from_slice(&(attr_len as u16).to_ne_bytes());
        m.extend_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        m.extend_from_slice(&bc);
    }
    m
}

/// `sport >= start && sport <= end` in the kernel's filter language. Each op is
/// `{code, yes, no}`: jump `yes` bytes on a match, `no` on a miss; the socket is kept when the
/// program ends exactly at its end, so a miss jumps 4 bytes past it. A port comparison takes a
/// second op whose `no` field carries the port. (S_EQ would need Linux 4.17; GE+LE works since
/// the interface exists.)
fn port_bytecode(range: PortRange) -> Vec<u8> {
    let op = |code: u8, yes: u8, no: u16| [code, yes, no.to_ne_bytes()[0], no.to_ne_bytes()[1]];
    let mut bc = Vec::with_capacity(16);
    bc.extend_from_slice(&op(INET_DIAG_BC_S_GE, 8, 16 + 4));
    bc.extend_from_slice(&op(0, 0, range.start()));
    bc.extend_from_slice(&op(INET_DIAG_BC_S_LE, 8, 8 + 4));
    bc.extend_from_slice(&op(0, 0, range.end()));
    bc
}

/// One `inet_diag_msg`.
fn parse(msg: &[u8], protocol: Protocol) -> Option<Socket> {
    if msg.len() < MSG_LEN {
        return None;
    }
    let family = match i32::from(msg[0]) {
        libc::AF_INET => Family::V4,
        libc::AF_INET6 => Family::V6,
        _ => return None,
    };
    let state = table::state_from_kernel(msg[1])?;
    let sport = u16::from_be_bytes([msg[4], msg[5]]);
    let dport = u16::from_be_bytes([msg[6], msg[7]]);
    let interface = u32_at(msg, 40);
    let local = address(family, &msg[8..24], sport, interface);
    let remote = address(family, &msg[24..40], dport, interface);
    let remote = (dport != 0 || !remote.ip().is_unspecified()).then_some(remote);
    Some(Socket {
        protocol,
        family,
        local,
        remote,
        state,
        inode: u64::from(u32_at(msg, 68)),
        uid: u32_at(msg, 64),
        holders: Vec::new(),
    })
}

fn address(family: Family, bytes: &[u8], port: u16, interface: u32) -> SocketAddr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&bytes[..16]);
    match family {
        Family::V4 => SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3])),
            port,
        ),
        Family::V6 => {
            let ip = Ipv6Addr::from(octets);
            let scope = if ip.is_unicast_link_local() {
                interface
            } else {
                0
            };
            SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope))
        }
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn align4(len: usize) -> usize {
    (len + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytecode_jumps_stay_inside_what_the_kernel_audits() {
        let bc = port_bytecode(PortRange::new(8000, 8080).unwrap());
        assert_eq!(bc.len(), 16);
        assert_eq!(bc[0], INET_DIAG_BC_S_GE);
        assert_eq!(u16::from_ne_bytes([bc[6], bc[7]]), 8000);
        assert_eq!(bc[8], INET_DIAG_BC_S_LE);
        assert_eq!(u16::from_ne_bytes([bc[14], bc[15]]), 8080);
    }

    #[test]
    fn request_is_header_plus_req_plus_attribute() {
        let query = Query {
            ports: PortRange::single(80),
            ..Query::default()
        };
        let m = request(Protocol::Tcp, Family::V6, &query, 7);
        assert_eq!(m.len(), NLMSG_HDRLEN + REQ_LEN + 4 + 16);
        assert_eq!(u32_at(&m, 0) as usize, m.len());
        assert_eq!(m[16], libc::AF_INET6 as u8);
        assert_eq!(u16::from_be_bytes([m[24], m[25]]), 80);
    }
}
