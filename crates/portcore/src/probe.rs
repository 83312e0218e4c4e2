//! Bind and connect probes.
//!
//! A bind probe creates a socket, binds it and closes it at once: it tells whether a server
//! could bind the port right now, without sending any traffic. `std` always sets `SO_REUSEADDR`
//! on Unix listeners, which makes a bind succeed over TIME_WAIT sockets and over sockets that are
//! bound but not listening; the probes here are made with `socket2` both with and without
//! `SO_REUSEADDR` so that these cases can be told apart.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use socket2::{Domain, SockAddr, Socket, Type};

use crate::Protocol;

/// The addresses that matter for a local development port: IPv4 loopback, IPv4 any,
/// IPv6 loopback and IPv6 any, in that order.
pub const PROBE_ADDRESSES: [IpAddr; 4] = [
    IpAddr::V4(Ipv4Addr::LOCALHOST),
    IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    IpAddr::V6(Ipv6Addr::LOCALHOST),
    IpAddr::V6(Ipv6Addr::UNSPECIFIED),
];

/// What happened when a bind was tried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BindOutcome {
    /// The bind succeeded (the probe socket was closed at once).
    Free,
    /// `EADDRINUSE`: another socket holds the port on an overlapping address.
    InUse,
    /// `EACCES`: a privileged port (below `net.ipv4.ip_unprivileged_port_start`) without
    /// the privilege to bind it.
    PermissionDenied,
    /// `EADDRNOTAVAIL` or `EAFNOSUPPORT`: the address does not exist here (IPv6 disabled, say).
    AddressUnavailable,
    /// Any other error, with its errno and text.
    Failed {
        /// The OS error number, when there is one.
        errno: Option<i32>,
        /// The OS's description.
        message: String,
    },
}

impl BindOutcome {
    fn from_error(err: &io::Error) -> Self {
        match err.raw_os_error() {
            Some(e) if e == errno::EADDRINUSE => BindOutcome::InUse,
            Some(e) if e == errno::EACCES || e == errno::EPERM => BindOutcome::PermissionDenied,
            Some(e) if e == errno::EADDRNOTAVAIL || e == errno::EAFNOSUPPORT => {
                BindOutcome::AddressUnavailable
            }
            errno => BindOutcome::Failed {
                errno,
                message: err.to_string(),
            },
        }
    }

    /// Whether the bind succeeded.
    pub fn is_free(&self) -> bool {
        matches!(self, BindOutcome::Free)
    }

    /// A short human description: "free", "in use", ...
    pub fn describe(&self) -> String {
        match self {
            BindOutcome::Free => "free".to_owned(),
            BindOutcome::InUse => "in use".to_owned(),
            BindOutcome::PermissionDenied => "permission denied (privileged port)".to_owned(),
            BindOutcome::AddressUnavailable => "address not available here".to_owned(),
            BindOutcome::Failed { message, .. } => format!("failed: {message}"),
        }
    }
}

/// Error numbers, spelled out so this crate needs no libc binding.
mod errno {
    #[cfg(target_os = "linux")]
    mod values {
        pub const EPERM: i32 = 1;
        pub const EACCES: i32 = 13;
        pub const EAFNOSUPPORT: i32 = 97;
        pub const EADDRINUSE: i32 = 98;
        pub const EADDRNOTAVAIL: i32 = 99;
    }
    #[cfg(not(target_os = "linux"))]
    mod values {
        // The BSD family (macOS included).
        pub const EPERM: i32 = 1;
        pub const EACCES: i32 = 13;
        pub const EAFNOSUPPORT: i32 = 47;
        pub const EADDRINUSE: i32 = 48;
        pub const EADDRNOTAVAIL: i32 = 49;
    }
    pub use values::*;
}

/// One bind attempt: an address, with or without `SO_REUSEADDR`, and what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindProbe {
    /// The address the probe bound.
    pub address: IpAddr,
    /// Whether `SO_REUSEADDR` was set before the bind, as most servers (and `std`) do.
    pub reuse_address: bool,
    /// What happened.
    #[serde(flatten)]
    pub outcome: BindOutcome,
}

/// Bind probes of one port on each of [`PROBE_ADDRESSES`], with and without `SO_REUSEADDR`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortProbe {
    /// The port probed.
    pub port: u16,
    /// The protocol probed.
    pub protocol: Protocol,
    /// Eight probes: each address without, then with, `SO_REUSEADDR`.
    pub binds: Vec<BindProbe>,
}

impl PortProbe {
    /// Whether a typical server (one that sets `SO_REUSEADDR`) could bind the port on every
    /// address that exists here. TIME_WAIT sockets alone do not make a port unfree.
    pub fn is_free(&self) -> bool {
        self.binds
            .iter()
            .filter(|b| b.reuse_address && b.outcome != BindOutcome::AddressUnavailable)
            .all(|b| b.outcome.is_free())
    }

    /// Whether even a bind without `SO_REUSEADDR` succeeds everywhere: no TIME_WAIT socket and
    /// no bound socket of any kind remains on the port.
    pub fn is_clean(&self) -> bool {
        self.binds
            .iter()
            .filter(|b| b.outcome != BindOutcome::AddressUnavailable)
            .all(|b| b.outcome.is_free())
    }

