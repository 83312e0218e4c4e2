//! A service's configured health check as one of the supervisor's check plugins, ready to run
//! outside the supervisor: what `health-check` runs once and `monitor` runs on a schedule.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use supervisor::template::{self, Values};
use supervisor::{
    ExecCheck, HealthCheck, HealthContext, HealthResult, HttpCheck, ListeningCheck, TcpCheck,
};

use super::specs::display_host;
use crate::config::{HealthProbe, LoadedConfig};
use crate::exit::{self, CliError, CliResult};

/// A service's check with its context (port, address, timeout, pid, folder).
#[derive(Clone)]
pub struct Probe {
    /// The plugin.
    pub plugin: Arc<dyn HealthCheck>,
    /// What it checks.
    pub context: HealthContext,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("check", &self.plugin.describe())
            .field("context", &self.context)
            .finish()
    }
}

impl Probe {
    /// Runs the check once: its result and how long it took.
    pub fn run(&self) -> (HealthResult, Duration) {
        let started = Instant::now();
        let result = self.plugin.check(&self.context);
        (result, started.elapsed())
    }

    /// What is checked, e.g. `GET http://127.0.0.1:8001/health`.
    pub fn describe(&self) -> String {
        self.plugin.describe()
    }
}

/// The check of service `name`, templates expanded with `ports` (every service's port as it
/// is now: a running supervisor's, else the configured ones). `None` when the service has no
/// check (no `health_check`, `health_check_url` or port). A template that does not expand is
/// a config error (exit 3).
pub fn build(
    loaded: &LoadedConfig,
    name: &str,
    ports: &BTreeMap<String, u16>,
    pid: Option<u32>,
) -> CliResult<Option<Probe>> {
    let config = &loaded.config;
    let (Some(svc), Some(check)) = (config.service(name), config.health_check(name)) else {
        return Ok(None);
    };
    let port = ports.get(name).copied();
    let values = Values {
        port,
        services: ports.clone(),
    };
    let expand = |text: &str| {
        template::expand(text, &values)
            .map_err(|e| CliError::new(exit::CONFIG, format!("health check of `{name}`: {e}")))
    };
    let plugin: Arc<dyn HealthCheck> = match check.probe {
        HealthProbe::Http {
            url,
            expected_status,
            allow_remote,
        } => Arc::new(
            HttpCheck::new(expand(&url)?)
                .expect(expected_status)
                .allow_remote(allow_remote),
        ),
        HealthProbe::Tcp => Arc::new(TcpCheck::new(format!(
            "{}:{}",
            display_host(svc.bind_address),
            port.unwrap_or(0)
        ))),
        HealthProbe::Exec { command } => Arc::new(ExecCheck::new(expand(&command)?)),
        HealthProbe::Listening => Arc::new(ListeningCheck),
    };
    let context = HealthContext {
        service: name.to_owned(),
        port,
        bind_address: svc.bind_address,
        protocol: svc.protocol,
        timeout: check.timeout.into(),
        pid,
        working_dir: Some(loaded.working_directory(name)),
    };
    Ok(Some(Probe { plugin, context }))
}

/// Every service's configured port.
pub fn configured_ports(loaded: &LoadedConfig) -> BTreeMap<String, u16> {
    loaded
        .config
        .services
        .iter()
        .filter_map(|(n, s)| Some((n.clone(), s.port?)))
        .collect()
}
