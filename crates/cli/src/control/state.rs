//! The supervisor's state file as the command line reads it: who ran the stack, whether that
//! supervisor still lives, and which of its processes do.

use std::collections::BTreeMap;

use procscan::ProcessIdentity;
use serde::Serialize;
use supervisor::StateFile;

use super::paths::StatePaths;

/// What the state file says, checked against the live process table.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The file's content.
    pub file: StateFile,
    /// Whether the supervisor that wrote it is still the same live process.
    pub supervisor_alive: bool,
}

/// A recorded service process that is still alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveRecord {
    /// The service.
    pub service: String,
    /// Its process (pid and start time, as recorded and still true).
    pub pid: u32,
    /// Its process group.
    pub pgid: Option<u32>,
    /// Its port.
    pub port: Option<u16>,
    #[serde(skip)]
    /// The identity, for signalling.
    pub identity: ProcessIdentity,
}

impl Recorded {
    /// Reads the state file; `None` when there is none (or it cannot be read: logged).
    pub fn read(paths: &StatePaths) -> Option<Recorded> {
        let file = match supervisor::read_state(&paths.state_file) {
            Ok(file) => file?,
            Err(e) => {
                log::warn!("reading {}: {e}", paths.state_file.display());
                return None;
            }
        };
        let supervisor_alive = procscan::is_same_process(&file.supervisor);
        Some(Recorded {
            file,
            supervisor_alive,
        })
    }

    /// The recorded service processes that are still alive as recorded.
    pub fn live_services(&self) -> Vec<LiveRecord> {
        self.file
            .services
            .iter()
            .filter_map(|record| {
                let identity = record.identity?;
                procscan::is_same_process(&identity).then(|| LiveRecord {
                    service: record.name.clone(),
                    pid: identity.pid,
                    pgid: record.pgid,
                    port: record.port,
                    identity,
                })
            })
            .collect()
    }

    /// The identity of each service's recorded process that is still alive: the resolver
    /// treats a port held by it as held by "our live instance".
    pub fn live_instances(&self) -> BTreeMap<String, ProcessIdentity> {
        self.live_services()
            .into_iter()
            .map(|r| (r.service, r.identity))
            .collect()
    }
}
