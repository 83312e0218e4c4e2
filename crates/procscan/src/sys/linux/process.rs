//! Reading one process from `/proc/<pid>`: `stat` for the numbers, `cmdline`, the owner of the
//! folder, and (for full detail) the `exe` and `cwd` links.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::fds::{ProcRoot, is_denied, parse_u64};
use super::ffi::{self, Name};
use crate::{Error, ProcessDetail, ProcessIdentity, ProcessInfo};

/// `PF_KTHREAD` in the `flags` field of `stat`.
const PF_KTHREAD: u64 = 0x0020_0000;

/// The fields of `/proc/<pid>/stat` portwarden uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stat {
    pub(crate) pid: u32,
    pub(crate) name: String,
    /// `R`, `S`, `Z`, ...
    pub(crate) state: u8,
    pub(crate) ppid: u32,
    pub(crate) pgid: u32,
    pub(crate) sid: u32,
    pub(crate) flags: u64,
    pub(crate) start_time: u64,
}

impl Stat {
    pub(crate) fn kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }

    /// A zombie (or dead) process: it has exited and waits to be reaped.
    pub(crate) fn exited(&self) -> bool {
        matches!(self.state, b'Z' | b'X' | b'x')
    }

    pub(crate) fn identity(&self) -> ProcessIdentity {
        ProcessIdentity {
            pid: self.pid,
            start_time: self.start_time,
        }
    }
}

/// Parses `pid (comm) state ppid pgrp session tty tpgid flags ... starttime ...`. The name may
/// hold spaces and parentheses, so the fields are counted after the last `)`.
pub(crate) fn parse_stat(pid: u32, text: &[u8]) -> Option<Stat> {
    let open = text.iter().position(|&b| b == b'(')?;
    let close = text.iter().rposition(|&b| b == b')')?;
    let name = String::from_utf8_lossy(text.get(open + 1..close)?).into_owned();
    let mut fields = text
        .get(close + 1..)?
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    let state = *fields.next()?.first()?;
    let num = |f: Option<&[u8]>| f.and_then(parse_u64);
    let ppid = num(fields.next())? as u32;
    let pgid = num(fields.next())? as u32;
    let sid = num(fields.next())? as u32;
    let mut fields = fields.skip(2); // tty_nr, tpgid
    let flags = num(fields.next())?;
    // minflt cminflt majflt cmajflt utime stime cutime cstime priority nice num_threads
    // itrealvalue, then starttime.
    let start_time = num(fields.nth(12))?;
    Some(Stat {
        pid,
        name,
        state,
        ppid,
        pgid,
        sid,
        flags,
        start_time,
    })
}

/// Buffers reused across the processes one thread reads.
#[derive(Default)]
pub(crate) struct Reader {
    buf: Vec<u8>,
    name: Name,
}

impl Reader {
    /// `/proc/<pid>/stat`. `NotFound` when the process does not exist (any more).
    pub(crate) fn stat(&mut self, root: &ProcRoot, pid: u32) -> io::Result<Stat> {
        self.name.clear().num(u64::from(pid)).push(b"/stat");
        ffi::read_file_at(root.fd(), self.name.as_cstr(), &mut self.buf).map_err(not_found)?;
        parse_stat(pid, &self.buf).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))
    }

    /// Everything `detail` asks for about `pid`.
    pub(crate) fn info(
        &mut self,
        root: &ProcRoot,
        pid: u32,
        detail: ProcessDetail,
    ) -> io::Result<ProcessInfo> {
        let stat = self.stat(root, pid)?;
        self.info_from(root, stat, detail)
    }

    /// Completes a `stat` already read into a `ProcessInfo`.
    pub(crate) fn info_from(
        &mut self,
        root: &ProcRoot,
        stat: Stat,
        detail: ProcessDetail,
    ) -> io::Result<ProcessInfo> {
        let pid = stat.pid;
        // The owner of /proc/<pid>: the process's effective uid (root while it is not dumpable).
        let uid = ffi::owner_at(root.fd(), self.name.clear().num(u64::from(pid)).as_cstr())
            .map_err(not_found)?;
        self.name.clear().num(u64::from(pid)).push(b"/cmdline");
        let cmdline = match ffi::read_file_at(root.fd(), self.name.as_cstr(), &mut self.buf) {
            Ok(()) => self
                .buf
                .split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        let (exe, cwd) = if detail >= ProcessDetail::Full {
            (self.link(root, pid, b"/exe"), self.link(root, pid, b"/cwd"))
        } else {
            (None, None)
        };
        Ok(ProcessInfo {
            pid,
            ppid: stat.ppid,
            pgid: stat.pgid,
            sid: stat.sid,
            uid,
            user: user_name(uid),
            kernel_thread: stat.kernel_thread(),
            started_at: started_at(stat.start_time),
            start_time: stat.start_time,
            name: stat.name,
            exe,
            cmdline,
            cwd,
        })
    }

    /// A `/proc/<pid>/<link>` target; `None` when unreadable (another user's, a kernel thread).
    pub(crate) fn link(&mut self, root: &ProcRoot, pid: u32, link: &[u8]) -> Option<PathBuf> {
        let mut target = vec![0u8; libc::PATH_MAX as usize];
        self.name.clear().num(u64::from(pid)).push(link);
        let len = ffi::readlinkat(root.fd(), self.name.as_cstr(), &mut target).ok()?;
        target.truncate(len);
        Some(PathBuf::from(OsStr::from_bytes(&target)))
    }
}

