//! What the monitor knows of the running stack: the supervisor's state file, re-read only when
//! it changes (the supervisor rewrites it atomically on every change), so a quiet tick costs
//! one `stat` and one look at the supervisor's `/proc` entry.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::SystemTime;

use procscan::ProcessIdentity;
use supervisor::{ServiceState, StateFile};

use crate::conflicts::Running;
use crate::control::paths::StatePaths;

/// One service as the state file records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its state when the file was written.
    pub state: ServiceState,
    /// Its running process, when it has one.
    pub identity: Option<ProcessIdentity>,
    /// Its process group.
    pub pgid: Option<u32>,
    /// Its port (after any migration).
    pub port: Option<u16>,
}

/// The stack now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// The supervisor, when it runs.
    pub supervisor: Option<ProcessIdentity>,
    /// The recorded services: all of them while the supervisor runs; only those whose
    /// recorded process is still alive when it is gone.
    pub services: BTreeMap<String, Record>,
}

impl View {
    /// The live process of `service`, when it has one.
    pub fn instance(&self, service: &str) -> Option<ProcessIdentity> {
        self.services.get(service)?.identity
    }

    /// The services that run now, for [`crate::conflicts::follow_stack`].
    pub fn running(&self) -> BTreeMap<String, Running> {
        self.services
            .iter()
            .filter_map(|(name, r)| {
                let identity = r.identity?;
                Some((
                    name.clone(),
                    Running {
                        identity,
                        port: r.port,
                    },
                ))
            })
            .collect()
    }
}

/// Follows the state file.
#[derive(Debug)]
pub struct StackWatch {
    path: PathBuf,
    stamp: Option<(SystemTime, u64, u64)>,
    file: Option<StateFile>,
    alive: bool,
    view: View,
}

impl StackWatch {
    /// Follows the state file of `paths`.
    pub fn new(paths: &StatePaths) -> StackWatch {
        StackWatch {
            path: paths.state_file.clone(),
            stamp: None,
            file: None,
            alive: false,
            view: View::default(),
        }
    }

    /// The stack now.
    pub fn refresh(&mut self) -> &View {
        let stamp = std::fs::metadata(&self.path).ok().map(|m| {
            (
                m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                m.len(),
                m.ino(),
            )
        });
        let changed = stamp != self.stamp;
        if changed {
            self.file = match stamp {
                None => None,
                Some(_) => supervisor::read_state(&self.path).unwrap_or_else(|e| {
                    log::warn!("{}: {e}", self.path.display());
                    None
                }),
            };
            self.stamp = stamp;
        }
        let alive = self
            .file
            .as_ref()
            .is_some_and(|f| procscan::is_same_process(&f.supervisor));
        // Nobody updates the file of a dead supervisor: its processes are looked at each time.
        if changed || alive != self.alive || !alive {
            self.view = match &self.file {
                None => View::default(),
                Some(file) => view_of(file, alive),
            };
        }
        self.alive = alive;
        &self.view
    }
}

fn view_of(file: &StateFile, alive: bool) -> View {
    let services = file
        .services
        .iter()
        .filter(|r| alive || r.identity.is_some_and(|i| procscan::is_same_process(&i)))
        .map(|r| {
            (
                r.name.clone(),
                Record {
                    state: r.state,
                    identity: r.identity,
                    pgid: r.pgid,
                    port: r.port,
                },
            )
        })
        .collect();
    View {
        supervisor: alive.then_some(file.supervisor),
        services,
    }
}
