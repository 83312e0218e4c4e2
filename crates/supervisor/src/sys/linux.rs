//! Linux: pidfds, `waitid` on single pids, `/proc`, the child-subreaper flag and the exec path.

use std::ffi::{CString, c_char};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::{ExitInfo, ProcStat};

/// Whether this system has what the supervisor needs.
pub(crate) const SUPPORTED: bool = true;

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Marks this process a child subreaper, so orphaned descendants of the services are
/// re-parented to it (and can be reaped and stopped) instead of to init.
pub(crate) fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer flag.
    check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) })
        .map(drop)
}

/// A pidfd for `pid` (which may already be a zombie: the pidfd is then readable at once).
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this descriptor; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Whether any process (zombies included) is still in process group `pgid`: `kill(2)` with
/// signal 0, which sends nothing (signals go through `kill.rs`).
pub(crate) fn group_exists(pgid: u32) -> bool {
    if pgid <= 1 {
        return false;
    }
    // SAFETY: kill has no memory-safety preconditions; signal 0 only checks.
    let rc = unsafe { libc::kill(-(pgid as i32), 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Waits (without blocking when `block` is false) for child `pid` and reaps it.
/// `Ok(None)`: still running.
pub(crate) fn wait_pid(pid: u32, block: bool) -> io::Result<Option<ExitInfo>> {
    // SAFETY: siginfo_t is plain data; waitid fills it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | if block { 0 } else { libc::WNOHANG };
    loop {
        // SAFETY: waitid on one pid we are the parent of, with a valid siginfo pointer.
        let rc = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) };
        if rc == 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    // SAFETY: waitid filled the CLD fields (or left si_pid 0 when nothing was ready).
    let (child, status) = unsafe { (info.si_pid(), info.si_status()) };
    if child == 0 {
        return Ok(None);
    }
    Ok(Some(match info.si_code {
        libc::CLD_EXITED => ExitInfo {
            code: Some(status),
            signal: None,
            core_dumped: false,
        },
        code => ExitInfo {
            code: None,
            signal: Some(status),
            core_dumped: code == libc::CLD_DUMPED,
        },
    }))
}

/// Waits up to `timeout_ms` (-1: forever) for one of `fds` to be readable. Returns the
/// indices that are.
pub(crate) fn poll_readable(fds: &[RawFd], timeout_ms: i32) -> io::Result<Vec<usize>> {
    let mut pollfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: a valid array of pollfd of the given length.
    let rc = unsafe {
        libc::poll(
            pollfds.as_mut_ptr(),
            pollfds.len() as libc::nfds_t,
            timeout_ms,
        )
    };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(Vec::new());
        }
        return Err(err);
    }
    Ok(pollfds
        .iter()
        .enumerate()
        .filter(|(_, p)| p.revents != 0)
        .map(|(i, _)| i)
        .collect())
}

/// A non-blocking eventfd to wake a poll loop.
pub(crate) fn wake_fd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd returns a new descriptor or -1.
    let fd = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: just created, owned here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Makes a [`wake_fd`] readable.
pub(crate) fn wake(fd: &OwnedFd) {
    let one: u64 = 1;
    // SAFETY: writing 8 bytes from a valid u64 to an eventfd.
    unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
}

/// Empties a [`wake_fd`].
pub(crate) fn drain_wake(fd: &OwnedFd) {
    let mut value: u64 = 0;
    // SAFETY: reading 8 bytes into a valid u64 from a non-blocking eventfd.
    unsafe { libc::read(fd.as_raw_fd(), (&mut value as *mut u64).cast(), 8) };
}

/// This process's pid.
pub(crate) fn own_pid() -> u32 {
    std::process::id()
}

/// This process's session id.
pub(crate) fn own_sid() -> u32 {
    // SAFETY: getsid(0) has no preconditions.
    unsafe { libc::getsid(0) as u32 }
}

/// Reads `/proc/<pid>/stat`.
pub(crate) fn proc_stat(pid: u32) -> Option<ProcStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

fn parse_stat(stat: &str) -> Option<ProcStat> {
    // The name may hold spaces and parentheses: fields restart after the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); field N is rest[N - 3].
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgid: fields.get(2)?.parse().ok()?,
        sid: fields.get(3)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// Every pid in `/proc`.
/// The children of this process's main thread, from `/proc/self/task/<pid>/children`
/// (`CONFIG_PROC_CHILDREN`); `None` when the kernel does not provide the file. Orphans
/// re-parented to a child subreaper become children of its main thread while it lives.
pub(crate) fn main_thread_children() -> Option<Vec<u32>> {
    let pid = std::process::id();
    let text = std::fs::read_to_string(format!("/proc/self/task/{pid}/children")).ok()?;
    Some(
        text.split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect(),
    )
}

pub(crate) fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// One variable of the environment a process was started with.
pub(crate) fn environ_var(pid: u32, key: &str) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ.split(|&b| b == 0).find_map(|entry| {
        let entry = std::str::from_utf8(entry).ok()?;
        let (k, v) = entry.split_once('=')?;
        (k == key).then(|| v.to_owned())
    })
}

