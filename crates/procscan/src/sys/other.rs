//! Systems other than Linux (macOS, the BSDs, Windows): the socket table and its holders from
//! netstat2, processes from sysinfo, signals with `kill(2)`. Simpler and slower than the Linux
//! path; no incremental scanning (every [`crate::Scanner`] scan is a full one).
//!
//! Not compiled on the Linux machines portwarden is developed on: kept small on purpose.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use netstat2::{AddressFamilyFlags, ProtocolFlags, ProtocolSocketInfo, TcpState};
use portcore::{Family, Protocol};
use sysinfo::{
    Pid, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System, UpdateKind, Users,
};

use crate::table::{self, Query};
use crate::{
    Error, ProcessDetail, ProcessIdentity, ProcessInfo, ScanSource, Snapshot, Socket, SocketState,
};

fn table_error(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::SocketTable {
        source: Box::new(e),
    }
}

pub(crate) fn snapshot(query: &Query, detail: ProcessDetail) -> Result<Snapshot, Error> {
    let mut af = AddressFamilyFlags::empty();
    for family in &query.families {
        af |= match family {
            Family::V4 => AddressFamilyFlags::IPV4,
            Family::V6 => AddressFamilyFlags::IPV6,
        };
    }
    let mut proto = ProtocolFlags::empty();
    for protocol in &query.protocols {
        proto |= match protocol {
            Protocol::Tcp => ProtocolFlags::TCP,
            Protocol::Udp => ProtocolFlags::UDP,
        };
    }
    let infos = netstat2::get_sockets_info(af, proto).map_err(table_error)?;
    let mut sockets: Vec<Socket> = infos
        .into_iter()
        .filter_map(convert)
        .filter(|s| table::keep(s, query))
        .collect();
    for s in &mut sockets {
        s.holders.sort_unstable();
        s.holders.dedup();
    }
    table::sort(&mut sockets);
    let mut pids: Vec<u32> = sockets
        .iter()
        .flat_map(|s| s.holders.iter().copied())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    let processes: BTreeMap<u32, ProcessInfo> = if detail == ProcessDetail::Pids {
        BTreeMap::new()
    } else {
        read(Some(&pids), detail)?
            .into_iter()
            .map(|p| (p.pid, p))
            .collect()
    };
    for s in &mut sockets {
        if let Some(p) = s.holders.first().and_then(|pid| processes.get(pid)) {
            s.uid = p.uid;
        }
    }
    Ok(Snapshot {
        sockets,
        processes,
        source: ScanSource::Portable,
        taken_at: SystemTime::now(),
        unreadable_pids: Vec::new(),
    })
}

fn convert(info: netstat2::SocketInfo) -> Option<Socket> {
    let (protocol, local, remote, state) = match info.protocol_socket_info {
        ProtocolSocketInfo::Tcp(t) => {
            let remote: Option<SocketAddr> =
                (t.remote_port != 0).then(|| SocketAddr::new(t.remote_addr, t.remote_port));
            (
                Protocol::Tcp,
                (t.local_addr, t.local_port).into(),
                remote,
                tcp_state(t.state)?,
            )
        }
        ProtocolSocketInfo::Udp(u) => (
            Protocol::Udp,
            SocketAddr::new(u.local_addr, u.local_port),
            None,
            SocketState::Close,
        ),
    };
    Some(Socket {
        protocol,
        family: Family::of(local.ip()),
        local,
        remote,
        state,
        inode: 0,
        uid: 0,
        holders: info.associated_pids,
    })
}

fn tcp_state(state: TcpState) -> Option<SocketState> {
    Some(match state {
        TcpState::Closed => SocketState::Close,
        TcpState::Listen => SocketState::Listen,
        TcpState::SynSent => SocketState::SynSent,
        TcpState::SynReceived => SocketState::SynRecv,
        TcpState::Established => SocketState::Established,
        TcpState::FinWait1 => SocketState::FinWait1,
        TcpState::FinWait2 => SocketState::FinWait2,
        TcpState::CloseWait => SocketState::CloseWait,
        TcpState::Closing => SocketState::Closing,
        TcpState::LastAck => SocketState::LastAck,
        TcpState::TimeWait => SocketState::TimeWait,
        TcpState::DeleteTcb | TcpState::Unknown => return None,
    })
}

