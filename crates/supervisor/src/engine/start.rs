//! Starting services, and judging their exits.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use portcore::{BindOutcome, Protocol, probe_bind};
use procscan::{ProcessIdentity, Signal};

use super::{AfterStop, Controller, MAX_MIGRATIONS, Msg, Reached, TimerKind};
use crate::event::Event;
use crate::health::monitor::{self, HealthNews};
use crate::health::{self, HealthContext};
use crate::kill::{self, Target};
use crate::process::output::{self, OutputFlags, Tap};
use crate::process::reaper::INSTANCE_ENV;
use crate::process::spawn::{Launch, launch};
use crate::restart::{self, Decision};
use crate::status::{Health, ServiceState};
use crate::sys::{self, ExitInfo};
use crate::template::{self, Values};

/// Variables never passed on from the supervisor's own environment: they describe the
/// supervisor's process, not the service's.
const NOT_INHERITED: &[&str] = &[
    "LISTEN_PID",
    "LISTEN_FDS",
    "LISTEN_FDNAMES",
    "NOTIFY_SOCKET",
    INSTANCE_ENV,
    "PORTWARDEN_SERVICE",
];

/// The supervisor's environment, less [`NOT_INHERITED`] and variables that are not UTF-8.
pub(super) fn inherited_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| !NOT_INHERITED.contains(&k.as_str()))
        .collect()
}

/// `PORTWARDEN_<NAME>_PORT`: the name upper-cased, anything but letters and digits as `_`.
pub(crate) fn port_variable(service: &str) -> String {
    let name: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("PORTWARDEN_{name}_PORT")
}

/// A listening socket on `address:port` (`port` 0: any), and the port it got. `std` sets
/// `SO_REUSEADDR` on Unix listeners, as servers do.
fn bind_listener(
    address: IpAddr,
    port: u16,
    protocol: Protocol,
) -> std::io::Result<(OwnedFd, u16)> {
    let at = SocketAddr::new(address, port);
    Ok(match protocol {
        Protocol::Tcp => {
            let listener = TcpListener::bind(at)?;
            let port = listener.local_addr()?.port();
            (OwnedFd::from(listener), port)
        }
        Protocol::Udp => {
            let socket = UdpSocket::bind(at)?;
            let port = socket.local_addr()?.port();
            (OwnedFd::from(socket), port)
        }
    })
}

/// A port that is free now on every local address, for a service that binds it itself.
///
/// It is taken below the kernel's ephemeral range: ports there are handed out as the source
/// ports of outgoing connections (health checks among them), which could take the port
/// between this pick and the service's bind.
fn pick_port(protocol: Protocol, taken: &[u16], random: u64) -> Option<u16> {
    let ephemeral_start = portcore::ephemeral_range()
        .map(|e| e.range.start())
        .unwrap_or(32768);
    let (low, high) = if ephemeral_start > 20_000 {
        (10_000u32, u32::from(ephemeral_start))
    } else {
        (1024, 65536)
    };
    let span = high - low;
    let first = (random % u64::from(span)) as u32;
    (0..span.min(4096))
        .map(|k| (low + (first + k * 7919) % span) as u16)
        .find(|&port| !taken.contains(&port) && portcore::probe_port(port, protocol).is_clean())
}

impl Controller {
    /// The caller asked for `i` (and what it depends on) to run.
    pub(super) fn start_request(&mut self, i: usize) {
        let name = self.units[i].spec.name.clone();
        let closure = self.stack.closure(&[name]).unwrap_or_default();
        for j in closure {
            let unit = &mut self.units[j];
            unit.wanted = true;
            if matches!(
                unit.state,
                ServiceState::Stopped
                    | ServiceState::Exited
                    | ServiceState::Failed
                    | ServiceState::Blocked
                    | ServiceState::Inactive
            ) {
                unit.generation += 1;
                unit.state = ServiceState::Pending;
                unit.reached = Reached::default();
                unit.reason = None;
                unit.setup_done = false;
                unit.migrations = 0;
                unit.tracker.stable();
            }
        }
        self.ready_reported = false;
        self.failure_reported = false;
        self.first_failure = None;
    }

    /// Starts `i`, whose dependencies are met: its setup command first, when it has one.
    pub(super) fn start_unit(&mut self, i: usize) {
        let unit = &self.units[i];
        match unit.spec.setup_command.clone() {
            Some(setup) if !unit.setup_done => self.spawn_setup(i, &setup),
            _ => self.spawn_main(i),
        }
    }

