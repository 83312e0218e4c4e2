//! The control protocol: JSON lines over the project's Unix socket.
//!
//! A client writes one [`Request`] per line. The supervisor answers each with one [`Reply`]
//! line. Stream requests (`events`, `logs`, `shutdown`) are followed by [`StreamItem`] lines
//! until an `end` item, after which the supervisor closes the connection. See
//! `docs/control.md` for the full description with examples.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use supervisor::{Event, ExitInfo, HealthStats, ServiceState};

/// The protocol's version, sent in [`SupervisorInfo::protocol`].
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest request line a supervisor reads.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// What a client asks. Serialized with a `cmd` tag: `{"cmd":"status"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Request {
    /// Who answers: a [`SupervisorInfo`].
    Hello,
    /// Every service's state: a [`StatusReport`].
    Status,
    /// Start services (and what they depend on) and wait until they run: an [`ActionReport`].
    Start {
        /// The services.
        services: Vec<String>,
        /// The longest wait, in milliseconds (default 60 000).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// Stop services (their dependents keep running) and wait until they are down and their
    /// ports free: an [`ActionReport`].
    Stop {
        /// The services (at least one; use `shutdown` for the whole stack).
        services: Vec<String>,
        /// The longest wait, in milliseconds (default: each service's stop timeout + 5 s).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// Restart services (all running ones when empty, in dependency order) and wait until
    /// they run again: an [`ActionReport`].
    Restart {
        /// The services; empty for every service that runs.
        #[serde(default)]
        services: Vec<String>,
        /// The longest wait, in milliseconds (default 120 000).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// Stop the whole stack in reverse dependency order; the supervisor then exits. A stream
    /// of the events of the shutdown follows the reply.
    Shutdown,
    /// A stream of events.
    Events {
        /// Start with the events since the supervisor started (the last few thousand).
        #[serde(default)]
        replay: bool,
        /// Only events about these services (and stack-wide events); empty for all.
        #[serde(default)]
        services: Vec<String>,
    },
    /// A stream of service output: the last `tail` lines of each log file, then (with
    /// `follow`) new lines as they are written.
    Logs {
        /// The services; empty for all.
        #[serde(default)]
        services: Vec<String>,
        /// Lines from the end of each log file (default 10).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tail: Option<usize>,
        /// Keep sending new lines until the supervisor stops.
        #[serde(default)]
        follow: bool,
    },
}

impl Request {
    /// Whether stream items follow the reply.
    pub fn is_stream(&self) -> bool {
        matches!(
            self,
            Request::Shutdown | Request::Events { .. } | Request::Logs { .. }
        )
    }
}

/// The first line of every answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// Whether the request was carried out.
    pub ok: bool,
    /// The answer's content (its type depends on the request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// What went wrong, when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ReplyError>,
}

impl Reply {
    /// A successful reply carrying `result`.
    pub fn success(result: impl Serialize) -> Reply {
        match serde_json::to_value(result) {
            Ok(value) => Reply {
                ok: true,
                result: Some(value),
                error: None,
            },
            Err(e) => Reply::failure(ErrorKind::Failed, format!("encoding the answer: {e}")),
        }
    }

    /// A failed reply.
    pub fn failure(kind: ErrorKind, message: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            result: None,
            error: Some(ReplyError {
                kind,
                message: message.into(),
            }),
        }
    }
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyError {
    /// The kind, for programs.
    pub kind: ErrorKind,
    /// The message, for people.
    pub message: String,
}

/// Kinds of failure (the command line maps them to its exit codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request could not be parsed, or is not allowed in this form (exit code 2).
    BadRequest,
    /// An unknown service (exit code 6).
    NotFound,
    /// The peer is not allowed to use this supervisor (exit code 5).
    Refused,
    /// The request was carried out and failed, or timed out (exit code 1).
    Failed,
}

/// A line after the reply of a stream request. Externally tagged:
/// `{"event":{...}}`, `{"log":{...}}`, `{"end":{...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamItem {
    /// An event of the stack.
    Event(WireEvent),
    /// A line of service output.
    Log(LogLine),
    /// The stream is over; the supervisor closes the connection.
    End(StreamEnd),
}

/// Why a stream ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEnd {
    /// `stack_stopped` (the supervisor finished) or `done` (a `logs` request without
    /// `follow`).
    pub reason: String,
}