    /// The outcome for one address and `SO_REUSEADDR` setting, if it was probed.
    pub fn outcome(&self, address: IpAddr, reuse_address: bool) -> Option<&BindOutcome> {
        self.binds
            .iter()
            .find(|b| b.address == address && b.reuse_address == reuse_address)
            .map(|b| &b.outcome)
    }
}

/// Tries to bind `address:port` once and reports the outcome; the socket is closed at once.
///
/// IPv6 sockets keep the system's default for `IPV6_V6ONLY` (dual stack on Linux), so a probe on
/// `::` also meets IPv4 holders, as a dual-stack server would.
pub fn probe_bind(
    address: IpAddr,
    port: u16,
    protocol: Protocol,
    reuse_address: bool,
) -> BindOutcome {
    let domain = match address {
        IpAddr::V4(_) => Domain::IPV4,
        IpAddr::V6(_) => Domain::IPV6,
    };
    let kind = match protocol {
        Protocol::Tcp => Type::STREAM,
        Protocol::Udp => Type::DGRAM,
    };
    let attempt = || -> io::Result<()> {
        let socket = Socket::new(domain, kind, None)?;
        socket.set_reuse_address(reuse_address)?;
        socket.bind(&SockAddr::from(SocketAddr::new(address, port)))
    };
    match attempt() {
        Ok(()) => BindOutcome::Free,
        Err(err) => BindOutcome::from_error(&err),
    }
}

/// Probes `port` on every address of [`PROBE_ADDRESSES`], without and with `SO_REUSEADDR`.
pub fn probe_port(port: u16, protocol: Protocol) -> PortProbe {
    let binds = PROBE_ADDRESSES
        .iter()
        .flat_map(|&address| {
            [false, true].map(|reuse_address| BindProbe {
                address,
                reuse_address,
                outcome: probe_bind(address, port, protocol, reuse_address),
            })
        })
        .collect();
    PortProbe {
        port,
        protocol,
        binds,
    }
}

/// What happened when a TCP connection was tried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConnectOutcome {
    /// Something accepted the connection (it was closed at once).
    Accepted,
    /// `ECONNREFUSED`: nothing listens there.
    Refused,
    /// No answer within the timeout (a full backlog, or a firewall that drops).
    TimedOut,
    /// Any other error.
    Failed {
        /// The OS's description.
        message: String,
    },
}

/// Tries a TCP connection to `address` with a timeout.
///
/// This sends a SYN to `address`: use it on loopback addresses or on hosts you own.
pub fn probe_connect(address: SocketAddr, timeout: Duration) -> ConnectOutcome {
    match TcpStream::connect_timeout(&address, timeout) {
        Ok(_) => ConnectOutcome::Accepted,
        Err(err) => match err.kind() {
            io::ErrorKind::ConnectionRefused => ConnectOutcome::Refused,
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ConnectOutcome::TimedOut,
            _ => ConnectOutcome::Failed {
                message: err.to_string(),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, UdpSocket};

    use super::*;

    const V4_LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const V4_ANY: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    const V6_LOCAL: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

    fn ipv6_available() -> bool {
        TcpListener::bind("[::1]:0").is_ok()
    }

    #[test]
    fn a_port_held_on_loopback_v4_blocks_v4_binds_but_not_ipv6_loopback() {
        let holder = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = holder.local_addr().unwrap().port();
        let report = probe_port(port, Protocol::Tcp);
        assert!(!report.is_free());
        assert_eq!(report.outcome(V4_LOCAL, true), Some(&BindOutcome::InUse));
        assert_eq!(report.outcome(V4_ANY, true), Some(&BindOutcome::InUse));
        if ipv6_available() {
            assert_eq!(report.outcome(V6_LOCAL, false), Some(&BindOutcome::Free));
        }
    }

    #[test]
    fn a_released_port_is_free_everywhere() {
        let port = {
            let holder = TcpListener::bind("127.0.0.1:0").unwrap();
            holder.local_addr().unwrap().port()
        };
        // Never listened-and-connected, so no TIME_WAIT: clean on every address.
        let report = probe_port(port, Protocol::Tcp);
        assert!(report.is_free(), "{report:?}");
        assert!(report.is_clean(), "{report:?}");
    }

    #[test]
    fn udp_holders_are_seen_by_udp_probes_only() {
        let holder = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = holder.local_addr().unwrap().port();
        assert_eq!(
            probe_bind(V4_LOCAL, port, Protocol::Udp, false),
            BindOutcome::InUse
        );
        // TCP and UDP ports are separate name spaces.
        assert_eq!(
            probe_bind(V4_LOCAL, port, Protocol::Tcp, false),
            BindOutcome::Free
        );
    }

    #[test]
    fn connect_probe_tells_accepted_from_refused() {
        let holder = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = holder.local_addr().unwrap();
        assert_eq!(
            probe_connect(addr, Duration::from_secs(2)),
            ConnectOutcome::Accepted
        );
        drop(holder);
        assert_eq!(
            probe_connect(addr, Duration::from_secs(2)),
            ConnectOutcome::Refused
        );
    }
}