    fn values(&self, i: usize) -> Values {
        Values {
            port: self.units[i].port,
            services: self
                .units
                .iter()
                .filter_map(|u| Some((u.spec.name.clone(), u.port?)))
                .collect(),
        }
    }

    fn environment(&self, i: usize, values: &Values) -> Result<Vec<(String, String)>, String> {
        let unit = &self.units[i];
        let mut env: BTreeMap<String, String> = self.base_env.iter().cloned().collect();
        for (name, port) in &values.services {
            env.insert(port_variable(name), port.to_string());
        }
        if let Some(port) = unit.port {
            env.insert("PORT".into(), port.to_string());
            env.insert(port_variable(&unit.spec.name), port.to_string());
        }
        env.insert("PORTWARDEN_SERVICE".into(), unit.spec.name.clone());
        env.insert(INSTANCE_ENV.into(), self.instance.clone());
        for (key, value) in &unit.spec.env {
            let value = template::expand(value, values)
                .map_err(|e| format!("env {key} of service `{}`: {e}", unit.spec.name))?;
            env.insert(key.clone(), value);
        }
        if unit.listener.is_some() {
            env.insert("LISTEN_FDS".into(), "1".into());
            env.insert("LISTEN_FDNAMES".into(), unit.spec.name.clone());
        }
        Ok(env.into_iter().collect())
    }

    /// Spawns `command` for unit `i` (the service, or its setup command) with output capture
    /// and exit watching. Returns the pid.
    fn spawn_process(&mut self, i: usize, command: &str, setup: bool) -> Result<u32, String> {
        let values = self.values(i);
        let env = self.environment(i, &values)?;
        let unit = &mut self.units[i];
        unit.generation += 1;
        let generation = unit.generation;
        let flags = Arc::new(OutputFlags::default());
        unit.flags = Arc::clone(&flags);
        unit.output_closed = false;
        unit.pending_exit = None;
        let tx = self.tx.clone();
        let on_exit = Box::new(move |pid, info| {
            let _ = tx.send(Msg::Exited {
                unit: i,
                generation,
                pid,
                info,
            });
        });
        let listen_fd = if setup {
            None
        } else {
            unit.listener.as_ref().map(|l| l.as_raw_fd())
        };
        let launched = launch(
            Launch {
                command,
                working_dir: unit.spec.working_dir.as_deref(),
                env: &env,
                listen_fd,
            },
            on_exit,
        )
        .map_err(|e| {
            let dir = unit
                .spec
                .working_dir
                .as_ref()
                .map(|d| format!(" in {}", d.display()))
                .unwrap_or_default();
            format!("could not start `{command}`{dir}: {e}")
        })?;
        let tx = self.tx.clone();
        output::capture(
            Tap {
                service: unit.spec.name.clone(),
                prefix: if setup { "[setup] " } else { "" },
                log: Arc::clone(&unit.log),
                bus: Arc::clone(&self.bus),
                dropped: Arc::clone(&unit.dropped),
                flags,
                on_closed: Arc::new(move || {
                    let _ = tx.send(Msg::OutputClosed {
                        unit: i,
                        generation,
                    });
                }),
            },
            launched.stdout,
            launched.stderr,
        );
        let pid = launched.pid;
        unit.pid = Some(pid);
        unit.pgid = Some(pid);
        unit.identity = sys::proc_stat(pid).map(|s| ProcessIdentity {
            pid,
            start_time: s.start_time,
        });
        Ok(pid)
    }

    fn spawn_setup(&mut self, i: usize, setup: &str) {
        let name = self.units[i].spec.name.clone();
        let command = match template::expand(setup, &self.values(i)) {
            Ok(command) => command,
            Err(e) => return self.fail(i, format!("setup command of service `{name}`: {e}")),
        };
        self.emit(Event::SetupStarted {
            service: name.clone(),
            command: command.clone(),
        });
        let unit = &mut self.units[i];
        unit.state = ServiceState::SettingUp;
        unit.setting_up = true;
        if let Err(reason) = self.spawn_process(i, &command, true) {
            self.units[i].setting_up = false;
            self.fail(
                i,
                format!("setup command `{command}` of service `{name}`: {reason}"),
            );
        }
    }

