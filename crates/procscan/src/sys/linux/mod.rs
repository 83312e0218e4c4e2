//! Linux: netlink `sock_diag` (or `/proc/net`) for the socket table, `/proc` for the
//! processes, pidfds for signals.

mod fds;
mod ffi;
mod incremental;
mod netlink;
mod process;
mod procnet;
mod queries;
mod scan;
mod signal;

pub(crate) use incremental::Cache as ScanCache;
pub(crate) use queries::{ancestors, descendants, group_members, process_info, processes};
pub(crate) use scan::{holds, snapshot, sockets};
pub(crate) use signal::{Handle, signal_group, wait_exit};

use crate::{Error, ProcessIdentity};

/// Our pid and effective uid.
pub(crate) fn own_ids() -> (u32, u32) {
    ffi::own_ids()
}

/// The identity of a live process: `None` when it does not exist or is a zombie.
pub(crate) fn live_identity(pid: u32) -> Result<Option<ProcessIdentity>, Error> {
    match queries::stat(pid) {
        Ok(stat) if stat.exited() => Ok(None),
        Ok(stat) => Ok(Some(stat.identity())),
        Err(Error::ProcessNotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The identity of a process, zombies included.
pub(crate) fn process_identity(pid: u32) -> Result<ProcessIdentity, Error> {
    queries::stat(pid).map(|s| s.identity())
}
