//! What a service is: the typed description the caller hands to the supervisor.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use portcore::Protocol;
use procscan::Signal;
use serde::{Deserialize, Serialize};

use crate::health::HealthCheck;

/// One service of a stack.
///
/// Build one with [`ServiceSpec::new`] and set what differs from the defaults:
///
/// ```
/// use std::time::Duration;
/// use supervisor::{Condition, RestartPolicy, ServiceSpec};
///
/// let mut web = ServiceSpec::new("web", "python3 -m http.server {port}")
///     .port(8000)
///     .depends_on("api", Condition::Healthy);
/// web.restart = RestartPolicy::Always;
/// web.stop_timeout = Duration::from_secs(2);
/// assert_eq!(web.depends_on[0].name, "api");
/// ```
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// The service's name: unique in its stack; used in events, log file names and the
    /// `PORTWARDEN_<NAME>_PORT` variables.
    pub name: String,
    /// The command line, run through `/bin/sh -c`. May hold the templates `{port}` and
    /// `{services.NAME.port}` (see [`crate::template`]).
    pub command: String,
    /// The folder the command runs in. Default: the supervisor's own.
    pub working_dir: Option<PathBuf>,
    /// Variables added to the inherited environment. Values may hold templates.
    pub env: BTreeMap<String, String>,
    /// The port the service listens on. `Some(0)` asks the supervisor to pick a free port when
    /// the service starts (the result is passed on like any other port).
    pub port: Option<u16>,
    /// The port's protocol. Default TCP.
    pub protocol: Protocol,
    /// The address the service binds (used by the default health check and by socket
    /// activation). Default `127.0.0.1`.
    pub bind_address: IpAddr,
    /// Services that must reach a condition before this one starts.
    pub depends_on: Vec<Dependency>,
    /// How health is judged. Default [`HealthSpec::Default`].
    pub health: HealthSpec,
    /// When and how often health checks run.
    pub health_timing: HealthTiming,
    /// Whether the service is started again after it exits. Default
    /// [`RestartPolicy::OnFailure`].
    pub restart: RestartPolicy,
    /// How many restarts, how fast.
    pub restart_limits: RestartLimits,
    /// The signal that asks the service to stop. Default SIGTERM.
    pub stop_signal: Signal,
    /// How long the service may take to stop before its process group gets SIGKILL.
    /// Default 10 s.
    pub stop_timeout: Duration,
    /// A command run (through `/bin/sh -c`, in the same folder and environment) before the
    /// service first starts; its failure stops the start.
    pub setup_command: Option<String>,
    /// Bind the port in the supervisor and hand it to the service as fd 3 (systemd's
    /// `LISTEN_FDS` protocol), so it is never free between restarts.
    pub socket_activation: bool,
}

impl ServiceSpec {
    /// A service with every other setting at its default.
    pub fn new(name: impl Into<String>, command: impl Into<String>) -> Self {
        ServiceSpec {
            name: name.into(),
            command: command.into(),
            working_dir: None,
            env: BTreeMap::new(),
            port: None,
            protocol: Protocol::Tcp,
            bind_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            depends_on: Vec::new(),
            health: HealthSpec::Default,
            health_timing: HealthTiming::default(),
            restart: RestartPolicy::default(),
            restart_limits: RestartLimits::default(),
            stop_signal: Signal::Term,
            stop_timeout: Duration::from_secs(10),
            setup_command: None,
            socket_activation: false,
        }
    }

    /// Sets the port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Adds a dependency.
    pub fn depends_on(mut self, name: impl Into<String>, condition: Condition) -> Self {
        self.depends_on.push(Dependency {
            name: name.into(),
            condition,
        });
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Sets the health check.
    pub fn health(mut self, health: HealthSpec) -> Self {
        self.health = health;
        self
    }

    /// Sets the restart policy.
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.restart = policy;
        self
    }
}

/// A dependency of a service on another one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    /// The service depended on.
    pub name: String,
    /// What it must reach first.
    pub condition: Condition,
}

/// What a dependency must reach before its dependent starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Its process has been spawned.
    Started,
    /// Its health check has passed (a service without any check counts as healthy once
    /// spawned).
    #[default]
    Healthy,
    /// It has exited with status 0 (a one-shot job such as a migration).
    CompletedSuccessfully,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Condition::Started => "started",
            Condition::Healthy => "healthy",
            Condition::CompletedSuccessfully => "completed_successfully",
        })
    }
}

