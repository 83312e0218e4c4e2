//! Process queries over the whole process table: one process, its ancestors, its group, its
//! descendants, all of them.

use std::collections::HashMap;

use super::fds::{self, ProcRoot};
use super::process::{Reader, Stat, to_error};
use crate::{Error, ProcessDetail, ProcessIdentity, ProcessInfo};

/// A chain longer than this is a loop (pid namespaces end chains at 0).
const MAX_DEPTH: usize = 4096;

pub(crate) fn process_info(pid: u32, detail: ProcessDetail) -> Result<ProcessInfo, Error> {
    let root = ProcRoot::open()?;
    Reader::default()
        .info(&root, pid, detail)
        .map_err(|e| to_error(pid, e))
}

pub(crate) fn stat(pid: u32) -> Result<Stat, Error> {
    let root = ProcRoot::open()?;
    Reader::default()
        .stat(&root, pid)
        .map_err(|e| to_error(pid, e))
}

pub(crate) fn ancestors(pid: u32) -> Vec<ProcessInfo> {
    let Ok(root) = ProcRoot::open() else {
        return Vec::new();
    };
    let mut reader = Reader::default();
    let mut chain = Vec::new();
    let mut next = reader.stat(&root, pid).map(|s| s.ppid).unwrap_or(0);
    while next != 0 && chain.len() < MAX_DEPTH {
        let Ok(info) = reader.info(&root, next, ProcessDetail::Basic) else {
            break;
        };
        next = if info.pid == 1 { 0 } else { info.ppid };
        chain.push(info);
    }
    chain
}

/// The `stat` of every live (non-zombie) process.
pub(crate) fn all_stats() -> Result<Vec<Stat>, Error> {
    let root = ProcRoot::open()?;
    let pids: Vec<u32> = root.pids()?.into_iter().map(|p| p.pid).collect();
    Ok(fds::parallel(
        &pids,
        Reader::default,
        |reader, &pid, out| {
            if let Ok(stat) = reader.stat(&root, pid)
                && !stat.exited()
            {
                out.push(stat);
            }
        },
    ))
}

pub(crate) fn processes(detail: ProcessDetail) -> Result<Vec<ProcessInfo>, Error> {
    let root = ProcRoot::open()?;
    let pids: Vec<u32> = root.pids()?.into_iter().map(|p| p.pid).collect();
    let mut all = fds::parallel(&pids, Reader::default, |reader, &pid, out| {
        if let Ok(info) = reader.info(&root, pid, detail) {
            out.push(info);
        }
    });
    all.sort_unstable_by_key(|p| p.pid);
    Ok(all)
}

pub(crate) fn group_members(pgid: u32) -> Vec<ProcessIdentity> {
    let mut members: Vec<ProcessIdentity> = all_stats()
        .unwrap_or_default()
        .iter()
        .filter(|s| s.pgid == pgid)
        .map(Stat::identity)
        .collect();
    members.sort_unstable();
    members
}

pub(crate) fn descendants(pid: u32) -> Vec<ProcessIdentity> {
    let stats = all_stats().unwrap_or_default();
    let mut children: HashMap<u32, Vec<&Stat>> = HashMap::new();
    for s in &stats {
        children.entry(s.ppid).or_default().push(s);
    }
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(parent) = queue.pop() {
        for child in children.get(&parent).into_iter().flatten() {
            // A pid cannot be its own ancestor; the bound guards against a corrupt read.
            if child.pid != pid && found.len() < stats.len() {
                found.push(child.identity());
                queue.push(child.pid);
            }
        }
    }
    found.sort_unstable();
    found
}
