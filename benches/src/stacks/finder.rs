//! Finding a stack's service processes the same way for every supervisor: among the
//! supervisor's children (`/proc/PID/task/TID/children`, every thread's), the ones whose
//! `argv[0]` is the stack's own link to pw-fixture and whose arguments name the service's
//! address. A process counts once it has exec'd the service program: portwarden's
//! `sh -c 'exec ...'` counts from its exec, as supervisord's and pm2's direct spawns do.
//!
//! Reading every thread's `children` file costs a read per thread (portwarden runs ~100
//! threads with 30 services, pm2's node ~11), so a quick scan reads only the threads that had
//! service children at the last full scan; callers polling fast do a full scan now and then.

use std::collections::HashMap;
use std::path::Path;

use crate::procfs::{self, Identity};

/// A service's process found among a supervisor's children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// The service's index in the stack.
    pub service: usize,
    /// The process.
    pub identity: Identity,
}

/// Finds a stack's service processes among its supervisor's children.
#[derive(Debug)]
pub struct Finder {
    supervisor: u32,
    program: Vec<u8>,
    /// The address argument (`127.0.0.1:PORT`) that tells the services apart.
    by_address: HashMap<Vec<u8>, usize>,
    /// Threads that had service children at the last full scan.
    hint: Vec<u32>,
    /// Processes already recognised (pid -> what it was).
    known: HashMap<u32, Found>,
}

impl Finder {
    /// A finder for the children of `supervisor` running `program` with one of `addresses`
    /// (the service at index i has `addresses[i]`).
    pub fn new(supervisor: u32, program: &Path, addresses: &[String]) -> Finder {
        Finder {
            supervisor,
            program: program.as_os_str().as_encoded_bytes().to_vec(),
            by_address: addresses
                .iter()
                .enumerate()
                .map(|(i, a)| (a.as_bytes().to_vec(), i))
                .collect(),
            hint: Vec::new(),
            known: HashMap::new(),
        }
    }

    /// The supervisor's pid.
    pub fn supervisor(&self) -> u32 {
        self.supervisor
    }

    /// The service processes among the supervisor's children, zombies included (a killed
    /// service stays listed until its supervisor reaps it). `full` reads every thread's
    /// children and refreshes the hint; otherwise only the hinted threads are read.
    pub fn scan(&mut self, full: bool) -> Vec<Found> {
        let full = full || self.hint.is_empty();
        let tasks = if full {
            procfs::tasks(self.supervisor).unwrap_or_default()
        } else {
            self.hint.clone()
        };
        let mut found = Vec::new();
        let mut hint = Vec::new();
        for tid in tasks {
            let Ok(children) = procfs::task_children(self.supervisor, tid) else {
                continue;
            };
            let before = found.len();
            for pid in children {
                if let Some(f) = self.recognise(pid) {
                    found.push(f);
                }
            }
            if found.len() > before {
                hint.push(tid);
            }
        }
        if full {
            self.hint = hint;
        }
        found
    }

    /// The process of service `service` other than `except`, the most recently started when
    /// there are several (a zombie and its replacement).
    pub fn find(
        &mut self,
        service: usize,
        except: Option<Identity>,
        full: bool,
    ) -> Option<Identity> {
        self.scan(full)
            .into_iter()
            .filter(|f| f.service == service && Some(f.identity) != except)
            .map(|f| f.identity)
            .max_by_key(|id| id.start_time)
    }

    /// The live process of every service, by index; `None` for a service that has none now.
    pub fn live(&mut self, services: usize) -> Vec<Option<Identity>> {
        let mut live = vec![None; services];
        for f in self.scan(true) {
            if f.service < services && procfs::alive(f.identity) {
                let slot: &mut Option<Identity> = &mut live[f.service];
                if slot.is_none_or(|old| old.start_time < f.identity.start_time) {
                    *slot = Some(f.identity);
                }
            }
        }
        live
    }

    fn recognise(&mut self, pid: u32) -> Option<Found> {
        if let Some(found) = self.known.get(&pid) {
            return Some(*found);
        }
        // Not cached until it matches: a child between fork and exec (or still in `sh`)
        // shows its parent's command line, and is looked at again next time.
        let argv = procfs::cmdline(pid).ok()?;
        let service = matches(&argv, &self.program, &self.by_address)?;
        let identity = procfs::identity(pid)?;
        let found = Found { service, identity };
        self.known.insert(pid, found);
        Some(found)
    }
}

/// The service index `argv` runs, if it is `program` with one of the addresses.
pub fn matches(
    argv: &[Vec<u8>],
    program: &[u8],
    by_address: &HashMap<Vec<u8>, usize>,
) -> Option<usize> {
    let (first, rest) = argv.split_first()?;
    if first.as_slice() != program {
        return None;
    }
    rest.iter().find_map(|a| by_address.get(a).copied())
}

/// Every process on the machine whose `argv[0]` is `program`: what is left of a stack after its
/// supervisor stopped, whoever its parent now is.
pub fn processes_running(program: &Path) -> Vec<u32> {
    let program = program.as_os_str().as_encoded_bytes();
    procfs::all_pids()
        .into_iter()
        .filter(|&pid| {
            procfs::cmdline(pid)
                .ok()
                .and_then(|argv| argv.first().map(|a| a.as_slice() == program))
                .unwrap_or(false)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn a_service_is_its_program_and_its_address() {
        let by_address: HashMap<Vec<u8>, usize> = [
            (b"127.0.0.1:20000".to_vec(), 0),
            (b"127.0.0.1:20001".to_vec(), 1),
        ]
        .into();
        let program = b"/tmp/s/bin/pw-fixture";
        let run = |a: &[&str]| matches(&argv(a), program, &by_address);
        assert_eq!(
            run(&["/tmp/s/bin/pw-fixture", "--http", "127.0.0.1:20001"]),
            Some(1)
        );
        // Another stack's fixture, the shell before its exec, an unknown address.
        assert_eq!(
            run(&["/tmp/t/bin/pw-fixture", "--http", "127.0.0.1:20001"]),
            None
        );
        assert_eq!(
            run(&[
                "/bin/sh",
                "-c",
                "exec /tmp/s/bin/pw-fixture --http 127.0.0.1:20001"
            ]),
            None
        );
        assert_eq!(
            run(&["/tmp/s/bin/pw-fixture", "--http", "127.0.0.1:20002"]),
            None
        );
        assert_eq!(run(&[]), None);
    }

    #[test]
    fn finds_its_own_children_by_program_and_address() {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("pw-fixture");
        std::os::unix::fs::symlink(testkit::fixture_path(), &program).unwrap();
        let spawn = |port: &str| {
            std::process::Command::new(&program)
                .args(["--tcp", port])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        };
        let mut a = spawn("127.0.0.1:0");
        let addresses = vec!["127.0.0.1:0".to_string(), "127.0.0.1:1".to_string()];
        let mut finder = Finder::new(std::process::id(), &program, &addresses);
        let found = testkit::wait_until(std::time::Duration::from_secs(10), || {
            finder.find(0, None, true).is_some()
        });
        let first = finder.find(0, None, false);
        assert!(found && first.is_some_and(|id| id.pid == a.id()));
        assert_eq!(finder.find(1, None, true), None);
        assert_eq!(finder.find(0, first, false), None);
        assert_eq!(processes_running(&program), [a.id()]);
        assert_eq!(finder.live(2)[0], first);
        a.kill().unwrap();
        a.wait().unwrap();
        assert!(processes_running(&program).is_empty());
        assert_eq!(finder.live(2), [None, None]);
    }
}
