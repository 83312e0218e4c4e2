//! The descriptor pass: which pids hold which socket inodes, read from `/proc/<pid>/fd`.
//!
//! This is where a scan spends its time (one `readlink` per open descriptor on the system), so
//! it opens `/proc` once, works with `openat`/`getdents64`/`readlinkat` relative to directory
//! descriptors and stack-built names, reuses its buffers, looks at processes only (never at
//! `/proc/<pid>/task/*`: threads share their process's descriptor table), and splits the pids
//! over a few scoped threads.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::ffi::{self, Name};
use crate::Error;

/// `/proc`, opened once per scan.
#[derive(Debug)]
pub(crate) struct ProcRoot {
    fd: OwnedFd,
}

/// A process directory seen in `/proc`: its pid and the directory's inode number. The inode
/// is new whenever the pid is (a reused pid gets a new directory inode), which lets the
/// incremental scanner notice a changed process without reading anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PidEntry {
    pub(crate) pid: u32,
    pub(crate) ino: u64,
}

/// What the pass found for one pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fds {
    /// The socket inodes it holds (those asked for), in descriptor order, possibly repeated.
    Sockets(Vec<u64>),
    /// Its descriptors cannot be read, or not all of them: another user's process without
    /// privilege, or a process whose security policy hides its descriptors even from root.
    /// Holds the socket inodes that could be read (usually none).
    Unreadable(Vec<u64>),
    /// It exited during the pass.
    Gone,
}

impl ProcRoot {
    pub(crate) fn open() -> Result<Self, Error> {
        ffi::open_dir(None, c"/proc")
            .map(|fd| ProcRoot { fd })
            .map_err(|e| Error::proc("/proc", e))
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Every process (not thread) in `/proc`, ascending by pid.
    pub(crate) fn pids(&self) -> Result<Vec<PidEntry>, Error> {
        // A fresh open file description each time, so each listing starts at the beginning.
        let dir = ffi::open_dir(Some(self.fd()), c".").map_err(|e| Error::proc("/proc", e))?;
        let mut buf = vec![0u8; 32 * 1024];
        let mut pids = Vec::with_capacity(512);
        loop {
            let n = ffi::getdents(dir.as_fd(), &mut buf).map_err(|e| Error::proc("/proc", e))?;
            if n == 0 {
                break;
            }
            pids.extend(ffi::dirents(&buf[..n]).filter_map(|(ino, name)| {
                Some(PidEntry {
                    pid: parse_u32(name)?,
                    ino,
                })
            }));
        }
        pids.sort_unstable_by_key(|p| p.pid);
        Ok(pids)
    }
}

/// Reads the descriptors of `pids`. With `wanted` (sorted inodes), keeps only those inodes and
/// returns only pids that hold one of them or cannot be read; without, returns every pid with
/// every socket inode it holds.
pub(crate) fn pass(root: &ProcRoot, pids: &[u32], wanted: Option<&[u64]>) -> Vec<(u32, Fds)> {
    parallel(pids, Worker::new, |worker, &pid, out| {
        let fds = worker.sockets_of(root.fd(), pid, wanted);
        let keep = match (&fds, wanted) {
            (Fds::Gone, Some(_)) => false,
            (Fds::Sockets(found), Some(_)) => !found.is_empty(),
            _ => true,
        };
        if keep {
            out.push((pid, fds));
        }
    })
}

/// Buffers one thread reuses for every pid it reads.
pub(crate) struct Worker {
    dents: Vec<u8>,
    link: [u8; 64],
    name: Name,
}

impl Worker {
    pub(crate) fn new() -> Self {
        Worker {
            dents: vec![0u8; 16 * 1024],
            link: [0u8; 64],
            name: Name::new(),
        }
    }