/// Processes from sysinfo: all of them, or `pids`.
fn read(pids: Option<&[u32]>, detail: ProcessDetail) -> Result<Vec<ProcessInfo>, Error> {
    let mut system = System::new().map_err(table_error)?;
    let mut kind = ProcessRefreshKind::nothing()
        .with_cmd(UpdateKind::Always)
        .with_user(UpdateKind::Always);
    if detail >= ProcessDetail::Full {
        kind = kind
            .with_exe(UpdateKind::Always)
            .with_cwd(UpdateKind::Always);
    }
    let wanted: Option<Vec<Pid>> = pids.map(|p| p.iter().map(|&pid| Pid::from_u32(pid)).collect());
    let which = wanted
        .as_deref()
        .map_or(ProcessesToUpdate::All, ProcessesToUpdate::Some);
    system.refresh_processes_specifics(which, true, kind);
    let users = Users::new_with_refreshed_list().ok();
    let mut out: Vec<ProcessInfo> = system
        .processes()
        .values()
        .filter(|p| p.status() != ProcessStatus::Zombie)
        .map(|p| {
            let pid = p.pid().as_u32();
            let uid = p.user_id().map_or(0, |u| **u);
            ProcessInfo {
                pid,
                ppid: p.parent().map_or(0, |pp| pp.as_u32()),
                pgid: pgid(pid),
                sid: sid(pid),
                uid,
                user: users
                    .as_ref()
                    .and_then(|us| p.user_id().and_then(|u| us.get_user_by_id(u)))
                    .map(|u| u.name().to_owned()),
                name: p.name().to_string_lossy().into_owned(),
                exe: p.exe().map(|e| e.to_path_buf()),
                cmdline: p
                    .cmd()
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect(),
                cwd: p.cwd().map(|c| c.to_path_buf()),
                start_time: p.start_time(),
                started_at: SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(p.start_time())),
                kernel_thread: false,
            }
        })
        .collect();
    out.sort_unstable_by_key(|p| p.pid);
    Ok(out)
}

fn pgid(pid: u32) -> u32 {
    // SAFETY: getpgid has no memory preconditions.
    let id = unsafe { libc::getpgid(pid as libc::pid_t) };
    id.max(0) as u32
}

fn sid(pid: u32) -> u32 {
    // SAFETY: getsid has no memory preconditions.
    let id = unsafe { libc::getsid(pid as libc::pid_t) };
    id.max(0) as u32
}

/// The socket table of `query` alone (the portable path has no cheaper way than a snapshot).
pub(crate) fn sockets(query: &Query) -> Result<Vec<Socket>, Error> {
    let mut sockets = snapshot(query, ProcessDetail::Pids)?.sockets;
    for socket in &mut sockets {
        socket.holders.clear();
    }
    Ok(sockets)
}

/// Whether `pid` holds one of the sockets of `query`.
pub(crate) fn holds(pid: u32, query: &Query) -> Result<bool, Error> {
    let snapshot = snapshot(query, ProcessDetail::Pids)?;
    Ok(snapshot.sockets.iter().any(|s| s.holders.contains(&pid)))
}

pub(crate) fn process_info(pid: u32, detail: ProcessDetail) -> Result<ProcessInfo, Error> {
    read(Some(&[pid]), detail)?
        .into_iter()
        .find(|p| p.pid == pid)
        .ok_or(Error::ProcessNotFound { pid })
}

pub(crate) fn process_identity(pid: u32) -> Result<ProcessIdentity, Error> {
    process_info(pid, ProcessDetail::Basic).map(|p| p.identity())
}

