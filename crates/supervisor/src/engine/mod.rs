//! The controller: one thread that owns every service's state and reacts to messages (exits
//! from the reaper, health news, output closing, the caller's commands) and to its own timers.
//! Nothing it does blocks for long: processes are spawned (fork + exec), signals sent, and
//! every wait is a timer.

mod start;
mod stop;

pub(crate) use start::port_variable;

use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use procscan::ProcessIdentity;

use crate::error::{Error, StackError};
use crate::event::{Event, EventBus};
use crate::health::monitor::{HealthNews, MonitorHandle};
use crate::options::SupervisorOptions;
use crate::process::output::{LogFile, OutputFlags};
use crate::process::reaper;
use crate::restart::Tracker;
use crate::spec::{Condition, ServiceSpec};
use crate::stack::Stack;
use crate::state::{self, ServiceRecord, StateFile};
use crate::status::{Health, HealthRecorder, ServiceState, ServiceStatus};
use crate::sys::{self, ExitInfo};

/// A reply to a command.
pub(crate) type Reply = Sender<Result<(), Error>>;

/// What the controller reacts to.
pub(crate) enum Msg {
    Start(String, Reply),
    Stop(String, Reply),
    Restart(String, Reply),
    Shutdown,
    Exited {
        unit: usize,
        generation: u64,
        pid: u32,
        info: ExitInfo,
    },
    OutputClosed {
        unit: usize,
        generation: u64,
    },
    Health {
        unit: usize,
        generation: u64,
        news: HealthNews,
    },
}

/// State shared with the handles.
pub(crate) struct Shared {
    inner: Mutex<SharedInner>,
    changed: Condvar,
    /// Each service's dropped-line counter, read live (reader threads bump them without
    /// the controller hearing of it).
    dropped: Mutex<Vec<Arc<AtomicU64>>>,
}

#[derive(Default)]
pub(crate) struct SharedInner {
    pub(crate) status: Vec<ServiceStatus>,
    /// `Some` once the stack is up (`Ok`) or failed to come up (`Err`, the reason).
    pub(crate) ready: Option<Result<(), String>>,
    /// `Some` once the controller has finished; `Err` holds the first failure of the run.
    pub(crate) finished: Option<Result<(), String>>,
}

impl Shared {
    pub(crate) fn new() -> Shared {
        Shared {
            inner: Mutex::new(SharedInner::default()),
            changed: Condvar::new(),
            dropped: Mutex::new(Vec::new()),
        }
    }

