//! The values a scan returns: sockets, processes, identities, snapshots.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use portcore::{Family, PortRange, Protocol};
use serde::{Deserialize, Serialize};

/// A socket's state, with the kernel's TCP state numbering. UDP sockets use `Close` when they
/// are unconnected (what `ss` prints as `UNCONN`) and `Established` when connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SocketState {
    /// `TCP_ESTABLISHED` (1), or a connected UDP socket.
    Established,
    /// `TCP_SYN_SENT` (2).
    SynSent,
    /// `TCP_SYN_RECV` (3).
    SynRecv,
    /// `TCP_FIN_WAIT1` (4).
    FinWait1,
    /// `TCP_FIN_WAIT2` (5).
    FinWait2,
    /// `TCP_TIME_WAIT` (6): a closed connection the kernel keeps for 2*MSL; no process holds it.
    TimeWait,
    /// `TCP_CLOSE` (7): a TCP socket bound but neither listening nor connected, or an
    /// unconnected UDP socket.
    Close,
    /// `TCP_CLOSE_WAIT` (8).
    CloseWait,
    /// `TCP_LAST_ACK` (9).
    LastAck,
    /// `TCP_LISTEN` (10).
    Listen,
    /// `TCP_CLOSING` (11).
    Closing,
    /// `TCP_NEW_SYN_RECV` (12).
    NewSynRecv,
}

impl SocketState {
    /// The state for the kernel's number, `None` for numbers it does not define.
    pub fn from_kernel(value: u8) -> Option<Self> {
        use SocketState::*;
        Some(match value {
            1 => Established,
            2 => SynSent,
            3 => SynRecv,
            4 => FinWait1,
            5 => FinWait2,
            6 => TimeWait,
            7 => Close,
            8 => CloseWait,
            9 => LastAck,
            10 => Listen,
            11 => Closing,
            12 => NewSynRecv,
            _ => return None,
        })
    }

    /// The kernel's number for this state.
    pub fn kernel_value(self) -> u8 {
        use SocketState::*;
        match self {
            Established => 1,
            SynSent => 2,
            SynRecv => 3,
            FinWait1 => 4,
            FinWait2 => 5,
            TimeWait => 6,
            Close => 7,
            CloseWait => 8,
            LastAck => 9,
            Listen => 10,
            Closing => 11,
            NewSynRecv => 12,
        }
    }

    /// The name `ss` prints for this state (`UNCONN` for `Close`).
    pub fn as_str(self) -> &'static str {
        use SocketState::*;
        match self {
            Established => "ESTAB",
            SynSent => "SYN-SENT",
            SynRecv => "SYN-RECV",
            FinWait1 => "FIN-WAIT-1",
            FinWait2 => "FIN-WAIT-2",
            TimeWait => "TIME-WAIT",
            Close => "UNCONN",
            CloseWait => "CLOSE-WAIT",
            LastAck => "LAST-ACK",
            Listen => "LISTEN",
            Closing => "CLOSING",
            NewSynRecv => "NEW-SYN-RECV",
        }
    }
}

impl fmt::Display for SocketState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One socket of the socket table and every process holding a descriptor to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Socket {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// IPv4 or IPv6.
    pub family: Family,
    /// The local address and port.
    pub local: SocketAddr,
    /// The peer, for connected sockets; `None` when the socket has none.
    pub remote: Option<SocketAddr>,
    /// The kernel state.
    pub state: SocketState,
    /// The socket's inode number (0 for TIME_WAIT entries, which no descriptor refers to).
    pub inode: u64,
    /// The uid that created the socket.
    pub uid: u32,
    /// Pids holding a descriptor to this socket, ascending. Empty when no owner could be seen:
    /// another user's process without the privilege to read its descriptors, or a TIME_WAIT
    /// entry. Such a socket is kept in the table, never dropped.
    pub holders: Vec<u32>,
}

impl Socket {
    /// The local port.
    pub fn port(&self) -> u16 {
        self.local.port()
    }

    /// Whether the socket holds its port for incoming traffic: a TCP socket in LISTEN, or an
    /// unconnected UDP socket.
    pub fn is_listening(&self) -> bool {
        match self.protocol {
            Protocol::Tcp => self.state == SocketState::Listen,
            Protocol::Udp => self.state == SocketState::Close,
        }
    }

    /// Whether at least one holding process was seen.
    pub fn owner_known(&self) -> bool {
        !self.holders.is_empty()
    }
}

/// A process's identity: its pid and the kernel's record of when it started.
///
/// Pids are reused; the pair is not (while the system runs). Anything that records a process to
/// act on it later records this, and checks it again before acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProcessIdentity {
    /// The process id.
    pub pid: u32,
    /// Start time in clock ticks after boot (field 22 of `/proc/<pid>/stat` on Linux; on other
    /// systems the start time in seconds since the epoch).
    pub start_time: u64,
}

impl fmt::Display for ProcessIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {} (start time {})", self.pid, self.start_time)
    }
}

