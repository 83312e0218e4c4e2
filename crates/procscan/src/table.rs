//! What part of the socket table a scan asks for, and the filters every source applies.
// The kernel numbering helpers serve the Linux sources only.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use portcore::{Family, PortRange, Protocol};

use crate::{ScanOptions, Socket, SocketState, SourcePreference, StateFilter};

/// The socket-table half of [`ScanOptions`], shared by `snapshot`, `lookup_port` and `Scanner`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    pub(crate) protocols: Vec<Protocol>,
    pub(crate) families: Vec<Family>,
    pub(crate) states: StateFilter,
    pub(crate) ports: Option<PortRange>,
    pub(crate) source: SourcePreference,
}

impl Default for Query {
    fn default() -> Self {
        Query::from(&ScanOptions::default())
    }
}

impl From<&ScanOptions> for Query {
    fn from(o: &ScanOptions) -> Self {
        Query {
            protocols: o.protocols.clone(),
            families: o.families.clone(),
            states: o.states,
            ports: o.ports,
            source: o.source,
        }
    }
}

impl Query {
    /// Each wanted (protocol, family) once, TCP before UDP, IPv4 before IPv6.
    pub(crate) fn combinations(&self) -> impl Iterator<Item = (Protocol, Family)> + '_ {
        Protocol::ALL
            .into_iter()
            .filter(|p| self.protocols.contains(p))
            .flat_map(move |p| {
                [Family::V4, Family::V6]
                    .into_iter()
                    .filter(|f| self.families.contains(f))
                    .map(move |f| (p, f))
            })
    }

    /// Whether `state` passes the state filter for `protocol`.
    pub(crate) fn wants_state(&self, protocol: Protocol, state: SocketState) -> bool {
        match self.states {
            StateFilter::All => true,
            StateFilter::Listening => match protocol {
                Protocol::Tcp => state == SocketState::Listen,
                Protocol::Udp => state == SocketState::Close,
            },
        }
    }
}

/// The final filter every source applies (the kernel already filtered netlink dumps; this
/// keeps the sources equal whatever the kernel version supports).
pub(crate) fn keep(socket: &Socket, query: &Query) -> bool {
    query.protocols.contains(&socket.protocol)
        && query.families.contains(&socket.family)
        && query.wants_state(socket.protocol, socket.state)
        && query.ports.is_none_or(|r| r.contains(socket.port()))
}

/// `TCP_BOUND_INACTIVE`: the pseudo-state (Linux 6.9+) in which a dump includes TCP sockets
/// that are bound but neither listening nor connected. They are reported as `Close`.
const TCP_BOUND_INACTIVE: u8 = 13;

/// The kernel's `idiag_states` bitmask for a filter.
pub(crate) fn state_mask(protocol: Protocol, states: StateFilter) -> u32 {
    let bit = |s: SocketState| 1u32 << s.kernel_value();
    match (states, protocol) {
        (StateFilter::Listening, Protocol::Tcp) => bit(SocketState::Listen),
        (StateFilter::Listening, Protocol::Udp) => bit(SocketState::Close),
        // Every state, bound-only TCP sockets included: they hold their port too.
        (StateFilter::All, _) => u32::MAX,
    }
}

/// The kernel's state number, with `TCP_BOUND_INACTIVE` folded into `Close`.
pub(crate) fn state_from_kernel(value: u8) -> Option<SocketState> {
    if value == TCP_BOUND_INACTIVE {
        return Some(SocketState::Close);
    }
    SocketState::from_kernel(value)
}

/// The order of a snapshot: protocol, port, address (then the rest, for a total order).
pub(crate) fn sort(sockets: &mut [Socket]) {
    sockets.sort_by(|a, b| {
        (
            a.protocol,
            a.port(),
            a.local.ip(),
            a.remote,
            a.state,
            a.inode,
        )
            .cmp(&(
                b.protocol,
                b.port(),
                b.local.ip(),
                b.remote,
                b.state,
                b.inode,
            ))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_masks_match_ss() {
        assert_eq!(state_mask(Protocol::Tcp, StateFilter::Listening), 1 << 10);
        assert_eq!(state_mask(Protocol::Udp, StateFilter::Listening), 1 << 7);
        assert_eq!(state_from_kernel(13), Some(SocketState::Close));
        assert_eq!(state_from_kernel(99), None);
    }

    #[test]
    fn combinations_follow_the_options_in_a_fixed_order() {
        let q = Query {
            protocols: vec![Protocol::Udp, Protocol::Tcp],
            families: vec![Family::V6],
            ..Query::default()
        };
        let c: Vec<_> = q.combinations().collect();
        assert_eq!(
            c,
            vec![(Protocol::Tcp, Family::V6), (Protocol::Udp, Family::V6)]
        );
    }
}
