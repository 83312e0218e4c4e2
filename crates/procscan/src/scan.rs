//! The public scans: the whole table, or one port.

use portcore::{Family, PortRange, Protocol};

use crate::table::Query;
use crate::{
    Error, ProcessDetail, ScanOptions, Snapshot, Socket, SourcePreference, StateFilter, sys,
};

/// Reads the socket table and the processes holding its sockets.
///
/// On Linux this works as `ss -tulpn` does, with less work: one netlink `sock_diag` dump per
/// (family, protocol) asked for, filtered by the kernel on state and on `options.ports`; then a
/// single pass over `/proc/<pid>/fd` that maps the dumped socket inodes to every pid holding
/// them (a socket shared by a parent and its forked child lists both); then the details of
/// those holders only (`options.detail`). Without netlink (or with
/// [`SourcePreference::ProcNet`]) the table comes from `/proc/net/{tcp,tcp6,udp,udp6}`.
/// Elsewhere the portable path (netstat2 and sysinfo) is used.
///
/// What is kept:
/// - [`StateFilter::Listening`]: TCP sockets in LISTEN and unconnected UDP sockets, as
///   `ss -tuln`;
/// - [`StateFilter::All`]: every state, TIME_WAIT included (those have inode 0 and no holders),
///   and on Linux 6.9+ TCP sockets that are bound without listening (state `Close`; netlink
///   only: `/proc/net` never lists them).
///
/// A socket whose holders cannot be seen (another user's process while unprivileged) stays in
/// the table with its `uid` and no holders, and the pids whose descriptors could not be read
/// are listed in [`Snapshot::unreadable_pids`]. Processes exiting during the scan are skipped.
///
/// Sockets are sorted by protocol, port and address; holders ascending.
///
/// ```
/// use procscan::{ScanOptions, snapshot};
///
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// let snap = snapshot(&ScanOptions::default())?;
/// let ours = snap.on_port(port, None).next().expect("our listener is in the table");
/// assert!(ours.holders.contains(&std::process::id()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn snapshot(options: &ScanOptions) -> Result<Snapshot, Error> {
    sys::snapshot(&Query::from(options), options.detail)
}

/// What holds one local port, without paying for the whole table.
///
/// The kernel filters the dump to sockets whose *local* port is `port`: a server's listener and
/// the connections it accepted on that port (state `Established` with [`StateFilter::All`]),
/// never a client elsewhere that is connected *to* the port. The descriptor pass then only
/// looks for those inodes, and only their holders are read. `protocol: None` looks at both TCP
/// and UDP. Port 0 is never held: the snapshot is empty.
///
/// To learn why a bind would fail, ask for [`StateFilter::All`]: a TCP socket that is bound
/// without listening also holds the port (Linux 6.9+ reports it, as `Close`), and so can
/// connections in TIME_WAIT for binds without `SO_REUSEADDR`.
///
/// ```
/// use procscan::{ProcessDetail, StateFilter, lookup_port};
/// use portcore::Protocol;
///
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// let found = lookup_port(port, Some(Protocol::Tcp), StateFilter::Listening, ProcessDetail::Basic)?;
/// assert_eq!(found.sockets.len(), 1);
/// assert_eq!(found.sockets[0].holders, vec![std::process::id()]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn lookup_port(
    port: u16,
    protocol: Option<Protocol>,
    states: StateFilter,
    detail: ProcessDetail,
) -> Result<Snapshot, Error> {
    let Some(ports) = PortRange::single(port) else {
        return Ok(Snapshot {
            sockets: Vec::new(),
            processes: Default::default(),
            source: crate::ScanSource::Netlink,
            taken_at: std::time::SystemTime::now(),
            unreadable_pids: Vec::new(),
        });
    };
    let query = Query {
        protocols: protocol.map_or_else(|| Protocol::ALL.to_vec(), |p| vec![p]),
        families: vec![Family::V4, Family::V6],
        states,
        ports: Some(ports),
        source: SourcePreference::Auto,
    };
    sys::snapshot(&query, detail)
}

fn port_query(port: u16, protocol: Option<Protocol>, states: StateFilter) -> Option<Query> {
    Some(Query {
        protocols: protocol.map_or_else(|| Protocol::ALL.to_vec(), |p| vec![p]),
        families: vec![Family::V4, Family::V6],
        states,
        ports: Some(PortRange::single(port)?),
        source: SourcePreference::Auto,
    })
}

/// The sockets on one local port, without their holders: only the kernel's socket table is
/// read (no pass over `/proc/*/fd`), so this is cheap enough to poll, e.g. while waiting for a
/// port to be released.
///
/// ```
/// use procscan::{StateFilter, port_sockets};
/// use portcore::Protocol;
///
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// let sockets = port_sockets(port, Some(Protocol::Tcp), StateFilter::Listening)?;
/// assert_eq!(sockets.len(), 1);
/// assert!(sockets[0].holders.is_empty(), "holders are not looked up");
/// drop(listener);
/// assert!(port_sockets(port, Some(Protocol::Tcp), StateFilter::Listening)?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn port_sockets(
    port: u16,
    protocol: Option<Protocol>,
    states: StateFilter,
) -> Result<Vec<Socket>, Error> {
    match port_query(port, protocol, states) {
        Some(query) => sys::sockets(&query),
        None => Ok(Vec::new()),
    }
}

/// Whether `pid` holds a socket on local port `port` in `states`: the kernel's table for that
/// port, then only `pid`'s descriptors. This is the check to make just before signalling a
/// process planned as a port's holder ("does it still hold the port?") without walking every
/// process.
///
/// ```
/// use procscan::{StateFilter, holds_port};
/// use portcore::Protocol;
///
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// let me = std::process::id();
/// assert!(holds_port(me, port, Some(Protocol::Tcp), StateFilter::Listening)?);
/// assert!(!holds_port(me, port, Some(Protocol::Udp), StateFilter::Listening)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn holds_port(
    pid: u32,
    port: u16,
    protocol: Option<Protocol>,
    states: StateFilter,
) -> Result<bool, Error> {
    match port_query(port, protocol, states) {
        Some(query) => sys::holds(pid, &query),
        None => Ok(false),
    }
}
