//! Health checks: the `health_check` block as written, and the check in force.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::duration::Duration;

/// The kinds of health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthCheckKind {
    /// An HTTP GET of `url` answers with an expected status.
    Http,
    /// A TCP connection to the port succeeds.
    Tcp,
    /// `command` exits with status 0.
    Exec,
    /// The service's process listens on its port (read from the socket table; no traffic).
    Listening,
}

impl HealthCheckKind {
    /// The name as the config writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthCheckKind::Http => "http",
            HealthCheckKind::Tcp => "tcp",
            HealthCheckKind::Exec => "exec",
            HealthCheckKind::Listening => "listening",
        }
    }
}

impl fmt::Display for HealthCheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `health_check` block of a service, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct HealthCheckConfig {
    /// The check's type. `None`: inferred (see
    /// [`ServiceConfig::effective_health_check`](super::ServiceConfig::effective_health_check)).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<HealthCheckKind>,
    /// `http`: the URL, with templates. Defaults to the service's `health_check_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `http`: the statuses that count as healthy. Empty (the default): any 2xx or 3xx.
    pub expected_status: Vec<u16>,
    /// `exec`: the command (run by `sh -c`), with templates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Time between checks once started. `None`: `monitoring.health_check_interval`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// How long one check may take. Default: 2s.
    pub timeout: Duration,
    /// How long the service may take to become healthy after a start, checked at a fast
    /// pace meanwhile; failures then do not count. Default: 30s.
    pub start_period: Duration,
    /// Consecutive failures before the service counts as unhealthy. Default: 3.
    pub retries: u32,
    /// `http`: allow a URL on another host. Default: false (such checks are refused).
    pub allow_remote: bool,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        Self {
            kind: None,
            url: None,
            expected_status: Vec::new(),
            command: None,
            interval: None,
            timeout: Duration::from_secs(2),
            start_period: Duration::from_secs(30),
            retries: 3,
            allow_remote: false,
        }
    }
}

impl HealthCheckConfig {
    /// The `type`, or the one its other settings imply.
    pub fn kind_or_inferred(&self, service_has_url: bool) -> HealthCheckKind {
        self.kind
            .unwrap_or(if self.url.is_some() || service_has_url {
                HealthCheckKind::Http
            } else if self.command.is_some() {
                HealthCheckKind::Exec
            } else {
                HealthCheckKind::Listening
            })
    }
}

/// A service's health check with every default applied; see
/// [`ServiceConfig::effective_health_check`](super::ServiceConfig::effective_health_check).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthCheck {
    /// What is checked.
    pub probe: HealthProbe,
    /// Time between checks once started.
    pub interval: Duration,
    /// How long one check may take.
    pub timeout: Duration,
    /// The fast-polling startup phase's limit.
    pub start_period: Duration,
    /// Consecutive failures before unhealthy.
    pub retries: u32,
}

/// What a health check checks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthProbe {
    /// GET `url` (a template: expand it with the service's resolved port).
    Http {
        /// The URL template.
        url: String,
        /// Statuses that count as healthy; empty means any 2xx or 3xx.
        expected_status: Vec<u16>,
        /// Whether a non-local host is allowed.
        allow_remote: bool,
    },
    /// Connect to the port.
    Tcp,
    /// Run `command` (a template); status 0 is healthy.
    Exec {
        /// The command template.
        command: String,
    },
    /// The port is in the LISTEN state.
    Listening,
}
