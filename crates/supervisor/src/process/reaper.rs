//! The process-wide reaper: one thread that learns of every service exit through pidfds and
//! reaps orphans re-parented to this process.
//!
//! A blanket `waitpid(-1)` would steal exit statuses from other `std::process::Child`ren of
//! the program (exec health checks, the caller's own). So this thread reaps only:
//! - pids registered through [`Reaper::spawn_watched`] (services and setup commands), each
//!   watched through its own pidfd;
//! - orphans: children of this process that are not registered and live in another session
//!   than ours. Services are started in sessions of their own (`setsid`), and a session cannot
//!   be left for an older one, so every descendant of a service is in a foreign session, while
//!   the caller's ordinary children stay in ours.
//!
//! Spawning and registering happen under a read lock that the orphan scan takes for writing,
//! so a service that exits at once is never mistaken for an orphan.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use procscan::ProcessIdentity;

use crate::sys::{self, ExitInfo};

/// The variable every service gets, naming its supervisor instance: orphans still carry it,
/// which tells which supervisor they came from.
pub(crate) const INSTANCE_ENV: &str = "PORTWARDEN_INSTANCE";

/// How often children are scanned for orphans when nothing else happens.
const SCAN_INTERVAL: Duration = Duration::from_secs(2);

/// Every this many scans, every process is looked at instead of our main thread's children
/// only: a safety net should an orphan be re-parented to another of our threads.
const FULL_SCAN_EVERY: u32 = 15;

/// Called once with the exit status, on the reaper thread: keep it short.
pub(crate) type OnExit = Box<dyn FnOnce(u32, ExitInfo) + Send>;

struct Watch {
    pidfd: OwnedFd,
    on_exit: OnExit,
}

/// An orphan re-parented to this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Orphan {
    pub(crate) identity: ProcessIdentity,
    /// The supervisor instance it came from, when its environment says so.
    pub(crate) instance: Option<String>,
}

struct Adopted {
    pidfd: OwnedFd,
    orphan: Orphan,
}

#[derive(Default)]
struct State {
    watched: HashMap<u32, Watch>,
    orphans: HashMap<u32, Adopted>,
}

/// See the module documentation.
pub(crate) struct Reaper {
    state: Mutex<State>,
    wake: OwnedFd,
    spawn_lock: RwLock<()>,
    own_pid: u32,
    own_sid: u32,
}

static REAPER: OnceLock<Result<Reaper, String>> = OnceLock::new();

/// The reaper, started (and this process made a child subreaper) on first use.
pub(crate) fn reaper() -> io::Result<&'static Reaper> {
    let result = REAPER.get_or_init(|| {
        let start = || -> io::Result<Reaper> {
            if !sys::SUPPORTED {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "the supervisor needs Linux",
                ));
            }
            sys::set_child_subreaper()?;
            Ok(Reaper {
                state: Mutex::new(State::default()),
                wake: sys::wake_fd()?,
                spawn_lock: RwLock::new(()),
                own_pid: sys::own_pid(),
                own_sid: sys::own_sid(),
            })
        };
        start().map_err(|e| e.to_string())
    });
    match result {
        Ok(reaper) => {
            static THREAD: OnceLock<()> = OnceLock::new();
            THREAD.get_or_init(|| {
                let spawned = std::thread::Builder::new()
                    .name("portwarden-reaper".into())
                    .spawn(move || reaper.run());
                if let Err(e) = spawned {
                    log::error!("the reaper thread could not start: {e}");
                }
            });
            Ok(reaper)
        }
        Err(message) => Err(io::Error::other(message.clone())),
    }
}

impl Reaper {
    /// Runs `spawn` (which returns the new child's pid) and watches that pid: `on_exit` gets
    /// its status once it has been reaped.
    pub(crate) fn spawn_watched<T>(
        &self,
        spawn: impl FnOnce() -> io::Result<(u32, T)>,
        on_exit: OnExit,
    ) -> io::Result<(u32, T)> {
        let _guard = self
            .spawn_lock
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (pid, value) = spawn()?;
        let pidfd = match sys::pidfd_open(pid) {
            Ok(fd) => fd,
            Err(e) => {
                // Without a pidfd the exit would go unnoticed: do not leave it running. It
                // leads its own group (setsid ran before exec).
                log::error!("pidfd_open({pid}) failed: {e}; killing it");
                let _ = crate::kill::send(crate::kill::Target::Group(pid), procscan::Signal::Kill);
                let _ = sys::wait_pid(pid, true);
                return Err(e);
            }
        };
        self.lock().watched.insert(pid, Watch { pidfd, on_exit });
        sys::wake(&self.wake);
        Ok((pid, value))
    }

    /// Orphans currently adopted.
    pub(crate) fn orphans(&self) -> Vec<Orphan> {
        self.lock()
            .orphans
            .values()
            .map(|a| a.orphan.clone())
            .collect()
    }