    /// The status, with live dropped-line counts.
    pub(crate) fn status(&self) -> Vec<ServiceStatus> {
        let mut status = self.lock().status.clone();
        let dropped = self.dropped.lock().unwrap_or_else(|p| p.into_inner());
        for (s, counter) in status.iter_mut().zip(dropped.iter()) {
            s.dropped_lines = counter.load(Ordering::Relaxed);
        }
        status
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, SharedInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until `done` says so, or `timeout` passes; returns the last `done` answer.
    pub(crate) fn wait_for<T>(
        &self,
        timeout: Option<Duration>,
        mut done: impl FnMut(&SharedInner) -> Option<T>,
    ) -> Option<T> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut inner = self.lock();
        loop {
            if let Some(value) = done(&inner) {
                return Some(value);
            }
            inner = match deadline {
                None => self.changed.wait(inner).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    self.changed
                        .wait_timeout(inner, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }

    fn update(&self, f: impl FnOnce(&mut SharedInner)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }
}

/// Milestones a service reached since it was (last) asked to start.
#[derive(Debug, Clone, Copy, Default)]
struct Reached {
    started: bool,
    healthy: bool,
    completed: bool,
}

/// What to do once a stop is complete.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AfterStop {
    /// Stay stopped.
    Stay,
    /// Start again (a restart the user asked for).
    Start,
    /// Treat as a failure (failed health): the restart policy decides.
    Failure(String),
}

#[derive(Debug)]
struct Stopping {
    /// When SIGKILL is due (or, once sent, when to give up waiting).
    deadline: Instant,
    killed: bool,
    then: AfterStop,
}

/// One service at run time.
struct Unit {
    spec: ServiceSpec,
    state: ServiceState,
    health: Health,
    /// Whether the service should be running (selected, not stopped by the user).
    wanted: bool,
    /// Bumped at every spawn and stop so stale messages and timers are ignored.
    generation: u64,
    /// The live process: the service, or its setup command while `setting_up`.
    pid: Option<u32>,
    identity: Option<ProcessIdentity>,
    /// The process group of the last process, until it is known to be empty.
    pgid: Option<u32>,
    setting_up: bool,
    setup_done: bool,
    /// The port in use (after `Some(0)` resolution and migrations).
    port: Option<u16>,
    /// The socket-activation listener, kept across restarts.
    listener: Option<OwnedFd>,
    monitor: Option<MonitorHandle>,
    tracker: Tracker,
    restarts: u32,
    migrations: u32,
    last_exit: Option<ExitInfo>,
    started_at: Option<SystemTime>,
    spawned_at: Option<Instant>,
    time_to_healthy: Option<Duration>,
    reason: Option<String>,
    reached: Reached,
    flags: Arc<OutputFlags>,
    output_closed: bool,
    /// An unexpected exit waiting for the output to close before it is judged.
    pending_exit: Option<ExitInfo>,
    stopping: Option<Stopping>,
    dropped: Arc<AtomicU64>,
    log: Arc<Mutex<LogFile>>,
    /// Every health check's latency and result, kept across restarts.
    health_record: Arc<Mutex<HealthRecorder>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimerKind {
    /// A backoff delay is over.
    Restart,
    /// The stop timeout is over: SIGKILL.
    Kill,
    /// Look again whether a stopping service's group is empty.
    GroupPoll,
    /// Stop waiting for the output to close before judging an exit.
    ExitDecision,
    /// The service has run long enough to reset its backoff.
    Stable,
}

struct Timer {
    at: Instant,
    unit: usize,
    generation: u64,
    kind: TimerKind,
}

/// How long an exit waits for the last output lines (which may say "address already in
/// use") before it is judged without them.
const OUTPUT_GRACE: Duration = Duration::from_millis(50);
/// How often a stopping service's group is looked at.
const GROUP_POLL: Duration = Duration::from_millis(10);
/// How long after SIGKILL a group may take to empty before leftovers are reported.
const KILL_WAIT: Duration = Duration::from_secs(2);
/// Port migrations allowed per service in one run, so two processes fighting over ports
/// cannot loop forever.
const MAX_MIGRATIONS: u32 = 5;

pub(crate) struct Controller {
    stack: Stack,
    units: Vec<Unit>,
    rx: Receiver<Msg>,
    tx: Sender<Msg>,
    timers: Vec<Timer>,
    bus: Arc<EventBus>,
    shared: Arc<Shared>,
    options: SupervisorOptions,
    base_env: Vec<(String, String)>,
    instance: String,
    me: ProcessIdentity,
    started: Instant,
    shutting_down: bool,
    escalated: bool,
    ready_reported: bool,
    failure_reported: bool,
    first_failure: Option<String>,
    last_state: Vec<u8>,
    /// State of a small generator for port picks.
    random: u64,
}

impl Controller {
    pub(crate) fn new(
        stack: Stack,
        options: SupervisorOptions,
        bus: Arc<EventBus>,
        shared: Arc<Shared>,
        channel: (Sender<Msg>, Receiver<Msg>),
        instance: String,
    ) -> Result<Controller, Error> {
        let selected: Vec<usize> = match &options.services {
            Some(names) => stack.closure(names)?,
            None => stack.order().to_vec(),
        };
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ u64::from(sys::own_pid());
        let units = stack
            .services()
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let wanted = selected.contains(&i);
                let log_path = options.log_dir.join(format!("{}.log", spec.name));
                Unit {
                    spec: spec.clone(),
                    state: if wanted {
                        ServiceState::Pending
                    } else {
                        ServiceState::Inactive
                    },
                    health: Health::Unknown,
                    wanted,
                    generation: 0,
                    pid: None,
                    identity: None,
                    pgid: None,
                    setting_up: false,
                    setup_done: false,
                    port: spec.port.filter(|&p| p != 0),
                    listener: None,
                    monitor: None,
                    tracker: Tracker::new(seed.wrapping_add(i as u64 * 7919)),
                    restarts: 0,
                    migrations: 0,
                    last_exit: None,
                    started_at: None,
                    spawned_at: None,
                    time_to_healthy: None,
                    reason: None,
                    reached: Reached::default(),
                    flags: Arc::default(),
                    output_closed: true,
                    pending_exit: None,
                    stopping: None,
                    dropped: Arc::default(),
                    health_record: Arc::default(),
                    log: Arc::new(Mutex::new(LogFile::new(
                        log_path,
                        options.log_max_bytes,
                        options.log_keep,
                    ))),
                }
            })
            .collect::<Vec<Unit>>();
        *shared.dropped.lock().unwrap_or_else(|p| p.into_inner()) = units
            .iter()
            .map(|u: &Unit| Arc::clone(&u.dropped))
            .collect();
        let me = sys::identity_of(sys::own_pid()).unwrap_or(ProcessIdentity {
            pid: sys::own_pid(),
            start_time: 0,
        });
        Ok(Controller {
            stack,
            units,
            rx: channel.1,
            tx: channel.0,
            timers: Vec::new(),
            bus,
            shared,
            options,
            base_env: start::inherited_env(),
            instance,
            me,
            started: Instant::now(),
            shutting_down: false,
            escalated: false,
            ready_reported: false,
            failure_reported: false,
            first_failure: None,
            last_state: Vec::new(),
            random: seed | 1,
        })
    }

    pub(crate) fn run(mut self) {
        self.advance();
        self.publish();
        loop {
            if self.shutting_down && self.all_down() {
                break;
            }
            let timeout = self
                .timers
                .iter()
                .map(|t| t.at)
                .min()
                .map(|at| at.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_secs(3600));
            match self.rx.recv_timeout(timeout) {
                Ok(msg) => self.handle(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // Drain what else is queued before the bookkeeping.
            while let Ok(msg) = self.rx.try_recv() {
                self.handle(msg);
            }
            self.fire_timers();
            self.advance();
            self.publish();
        }
        self.finish();
    }

    /// Publishes `event`, with the status brought up to date first so that a caller who
    /// reacts to the event by asking for the status sees the change.
    fn emit(&self, event: Event) {
        log::debug!("{event:?}");
        let status = self.status();
        self.shared.update(|s| s.status = status);
        self.bus.publish(event);
    }

    fn timer(&mut self, unit: usize, delay: Duration, kind: TimerKind) {
        let generation = self.units[unit].generation;
        self.timers.push(Timer {
            at: Instant::now() + delay,
            unit,
            generation,
            kind,
        });
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<Timer>, Vec<Timer>) = std::mem::take(&mut self.timers)
            .into_iter()
            .partition(|t| t.at <= now);
        self.timers = later;
        for t in due {
            if self.units[t.unit].generation != t.generation {
                continue;
            }
            match t.kind {
                TimerKind::Restart => {
                    if self.units[t.unit].state == ServiceState::Restarting {
                        self.spawn_main(t.unit);
                    }
                }
                TimerKind::Kill => self.kill_due(t.unit),
                TimerKind::GroupPoll => self.check_group(t.unit),
                TimerKind::ExitDecision => {
                    if let Some(info) = self.units[t.unit].pending_exit.take() {
                        self.judge_exit(t.unit, info);
                    }
                }
                TimerKind::Stable => {
                    let unit = &mut self.units[t.unit];
                    if unit.state == ServiceState::Running {
                        unit.tracker.stable();
                    }
                }
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Start(name, reply) => {
                let result = self.named(&name).map(|i| self.start_request(i));
                let _ = reply.send(result);
            }
            Msg::Stop(name, reply) => {
                let result = self.named(&name).map(|i| self.stop_request(i));
                let _ = reply.send(result);
            }
            Msg::Restart(name, reply) => {
                let result = self.named(&name).map(|i| self.restart_request(i));
                let _ = reply.send(result);
            }
            Msg::Shutdown => {
                if self.shutting_down {
                    self.escalate();
                } else {
                    log::info!("shutting down");
                    self.shutting_down = true;
                }
            }
            Msg::Exited {
                unit,
                generation,
                pid,
                info,
            } => self.on_exit(unit, generation, pid, info),
            Msg::OutputClosed { unit, generation } => {
                let u = &mut self.units[unit];
                if u.generation == generation {
                    u.output_closed = true;
                    if let Some(info) = u.pending_exit.take() {
                        self.judge_exit(unit, info);
                    }
                }
            }
            Msg::Health {
                unit,
                generation,
                news,
            } => {
                if self.units[unit].generation == generation {
                    self.on_health(unit, news);
                }
            }
        }
    }

    fn named(&self, name: &str) -> Result<usize, Error> {
        self.stack.index_of(name).ok_or_else(|| {
            Error::Stack(StackError::UnknownService {
                name: name.to_owned(),
            })
        })
    }

    /// Whether dependency `dep` has reached `condition`.
    fn satisfied(&self, dep: usize, condition: Condition) -> bool {
        let reached = self.units[dep].reached;
        match condition {
            Condition::Started => reached.started,
            Condition::Healthy => reached.healthy,
            Condition::CompletedSuccessfully => reached.completed,
        }
    }

    /// Why dependency `dep` will never reach `condition` (in this run, without the user's
    /// help), if so.
    fn hopeless(&self, dep: usize, condition: Condition) -> Option<String> {
        let d = &self.units[dep];
        let name = &d.spec.name;
        match d.state {
            ServiceState::Failed | ServiceState::Blocked => Some(format!(
                "`{name}` {}: {}",
                if d.state == ServiceState::Failed {
                    "failed"
                } else {
                    "was blocked"
                },
                d.reason.as_deref().unwrap_or("no reason recorded")
            )),
            ServiceState::Exited | ServiceState::Stopped | ServiceState::Inactive => {
                let how = match (d.state, d.last_exit) {
                    (ServiceState::Exited, Some(exit)) => format!("exited with {exit}"),
                    (ServiceState::Stopped, _) => "was stopped".to_owned(),
                    (ServiceState::Inactive, _) => "is not started".to_owned(),
                    _ => "ended".to_owned(),
                };
                Some(format!("`{name}` {how} before it was {condition}"))
            }
            _ => None,
        }
    }

    /// Starts what can start, blocks what cannot, and moves a shutdown along.
    fn advance(&mut self) {
        if self.shutting_down {
            self.advance_shutdown();
            return;
        }
        for &i in self.stack.order().to_vec().iter() {
            if self.units[i].state != ServiceState::Pending || !self.units[i].wanted {
                continue;
            }
            let deps = self.stack.dependencies_of(i);
            if let Some((dep, reason)) = deps.iter().find_map(|&(dep, condition)| {
                (!self.satisfied(dep, condition))
                    .then(|| self.hopeless(dep, condition).map(|r| (dep, r)))
                    .flatten()
            }) {
                let name = self.units[i].spec.name.clone();
                let dependency = self.units[dep].spec.name.clone();
                let unit = &mut self.units[i];
                unit.state = ServiceState::Blocked;
                unit.reason = Some(format!("dependency {reason}"));
                self.first_failure
                    .get_or_insert_with(|| format!("{name}: blocked by dependency {reason}"));
                self.emit(Event::Blocked {
                    service: name,
                    dependency,
                    reason,
                });
                continue;
            }
            if deps.iter().all(|&(dep, c)| self.satisfied(dep, c)) {
                self.start_unit(i);
            }
        }
        self.judge_stack();
    }

    /// Reports the stack ready or failed, once each.
    fn judge_stack(&mut self) {
        let wanted: Vec<&Unit> = self.units.iter().filter(|u| u.wanted).collect();
        if !self.failure_reported
            && let Some(u) = self.units.iter().find(|u| {
                matches!(u.state, ServiceState::Failed | ServiceState::Blocked) && u.wanted
            })
        {
            let reason = format!(
                "{}: {}",
                u.spec.name,
                u.reason.as_deref().unwrap_or("failed")
            );
            self.failure_reported = true;
            self.first_failure.get_or_insert(reason.clone());
            if !self.ready_reported {
                self.emit(Event::StackFailed {
                    reason: reason.clone(),
                });
                self.shared.update(|s| s.ready = Some(Err(reason)));
            }
            return;
        }
        let up = |u: &&Unit| {
            (u.state == ServiceState::Running)
                || (u.state == ServiceState::Exited && u.reached.completed)
        };
        if !self.ready_reported && !self.failure_reported && wanted.iter().all(up) {
            self.ready_reported = true;
            let after = self.started.elapsed();
            self.emit(Event::StackReady { after });
            self.shared.update(|s| s.ready = Some(Ok(())));
        }
    }

    fn status(&self) -> Vec<ServiceStatus> {
        self.units
            .iter()
            .map(|u| ServiceStatus {
                name: u.spec.name.clone(),
                state: u.state,
                health: u.health.clone(),
                identity: u.identity,
                pgid: u.pgid,
                port: u.port,
                restarts: u.restarts,
                last_exit: u.last_exit,
                started_at: u.started_at,
                time_to_healthy: u.time_to_healthy,
                dropped_lines: u.dropped.load(Ordering::Relaxed),
                reason: u.reason.clone(),
                health_checks: u
                    .health_record
                    .lock()
                    .map(|r| r.stats())
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// Shares the status and writes the state file when it changed.
    fn publish(&mut self) {
        let status = self.status();
        self.shared.update(|s| s.status = status);
        let Some(path) = self.options.state_file.clone() else {
            return;
        };
        let services = self
            .units
            .iter()
            .map(|u| ServiceRecord {
                name: u.spec.name.clone(),
                state: u.state,
                identity: u.identity,
                pgid: u.pgid,
                port: u.port,
                restarts: u.restarts,
            })
            .collect();
        let state = StateFile::new(self.me, self.instance.clone(), services, self.orphans());
        self.write_state(&path, &state);
    }

    fn write_state(&mut self, path: &Path, state: &StateFile) {
        let bytes = match serde_json::to_vec_pretty(state) {
            Ok(bytes) => bytes,
            Err(e) => {
                log::error!("state serialization: {e}");
                return;
            }
        };
        if bytes == self.last_state {
            return;
        }
        if let Err(e) = state::write_atomic(path, &bytes) {
            self.emit(Event::Warning {
                message: format!("writing the state file {}: {e}", path.display()),
            });
        }
        self.last_state = bytes;
    }

    /// Identities of the orphans adopted from this supervisor's services.
    fn orphans(&self) -> Vec<ProcessIdentity> {
        match reaper::reaper() {
            Ok(r) => r
                .orphans()
                .into_iter()
                .filter(|o| o.instance.as_deref() == Some(self.instance.as_str()))
                .map(|o| o.identity)
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}
