//! Linux: network namespaces, pidfds, `wait4` and process-group signals through libc.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::{Exit, Reaped};

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Moves this process into a new, empty network namespace and brings its loopback up, so the
/// fixtures it starts (and the tools it measures) see only their own sockets.
///
/// Call it before any thread is started: a namespace change applies to the calling thread, and
/// threads and children created afterwards inherit it. Needs `CAP_SYS_ADMIN` (root).
pub fn enter_private_netns() -> io::Result<()> {
    // Kept so a namespace whose loopback cannot be brought up is left again, not half-used.
    let host = std::fs::File::open("/proc/thread-self/ns/net")?;
    // SAFETY: unshare takes no pointers; called from main before any other thread exists.
    check(unsafe { libc::unshare(libc::CLONE_NEWNET) })?;
    loopback_up().inspect_err(|_| {
        // SAFETY: `host` is an open namespace file; setns takes it and a flag.
        unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&host), libc::CLONE_NEWNET) };
    })
}

/// `ip link set lo up`, without needing iproute2: SIOCGIFFLAGS then SIOCSIFFLAGS with IFF_UP.
fn loopback_up() -> io::Result<()> {
    // SAFETY: a plain socket call; the descriptor is owned (and closed) by `sock`.
    let raw =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&sock);
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq naming "lo"; the ioctls read and write only it.
    unsafe {
        check(libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req))?;
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        check(libc::ioctl(fd, libc::SIOCSIFFLAGS, &req))?;
    }
    Ok(())
}

/// Makes this process the reaper of its orphaned descendants (a fixture's forked child whose
/// parent was killed), so cleanup can reap them and prove nothing is left behind.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(drop)
}

/// A pidfd for `pid` (Linux 5.3+): it becomes readable when the process exits, which lets a wait
/// have a deadline without a watchdog thread or pid-reuse races.
pub fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; the result is a new descriptor or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(raw as RawFd) })
}

/// Waits up to `timeout` for any of `fds` to be readable (or hung up, or in error) and says
/// which are. A signal interrupting the wait counts as "none yet".
pub fn poll_readable(fds: &[RawFd], timeout: Duration) -> io::Result<Vec<bool>> {
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // Round up so a sub-millisecond remainder still waits instead of spinning.
    let millis = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `polled` is a live, correctly sized array of pollfd.
    let rc = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, millis) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(err);
    }
    Ok(polled.iter().map(|p| p.revents != 0).collect())
}

fn exit_of(status: libc::c_int) -> Exit {
    if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        Exit::Code(libc::WEXITSTATUS(status))
    }
}

/// Reaps `pid`, blocking until it exits, and returns how it ended and its peak RSS.
pub fn wait4(pid: u32) -> io::Result<Reaped> {
    let mut status = 0;
    // SAFETY: rusage is plain old data; all-zero is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `usage` outlive the call.
        let rc = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        if rc >= 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(Reaped {
        exit: exit_of(status),
        max_rss_kib: usage.ru_maxrss.max(0) as u64,
    })
}

/// Reaps one exited child (or adopted orphan) in process group `pgid` without blocking:
/// `Some((pid, how it ended))` when one was reaped, `None` when none has exited yet or none is
/// left. Async-signal-safe.
pub fn reap_group(pgid: i32) -> io::Result<Option<(u32, Exit)>> {
    let mut status = 0;
    // SAFETY: `status` outlives the call.
    let rc = unsafe { libc::waitpid(-pgid, &mut status, libc::WNOHANG) };
    match rc {
        0 => Ok(None),
        pid if pid > 0 => Ok(Some((pid as u32, exit_of(status)))),
        _ => {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ECHILD) | Some(libc::EINTR) => Ok(None),
                _ => Err(err),
            }
        }
    }
}

/// SIGKILLs every process in group `pgid`. Async-signal-safe.
pub fn kill_group(pgid: i32) {
    if pgid > 0 {
        // SAFETY: kill takes integers only; a group that is gone just yields ESRCH.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
}

/// SIGKILLs process `pid`. Async-signal-safe.
pub fn kill_pid(pid: i32) {
    if pid > 0 {
        // SAFETY: kill takes integers only.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Sends `signal` to process `pid`.
pub fn send_signal(pid: u32, signal: i32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: kill takes integers only.
    check(unsafe { libc::kill(pid, signal) }).map(drop)
}

/// Reaps `pid` if it is a child of ours (adopted orphans included) that has exited, without
/// blocking: `Some(how it ended)` once reaped, `None` while it runs (or when it is not our
/// child: then it is someone else's to reap).
pub fn reap_pid(pid: u32) -> io::Result<Option<Exit>> {
    let mut status = 0;
    // SAFETY: `status` outlives the call.
    let rc = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
    match rc {
        0 => Ok(None),
        r if r > 0 => Ok(Some(exit_of(status))),
        _ => {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ECHILD) | Some(libc::EINTR) => Ok(None),
                _ => Err(err),
            }
        }
    }
}

/// Clock ticks per second (`USER_HZ`), the unit of the CPU times in `/proc/PID/stat`.
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf takes an integer.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as u64 } else { 100 }
}

