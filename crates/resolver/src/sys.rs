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

/// Our ancestors, parent first, up to (not including) pid 1. The walk goes through
/// [`crate::host::process_info`], so it works wherever procscan does.
fn ancestors(pid: u32) -> Vec<u32> {
    let mut chain = Vec::new();
    let mut current = pid;
    // A bounded walk: a loop in the parent chain would be a kernel bug, not a reason to hang.
    for _ in 0..128 {
        let Some(info) = crate::host::process_info(current) else {
            break;
        };
        let parent = info.ppid;
        if parent <= 1 || chain.contains(&parent) {
            break;
        }
        chain.push(parent);
        current = parent;
    }
    chain
}