    fn sockets_of(&mut self, proc_fd: BorrowedFd<'_>, pid: u32, wanted: Option<&[u64]>) -> Fds {
        self.name.clear().num(u64::from(pid)).push(b"/fd");
        let dir = match ffi::open_dir(Some(proc_fd), self.name.as_cstr()) {
            Ok(dir) => dir,
            Err(e) if is_denied(&e) => return Fds::Unreadable(Vec::new()),
            Err(_) => return Fds::Gone,
        };
        let mut found = Vec::new();
        let mut denied = false;
        loop {
            let n = match ffi::getdents(dir.as_fd(), &mut self.dents) {
                Ok(0) => break,
                Ok(n) => n,
                // The process exited while its folder was being read: what was found stands.
                Err(_) => break,
            };
            for (_, entry) in ffi::dirents(&self.dents[..n]) {
                if entry.first() == Some(&b'.') {
                    continue;
                }
                let len = match ffi::readlinkat(
                    dir.as_fd(),
                    self.name.clear().push(entry).as_cstr(),
                    &mut self.link,
                ) {
                    Ok(len) => len,
                    Err(e) => {
                        denied |= is_denied(&e);
                        continue; // or closed meanwhile
                    }
                };
                let Some(inode) = socket_inode(&self.link[..len]) else {
                    continue;
                };
                if wanted.is_none_or(|w| w.binary_search(&inode).is_ok()) {
                    found.push(inode);
                }
            }
            // The kernel stops filling only at the end of the table or when the next entry
            // does not fit; fd names are at most 10 digits (a 32-byte record), so room for two
            // more records means this was the end, and the call that would return 0 is saved.
            if n + 64 <= self.dents.len() {
                break;
            }
        }
        if denied {
            Fds::Unreadable(found)
        } else {
            Fds::Sockets(found)
        }
    }
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    parse_u64(digits)
}

pub(crate) fn is_denied(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM))
}

pub(crate) fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

fn parse_u32(digits: &[u8]) -> Option<u32> {
    parse_u64(digits).and_then(|v| u32::try_from(v).ok())
}

/// Runs `work` over `items` on up to `available_parallelism()` (at most 4) scoped threads, each
/// with its own `state`; results come back in no particular order. Small inputs stay on the
/// calling thread: a thread costs more than reading a few dozen processes.
pub(crate) fn parallel<T: Sync, S, R: Send>(
    items: &[T],
    state: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, &T, &mut Vec<R>) + Sync,
) -> Vec<R> {
    const CHUNK: usize = 16;
    const MIN_PER_THREAD: usize = 48;
    // available_parallelism reads the affinity mask and cgroup quota files: once is enough.
    static CPUS: OnceLock<usize> = OnceLock::new();
    let threads = *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let threads = threads
        .min(4)
        .min(items.len().div_ceil(MIN_PER_THREAD))
        .max(1);
    let next = AtomicUsize::new(0);
    let run = || {
        let mut s = state();
        let mut out = Vec::new();
        loop {
            let start = next.fetch_add(CHUNK, Ordering::Relaxed);
            if start >= items.len() {
                break;
            }
            for item in &items[start..(start + CHUNK).min(items.len())] {
                work(&mut s, item, &mut out);
            }
        }
        out
    };
    if threads == 1 {
        return run();
    }
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(run)).collect();
        let mut all = run();
        for helper in helpers {
            // A helper only panics if `work` does; its share is then missing, not fatal.
            if let Ok(part) = helper.join() {
                all.extend(part);
            }
        }
        all
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_links_parse_and_others_do_not() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
        assert_eq!(socket_inode(b"socket:[12a]"), None);
    }

    #[test]
    fn parallel_visits_every_item_once() {
        let items: Vec<u32> = (0..1000).collect();
        let mut out = parallel(&items, || (), |_, &i, out| out.push(i));
        out.sort_unstable();
        assert_eq!(out, items);
    }

    #[test]
    fn our_own_socket_is_found() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let root = ProcRoot::open().unwrap();
        let me = std::process::id();
        assert!(root.pids().unwrap().iter().any(|p| p.pid == me));
        let found = pass(&root, &[me], None);
        let Fds::Sockets(inodes) = &found[0].1 else {
            panic!("our own fds are readable")
        };
        assert!(!inodes.is_empty());
        drop(listener);
    }
}
