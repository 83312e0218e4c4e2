//! Health checks: a small trait and its built-in implementations, one per file.
//!
//! A check answers one question, once, within `ctx.timeout`; scheduling (the fast startup
//! phase, the steady interval, retries, one check in flight at most) is the monitor's job.
//! Callers add their own checks by implementing [`HealthCheck`]:
//!
//! ```
//! use supervisor::{HealthCheck, HealthContext, HealthResult};
//!
//! /// Healthy once a file exists.
//! struct FileExists(std::path::PathBuf);
//!
//! impl HealthCheck for FileExists {
//!     fn check(&self, _ctx: &HealthContext) -> HealthResult {
//!         if self.0.exists() {
//!             HealthResult::Healthy
//!         } else {
//!             HealthResult::unhealthy(format!("{} does not exist yet", self.0.display()))
//!         }
//!     }
//!     fn describe(&self) -> String {
//!         format!("file {} exists", self.0.display())
//!     }
//! }
//! ```

mod exec;
mod http;
mod listening;
pub(crate) mod monitor;
mod tcp;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use portcore::Protocol;
use serde::{Deserialize, Serialize};

pub use exec::ExecCheck;
pub use http::{HttpCheck, is_local_host, url_host};
pub use listening::ListeningCheck;
pub use tcp::TcpCheck;

use crate::spec::HealthSpec;
use crate::template::{self, TemplateError, Values};

/// A health check. Implementations must be cheap to call repeatedly and should honour
/// `ctx.timeout` themselves; the monitor also stops waiting for a check after the timeout
/// (and does not start another while one is still running).
pub trait HealthCheck: Send + Sync {
    /// Runs the check once.
    fn check(&self, ctx: &HealthContext) -> HealthResult;

    /// A short description for messages, such as `GET http://127.0.0.1:8000/health`.
    fn describe(&self) -> String;
}

/// What a check knows of the service it checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthContext {
    /// The service's name.
    pub service: String,
    /// Its port, after any migration.
    pub port: Option<u16>,
    /// The address it binds.
    pub bind_address: IpAddr,
    /// Its port's protocol.
    pub protocol: Protocol,
    /// The longest the check may take.
    pub timeout: Duration,
    /// The service's main pid.
    pub pid: Option<u32>,
    /// The service's working folder (exec checks run there).
    pub working_dir: Option<std::path::PathBuf>,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum HealthResult {
    /// The service is healthy.
    Healthy,
    /// It is not, and why.
    Unhealthy {
        /// What failed, for messages.
        reason: String,
    },
}

impl HealthResult {
    /// An unhealthy result.
    pub fn unhealthy(reason: impl Into<String>) -> Self {
        HealthResult::Unhealthy {
            reason: reason.into(),
        }
    }

    /// Whether the result is healthy.
    pub fn is_healthy(&self) -> bool {
        matches!(self, HealthResult::Healthy)
    }
}

/// The check a spec asks for, with templates expanded; `None` when the service has no check.
pub(crate) fn build(
    spec: &HealthSpec,
    has_port: bool,
    values: &Values,
) -> Result<Option<Arc<dyn HealthCheck>>, TemplateError> {
    Ok(match spec {
        HealthSpec::None => None,
        HealthSpec::Default if !has_port => None,
        HealthSpec::Default | HealthSpec::Listening => Some(Arc::new(ListeningCheck)),
        HealthSpec::Http {
            url,
            expected,
            allow_remote,
        } => Some(Arc::new(
            HttpCheck::new(template::expand(url, values)?)
                .expect(expected.clone())
                .allow_remote(*allow_remote),
        )),
        HealthSpec::Tcp { address } => {
            Some(Arc::new(TcpCheck::new(template::expand(address, values)?)))
        }
        HealthSpec::Exec { command } => {
            Some(Arc::new(ExecCheck::new(template::expand(command, values)?)))
        }
        HealthSpec::Custom(check) => Some(Arc::clone(check)),
    })
}
