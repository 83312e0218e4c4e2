//! The caller's side: [`Supervisor::start`] and the [`SupervisorHandle`] it returns.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::engine::{Controller, Msg, Shared};
use crate::error::Error;
use crate::event::{Event, EventBus, EventReceiver};
use crate::options::SupervisorOptions;
use crate::process::reaper;
use crate::stack::Stack;
use crate::state;
use crate::status::ServiceStatus;
use crate::sys;

/// Starts stacks. See [`Supervisor::start`].
#[derive(Debug)]
pub struct Supervisor;

impl Supervisor {
    /// Starts `stack` in the background and returns a handle to it.
    ///
    /// Before anything starts: the process becomes a child subreaper, the log folder is
    /// created, and, with a state file, processes an earlier run left alive (same pid and
    /// start time as recorded) are stopped, whole groups, so that a supervisor killed with
    /// SIGKILL and started again never runs a service twice. A state file recorded by a
    /// supervisor that is still running is an error.
    pub fn start(stack: Stack, options: SupervisorOptions) -> Result<SupervisorHandle, Error> {
        static INSTANCES: AtomicU64 = AtomicU64::new(0);
        reaper::reaper().map_err(|source| Error::Os {
            what: "starting the reaper",
            source,
        })?;
        std::fs::create_dir_all(&options.log_dir).map_err(|source| Error::LogDir {
            path: options.log_dir.clone(),
            source,
        })?;
        let bus = Arc::new(EventBus::new(options.event_capacity));
        let first = bus.subscribe();
        let instance = format!(
            "{}-{}",
            sys::own_pid(),
            INSTANCES.fetch_add(1, Ordering::Relaxed)
        );
        if let Some(path) = &options.state_file {
            let state_error = |source| Error::StateFile {
                path: path.clone(),
                source,
            };
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(state_error)?;
            }
            if let Some(previous) = state::read(path).map_err(state_error)? {
                let boss = previous.supervisor;
                if boss.pid != sys::own_pid() && sys::identity_of(boss.pid) == Some(boss) {
                    return Err(Error::AlreadyRunning {
                        pid: boss.pid,
                        path: path.clone(),
                    });
                }
                let leftovers = state::leftovers(&previous);
                if !leftovers.is_empty() {
                    log::warn!(
                        "{} processes of an earlier run are still alive; stopping them",
                        leftovers.len()
                    );
                    let survivors = state::stop_leftovers(&leftovers, options.recovery_grace);
                    for left in &leftovers {
                        bus.publish(Event::Recovered {
                            service: left.service.clone(),
                            pid: left.identity.pid,
                        });
                    }
                    for left in survivors {
                        bus.publish(Event::Warning {
                            message: format!(
                                "{} left by an earlier run survived SIGKILL",
                                left.identity
                            ),
                        });
                    }
                }
            }
        }
        let shared = Arc::new(Shared::new());
        let (tx, rx) = mpsc::channel();
        let controller = Controller::new(
            stack,
            options,
            Arc::clone(&bus),
            Arc::clone(&shared),
            (tx.clone(), rx),
            instance,
        )?;
        let thread = std::thread::Builder::new()
            .name("portwarden-supervisor".into())
            .spawn(move || controller.run())
            .map_err(|source| Error::Os {
                what: "starting the supervisor thread",
                source,
            })?;
        Ok(SupervisorHandle {
            inner: Arc::new(Inner {
                tx,
                shared,
                bus,
                first_events: Mutex::new(Some(first)),
                thread: Mutex::new(Some(thread)),
            }),
        })
    }
}

/// A running stack. Clones share it; every method may be called from any thread.
///
/// Dropping the last clone shuts the stack down (and waits for it), so services never
/// outlive a caller that forgot to: call [`SupervisorHandle::shutdown`] and
/// [`SupervisorHandle::wait`] to do it on purpose.
#[derive(Clone)]
pub struct SupervisorHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SupervisorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisorHandle")
            .field("services", &self.inner.shared.lock().status.len())
            .finish()
    }
}

struct Inner {
    tx: Sender<Msg>,
    shared: Arc<Shared>,
    bus: Arc<EventBus>,
    first_events: Mutex<Option<EventReceiver>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// How long a command waits for the supervisor to take it.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

impl SupervisorHandle {
    /// A receiver of events. The first call gets every event since the start; later calls
    /// get events from the moment of the call. See [`EventReceiver`] for what is dropped
    /// when a receiver falls behind.
    pub fn events(&self) -> EventReceiver {
        let first = self
            .inner
            .first_events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        first.unwrap_or_else(|| self.inner.bus.subscribe())
    }

