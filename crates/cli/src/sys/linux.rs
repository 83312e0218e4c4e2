//! Linux: `SO_PEERCRED`, `flock`, `setsid`, `sigaction` with a self-pipe, `/proc/<pid>/stat`.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicI32, Ordering};

use super::{GroupUsages, PeerCred};

/// The credentials the kernel recorded for the peer of `stream` when it connected.
pub fn peer_cred(stream: &UnixStream) -> io::Result<PeerCred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, which is that large.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(PeerCred {
        uid: cred.uid,
        pid: u32::try_from(cred.pid).unwrap_or(0),
    })
}

/// Whether the peer of `stream` has closed its end (without reading or blocking: a peek).
pub fn peer_closed(stream: &UnixStream) -> bool {
    let mut byte = 0u8;
    // SAFETY: recv into a valid one-byte buffer, peeking, without blocking.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            (&raw mut byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match n {
        0 => true,
        n if n > 0 => false,
        _ => {
            let err = io::Error::last_os_error();
            !matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            )
        }
    }
}

/// This process's effective uid.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Takes an exclusive `flock` on `file` without waiting; `Ok(false)` when another open file
/// holds it.
pub fn try_lock(file: &File) -> io::Result<bool> {
    // SAFETY: flock on a descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

/// Sets or clears `FD_CLOEXEC`. Async-signal-safe: usable between fork and exec.
pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    let flags = if on { libc::FD_CLOEXEC } else { 0 };
    // SAFETY: fcntl on a descriptor number; an invalid one is reported as EBADF.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flags) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Starts a new session (the caller leaves its terminal). Async-signal-safe: usable between
/// fork and exec.
pub fn new_session() -> io::Result<()> {
    // SAFETY: setsid has no memory preconditions.
    if unsafe { libc::setsid() } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The write end of the signal pipe, for the handler.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signal: libc::c_int) {
    // Only async-signal-safe calls here: write(2), and errno saved around it.
    // SAFETY: __errno_location returns this thread's errno; write gets a valid 1-byte buffer.
    unsafe {
        let errno = *libc::__errno_location();
        let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
        if fd >= 0 {
            let byte = signal as u8;
            libc::write(fd, (&raw const byte).cast(), 1);
        }
        *libc::__errno_location() = errno;
    }
}

/// Routes `signals` into a pipe: the handler writes each signal's number as one byte, and the
/// returned read end yields them. Handlers are reset by `exec`, so children are unaffected.
/// Installing twice replaces the pipe.
pub fn signal_pipe(signals: &[i32]) -> io::Result<File> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned here.
    let (read, write) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    // A full pipe must drop a signal, never block the handler.
    // SAFETY: fcntl on the descriptor we own.
    unsafe {
        let flags = libc::fcntl(write.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(write.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    // The write end lives as long as the process: the handler may run at any time.
    let write_fd = std::os::fd::IntoRawFd::into_raw_fd(write);
    let old = SIGNAL_PIPE.swap(write_fd, Ordering::SeqCst);
    if old >= 0 {
        // SAFETY: `old` was a write end leaked by an earlier call, no longer used.
        unsafe { libc::close(old) };
    }
    for &signal in signals {
        // SAFETY: a zeroed sigaction is valid; we set the handler and an empty mask.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(read)
}

/// Clock ticks per second (`_SC_CLK_TCK`).
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0).unwrap_or(4096)
}

/// CPU time and resident memory of every live member of the groups in `pgids`, from
/// `/proc/<pid>/stat` (one pass over the process table).
pub fn group_usage(pgids: &HashSet<u32>) -> GroupUsages {
    let mut usage = GroupUsages::new();
    if pgids.is_empty() {
        return usage;
    }
    let page = page_size();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return usage;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        // Fields from the state on: state(3) ppid pgrp session tty tpgid flags minflt cminflt
        // majflt cmajflt utime(14) stime(15) ... rss(24); index = field - 3.
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
            continue;
        }
        let Some(pgid) = field(2).and_then(|g| u32::try_from(g).ok()) else {
            continue;
        };
        if !pgids.contains(&pgid) {
            continue;
        }
        let entry = usage.entry(pgid).or_default();
        entry.cpu_ticks += field(11).unwrap_or(0) + field(12).unwrap_or(0);
        entry.rss_bytes += field(21).unwrap_or(0) * page;
        entry.processes += 1;
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_group_has_usage() {
        let me = procscan::process_info(std::process::id(), procscan::ProcessDetail::Basic)
            .expect("we can read ourselves");
        let usage = group_usage(&HashSet::from([me.pgid]));
        let ours = usage.get(&me.pgid).expect("our group is listed");
        assert!(ours.processes >= 1);
        assert!(ours.rss_bytes > 0);
    }

    #[test]
    fn a_lock_is_exclusive_between_open_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("lock");
        let a = File::create(&path).expect("create");
        let b = File::open(&path).expect("open");
        assert!(try_lock(&a).expect("flock"));
        assert!(!try_lock(&b).expect("flock"));
        drop(a);
        assert!(try_lock(&b).expect("flock"));
    }
}