/// Whether a service is started again after it exits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// After every exit that the user did not ask for, success included.
    Always,
    /// After an exit with a non-zero status or a signal, or a failed health check.
    #[default]
    OnFailure,
    /// Never: an exit is final.
    Never,
}

/// Limits and pacing of restarts.
///
/// The first restart after a stable run is immediate; each further one waits
/// `backoff_initial`, doubling up to `backoff_max`, with ±20 % jitter. More than
/// `max_attempts` restarts within `window` end in the `failed` state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartLimits {
    /// Restarts allowed within `window`. Default 5.
    pub max_attempts: u32,
    /// The window the attempts are counted in. Default 60 s.
    pub window: Duration,
    /// The delay before the second restart in a row. Default 100 ms.
    pub backoff_initial: Duration,
    /// The longest delay. Default 30 s.
    pub backoff_max: Duration,
    /// A run this long (healthy, or alive when there is no check) resets the backoff and the
    /// attempt count. Default 10 s.
    pub stable_after: Duration,
}

impl Default for RestartLimits {
    fn default() -> Self {
        RestartLimits {
            max_attempts: 5,
            window: Duration::from_secs(60),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            stable_after: Duration::from_secs(10),
        }
    }
}

/// How a service's health is judged.
#[derive(Clone, Default)]
pub enum HealthSpec {
    /// The built-in "listening" check when the service has a port; none otherwise.
    #[default]
    Default,
    /// No check: the service counts as healthy once spawned.
    None,
    /// An HTTP GET that must answer one of the expected status codes.
    Http {
        /// The URL (`http://` only); may hold templates such as `{port}`.
        url: String,
        /// Accepted status codes; empty means any 2xx or 3xx.
        expected: Vec<u16>,
        /// Allow hosts other than localhost, 127.0.0.0/8 and ::1.
        allow_remote: bool,
    },
    /// A TCP connection to `host:port` (templates allowed) must be accepted.
    Tcp {
        /// `host:port`, such as `127.0.0.1:{port}`.
        address: String,
    },
    /// A command (through `/bin/sh -c`) must exit 0 within the timeout.
    Exec {
        /// The command line.
        command: String,
    },
    /// The service's own port accepts a connection (TCP) or is bound (UDP).
    Listening,
    /// A check of the caller's own.
    Custom(Arc<dyn HealthCheck>),
}

impl fmt::Debug for HealthSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthSpec::Default => f.write_str("Default"),
            HealthSpec::None => f.write_str("None"),
            HealthSpec::Http {
                url,
                expected,
                allow_remote,
            } => f
                .debug_struct("Http")
                .field("url", url)
                .field("expected", expected)
                .field("allow_remote", allow_remote)
                .finish(),
            HealthSpec::Tcp { address } => f.debug_struct("Tcp").field("address", address).finish(),
            HealthSpec::Exec { command } => {
                f.debug_struct("Exec").field("command", command).finish()
            }
            HealthSpec::Listening => f.write_str("Listening"),
            HealthSpec::Custom(check) => write!(f, "Custom({})", check.describe()),
        }
    }
}

impl HealthSpec {
    /// An HTTP check of `url` expecting any 2xx or 3xx, local hosts only.
    pub fn http(url: impl Into<String>) -> Self {
        HealthSpec::Http {
            url: url.into(),
            expected: Vec::new(),
            allow_remote: false,
        }
    }
}

/// When and how often a service's health is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthTiming {
    /// Time between checks once the service has been healthy. Default 5 s.
    pub interval: Duration,
    /// The longest one check may take. Default 2 s.
    pub timeout: Duration,
    /// Consecutive failed checks (after startup) that make the service unhealthy. Default 3.
    pub retries: u32,
    /// How long the service may take to become healthy after it is spawned. Default 30 s.
    pub start_period: Duration,
    /// The longest gap between checks during startup. Checks start right after the spawn
    /// and back off (10, 20, 40 ms ...) up to this. Default 50 ms.
    pub startup_interval: Duration,
}

impl Default for HealthTiming {
    fn default() -> Self {
        HealthTiming {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            retries: 3,
            start_period: Duration::from_secs(30),
            startup_interval: Duration::from_millis(50),
        }
    }
}
