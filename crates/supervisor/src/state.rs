//! The state file: which processes a supervisor runs, written atomically on every change, so
//! that a supervisor killed without a chance to clean up is followed by one that stops what
//! it left behind before starting anything.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use procscan::{ProcessIdentity, Signal};
use serde::{Deserialize, Serialize};

use crate::kill::{self, Target};
use crate::status::ServiceState;
use crate::sys;

/// The file's format version.
const VERSION: u32 = 1;

/// What a supervisor records in its state file ([`crate::SupervisorOptions::state_file`]).
///
/// Other programs read it with [`read_state`] to learn what a supervisor runs, or ran before
/// it was killed: a command-line `status` that finds no live supervisor lists the recorded
/// processes that are still alive. Only the supervisor writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StateFile {
    /// The file format's version.
    pub version: u32,
    /// The supervisor process itself.
    pub supervisor: ProcessIdentity,
    /// Its instance tag (see `PORTWARDEN_INSTANCE`).
    pub instance: String,
    /// One record per service, in the stack's order.
    pub services: Vec<ServiceRecord>,
    /// Orphans of the services that were adopted by the supervisor.
    pub orphans: Vec<ProcessIdentity>,
}

/// One service's record in a [`StateFile`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServiceRecord {
    /// The service.
    pub name: String,
    /// Its state when the file was written.
    pub state: ServiceState,
    /// The running process (service or setup command), which leads the group `pgid`.
    pub identity: Option<ProcessIdentity>,
    /// Its process group.
    pub pgid: Option<u32>,
    /// Its port (after any migration).
    pub port: Option<u16>,
    /// Automatic restarts so far.
    pub restarts: u32,
}

impl StateFile {
    pub(crate) fn new(
        supervisor: ProcessIdentity,
        instance: String,
        services: Vec<ServiceRecord>,
        orphans: Vec<ProcessIdentity>,
    ) -> StateFile {
        StateFile {
            version: VERSION,
            supervisor,
            instance,
            services,
            orphans,
        }
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader never sees half a file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Reads a state file; `None` when there is none (or it is not ours to read: a file of an
/// unknown version or unparsable content is logged and ignored).
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let state = supervisor::read_state(&dir.path().join("state.json"))?;
/// assert!(state.is_none());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_state(path: &Path) -> io::Result<Option<StateFile>> {
    read(path)
}

pub(crate) fn read(path: &Path) -> io::Result<Option<StateFile>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match serde_json::from_slice::<StateFile>(&bytes) {
        Ok(state) if state.version == VERSION => Ok(Some(state)),
        Ok(state) => {
            log::warn!(
                "{}: unknown state file version {}; ignored",
                path.display(),
                state.version
            );
            Ok(None)
        }
        Err(e) => {
            log::warn!("{}: unreadable state file ({e}); ignored", path.display());
            Ok(None)
        }
    }
}

/// A process left by an earlier run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Leftover {
    pub(crate) service: Option<String>,
    pub(crate) identity: ProcessIdentity,
    /// Signal its whole group (it leads one).
    pub(crate) group: bool,
}

/// The processes of `state` that are still alive as recorded (same pid and start time),
/// including members of a recorded group whose leader is gone.
pub(crate) fn leftovers(state: &StateFile) -> Vec<Leftover> {
    let mut found = Vec::new();
    for record in &state.services {
        let Some(identity) = record.identity else {
            continue;
        };
        if sys::identity_of(identity.pid) == Some(identity) {
            found.push(Leftover {
                service: Some(record.name.clone()),
                identity,
                group: true,
            });
            continue;
        }
        // The leader is gone; members of its session and group may live on. The group id
        // cannot have been reused while they exist, and they cannot have joined it later
        // than the leader started.
        let pgid = record.pgid.unwrap_or(identity.pid);
        for pid in sys::all_pids() {
            if let Some(stat) = sys::proc_stat(pid)
                && stat.pgid == pgid
                && stat.sid == pgid
                && pid != pgid
                && !stat.is_zombie()
                && stat.start_time >= identity.start_time
            {
                found.push(Leftover {
                    service: Some(record.name.clone()),
                    identity: ProcessIdentity {
                        pid,
                        start_time: stat.start_time,
                    },
                    group: false,
                });
            }
        }
    }
    for &identity in &state.orphans {
        if sys::identity_of(identity.pid) == Some(identity) {
            found.push(Leftover {
                service: None,
                identity,
                group: false,
            });
        }
    }
    found
}

/// Stops `leftovers`: SIGTERM, then SIGKILL to what is still alive after `grace`. Returns
/// those still alive at the end (normally none).
pub(crate) fn stop_leftovers(leftovers: &[Leftover], grace: Duration) -> Vec<Leftover> {
    let target = |l: &Leftover| {
        if l.group {
            Target::GroupOf(l.identity)
        } else {
            Target::Process(l.identity)
        }
    };
    let alive = |l: &Leftover| sys::identity_of(l.identity.pid) == Some(l.identity);
    let signal_all = |signal| {
        for l in leftovers.iter().filter(|l| alive(l)) {
            if let Err(e) = kill::send(target(l), signal) {
                log::warn!("stopping leftover {}: {e}", l.identity);
            }
        }
    };
    let wait = |limit: Duration| {
        let deadline = Instant::now() + limit;
        while leftovers.iter().any(alive) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    signal_all(Signal::Term);
    wait(grace);
    signal_all(Signal::Kill);
    wait(Duration::from_secs(2));
    leftovers.iter().filter(|l| alive(l)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_an_atomic_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let state = StateFile::new(
            ProcessIdentity {
                pid: 1,
                start_time: 2,
            },
            "1-1".into(),
            vec![ServiceRecord {
                name: "api".into(),
                state: ServiceState::Running,
                identity: Some(ProcessIdentity {
                    pid: 10,
                    start_time: 20,
                }),
                pgid: Some(10),
                port: Some(8000),
                restarts: 1,
            }],
            Vec::new(),
        );
        write_atomic(&path, &serde_json::to_vec(&state).unwrap()).unwrap();
        assert_eq!(read(&path).unwrap(), Some(state));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        std::fs::write(&path, "not json").unwrap();
        assert_eq!(read(&path).unwrap(), None);
        assert_eq!(read(&dir.path().join("none")).unwrap(), None);
    }

    #[test]
    fn a_recycled_pid_is_not_a_leftover() {
        let me = sys::identity_of(std::process::id()).unwrap();
        let state = StateFile::new(
            me,
            "x".into(),
            Vec::new(),
            vec![ProcessIdentity {
                pid: me.pid,
                start_time: me.start_time + 1,
            }],
        );
        assert!(leftovers(&state).is_empty());
    }
}