/// What is known of one process. Fields that could not be read (permissions, a process that
/// exited meanwhile) are `None` or empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Process group id.
    pub pgid: u32,
    /// Session id.
    pub sid: u32,
    /// The process's owner. On Linux this is the owner of `/proc/<pid>`: the effective uid,
    /// or root while the process is not dumpable (a setuid program, a daemon that dropped
    /// privileges without resetting the flag). Either way never an unprivileged uid the
    /// process does not run as, which keeps ownership checks on the safe side.
    pub uid: u32,
    /// User name for `uid`, when it has one.
    pub user: Option<String>,
    /// The short command name (`comm`).
    pub name: String,
    /// The executable's path, when readable.
    pub exe: Option<PathBuf>,
    /// The arguments, `argv[0]` first; empty for kernel threads and zombies.
    pub cmdline: Vec<String>,
    /// The working directory, when readable.
    pub cwd: Option<PathBuf>,
    /// Start time, as in [`ProcessIdentity::start_time`].
    pub start_time: u64,
    /// Wall-clock start time, when it could be computed.
    pub started_at: Option<SystemTime>,
    /// Whether this is a kernel thread (never a target for signals).
    pub kernel_thread: bool,
}

impl ProcessInfo {
    /// The identity (pid + start time) of this process.
    pub fn identity(&self) -> ProcessIdentity {
        ProcessIdentity {
            pid: self.pid,
            start_time: self.start_time,
        }
    }

    /// The command line joined with spaces, or `[name]` when there is none (as `ps` does).
    pub fn command_line(&self) -> String {
        if self.cmdline.is_empty() {
            format!("[{}]", self.name)
        } else {
            self.cmdline.join(" ")
        }
    }

    /// How long the process has run, when its start is known.
    pub fn uptime(&self, now: SystemTime) -> Option<Duration> {
        self.started_at
            .and_then(|start| now.duration_since(start).ok())
    }
}

/// Where the socket table came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ScanSource {
    /// Linux netlink `sock_diag` (as `ss` does).
    Netlink,
    /// Linux `/proc/net/{tcp,tcp6,udp,udp6}` (when netlink is not available).
    ProcNet,
    /// The portable path (netstat2 and sysinfo) on other systems.
    Portable,
}

/// A picture of the socket table and of the processes that hold its sockets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The sockets that matched the scan's filters.
    pub sockets: Vec<Socket>,
    /// Every process that holds one of `sockets`, by pid.
    pub processes: BTreeMap<u32, ProcessInfo>,
    /// Where the socket table came from.
    pub source: ScanSource,
    /// When the scan was taken.
    pub taken_at: SystemTime,
    /// Pids whose descriptors could not be read (another user's processes without privilege):
    /// sockets they hold have no holders in this snapshot.
    pub unreadable_pids: Vec<u32>,
}

impl Snapshot {
    /// Sockets that hold a port for incoming traffic (see [`Socket::is_listening`]).
    pub fn listeners(&self) -> impl Iterator<Item = &Socket> + '_ {
        self.sockets.iter().filter(|s| s.is_listening())
    }

    /// Sockets whose local port is `port`, for one protocol or both.
    pub fn on_port(
        &self,
        port: u16,
        protocol: Option<Protocol>,
    ) -> impl Iterator<Item = &Socket> + '_ {
        self.sockets
            .iter()
            .filter(move |s| s.port() == port && protocol.is_none_or(|p| s.protocol == p))
    }

    /// The processes holding `socket` that this snapshot knows.
    pub fn holders<'a>(&'a self, socket: &'a Socket) -> impl Iterator<Item = &'a ProcessInfo> + 'a {
        socket
            .holders
            .iter()
            .filter_map(|pid| self.processes.get(pid))
    }

    /// A process of the snapshot.
    pub fn process(&self, pid: u32) -> Option<&ProcessInfo> {
        self.processes.get(&pid)
    }
}

/// Which sockets a scan keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateFilter {
    /// Listening TCP sockets and unconnected UDP sockets (what `ss -tuln` shows).
    #[default]
    Listening,
    /// Every state, TIME_WAIT included.
    All,
}

/// How much to read about each holding process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessDetail {
    /// Pids only (no process table entries).
    Pids,
    /// pid, ppid, pgid, sid, uid, user, name, cmdline, start time.
    #[default]
    Basic,
    /// Also exe and cwd.
    Full,
}

/// Where to read the socket table from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourcePreference {
    /// Netlink, falling back to `/proc/net` when netlink is not available (Linux);
    /// the portable path elsewhere.
    #[default]
    Auto,
    /// Netlink only (an error where it is not available).
    Netlink,
    /// `/proc/net` only.
    ProcNet,
}

/// What a scan looks at. The default: TCP and UDP, IPv4 and IPv6, listening sockets, every
/// port, basic process detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanOptions {
    /// Protocols to include.
    pub protocols: Vec<Protocol>,
    /// Address families to include.
    pub families: Vec<Family>,
    /// Which states to keep.
    pub states: StateFilter,
    /// Keep only sockets whose local port lies in this range.
    pub ports: Option<PortRange>,
    /// How much to read about each holder.
    pub detail: ProcessDetail,
    /// Where to read the socket table from.
    pub source: SourcePreference,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            protocols: Protocol::ALL.to_vec(),
            families: vec![Family::V4, Family::V6],
            states: StateFilter::Listening,
            ports: None,
            detail: ProcessDetail::Basic,
            source: SourcePreference::Auto,
        }
    }
}
