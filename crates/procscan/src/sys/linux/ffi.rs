//! Thin safe wrappers over the system calls the Linux code uses. Every `unsafe` block of the
//! Linux code lives here, each with its reason; the rest of `sys/linux` is safe Rust.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// A NUL-terminated path built on the stack (`"1234/fd"`, `"17"`), so the hot loops never
/// allocate a path.
pub(crate) struct Name {
    buf: [u8; 48],
    len: usize,
}

impl Default for Name {
    fn default() -> Self {
        Name::new()
    }
}

impl Name {
    pub(crate) fn new() -> Self {
        Name {
            buf: [0; 48],
            len: 0,
        }
    }

    /// Appends bytes; silently truncates past the buffer (no /proc name we build comes close).
    pub(crate) fn push(&mut self, bytes: &[u8]) -> &mut Self {
        let room = self.buf.len() - 1 - self.len;
        let n = bytes.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        self
    }

    /// Appends a number in decimal.
    pub(crate) fn num(&mut self, mut value: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        self.push(&digits[i..])
    }

    pub(crate) fn clear(&mut self) -> &mut Self {
        self.len = 0;
        self
    }

    pub(crate) fn as_cstr(&mut self) -> &CStr {
        self.buf[self.len] = 0;
        // The pieces pushed are pid numbers, fd numbers and fixed names: no interior NUL. A
        // stray one would only shorten the path (and fail the lookup), never misbehave.
        CStr::from_bytes_until_nul(&self.buf[..=self.len]).unwrap_or(c"")
    }
}

fn cvt(rc: libc::c_long) -> io::Result<usize> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

/// `openat(dir, path, O_RDONLY | O_CLOEXEC | extra)`.
pub(crate) fn openat(dir: Option<BorrowedFd<'_>>, path: &CStr, extra: i32) -> io::Result<OwnedFd> {
    let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: `path` is NUL-terminated; the descriptor returned is new and owned by nobody else.
    let fd = unsafe {
        libc::openat(
            dirfd,
            path.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | extra,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by openat and is not owned elsewhere.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens a folder relative to `dir`.
pub(crate) fn open_dir(dir: Option<BorrowedFd<'_>>, path: &CStr) -> io::Result<OwnedFd> {
    openat(dir, path, libc::O_DIRECTORY)
}

/// One `getdents64` call: fills `buf` with directory entries, returns the bytes used (0 at end).
pub(crate) fn getdents(dir: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_getdents64,
            dir.as_raw_fd(),
            buf.as_mut_ptr(),
            buf.len(),
        )
    })
}

/// Walks the entries `getdents` left in `buf[..len]`: `(d_ino, name)` without the NUL.
pub(crate) fn dirents(buf: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
        let header = buf.get(at..at + 19)?;
        let ino = u64::from_ne_bytes(header[0..8].try_into().ok()?);
        let reclen = u16::from_ne_bytes([header[16], header[17]]) as usize;
        if reclen < 19 {
            return None;
        }
        let record = buf.get(at + 19..at + reclen)?;
        at += reclen;
        let name_len = record.iter().position(|&b| b == 0).unwrap_or(record.len());
        Some((ino, &record[..name_len]))
    })
}

/// `readlinkat(dir, path)` into `buf`; returns the length (possibly truncated to `buf`).
pub(crate) fn readlinkat(dir: BorrowedFd<'_>, path: &CStr, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `path` is NUL-terminated and the kernel writes at most `buf.len()` bytes.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            path.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    cvt(n as libc::c_long)
}

/// Reads a whole (small, procfs) file relative to `dir` into `out`, replacing its contents.
///
/// procfs files hand over everything they have when the buffer is large enough (`stat` is a
/// seq_file, `cmdline` loops until the arguments end), so a read that does not fill the buffer
/// is the end: this saves the second `read` that would only return 0. Not for regular files.
pub(crate) fn read_file_at(dir: BorrowedFd<'_>, path: &CStr, out: &mut Vec<u8>) -> io::Result<()> {
    let fd = openat(Some(dir), path, 0)?;
    read_to_end(fd.as_raw_fd(), out)
}

fn read_to_end(fd: RawFd, out: &mut Vec<u8>) -> io::Result<()> {
    out.clear();
    if out.capacity() < 512 {
        out.reserve(512);
    }
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity());
        }
        let spare = out.capacity() - out.len();
        // SAFETY: the kernel writes at most `spare` bytes after the initialised part of `out`,
        // and `set_len` below only covers what it reported written.
        let n = unsafe { libc::read(fd, out.as_mut_ptr().add(out.len()).cast(), spare) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if n == 0 {
            return Ok(());
        }
        // SAFETY: `n` bytes past the old length were just initialised by read(2).
        unsafe { out.set_len(out.len() + n as usize) };
        if (n as usize) < spare {
            return Ok(());
        }
    }
}

/// The owner uid of `path` relative to `dir` (without following a final symlink).
pub(crate) fn owner_at(dir: BorrowedFd<'_>, path: &CStr) -> io::Result<u32> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `path` is NUL-terminated and `st` is a valid out-pointer for one `struct stat`.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            path.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstatat succeeded, so it filled `st`.
    Ok(unsafe { st.assume_init() }.st_uid)
}

/// `sysconf(_SC_CLK_TCK)`, 100 when unknown.
pub(crate) fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 { n as u64 } else { 100 }
}

/// Our own pid and effective uid.
pub(crate) fn own_ids() -> (u32, u32) {
    // SAFETY: getpid and geteuid have no preconditions.
    unsafe { (libc::getpid() as u32, libc::geteuid()) }
}

/// `pidfd_open(pid, 0)`.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) })?;
    // SAFETY: the descriptor was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)`.
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    // SAFETY: a valid pidfd, a signal number, no siginfo (NULL is allowed), flags 0.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(drop)
}

/// `kill(pid, sig)`; a negative `pid` signals a process group.
pub(crate) fn kill(pid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: kill(2) has no memory preconditions; callers have checked the target.
    if unsafe { libc::kill(pid, signal) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Waits up to `timeout_ms` for any of `fds` to become readable (a pidfd does when its process
/// exits). Returns which became readable.
pub(crate) fn poll_readable(fds: &[BorrowedFd<'_>], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut polls: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `polls` is a valid array of `polls.len()` pollfd structures.
    let rc = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, timeout_ms) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(err);
    }
    Ok(polls.iter().map(|p| p.revents != 0).collect())
}

/// A `NETLINK_SOCK_DIAG` datagram socket.
pub(crate) fn netlink_sock_diag() -> io::Result<OwnedFd> {
    const NETLINK_SOCK_DIAG: i32 = 4;
    // SAFETY: socket(2) with constant arguments; the descriptor returned is new.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends one netlink message to the kernel (port id 0).
pub(crate) fn netlink_send(sock: BorrowedFd<'_>, message: &[u8]) -> io::Result<()> {
    // SAFETY: sockaddr_nl is plain data; all-zero is a valid value before the fields are set.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    loop {
        // SAFETY: `message` is valid for its length, and `kernel` is a sockaddr_nl whose size
        // is passed along.
        let n = unsafe {
            libc::sendto(
                sock.as_raw_fd(),
                message.as_ptr().cast(),
                message.len(),
                0,
                (&raw const kernel).cast(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if n >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Receives one netlink datagram into `buf`; returns its length.
pub(crate) fn netlink_recv(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}
