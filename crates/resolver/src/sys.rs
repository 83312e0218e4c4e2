//! Facts about the calling process, the only OS queries planning needs (made once, when a
//! [`ClassifyContext`](crate::ClassifyContext) is built, never during planning).

/// Who is calling.
pub(crate) struct Caller {
    pub uid: u32,
    pub pid: u32,
    pub pgid: u32,
    pub ancestors: Vec<u32>,
}

pub(crate) fn caller() -> Caller {
    // SAFETY: getuid and getpgrp have no preconditions and cannot fail.
    let (uid, pgid) = unsafe { (libc::getuid(), libc::getpgrp()) };
    let pid = std::process::id();
    Caller {
        uid,
        pid,
        pgid: u32::try_from(pgid).unwrap_or(0),
        ancestors: ancestors(pid),
    }
}

/// Our ancestors, parent first, without pid 1 (procscan's walk, which works wherever procscan
/// does).
fn ancestors(pid: u32) -> Vec<u32> {
    crate::host::ancestors(pid)
}