    /// Scans every process for orphans now (on the caller's thread).
    pub(crate) fn scan_now(&self) {
        self.scan_orphans(true);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn run(&self) {
        let mut last_scan = Instant::now();
        let mut scans: u32 = 0;
        loop {
            let (fds, pids): (Vec<RawFd>, Vec<(u32, bool)>) = {
                let state = self.lock();
                let watched = state
                    .watched
                    .iter()
                    .map(|(&pid, w)| (w.pidfd.as_raw_fd(), (pid, true)));
                let orphans = state
                    .orphans
                    .iter()
                    .map(|(&pid, a)| (a.pidfd.as_raw_fd(), (pid, false)));
                std::iter::once((self.wake.as_raw_fd(), (0, false)))
                    .chain(watched)
                    .chain(orphans)
                    .unzip()
            };
            let timeout = SCAN_INTERVAL.saturating_sub(last_scan.elapsed());
            let ready = match sys::poll_readable(&fds, timeout.as_millis() as i32) {
                Ok(ready) => ready,
                Err(e) => {
                    log::error!("reaper poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            let mut exits = Vec::new();
            for index in ready {
                if index == 0 {
                    sys::drain_wake(&self.wake);
                    continue;
                }
                let (pid, watched) = pids[index];
                match sys::wait_pid(pid, false) {
                    Ok(None) => {}
                    Ok(Some(info)) => exits.push((pid, watched, info)),
                    Err(e) => {
                        // ECHILD: somebody else reaped it (a waitpid(-1) elsewhere).
                        log::warn!("waitid({pid}): {e}; its exit status is lost");
                        exits.push((
                            pid,
                            watched,
                            ExitInfo {
                                code: None,
                                signal: None,
                                core_dumped: false,
                            },
                        ));
                    }
                }
            }
            let mut any_service_exit = false;
            let mut callbacks = Vec::new();
            {
                let mut state = self.lock();
                for (pid, watched, info) in exits {
                    if watched {
                        if let Some(w) = state.watched.remove(&pid) {
                            any_service_exit = true;
                            callbacks.push((w.on_exit, pid, info));
                        }
                    } else if let Some(a) = state.orphans.remove(&pid) {
                        log::debug!("reaped orphan {} ({info})", a.orphan.identity);
                    }
                }
            }
            for (on_exit, pid, info) in callbacks {
                on_exit(pid, info);
            }
            // A service's exit re-parents its children to us: look for them at once.
            if any_service_exit || last_scan.elapsed() >= SCAN_INTERVAL {
                scans = scans.wrapping_add(1);
                self.scan_orphans(scans.is_multiple_of(FULL_SCAN_EVERY));
                last_scan = Instant::now();
            }
        }
    }

    /// Adopts the children that are orphans (see the module documentation); zombies among
    /// them are reaped at once. The children of our main thread are read from one file (an
    /// idle supervisor must stay cheap); with `full`, or where that file does not exist,
    /// every process is looked at.
    fn scan_orphans(&self, full: bool) {
        let _guard = self
            .spawn_lock
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let pids = match sys::main_thread_children() {
            Some(children) if !full => children,
            _ => sys::all_pids(),
        };
        // Our own services are children too: skip what is known before reading anything.
        let pids: Vec<u32> = {
            let state = self.lock();
            pids.into_iter()
                .filter(|pid| !state.watched.contains_key(pid) && !state.orphans.contains_key(pid))
                .collect()
        };
        let candidates: Vec<(u32, sys::ProcStat)> = pids
            .into_iter()
            .filter_map(|pid| Some((pid, sys::proc_stat(pid)?)))
            .filter(|(_, stat)| stat.ppid == self.own_pid && stat.sid != self.own_sid)
            .collect();
        let mut state = self.lock();
        for (pid, stat) in candidates {
            if state.watched.contains_key(&pid) || state.orphans.contains_key(&pid) {
                continue;
            }
            if stat.is_zombie() {
                match sys::wait_pid(pid, false) {
                    Ok(Some(info)) => log::debug!("reaped orphan zombie {pid} ({info})"),
                    Ok(None) => {}
                    Err(e) => log::debug!("orphan {pid}: {e}"),
                }
                continue;
            }
            let Ok(pidfd) = sys::pidfd_open(pid) else {
                continue;
            };
            let orphan = Orphan {
                identity: ProcessIdentity {
                    pid,
                    start_time: stat.start_time,
                },
                instance: sys::environ_var(pid, INSTANCE_ENV),
            };
            log::debug!(
                "adopted orphan {} of instance {:?}",
                orphan.identity,
                orphan.instance
            );
            state.orphans.insert(pid, Adopted { pidfd, orphan });
        }
        drop(state);
        sys::wake(&self.wake);
    }
}