/// ENOENT and ESRCH both mean the process is gone; keep denials as they are.
fn not_found(e: io::Error) -> io::Error {
    if is_denied(&e) {
        e
    } else if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ESRCH)) {
        io::Error::from(io::ErrorKind::NotFound)
    } else {
        e
    }
}

/// Maps a read failure of one process to the crate's error.
pub(crate) fn to_error(pid: u32, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::NotFound {
        Error::ProcessNotFound { pid }
    } else {
        Error::proc(format!("/proc/{pid}"), e)
    }
}

/// The user name of `uid` from `/etc/passwd` (read once per process and cached; NSS sources
/// such as LDAP are not consulted).
pub(crate) fn user_name(uid: u32) -> Option<String> {
    static USERS: OnceLock<HashMap<u32, String>> = OnceLock::new();
    USERS
        .get_or_init(|| {
            let text = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
            text.lines()
                .filter_map(|line| {
                    let mut f = line.split(':');
                    let name = f.next()?;
                    let uid = f.nth(1)?.parse().ok()?;
                    Some((uid, name.to_owned()))
                })
                .collect()
        })
        .get(&uid)
        .cloned()
}

/// Wall-clock start: `btime` of `/proc/stat` (read once) plus the start time in clock ticks.
pub(crate) fn started_at(start_time: u64) -> Option<SystemTime> {
    static BOOT: OnceLock<Option<(u64, u64)>> = OnceLock::new();
    let (btime, ticks) = (*BOOT.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        let btime = text
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        Some((btime, ffi::clock_ticks()))
    }))?;
    let since_boot = Duration::from_secs(start_time / ticks)
        + Duration::from_nanos((start_time % ticks) * 1_000_000_000 / ticks);
    UNIX_EPOCH.checked_add(Duration::from_secs(btime) + since_boot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_a_hostile_name_parses() {
        let text = b"4242 (we ird) (x)) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 100 200\n";
        let s = parse_stat(4242, text).unwrap();
        assert_eq!(s.name, "we ird) (x)");
        assert_eq!(
            (s.ppid, s.pgid, s.sid, s.start_time),
            (1, 4242, 4242, 98765)
        );
        assert_eq!(s.state, b'S');
        assert!(!s.kernel_thread());
        assert!(parse_stat(1, b"1 (x) S").is_none());
    }

    #[test]
    fn we_can_read_ourselves() {
        let root = ProcRoot::open().unwrap();
        let me = std::process::id();
        let info = Reader::default()
            .info(&root, me, ProcessDetail::Full)
            .unwrap();
        assert_eq!(info.pid, me);
        assert!(info.exe.is_some() && info.cwd.is_some() && !info.cmdline.is_empty());
        let age = info.uptime(SystemTime::now()).unwrap();
        assert!(age < Duration::from_secs(3600), "{age:?}");
    }
}