pub(crate) fn live_identity(pid: u32) -> Result<Option<ProcessIdentity>, Error> {
    match process_identity(pid) {
        Ok(id) => Ok(Some(id)),
        Err(Error::ProcessNotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(crate) fn processes(detail: ProcessDetail) -> Result<Vec<ProcessInfo>, Error> {
    read(None, detail)
}

pub(crate) fn ancestors(pid: u32) -> Vec<ProcessInfo> {
    let all: HashMap<u32, ProcessInfo> = read(None, ProcessDetail::Basic)
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.pid, p))
        .collect();
    let mut chain = Vec::new();
    let mut next = all.get(&pid).map_or(0, |p| p.ppid);
    while let Some(p) = all.get(&next) {
        if chain.len() > all.len() {
            break;
        }
        chain.push(p.clone());
        next = if p.pid <= 1 { 0 } else { p.ppid };
    }
    chain
}

pub(crate) fn group_members(pgid: u32) -> Vec<ProcessIdentity> {
    read(None, ProcessDetail::Basic)
        .unwrap_or_default()
        .iter()
        .filter(|p| p.pgid == pgid)
        .map(ProcessInfo::identity)
        .collect()
}

pub(crate) fn descendants(pid: u32) -> Vec<ProcessIdentity> {
    let all = read(None, ProcessDetail::Basic).unwrap_or_default();
    let mut found: Vec<ProcessIdentity> = Vec::new();
    let mut queue = vec![pid];
    while let Some(parent) = queue.pop() {
        for child in all.iter().filter(|p| p.ppid == parent && p.pid != pid) {
            if found.len() < all.len() && !found.iter().any(|f| f.pid == child.pid) {
                found.push(child.identity());
                queue.push(child.pid);
            }
        }
    }
    found.sort_unstable();
    found
}

pub(crate) fn own_ids() -> (u32, u32) {
    // SAFETY: getpid and geteuid have no preconditions.
    unsafe { (libc::getpid() as u32, libc::geteuid()) }
}

/// A process to signal. Without pidfds, `kill(2)` follows the identity checks (a small race
/// with pid reuse, documented on `send_signal`).
#[derive(Debug)]
pub(crate) struct Handle {
    identity: ProcessIdentity,
}

impl Handle {
    pub(crate) fn open(identity: ProcessIdentity) -> io::Result<Handle> {
        Ok(Handle { identity })
    }

    pub(crate) fn identity(&self) -> ProcessIdentity {
        self.identity
    }

    pub(crate) fn signal(&self, signal: i32) -> io::Result<()> {
        kill(self.identity.pid as i32, signal)
    }
}

fn kill(pid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: kill(2) has no memory preconditions; callers have checked the target.
    if unsafe { libc::kill(pid, signal) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(crate) fn signal_group(pgid: u32, signal: i32) -> io::Result<()> {
    kill(-(pgid as i32), signal)
}

pub(crate) fn wait_exit(handles: &[Handle], exited: &mut [bool], deadline: Instant) -> bool {
    loop {
        for (i, h) in handles.iter().enumerate() {
            if !exited[i]
                && !matches!(live_identity(h.identity.pid), Ok(Some(id)) if id == h.identity)
            {
                exited[i] = true;
            }
        }
        if exited.iter().all(|&e| e) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// No incremental state here: every scan is a full one.
#[derive(Debug)]
pub(crate) struct ScanCache {
    full_every: u32,
}

impl ScanCache {
    pub(crate) fn new(full_every: u32) -> Self {
        ScanCache {
            full_every: full_every.max(1),
        }
    }

    pub(crate) fn full_every(&self) -> u32 {
        self.full_every
    }

    pub(crate) fn last_full(&self) -> bool {
        true
    }

    pub(crate) fn scan(&mut self, query: &Query, detail: ProcessDetail) -> Result<Snapshot, Error> {
        snapshot(query, detail)
    }
}