/// SIGKILLs every child of this process, and the group each leads, reading them from
/// `/proc/self/task/*/children`; returns how many there were. Then reaps whatever has exited.
///
/// Async-signal-safe (open, getdents64, read, kill, waitpid; no allocation), for the guard: a
/// supervisor under test puts each service in a session of its own, so killing the
/// supervisor's group leaves its services running; they are then re-parented to pw-bench (a
/// subreaper) and this finds them. Repeated calls walk down a tree one generation at a time.
pub fn kill_children() -> usize {
    let mut found = 0;
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let dir = unsafe {
        libc::open(
            c"/proc/self/task".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if dir < 0 {
        return 0;
    }
    let mut entries = [0u8; 4096];
    loop {
        // SAFETY: the buffer is ours and its length is passed.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir,
                entries.as_mut_ptr(),
                entries.len(),
            )
        };
        if n <= 0 {
            break;
        }
        let mut at = 0usize;
        while at + 19 < n as usize {
            // linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, then the NUL-terminated name.
            let reclen = u16::from_ne_bytes([entries[at + 16], entries[at + 17]]) as usize;
            if reclen == 0 {
                break;
            }
            let name = &entries[at + 19..(at + reclen).min(n as usize)];
            let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            let name = &name[..len];
            if !name.is_empty() && name.iter().all(u8::is_ascii_digit) {
                found += kill_children_of_task(name);
            }
            at += reclen;
        }
    }
    // SAFETY: closing the descriptor opened above.
    unsafe { libc::close(dir) };
    let mut status = 0;
    // SAFETY: `status` outlives the call; reaps only exited children.
    while unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } > 0 {}
    found
}

/// Kills the children listed in `/proc/self/task/<tid>/children`. Async-signal-safe.
fn kill_children_of_task(tid: &[u8]) -> usize {
    const PREFIX: &[u8] = b"/proc/self/task/";
    const SUFFIX: &[u8] = b"/children\0";
    let mut path = [0u8; 64];
    if PREFIX.len() + tid.len() + SUFFIX.len() > path.len() {
        return 0;
    }
    path[..PREFIX.len()].copy_from_slice(PREFIX);
    path[PREFIX.len()..PREFIX.len() + tid.len()].copy_from_slice(tid);
    path[PREFIX.len() + tid.len()..PREFIX.len() + tid.len() + SUFFIX.len()].copy_from_slice(SUFFIX);
    // SAFETY: `path` is NUL-terminated; the descriptor is closed below.
    let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return 0;
    }
    let mut found = 0;
    let mut pid: libc::pid_t = 0;
    let mut buffer = [0u8; 1024];
    loop {
        // SAFETY: the buffer is ours and its length is passed.
        let n = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
        if n <= 0 {
            break;
        }
        // A pid may straddle two reads: the digits accumulate until a separator.
        for &b in &buffer[..n as usize] {
            if b.is_ascii_digit() {
                pid = pid
                    .saturating_mul(10)
                    .saturating_add(libc::pid_t::from(b - b'0'));
            } else if pid > 0 {
                kill_group(pid);
                kill_pid(pid);
                found += 1;
                pid = 0;
            }
        }
    }
    if pid > 0 {
        kill_group(pid);
        kill_pid(pid);
        found += 1;
    }
    // SAFETY: closing the descriptor opened above.
    unsafe { libc::close(fd) };
    found
}

/// Whether any process (zombies included) is left in group `pgid`.
pub fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    let rc = unsafe { libc::kill(-pgid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// This process's own peak RSS in KiB. Children started with vfork/posix_spawn report at least
/// this much as their `ru_maxrss` (the kernel carries the parent's high-water mark over exec), so
/// it is the floor under every peak RSS measured here.
pub fn own_max_rss_kib() -> io::Result<u64> {
    // SAFETY: rusage is plain old data; all-zero is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` outlives the call.
    check(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) })?;
    Ok(usage.ru_maxrss.max(0) as u64)
}

const TERMINATION_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Runs `handler` on SIGINT, SIGTERM and SIGHUP. The handler must be async-signal-safe.
pub fn on_termination_signals(handler: extern "C" fn(i32)) {
    for signal in TERMINATION_SIGNALS {
        // SAFETY: sigaction is plain old data; the handler is a valid extern "C" fn.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Restores the default action for `signal` and raises it again, so the process ends the way
/// the signal asked (and the shell sees it). Async-signal-safe.
pub fn reraise(signal: i32) {
    // SAFETY: signal and raise take integers only.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

/// Termination signals held back until this is dropped: a Ctrl-C that lands between starting a
/// fixture and recording its process group is delivered (and cleans up) only once it is recorded.
#[derive(Debug)]
pub struct SignalsBlocked {
    previous: libc::sigset_t,
}

/// Blocks SIGINT, SIGTERM and SIGHUP for the calling thread until the guard is dropped.
pub fn block_termination_signals() -> SignalsBlocked {
    // SAFETY: sigset_t is plain old data and is initialised by sigemptyset/sigaddset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in TERMINATION_SIGNALS {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut previous);
        SignalsBlocked { previous }
    }
}

impl SignalsBlocked {
    /// Makes `command`'s child start with the mask from before the block: a signal mask is
    /// inherited across fork and exec, and std does not reset it.
    pub fn unblock_in_child(&self, command: &mut std::process::Command) {
        use std::os::unix::process::CommandExt;
        let previous = self.previous;
        // SAFETY: the closure runs between fork and exec and only calls pthread_sigmask, which
        // is async-signal-safe, on a mask it owns.
        unsafe {
            command.pre_exec(move || {
                libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
                Ok(())
            });
        }
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved when the guard was made.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut()) };
    }
}