/// One line of a service's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// The service.
    pub service: String,
    /// The line, without its newline.
    pub line: String,
}

/// An event as it travels: the supervisor's own events and portwarden's, one JSON object with
/// a `type` field either way (the same objects `up --json` prints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WireEvent {
    /// An event of the supervisor (`spawned`, `healthy`, `exited`, `output` ...).
    Supervisor(Event),
    /// An event of portwarden around the supervisor (`stack_starting`, `port_decision`).
    Portwarden(StackEvent),
}

impl WireEvent {
    /// The service the event is about, if any.
    pub fn service(&self) -> Option<&str> {
        match self {
            WireEvent::Supervisor(event) => event.service(),
            WireEvent::Portwarden(StackEvent::PortDecision(d)) => Some(&d.service),
            WireEvent::Portwarden(StackEvent::StackStarting { .. }) => None,
        }
    }

    /// Whether this is a line of service output.
    pub fn is_output(&self) -> bool {
        matches!(self, WireEvent::Supervisor(Event::Output { .. }))
    }
}

/// portwarden's own events, next to the supervisor's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StackEvent {
    /// The supervisor is about to start the stack.
    StackStarting {
        /// The config file.
        config: PathBuf,
        /// The services that will be started, in start order.
        services: Vec<String>,
        /// The supervisor's pid.
        supervisor_pid: u32,
        /// Whether it runs in the background (`up -d`).
        detached: bool,
    },
    /// What the port resolver decided for one service, before the start (`phase: "plan"`) or
    /// after a crash caused by a taken port (`phase: "runtime"`).
    PortDecision(PortDecision),
}

/// One service's port decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortDecision {
    /// `plan` (before the start) or `runtime` (a taken port after a crash).
    pub phase: String,
    /// The service.
    pub service: String,
    /// The port it wanted.
    pub port: u16,
    /// The conflict level: `none`, `low`, `medium`, `high`, `critical`.
    pub level: String,
    /// The decision: `keep`, `migrate`, `restart_ours`, `terminate`, `unresolvable`.
    pub decision: String,
    /// The port it gets; `None` when unresolvable.
    pub resolved_port: Option<u16>,
    /// Who held the port, one phrase each ("pid 1234 (demo-squatter), another process of
    /// yours").
    pub holders: Vec<String>,
    /// Why, for people.
    pub detail: String,
    /// How carrying it out went (`kept`, `done`, `failed`, `refused` ...), once executed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// Who answers on a control socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisorInfo {
    /// The supervisor's pid.
    pub pid: u32,
    /// Its start time (clock ticks after boot, as in the state file's identity).
    pub start_time: u64,
    /// When it started, RFC 3339 UTC.
    pub started_at: String,
    /// How long it has run, in milliseconds.
    pub uptime_ms: u64,
    /// `foreground` (`up`) or `detached` (`up -d`).
    pub mode: String,
    /// The config file.
    pub config: PathBuf,
    /// The state folder.
    pub state_dir: PathBuf,
    /// The control socket.
    pub socket: PathBuf,
    /// [`PROTOCOL_VERSION`].
    pub protocol: u32,
    /// portwarden's version.
    pub version: String,
}

/// The answer to `status` (also what `status --json` prints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// `portwarden.status/1`.
    pub schema: String,
    /// Whether a supervisor runs the stack.
    pub running: bool,
    /// The supervisor, when one runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor: Option<SupervisorInfo>,
    /// The stack: `starting`, `ready`, `failed` or `stopping`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// One row per service, in the config's order.
    pub services: Vec<ServiceRow>,
    /// When the supervisor started and when each service was first spawned and first ready
    /// (what `report` builds its start-up timings and critical chain from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<Startup>,
}

/// The stack's start as the supervisor saw it: time zero, and each service's first spawn and
/// first readiness after it. "First": a later restart does not move them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Startup {
    /// When the supervisor started: the stack's time zero, RFC 3339 UTC.
    pub started_at: String,
    /// When every selected service was up, in milliseconds after `started_at`.
    pub ready_after_ms: Option<u64>,
    /// Each service that was spawned, in spawn order.
    pub services: Vec<StartupTimes>,
}