    /// Resolves the port (binding the activation socket, or picking a free port for
    /// `Some(0)`). `Err` holds the reason the service cannot start.
    fn resolve_port(&mut self, i: usize) -> Result<(), String> {
        let unit = &self.units[i];
        let (address, protocol) = (unit.spec.bind_address, unit.spec.protocol);
        if unit.spec.socket_activation {
            if unit.listener.is_some() {
                return Ok(());
            }
            let mut want = unit.port.unwrap_or(0);
            loop {
                match bind_listener(address, want, protocol) {
                    Ok((fd, port)) => {
                        let unit = &mut self.units[i];
                        unit.listener = Some(fd);
                        unit.port = Some(port);
                        return Ok(());
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && want != 0 => {
                        want = self.migrate(i, want, "binding it for socket activation failed")?;
                    }
                    Err(e) => {
                        return Err(format!(
                            "binding {protocol} {} for socket activation: {e}",
                            SocketAddr::new(address, want)
                        ));
                    }
                }
            }
        }
        if unit.spec.port == Some(0) && unit.port.is_none() {
            let name = unit.spec.name.clone();
            let taken: Vec<u16> = self.units.iter().filter_map(|u| u.port).collect();
            let random = self.next_random();
            let port = pick_port(protocol, &taken, random)
                .ok_or_else(|| format!("no free {protocol} port found for `{name}`"))?;
            self.units[i].port = Some(port);
        }
        Ok(())
    }

    fn next_random(&mut self) -> u64 {
        // xorshift: spreads picks so parallel supervisors rarely try the same port.
        let mut x = self.random;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random = x;
        x
    }

    /// Asks the arbiter for a new port for `i` instead of `port`; `Err` with the reason when
    /// there is none. Emits `PortMigrated`.
    fn migrate(&mut self, i: usize, port: u16, evidence: &str) -> Result<u16, String> {
        let name = self.units[i].spec.name.clone();
        let why = if self.units[i].migrations >= MAX_MIGRATIONS {
            format!("gave up after {MAX_MIGRATIONS} port migrations")
        } else {
            match &self.options.arbiter {
                None => "no port arbiter is configured".to_owned(),
                Some(arbiter) => match arbiter.reassign(&name, port) {
                    Some(to) if to != port && to != 0 => {
                        let unit = &mut self.units[i];
                        unit.migrations += 1;
                        unit.port = Some(to);
                        log::info!("{name}: port {port} is taken; moving to {to}");
                        self.emit(Event::PortMigrated {
                            service: name,
                            from: port,
                            to,
                        });
                        self.restart_users_of(i);
                        return Ok(to);
                    }
                    _ => "the port arbiter found no other port".to_owned(),
                },
            }
        };
        Err(format!(
            "port {port} is taken by another process ({evidence}); {why}"
        ))
    }

    /// Restarts the running services that were given `i`'s old port: those that depend on it
    /// and those whose command, environment or health check names it. They start again with
    /// the new port (templates are expanded at every spawn), so a frontend follows a backend
    /// that had to move while the stack ran.
    fn restart_users_of(&mut self, i: usize) {
        let moved = self.units[i].spec.name.clone();
        let dependents = self.stack.dependents_of(i);
        let users: Vec<usize> = (0..self.units.len())
            .filter(|&j| j != i)
            .filter(|&j| dependents.contains(&j) || names_service(&self.units[j].spec, &moved))
            .filter(|&j| self.units[j].pid.is_some() && self.units[j].wanted)
            .collect();
        for j in users {
            log::info!(
                "{}: restarting, since {moved} moved to another port",
                self.units[j].spec.name
            );
            self.restart_request(j);
        }
    }

    /// Spawns the service itself (after its setup, or again after an exit).
    pub(super) fn spawn_main(&mut self, i: usize) {
        if let Err(reason) = self.resolve_port(i) {
            return self.fail(i, reason);
        }
        let values = self.values(i);
        let unit = &self.units[i];
        let name = unit.spec.name.clone();
        let command = match template::expand(&unit.spec.command, &values) {
            Ok(command) => command,
            Err(e) => return self.fail(i, format!("command of service `{name}`: {e}")),
        };
        let check = match health::build(&unit.spec.health, unit.port.is_some(), &values) {
            Ok(check) => check,
            Err(e) => return self.fail(i, format!("health check of service `{name}`: {e}")),
        };
        let pid = match self.spawn_process(i, &command, false) {
            Ok(pid) => pid,
            Err(reason) => return self.fail(i, reason),
        };
        let now = Instant::now();
        let unit = &mut self.units[i];
        unit.state = ServiceState::Starting;
        unit.started_at = Some(SystemTime::now());
        unit.spawned_at = Some(now);
        unit.time_to_healthy = None;
        unit.reached.started = true;
        unit.reason = None;
        let port = unit.port;
        self.emit(Event::Spawned {
            service: name.clone(),
            pid,
            port,
        });
        let unit = &mut self.units[i];
        match check {
            None => {
                unit.state = ServiceState::Running;
                unit.health = Health::NotChecked;
                unit.reached.healthy = true;
                let stable = unit.spec.restart_limits.stable_after;
                self.timer(i, stable, TimerKind::Stable);
            }
            Some(check) => {
                unit.health = Health::Starting;
                let ctx = HealthContext {
                    service: name,
                    port,
                    bind_address: unit.spec.bind_address,
                    protocol: unit.spec.protocol,
                    timeout: unit.spec.health_timing.timeout,
                    pid: Some(pid),
                    working_dir: unit.spec.working_dir.clone(),
                };
                let tx = self.tx.clone();
                let generation = unit.generation;
                unit.monitor = Some(monitor::start(
                    check,
                    ctx,
                    unit.spec.health_timing.clone(),
                    now,
                    Arc::clone(&unit.health_record),
                    Box::new(move |news| {
                        let _ = tx.send(Msg::Health {
                            unit: i,
                            generation,
                            news,
                        });
                    }),
                ));
            }
        }
    }

    pub(super) fn on_health(&mut self, i: usize, news: HealthNews) {
        let name = self.units[i].spec.name.clone();
        match news {
            HealthNews::Healthy { after } => {
                let unit = &mut self.units[i];
                if unit.state != ServiceState::Starting {
                    return;
                }
                unit.state = ServiceState::Running;
                unit.health = Health::Healthy;
                unit.time_to_healthy = Some(after);
                unit.reached.healthy = true;
                let stable = unit.spec.restart_limits.stable_after;
                self.emit(Event::Healthy {
                    service: name,
                    after,
                });
                self.timer(i, stable, TimerKind::Stable);
            }
            HealthNews::StartupFailed { reason } | HealthNews::Unhealthy { reason } => {
                let unit = &mut self.units[i];
                unit.health = Health::Unhealthy {
                    reason: reason.clone(),
                };
                unit.monitor = None;
                self.emit(Event::Unhealthy {
                    service: name,
                    reason: reason.clone(),
                });
                self.begin_stop(i, AfterStop::Failure(reason));
            }
        }
    }

    /// A process of unit `i` was reaped.
    pub(super) fn on_exit(&mut self, i: usize, generation: u64, pid: u32, info: ExitInfo) {
        let unit = &mut self.units[i];
        if unit.generation != generation || unit.pid != Some(pid) {
            return;
        }
        unit.pid = None;
        unit.identity = None;
        unit.monitor = None;
        let name = unit.spec.name.clone();
        if std::mem::take(&mut unit.setting_up) {
            self.emit(Event::SetupFinished {
                service: name.clone(),
                success: info.success(),
                code: info.code,
                signal: info.signal,
            });
            if self.units[i].stopping.is_some() {
                return self.check_group(i);
            }
            let unit = &mut self.units[i];
            // Whatever the setup command left behind goes with it.
            if let Some(pgid) = unit.pgid.take() {
                let _ = kill::send(Target::Group(pgid), Signal::Kill);
            }
            if info.success() {
                unit.setup_done = true;
                if !self.shutting_down {
                    self.spawn_main(i);
                }
            } else {
                let setup = unit.spec.setup_command.clone().unwrap_or_default();
                self.fail(
                    i,
                    format!("setup command `{setup}` of service `{name}` failed with {info}"),
                );
            }
            return;
        }
        unit.last_exit = Some(info);
        if info.success() {
            unit.reached.completed = true;
        }
        unit.health = Health::Unknown;
        self.emit(Event::Exited {
            service: name,
            pid,
            code: info.code,
            signal: info.signal,
        });
        if self.units[i].stopping.is_some() {
            return self.check_group(i);
        }
        let unit = &mut self.units[i];
        // What the process left in its group goes with it: a restart never duplicates.
        if let Some(pgid) = unit.pgid.take()
            && sys::group_exists(pgid)
            && let Err(e) = kill::send(Target::Group(pgid), Signal::Kill)
        {
            log::warn!("killing the rest of group {pgid}: {e}");
        }
        if unit.output_closed {
            self.judge_exit(i, info);
        } else {
            // The last lines may say why it exited ("address already in use").
            unit.pending_exit = Some(info);
            self.timer(i, super::OUTPUT_GRACE, TimerKind::ExitDecision);
        }
    }

    /// Decides what follows an exit nobody asked for.
    pub(super) fn judge_exit(&mut self, i: usize, info: ExitInfo) {
        let unit = &self.units[i];
        if !info.success()
            && !unit.spec.socket_activation
            && !self.shutting_down
            && let Some(port) = unit.port
        {
            let said = unit
                .flags
                .addr_in_use
                .load(std::sync::atomic::Ordering::SeqCst);
            let held = !said
                && probe_bind(unit.spec.bind_address, port, unit.spec.protocol, true)
                    == BindOutcome::InUse;
            if said || held {
                let evidence = if said {
                    "the service said the address is already in use"
                } else {
                    "it is held after the service exited"
                };
                match self.migrate(i, port, evidence) {
                    Ok(_) => {
                        self.units[i].state = ServiceState::Restarting;
                        self.spawn_main(i);
                    }
                    Err(reason) => self.fail(i, reason),
                }
                return;
            }
        }
        self.after_failure_or_exit(i, !info.success(), format!("exited with {info}"));
    }

    /// Applies the restart policy after an exit (`failed`: not status 0, or unhealthy).
    pub(super) fn after_failure_or_exit(&mut self, i: usize, failed: bool, reason: String) {
        let unit = &mut self.units[i];
        unit.pgid = None;
        if self.shutting_down || !unit.wanted {
            unit.state = ServiceState::Stopped;
            let name = unit.spec.name.clone();
            self.emit(Event::Stopped { service: name });
            return;
        }
        if !restart::wants_restart(unit.spec.restart, failed) {
            if failed {
                self.fail(i, reason);
            } else {
                unit.state = ServiceState::Exited;
            }
            return;
        }
        let name = unit.spec.name.clone();
        match unit.tracker.next(&unit.spec.restart_limits, Instant::now()) {
            Decision::Restart { attempt, delay } => {
                unit.restarts += 1;
                unit.state = ServiceState::Restarting;
                unit.health = Health::Unknown;
                self.emit(Event::Restarting {
                    service: name,
                    attempt,
                    delay,
                });
                if delay.is_zero() {
                    self.spawn_main(i);
                } else {
                    self.timer(i, delay, TimerKind::Restart);
                }
            }
            Decision::GiveUp { reason: why } => self.fail(i, format!("{reason}; {why}")),
        }
    }

    /// Unit `i` gives up (it has no live process).
    pub(super) fn fail(&mut self, i: usize, reason: String) {
        let unit = &mut self.units[i];
        unit.state = ServiceState::Failed;
        unit.health = Health::Unknown;
        unit.monitor = None;
        unit.listener = None;
        unit.reason = Some(reason.clone());
        let service = unit.spec.name.clone();
        if unit.wanted {
            self.first_failure
                .get_or_insert_with(|| format!("{service}: {reason}"));
        }
        log::warn!("{service} failed: {reason}");
        self.emit(Event::Failed { service, reason });
    }
}

/// Whether `spec`'s command, environment or health check refers to `service`'s port.
fn names_service(spec: &crate::spec::ServiceSpec, service: &str) -> bool {
    let health = match &spec.health {
        crate::HealthSpec::Http { url, .. } => Some(url.as_str()),
        crate::HealthSpec::Tcp { address } => Some(address.as_str()),
        crate::HealthSpec::Exec { command } => Some(command.as_str()),
        _ => None,
    };
    let wanted = template::Reference::ServicePort(service.to_owned());
    std::iter::once(spec.command.as_str())
        .chain(spec.env.values().map(String::as_str))
        .chain(spec.setup_command.as_deref())
        .chain(health)
        .any(|text| template::references(text).is_ok_and(|refs| refs.contains(&wanted)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_variables_are_upper_case_with_underscores() {
        assert_eq!(port_variable("api"), "PORTWARDEN_API_PORT");
        assert_eq!(port_variable("my-web.v2"), "PORTWARDEN_MY_WEB_V2_PORT");
    }
}
