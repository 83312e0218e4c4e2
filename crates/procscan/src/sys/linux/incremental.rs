//! The state [`crate::Scanner`] keeps between scans on Linux, and its incremental scan.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use super::fds::{self, Fds, PidEntry, ProcRoot};
use super::scan::{attach, details, holder_pids, socket_table};
use crate::table::{self, Query};
use crate::{Error, ProcessDetail, ProcessInfo, Snapshot};

/// What one process held at the last time its descriptors were read.
#[derive(Debug)]
struct Tracked {
    /// The inode of `/proc/<pid>`: a different one means a different process (or a dropped
    /// cache entry; either way the process is read again).
    dir_ino: u64,
    /// Every socket inode it held (of those that could be read).
    sockets: Vec<u64>,
    /// Whether some or all of its descriptors could not be read.
    unreadable: bool,
}

#[derive(Debug)]
pub(crate) struct Cache {
    procs: HashMap<u32, Tracked>,
    /// Socket inode → pids, over every tracked process; rebuilt when `procs` changes.
    by_inode: HashMap<u64, Vec<u32>>,
    /// Details of the holders of the last scan, with the detail level they were read at.
    details: HashMap<u32, (ProcessDetail, ProcessInfo)>,
    /// Inodes that had no visible holder after the last full pass (other users' sockets):
    /// seeing them again does not force another full pass.
    settled: HashSet<u64>,
    scans_since_full: u32,
    full_every: u32,
    last_full: bool,
}

impl Cache {
    pub(crate) fn new(full_every: u32) -> Self {
        Cache {
            procs: HashMap::new(),
            by_inode: HashMap::new(),
            details: HashMap::new(),
            settled: HashSet::new(),
            scans_since_full: 0,
            full_every: full_every.max(1),
            last_full: false,
        }
    }

    pub(crate) fn full_every(&self) -> u32 {
        self.full_every
    }

    pub(crate) fn last_full(&self) -> bool {
        self.last_full
    }

    pub(crate) fn scan(&mut self, query: &Query, detail: ProcessDetail) -> Result<Snapshot, Error> {
        let (mut sockets, source) = socket_table(query)?;
        let root = ProcRoot::open()?;
        let entries = root.pids()?;
        let mut full = self.procs.is_empty() || self.scans_since_full + 1 >= self.full_every;
        if !full {
            self.update(&root, &entries);
            // A socket nobody known holds: it was opened by a process read earlier (or passed
            // to one), which only a full pass can find.
            full = sockets.iter().any(|s| {
                s.inode != 0
                    && !self.by_inode.contains_key(&s.inode)
                    && !self.settled.contains(&s.inode)
            });
        }
        if full {
            self.full_pass(&root, &entries);
            self.settled = sockets
                .iter()
                .map(|s| s.inode)
                .filter(|&i| i != 0 && !self.by_inode.contains_key(&i))
                .collect();
            self.details.clear();
            self.scans_since_full = 0;
        } else {
            self.scans_since_full += 1;
            let live: HashSet<u64> = sockets.iter().map(|s| s.inode).collect();
            self.settled.retain(|i| live.contains(i));
        }
        self.last_full = full;

        attach(&mut sockets, |inode| {
            self.by_inode.get(&inode).map(Vec::as_slice)
        });
        table::sort(&mut sockets);
        let holders = holder_pids(&sockets);
        let cached = &self.details;
        let processes = details(&root, &holders, detail, |pid| {
            cached
                .get(&pid)
                .filter(|(level, _)| *level >= detail)
                .map(|(_, info)| info.clone())
        });
        // Keep the details of this scan's holders only, so the cache stays small.
        let level = detail;
        self.details = processes
            .iter()
            .map(|(&pid, info)| {
                let kept = self
                    .details
                    .get(&pid)
                    .map_or(level, |(l, _)| (*l).max(level));
                (pid, (kept, info.clone()))
            })
            .collect();
        let mut unreadable: Vec<u32> = self
            .procs
            .iter()
            .filter(|(_, t)| t.unreadable)
            .map(|(&pid, _)| pid)
            .collect();
        unreadable.sort_unstable();
        Ok(Snapshot {
            sockets,
            processes,
            source,
            taken_at: SystemTime::now(),
            unreadable_pids: unreadable,
        })
    }

    /// Drops processes that exited, reads the descriptors of the new ones.
    fn update(&mut self, root: &ProcRoot, entries: &[PidEntry]) {
        let live: HashMap<u32, u64> = entries.iter().map(|e| (e.pid, e.ino)).collect();
        let before = self.procs.len();
        self.procs
            .retain(|pid, t| live.get(pid).is_some_and(|&ino| ino == t.dir_ino));
        let mut changed = self.procs.len() != before;
        self.details.retain(|pid, _| self.procs.contains_key(pid));
        let new: Vec<u32> = entries
            .iter()
            .filter(|e| !self.procs.contains_key(&e.pid))
            .map(|e| e.pid)
            .collect();
        if !new.is_empty() {
            changed = true;
            self.record(&live, fds::pass(root, &new, None));
        }
        if changed {
            self.rebuild();
        }
    }

    fn full_pass(&mut self, root: &ProcRoot, entries: &[PidEntry]) {
        let live: HashMap<u32, u64> = entries.iter().map(|e| (e.pid, e.ino)).collect();
        let pids: Vec<u32> = entries.iter().map(|e| e.pid).collect();
        self.procs.clear();
        self.record(&live, fds::pass(root, &pids, None));
        self.rebuild();
    }

    fn record(&mut self, live: &HashMap<u32, u64>, found: Vec<(u32, Fds)>) {
        for (pid, fds) in found {
            let (mut sockets, unreadable) = match fds {
                Fds::Sockets(inodes) => (inodes, false),
                Fds::Unreadable(inodes) => (inodes, true),
                Fds::Gone => continue,
            };
            sockets.sort_unstable();
            sockets.dedup();
            let dir_ino = live.get(&pid).copied().unwrap_or(0);
            self.procs.insert(
                pid,
                Tracked {
                    dir_ino,
                    sockets,
                    unreadable,
                },
            );
        }
    }

    fn rebuild(&mut self) {
        self.by_inode.clear();
        for (&pid, t) in &self.procs {
            for &inode in &t.sockets {
                self.by_inode.entry(inode).or_default().push(pid);
            }
        }
    }
}
