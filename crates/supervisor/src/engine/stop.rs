//! Stopping services: the stop signal to the process group, SIGKILL after the stop timeout,
//! a check that the group is empty and the port free; shutdown in reverse dependency order.

use std::time::{Duration, Instant};

use portcore::{BindOutcome, probe_bind};
use procscan::Signal;

use super::{AfterStop, Controller, KILL_WAIT, Stopping, TimerKind};
use crate::event::Event;
use crate::kill::{self, Target};
use crate::process::reaper;
use crate::state::{self, Leftover};
use crate::status::{Health, ServiceState};
use crate::sys;

impl Controller {
    /// The caller asked for `i` to stop: it will not be restarted.
    pub(super) fn stop_request(&mut self, i: usize) {
        self.units[i].wanted = false;
        self.begin_stop(i, AfterStop::Stay);
    }

    /// The caller asked for `i` to restart.
    pub(super) fn restart_request(&mut self, i: usize) {
        let unit = &mut self.units[i];
        if unit.pid.is_some() {
            unit.wanted = true;
            self.begin_stop(i, AfterStop::Start);
        } else {
            self.start_request(i);
        }
    }

    /// Starts stopping `i`; `then` says what follows once it is down.
    pub(super) fn begin_stop(&mut self, i: usize, then: AfterStop) {
        let escalated = self.escalated;
        let unit = &mut self.units[i];
        if let Some(stopping) = unit.stopping.as_mut() {
            // A stop the user asked for wins over a restart in progress.
            if then == AfterStop::Stay {
                stopping.then = AfterStop::Stay;
            }
            return;
        }
        unit.monitor = None;
        let (Some(_), Some(pgid)) = (unit.pid, unit.pgid) else {
            // No process: settle at once.
            unit.generation += 1;
            unit.pending_exit = None;
            return self.settle(i, then);
        };
        let timeout = unit.spec.stop_timeout;
        let signal = if escalated {
            Signal::Kill
        } else {
            unit.spec.stop_signal
        };
        unit.state = ServiceState::Stopping;
        unit.stopping = Some(Stopping {
            deadline: Instant::now() + timeout,
            killed: escalated,
            then,
        });
        let service = unit.spec.name.clone();
        self.emit(Event::Stopping { service });
        if let Err(e) = kill::send(Target::Group(pgid), signal) {
            log::warn!("signalling group {pgid}: {e}");
        }
        let wait = if escalated { KILL_WAIT } else { timeout };
        self.timer(i, wait, TimerKind::Kill);
    }

    /// What follows a stop of a unit without a process.
    fn settle(&mut self, i: usize, then: AfterStop) {
        match then {
            AfterStop::Stay => {
                let unit = &mut self.units[i];
                let was_running = matches!(
                    unit.state,
                    ServiceState::Pending
                        | ServiceState::Restarting
                        | ServiceState::Starting
                        | ServiceState::Running
                        | ServiceState::SettingUp
                        | ServiceState::Stopping
                );
                if !unit.wanted || self.shutting_down {
                    unit.listener = None;
                }
                if was_running {
                    unit.state = ServiceState::Stopped;
                    unit.health = Health::Unknown;
                    let service = unit.spec.name.clone();
                    self.emit(Event::Stopped { service });
                }
            }
            AfterStop::Start => {
                let service = self.units[i].spec.name.clone();
                self.emit(Event::Stopped { service });
                let unit = &mut self.units[i];
                unit.state = ServiceState::Pending;
                unit.tracker.stable();
                if self.shutting_down {
                    unit.state = ServiceState::Stopped;
                }
            }
            AfterStop::Failure(reason) => self.after_failure_or_exit(i, true, reason),
        }
    }

    /// The stop timeout ran out: SIGKILL the group (or, after that, give up waiting).
    pub(super) fn kill_due(&mut self, i: usize) {
        let unit = &mut self.units[i];
        let Some(stopping) = unit.stopping.as_mut() else {
            return;
        };
        if stopping.killed && Instant::now() >= stopping.deadline {
            return self.finalize_stop(i);
        }
        stopping.killed = true;
        stopping.deadline = Instant::now() + KILL_WAIT;
        if let Some(pgid) = unit.pgid {
            log::info!(
                "{}: still running after {:?}; SIGKILL to group {pgid}",
                unit.spec.name,
                unit.spec.stop_timeout
            );
            if let Err(e) = kill::send(Target::Group(pgid), Signal::Kill) {
                log::warn!("killing group {pgid}: {e}");
            }
        }
        self.timer(i, KILL_WAIT, TimerKind::Kill);
        self.timer(i, super::GROUP_POLL, TimerKind::GroupPoll);
    }