    /// Every service's status, in the order of the stack's definition.
    pub fn status(&self) -> Vec<ServiceStatus> {
        self.inner.shared.status()
    }

    /// One service's status.
    pub fn service_status(&self, name: &str) -> Option<ServiceStatus> {
        self.status().into_iter().find(|s| s.name == name)
    }

    fn command(&self, make: impl FnOnce(Sender<Result<(), Error>>) -> Msg) -> Result<(), Error> {
        let (reply, answer) = mpsc::channel();
        self.inner
            .tx
            .send(make(reply))
            .map_err(|_| Error::Stopped)?;
        answer
            .recv_timeout(COMMAND_TIMEOUT)
            .map_err(|_| Error::Stopped)?
    }

    /// Stops a service (signal to its group, SIGKILL after its stop timeout). It is not
    /// restarted until started again. Returns once the stop has begun; a
    /// [`Event::Stopped`] follows.
    pub fn stop_service(&self, name: &str) -> Result<(), Error> {
        self.command(|reply| Msg::Stop(name.to_owned(), reply))
    }

    /// Starts a service that is not running, and what it depends on.
    pub fn start_service(&self, name: &str) -> Result<(), Error> {
        self.command(|reply| Msg::Start(name.to_owned(), reply))
    }

    /// Stops a service and starts it again (its dependents keep running).
    pub fn restart_service(&self, name: &str) -> Result<(), Error> {
        self.command(|reply| Msg::Restart(name.to_owned(), reply))
    }

    /// Stops every service in reverse dependency order, then finishes. A second call
    /// escalates at once: SIGKILL to every group. Returns at once; see
    /// [`SupervisorHandle::wait`].
    pub fn shutdown(&self) {
        let _ = self.inner.tx.send(Msg::Shutdown);
    }

    /// Waits for the stack to come up: `Ok` once every selected service runs (healthy where
    /// checked) or has completed, [`Error::StackFailed`] as soon as one fails or is blocked.
    pub fn wait_ready(&self, timeout: Duration) -> Result<(), Error> {
        let ready = self.inner.shared.wait_for(Some(timeout), |s| {
            s.ready.clone().or_else(|| {
                s.finished
                    .as_ref()
                    .map(|_| Err("the supervisor stopped".into()))
            })
        });
        match ready {
            Some(Ok(())) => Ok(()),
            Some(Err(reason)) => Err(Error::StackFailed { reason }),
            None => Err(Error::Timeout { waited: timeout }),
        }
    }

    /// Waits until the supervisor has finished (after [`SupervisorHandle::shutdown`]).
    /// [`Error::StackFailed`] when a service failed during the run.
    pub fn wait(&self) -> Result<(), Error> {
        let outcome = self.inner.shared.wait_for(None, |s| s.finished.clone());
        self.join();
        match outcome {
            Some(Err(reason)) => Err(Error::StackFailed { reason }),
            _ => Ok(()),
        }
    }

    /// Like [`SupervisorHandle::wait`], giving up after `timeout`.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), Error> {
        match self
            .inner
            .shared
            .wait_for(Some(timeout), |s| s.finished.clone())
        {
            None => Err(Error::Timeout { waited: timeout }),
            Some(outcome) => {
                self.join();
                outcome.map_err(|reason| Error::StackFailed { reason })
            }
        }
    }

    fn join(&self) {
        let thread = self
            .inner
            .thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            log::error!("the supervisor thread panicked");
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let finished = |s: &crate::engine::SharedInner| s.finished.as_ref().map(|_| ());
        if self
            .shared
            .wait_for(Some(Duration::ZERO), finished)
            .is_some()
        {
            return;
        }
        let _ = self.tx.send(Msg::Shutdown);
        if self
            .shared
            .wait_for(Some(Duration::from_secs(30)), finished)
            .is_none()
        {
            let _ = self.tx.send(Msg::Shutdown);
            let _ = self.shared.wait_for(Some(Duration::from_secs(5)), finished);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_and_receivers_cross_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<SupervisorHandle>();
        shareable::<EventReceiver>();
    }
}