/// Everything the forked child needs to exec, prepared before the fork so the child only
/// makes async-signal-safe calls (no allocation).
pub(crate) struct ExecImage {
    _argv: Vec<CString>,
    envp: Vec<Vec<u8>>,
    argv_ptrs: Vec<*const c_char>,
    envp_ptrs: Vec<*const c_char>,
    /// Index in `envp` of the `LISTEN_PID=` entry, filled in the child with its own pid.
    listen_pid: Option<usize>,
    listen_fd: Option<RawFd>,
}

// SAFETY: the raw pointers point into heap buffers owned by the same value, which are never
// reallocated after construction; the value is only read (or written by the child after the
// fork, on its own copy).
unsafe impl Send for ExecImage {}
// SAFETY: as above; no interior mutability is reachable through a shared reference.
unsafe impl Sync for ExecImage {}

const LISTEN_PID_PREFIX: &[u8] = b"LISTEN_PID=";

impl ExecImage {
    /// `/bin/sh -c command` with exactly `env`; with `listen_fd`, the descriptor becomes fd 3
    /// and `LISTEN_PID` is set to the child's pid.
    pub(crate) fn new(
        command: &str,
        env: &[(String, String)],
        listen_fd: Option<RawFd>,
    ) -> io::Result<ExecImage> {
        let nul = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
        let argv = vec![
            CString::new("/bin/sh").map_err(|_| nul("shell path"))?,
            CString::new("-c").map_err(|_| nul("-c"))?,
            CString::new(command).map_err(|_| nul("the command holds a NUL byte"))?,
        ];
        let mut envp = Vec::with_capacity(env.len() + 1);
        for (k, v) in env {
            if k.contains('\0') || v.contains('\0') || k.contains('=') {
                return Err(nul(&format!("environment variable {k:?} is not usable")));
            }
            let mut entry = Vec::with_capacity(k.len() + v.len() + 2);
            entry.extend_from_slice(k.as_bytes());
            entry.push(b'=');
            entry.extend_from_slice(v.as_bytes());
            entry.push(0);
            envp.push(entry);
        }
        let mut listen_pid = None;
        if listen_fd.is_some() {
            let mut entry = LISTEN_PID_PREFIX.to_vec();
            entry.extend_from_slice(&[b'0'; 21]);
            listen_pid = Some(envp.len());
            envp.push(entry);
        }
        let mut argv_ptrs: Vec<*const c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut envp_ptrs: Vec<*const c_char> =
            envp.iter().map(|e| e.as_ptr().cast::<c_char>()).collect();
        envp_ptrs.push(std::ptr::null());
        Ok(ExecImage {
            _argv: argv,
            envp,
            argv_ptrs,
            envp_ptrs,
            listen_pid,
            listen_fd,
        })
    }

    /// Runs in the forked child (from `pre_exec`): a new session, the listening socket on
    /// fd 3, `LISTEN_PID`, then `execve`. Returns only on failure.
    ///
    /// # Safety
    /// Only between fork and exec, in the child.
    pub(crate) unsafe fn exec_in_child(&mut self) -> io::Error {
        // SAFETY (whole block): async-signal-safe calls on memory owned by self.
        unsafe {
            if libc::setsid() < 0 {
                return io::Error::last_os_error();
            }
            if let Some(fd) = self.listen_fd {
                if fd == 3 {
                    if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                        return io::Error::last_os_error();
                    }
                } else if libc::dup2(fd, 3) < 0 {
                    return io::Error::last_os_error();
                }
            }
            if let Some(index) = self.listen_pid {
                let entry = &mut self.envp[index];
                let digits = &mut entry[LISTEN_PID_PREFIX.len()..];
                let mut pid = libc::getpid() as u32;
                let mut buf = [0u8; 10];
                let mut n = 0;
                loop {
                    buf[n] = b'0' + (pid % 10) as u8;
                    n += 1;
                    pid /= 10;
                    if pid == 0 {
                        break;
                    }
                }
                for i in 0..n {
                    digits[i] = buf[n - 1 - i];
                }
                digits[n] = 0;
            }
            libc::execve(
                self.argv_ptrs[0],
                self.argv_ptrs.as_ptr(),
                self.envp_ptrs.as_ptr(),
            );
            io::Error::last_os_error()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parses_names_with_parentheses() {
        let line = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 12345 0 0";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.ppid, 1);
        assert_eq!(stat.pgid, 42);
        assert_eq!(stat.sid, 42);
        assert_eq!(stat.start_time, 12345);
    }

    #[test]
    fn own_stat_is_readable() {
        let stat = proc_stat(own_pid()).unwrap();
        assert!(!stat.is_zombie());
        assert!(stat.start_time > 0);
    }
}