/// When one service first started and first became ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartupTimes {
    /// The service.
    pub service: String,
    /// Its first spawn, in milliseconds after the stack's start.
    pub spawned_ms: u64,
    /// When it first became ready (healthy; spawned, for a service without a health check),
    /// in milliseconds after the stack's start; `None` while it never was.
    pub ready_ms: Option<u64>,
}

/// One service in a [`StatusReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRow {
    /// The service.
    pub name: String,
    /// Its state (`running`, `starting`, `stopped`, `failed` ...).
    pub state: ServiceState,
    /// Its health: `healthy`, `unhealthy`, `starting`, `unknown` or `not_checked`.
    pub health: String,
    /// Why it is unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_reason: Option<String>,
    /// The running process.
    pub pid: Option<u32>,
    /// Its process group.
    pub pgid: Option<u32>,
    /// The port it uses (after any migration).
    pub port: Option<u16>,
    /// The port the config asks for.
    pub configured_port: Option<u16>,
    /// Where to reach it, when it has a port (`http://127.0.0.1:8001`).
    pub url: Option<String>,
    /// Automatic restarts so far.
    pub restarts: u32,
    /// When the running process started, RFC 3339 UTC.
    pub started_at: Option<String>,
    /// How long it has run, in milliseconds.
    pub uptime_ms: Option<u64>,
    /// CPU use of its process group, in percent of one core (averaged over the last couple of
    /// seconds).
    pub cpu_percent: Option<f64>,
    /// Resident memory of its process group, in bytes.
    pub rss_bytes: Option<u64>,
    /// Live processes in its group.
    pub processes: Option<u32>,
    /// How its last process ended.
    pub last_exit: Option<ExitInfo>,
    /// Time from the running process's spawn to its first passed health check.
    #[serde(default)]
    pub time_to_healthy_ms: Option<u64>,
    /// The supervisor's health checks of the service so far: counts and latencies.
    #[serde(default)]
    pub health_checks: Option<HealthStats>,
    /// Why it failed or was blocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The answer to `start`, `stop` and `restart`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionReport {
    /// What was done: `start`, `stop` or `restart`.
    pub action: String,
    /// One entry per service concerned.
    pub services: Vec<ServiceOutcome>,
}

impl ActionReport {
    /// Whether every service reached what was asked.
    pub fn success(&self) -> bool {
        self.services.iter().all(|s| s.ok)
    }
}

/// How one service fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceOutcome {
    /// The service.
    pub service: String,
    /// Whether it reached what was asked (running; or stopped with its port free).
    pub ok: bool,
    /// Its state afterwards.
    pub state: ServiceState,
    /// Its process before.
    pub previous_pid: Option<u32>,
    /// Its process afterwards.
    pub pid: Option<u32>,
    /// Its port.
    pub port: Option<u16>,
    /// After a stop: whether the port can be bound again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_free: Option<bool>,
    /// What happened, for people.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_by_cmd() {
        let json = serde_json::to_string(&Request::Stop {
            services: vec!["api".into()],
            timeout_ms: None,
        })
        .expect("encodes");
        assert_eq!(json, r#"{"cmd":"stop","services":["api"]}"#);
        let back: Request = serde_json::from_str(r#"{"cmd":"events","replay":true}"#)
            .expect("defaults fill the rest");
        assert_eq!(
            back,
            Request::Events {
                replay: true,
                services: vec![]
            }
        );
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"reboot"}"#).is_err());
    }

    #[test]
    fn events_of_both_kinds_share_one_shape() {
        let ours = WireEvent::Portwarden(StackEvent::PortDecision(PortDecision {
            phase: "plan".into(),
            service: "api".into(),
            port: 8000,
            level: "high".into(),
            decision: "migrate".into(),
            resolved_port: Some(8001),
            holders: vec!["pid 1 (x)".into()],
            detail: "taken".into(),
            outcome: None,
        }));
        let theirs = WireEvent::Supervisor(Event::Stopped {
            service: "api".into(),
        });
        for event in [ours, theirs] {
            let line = serde_json::to_string(&StreamItem::Event(event.clone())).expect("encodes");
            let back: StreamItem = serde_json::from_str(&line).expect("decodes");
            assert_eq!(back, StreamItem::Event(event));
        }
        let value = serde_json::to_value(WireEvent::Supervisor(Event::StackStopped)).expect("ok");
        assert_eq!(value["type"], "stack_stopped");
    }
}
