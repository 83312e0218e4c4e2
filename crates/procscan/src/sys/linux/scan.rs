//! Cold scans: the socket table, one descriptor pass for the inodes it lists, and details of
//! the holders only.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use super::fds::{self, Fds, ProcRoot};
use super::process::Reader;
use super::{netlink, procnet};
use crate::table::{self, Query};
use crate::{Error, ProcessDetail, ProcessInfo, ScanSource, Snapshot, Socket, SourcePreference};

/// The socket table from the preferred source; `Auto` falls back to `/proc/net` when netlink
/// fails (no `sock_diag` support, a kernel without `udp_diag`, a seccomp filter...).
pub(crate) fn socket_table(query: &Query) -> Result<(Vec<Socket>, ScanSource), Error> {
    let mut sockets = Vec::new();
    match query.source {
        SourcePreference::ProcNet => {
            procnet::read(query, &mut sockets)?;
            Ok((sockets, ScanSource::ProcNet))
        }
        SourcePreference::Netlink => {
            netlink::dump(query, &mut sockets)?;
            Ok((sockets, ScanSource::Netlink))
        }
        SourcePreference::Auto => match netlink::dump(query, &mut sockets) {
            Ok(()) => Ok((sockets, ScanSource::Netlink)),
            Err(e) => {
                log::debug!("netlink sock_diag unavailable ({e}); reading /proc/net instead");
                sockets.clear();
                procnet::read(query, &mut sockets)?;
                Ok((sockets, ScanSource::ProcNet))
            }
        },
    }
}

/// A full scan, as [`crate::snapshot`] documents it.
pub(crate) fn snapshot(query: &Query, detail: ProcessDetail) -> Result<Snapshot, Error> {
    let (mut sockets, source) = socket_table(query)?;
    let mut wanted: Vec<u64> = sockets
        .iter()
        .map(|s| s.inode)
        .filter(|&i| i != 0)
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let root = ProcRoot::open()?;
    let mut holders: HashMap<u64, Vec<u32>> = HashMap::with_capacity(wanted.len());
    let mut unreadable = Vec::new();
    // Nothing to attribute (TIME_WAIT entries only, or no sockets): no descriptor pass.
    if !wanted.is_empty() {
        let pids: Vec<u32> = root.pids()?.into_iter().map(|p| p.pid).collect();
        for (pid, fds) in fds::pass(&root, &pids, Some(&wanted)) {
            match fds {
                Fds::Sockets(inodes) => {
                    for inode in inodes {
                        holders.entry(inode).or_default().push(pid);
                    }
                }
                Fds::Unreadable(inodes) => {
                    unreadable.push(pid);
                    for inode in inodes {
                        holders.entry(inode).or_default().push(pid);
                    }
                }
                Fds::Gone => {}
            }
        }
    }
    attach(&mut sockets, |inode| holders.get(&inode).map(Vec::as_slice));
    table::sort(&mut sockets);
    unreadable.sort_unstable();
    let processes = details(&root, &holder_pids(&sockets), detail, |_| None);
    Ok(Snapshot {
        sockets,
        processes,
        source,
        taken_at: SystemTime::now(),
        unreadable_pids: unreadable,
    })
}

/// Fills each socket's holders (ascending, once each) from an inode → pids lookup.
pub(crate) fn attach<'a>(sockets: &mut [Socket], lookup: impl Fn(u64) -> Option<&'a [u32]>) {
    for socket in sockets.iter_mut().filter(|s| s.inode != 0) {
        if let Some(pids) = lookup(socket.inode) {
            socket.holders = pids.to_vec();
            socket.holders.sort_unstable();
            socket.holders.dedup();
        }
    }
}

/// Every pid that holds one of `sockets`, ascending.
pub(crate) fn holder_pids(sockets: &[Socket]) -> Vec<u32> {
    let mut pids: Vec<u32> = sockets
        .iter()
        .flat_map(|s| s.holders.iter().copied())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Reads the details of `pids` (in parallel when there are many), taking what `cached` already
/// knows. Processes that exited meanwhile are left out.
pub(crate) fn details(
    root: &ProcRoot,
    pids: &[u32],
    detail: ProcessDetail,
    cached: impl Fn(u32) -> Option<ProcessInfo>,
) -> BTreeMap<u32, ProcessInfo> {
    if detail == ProcessDetail::Pids {
        return BTreeMap::new();
    }
    let mut found = BTreeMap::new();
    let mut missing = Vec::new();
    for &pid in pids {
        match cached(pid) {
            Some(info) => {
                found.insert(pid, info);
            }
            None => missing.push(pid),
        }
    }
    found.extend(fds::parallel(
        &missing,
        Reader::default,
        |reader, &pid, out| {
            if let Ok(info) = reader.info(root, pid, detail) {
                out.push((pid, info));
            }
        },
    ));
    found
}

/// The socket table of `query` alone: no descriptor pass, so no holders.
pub(crate) fn sockets(query: &Query) -> Result<Vec<Socket>, Error> {
    let (mut sockets, _) = socket_table(query)?;
    table::sort(&mut sockets);
    Ok(sockets)
}

/// Whether `pid` holds one of the sockets of `query`: the table, then `pid`'s descriptors only.
pub(crate) fn holds(pid: u32, query: &Query) -> Result<bool, Error> {
    let (sockets, _) = socket_table(query)?;
    let mut wanted: Vec<u64> = sockets
        .iter()
        .map(|s| s.inode)
        .filter(|&i| i != 0)
        .collect();
    if wanted.is_empty() {
        return Ok(false);
    }
    wanted.sort_unstable();
    wanted.dedup();
    let root = ProcRoot::open()?;
    Ok(fds::pass(&root, &[pid], Some(&wanted)).into_iter().any(
        |(_, fds)| matches!(fds, Fds::Sockets(found) | Fds::Unreadable(found) if !found.is_empty()),
    ))
}