    /// The main process of a stopping unit is gone: is the rest of its group?
    pub(super) fn check_group(&mut self, i: usize) {
        let unit = &self.units[i];
        if unit.stopping.is_none() || unit.pid.is_some() {
            return;
        }
        let pgid = unit.pgid;
        // Members re-parented to us and already dead are zombies until reaped.
        if let Ok(reaper) = reaper::reaper() {
            reaper.scan_now();
        }
        let Some(pgid) = pgid.filter(|&g| sys::group_exists(g)) else {
            return self.finalize_stop(i);
        };
        // Groups are signalled member by member: a process forked meanwhile escaped the last
        // SIGKILL, so repeat it until the group is empty.
        if self.units[i].stopping.as_ref().is_some_and(|s| s.killed) {
            let _ = kill::send(Target::Group(pgid), Signal::Kill);
        }
        self.timer(i, super::GROUP_POLL, TimerKind::GroupPoll);
    }

    /// The stop is over: report what is left, then do what was asked.
    fn finalize_stop(&mut self, i: usize) {
        let unit = &mut self.units[i];
        let then = unit
            .stopping
            .take()
            .map(|s| s.then)
            .unwrap_or(AfterStop::Stay);
        let pids = unit.pgid.take().map(sys::group_members).unwrap_or_default();
        let port_held = unit.port.filter(|&port| {
            !unit.spec.socket_activation
                && probe_bind(unit.spec.bind_address, port, unit.spec.protocol, true)
                    == BindOutcome::InUse
        });
        unit.generation += 1;
        unit.pid = None;
        unit.identity = None;
        let service = unit.spec.name.clone();
        if !pids.is_empty() || port_held.is_some() {
            log::warn!("{service}: after the stop, pids {pids:?} / port {port_held:?} remain");
            self.emit(Event::Leftovers {
                service,
                pids,
                port_held,
            });
        }
        self.settle(i, then);
    }

    /// A second shutdown request: SIGKILL everything now.
    pub(super) fn escalate(&mut self) {
        log::warn!("second shutdown request: killing every service");
        self.escalated = true;
        let deadline = Instant::now() + KILL_WAIT;
        for unit in &mut self.units {
            if let Some(pgid) = unit.pgid {
                let _ = kill::send(Target::Group(pgid), Signal::Kill);
            }
            if let Some(stopping) = unit.stopping.as_mut() {
                stopping.killed = true;
                stopping.deadline = deadline;
            }
        }
        for identity in self.orphans() {
            let _ = kill::send(Target::Process(identity), Signal::Kill);
        }
    }

    /// Moves a shutdown along: settles what has no process, stops what no running service
    /// depends on any more.
    pub(super) fn advance_shutdown(&mut self) {
        for i in 0..self.units.len() {
            if matches!(
                self.units[i].state,
                ServiceState::Pending | ServiceState::Restarting
            ) && self.units[i].pid.is_none()
            {
                self.units[i].generation += 1;
                self.settle(i, AfterStop::Stay);
            }
        }
        let order: Vec<usize> = self.stack.order().iter().rev().copied().collect();
        for i in order {
            let unit = &self.units[i];
            if unit.pid.is_none() || unit.stopping.is_some() {
                continue;
            }
            let dependents_down = self
                .stack
                .dependents_of(i)
                .into_iter()
                .all(|d| self.units[d].pid.is_none() && self.units[d].stopping.is_none());
            if dependents_down {
                self.begin_stop(i, AfterStop::Stay);
            }
        }
    }

    /// Whether nothing runs and nothing is pending.
    pub(super) fn all_down(&self) -> bool {
        self.units.iter().all(|u| {
            u.pid.is_none() && u.stopping.is_none() && u.pending_exit.is_none() && u.pgid.is_none()
        })
    }

    /// After the shutdown: stops orphans, reports, removes the state file, ends receivers.
    pub(super) fn finish(&mut self) {
        // The reaper scans for orphans after it reports an exit: make sure a fast shutdown
        // does not overtake that scan.
        if let Ok(reaper) = reaper::reaper() {
            reaper.scan_now();
        }
        let orphans: Vec<Leftover> = self
            .orphans()
            .into_iter()
            .map(|identity| Leftover {
                service: None,
                identity,
                group: false,
            })
            .collect();
        if !orphans.is_empty() {
            log::info!("stopping {} orphaned processes", orphans.len());
            let grace = if self.escalated {
                Duration::ZERO
            } else {
                Duration::from_secs(2)
            };
            for left in state::stop_leftovers(&orphans, grace) {
                self.emit(Event::Warning {
                    message: format!("orphan {} survived SIGKILL", left.identity),
                });
            }
        }
        for unit in &mut self.units {
            unit.listener = None;
        }
        self.emit(Event::StackStopped);
        let status = self.status();
        let outcome = match self.first_failure.clone() {
            Some(reason) => Err(reason),
            None => Ok(()),
        };
        if let Some(path) = &self.options.state_file
            && let Err(e) = std::fs::remove_file(path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            log::warn!("removing {}: {e}", path.display());
        }
        self.bus.close();
        self.shared.update(|s| {
            s.status = status;
            s.finished = Some(outcome);
        });
    }
}
