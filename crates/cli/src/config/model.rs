//! The config file's top level and its global sections.

use indexmap::IndexMap;
use portcore::{EphemeralRange, PortSet};
use serde::{Deserialize, Serialize};

use super::TemplateContext;
use super::duration::Duration;
use super::error::ConfigError;
use super::health::HealthCheck;
use super::issue::Issue;
use super::policy::DependencyCondition;
use super::ports;
use super::service::ServiceConfig;

/// The whole config file.
///
/// Every section has a default, so an empty file is a valid config with no services.
///
/// ```
/// use portwarden::config::{Config, Strategy};
///
/// let config = Config::default();
/// assert_eq!(config.conflict_resolution.strategy, Strategy::Intelligent);
/// assert!(config.reserved().contains(5432));
/// assert!(config.service("backend").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// The services, keyed by name, in file order.
    pub services: IndexMap<String, ServiceConfig>,
    /// Monitoring settings.
    pub monitoring: MonitoringConfig,
    /// How port conflicts are resolved.
    pub conflict_resolution: ConflictResolutionConfig,
    /// Ports never assigned to a service, written as numbers and `"a-b"` strings.
    /// Default: [`PortSet::default_reserved`] (1-1023, 3001, 5432, 6379, 9090).
    #[serde(with = "ports::reserved")]
    pub reserved_ports: PortSet,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            services: IndexMap::new(),
            monitoring: MonitoringConfig::default(),
            conflict_resolution: ConflictResolutionConfig::default(),
            reserved_ports: PortSet::default_reserved(),
        }
    }
}

impl Config {
    /// The ports never assigned to a service.
    pub fn reserved(&self) -> &PortSet {
        &self.reserved_ports
    }

    /// The service named `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services.get(name)
    }

    /// The effective health check of the service named `name`, with the global interval as
    /// its default (see [`ServiceConfig::effective_health_check`]).
    pub fn health_check(&self, name: &str) -> Option<HealthCheck> {
        self.service(name)?.effective_health_check(&self.monitoring)
    }

    /// The condition `service` waits for on `dependency`, or `None` when it does not depend
    /// on it.
    ///
    /// An explicit `condition` wins. Otherwise it is `healthy` when the dependency has an
    /// effective health check (an explicit check, a `health_check_url`, or a port to listen
    /// on), and `started` when it has none: waiting for health that can never be observed
    /// would hang the stack, and waiting only for a start would race every service that
    /// listens.
    pub fn dependency_condition(
        &self,
        service: &str,
        dependency: &str,
    ) -> Option<DependencyCondition> {
        let dep = self.service(service)?.depends_on.get(dependency)?;
        Some(dep.condition.unwrap_or_else(|| {
            if self.health_check(dependency).is_some() {
                DependencyCondition::Healthy
            } else {
                DependencyCondition::Started
            }
        }))
    }

    /// The template context of `service` with every service's configured port (before any
    /// migration: a supervisor that moved a service builds its own context).
    pub fn template_context(&self, service: &str) -> TemplateContext {
        TemplateContext {
            port: self.service(service).and_then(|s| s.port),
            services: self
                .services
                .iter()
                .filter_map(|(name, svc)| Some((name.clone(), svc.port?)))
                .collect(),
        }
    }

    /// Checks the meaning of a config built or changed in code: the same checks loading runs
    /// after the file's syntax and types are known to be right (ports, names, dependencies,
    /// patterns, templates, health checks). Errors and warnings come back together, without
    /// origins; see [`Issue::severity`].
    ///
    /// `ephemeral` is the machine's ephemeral port range
    /// ([`portcore::ephemeral_range`]); `None` skips that warning.
    pub fn check(&self, ephemeral: Option<&EphemeralRange>) -> Vec<Issue> {
        super::validate::validate(self, ephemeral)
    }

    /// The config as YAML, every default filled in, loadable again to an equal `Config`.
    pub fn to_yaml(&self) -> Result<String, ConfigError> {
        super::export::to_yaml(self)
    }
}

/// The `monitoring` section, as in the original system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MonitoringConfig {
    /// Whether `portwarden monitor` runs checks. Default: true.
    pub enabled: bool,
    /// Time between port checks. Default: 30s.
    pub interval: Duration,
    /// Whether conflicts found while monitoring are resolved without asking. Default: true.
    pub auto_resolve_conflicts: bool,
    /// Time between health checks, for services that do not set their own. Default: 60s.
    pub health_check_interval: Duration,
    /// Alert when a service's processes use more CPU than this (100 is one core).
    /// Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_threshold_percent: Option<f64>,
    /// Alert when a service's processes use more memory than this many MiB. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_threshold_mb: Option<u64>,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(30),
            auto_resolve_conflicts: true,
            health_check_interval: Duration::from_secs(60),
            cpu_threshold_percent: None,
            memory_threshold_mb: None,
        }
    }
}

/// The `conflict_resolution` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ConflictResolutionConfig {
    /// How to resolve a conflict. Default: `intelligent`.
    pub strategy: Strategy,
    /// Whether a service may move to one of its alternative ports. Default: true.
    pub allow_port_migration: bool,
    /// Whether processes that are not the stack's are left alone. Default: true.
    pub preserve_external_processes: bool,
    /// How many alternative ports to try before giving up. Default: 10.
    pub max_alternative_ports: u32,
    /// Process names never signalled, on top of the built-in protected names. Default: none.
    pub protected_processes: Vec<String>,
    /// Time between the stop signal and `KILL` when terminating a conflicting process.
    /// Default: 5s.
    pub grace_period: Duration,
}

impl Default for ConflictResolutionConfig {
    fn default() -> Self {
        Self {
            strategy: Strategy::Intelligent,
            allow_port_migration: true,
            preserve_external_processes: true,
            max_alternative_ports: 10,
            protected_processes: Vec::new(),
            grace_period: Duration::from_secs(5),
        }
    }
}

/// The original system's conflict resolution strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Preserve external processes; migrate the stack's services.
    Conservative,
    /// Terminate conflicting processes when necessary (never protected ones).
    Aggressive,
    /// Choose per conflict from what holds the port.
    Intelligent,
}

impl Strategy {
    /// The name, as the config file and `resolver::strategy_by_name` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Conservative => "conservative",
            Strategy::Aggressive => "aggressive",
            Strategy::Intelligent => "intelligent",
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
