//! From the config file to the supervisor's typed service specs. The supervisor owns `PORT`,
//! `PORTWARDEN_<NAME>_PORT` and the `{port}` templates; this only hands it the resolved
//! ports.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use portcore::Protocol;
use supervisor::{Condition, HealthSpec, HealthTiming, RestartLimits, RestartPolicy, ServiceSpec};

use crate::config::{
    Config, DependencyCondition, HealthProbe, LoadedConfig, RestartPolicy as ConfigRestart,
};

/// What the command line keeps knowing about a service while the supervisor runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceMeta {
    /// The service.
    pub name: String,
    /// The port the config asks for.
    pub configured_port: Option<u16>,
    /// Its protocol.
    pub protocol: Protocol,
    /// `http://HOST` when the service answers HTTP (its health check is an HTTP one).
    pub http_base: Option<String>,
    /// The host to show for a service that does not speak HTTP.
    pub host: String,
    /// How long it may take to stop.
    pub stop_timeout: Duration,
    /// The services it depends on.
    pub depends_on: Vec<String>,
    /// Whether the stack fails when it fails.
    pub critical: bool,
}

impl ServiceMeta {
    /// What is known of a service from a running supervisor's status alone (no config).
    pub fn named(name: &str, port: Option<u16>) -> ServiceMeta {
        ServiceMeta {
            name: name.to_owned(),
            configured_port: port,
            protocol: Protocol::Tcp,
            http_base: None,
            host: Ipv4Addr::LOCALHOST.to_string(),
            stop_timeout: Duration::from_secs(10),
            depends_on: Vec::new(),
            critical: false,
        }
    }

    /// Where to reach the service on `port`: `http://127.0.0.1:8001`, or `127.0.0.1:8100`
    /// for a service that does not speak HTTP.
    pub fn url(&self, port: u16) -> Option<String> {
        Some(match &self.http_base {
            Some(base) => format!("{base}:{port}"),
            None => format!("{}:{port}", self.host),
        })
    }
}

/// The stack as the supervisor takes it.
#[derive(Debug, Clone)]
pub struct Built {
    /// One spec per service that has a `startup_command`, in the config's order.
    pub specs: Vec<ServiceSpec>,
    /// The same services' metadata.
    pub metas: Vec<ServiceMeta>,
    /// Services without a `startup_command`: known to the config, not run.
    pub unmanaged: Vec<String>,
}

/// Builds the specs, giving each service the port in `ports` (else its configured one).
pub fn build(loaded: &LoadedConfig, ports: &BTreeMap<String, u16>) -> Built {
    let config = &loaded.config;
    let unmanaged: Vec<String> = config
        .services
        .iter()
        .filter(|(_, s)| s.startup_command.is_none())
        .map(|(name, _)| name.clone())
        .collect();
    let mut specs = Vec::new();
    let mut metas = Vec::new();
    for (name, svc) in &config.services {
        let Some(command) = svc.startup_command.clone() else {
            continue;
        };
        let port = ports.get(name).copied().or(svc.port);
        let (health, timing) = health(config, name, svc.bind_address);
        let depends_on: Vec<(String, Condition)> = svc
            .depends_on
            .keys()
            .filter(|dep| !unmanaged.contains(dep))
            .map(|dep| {
                let condition = match config.dependency_condition(name, dep) {
                    Some(DependencyCondition::Started) => Condition::Started,
                    Some(DependencyCondition::CompletedSuccessfully) => {
                        Condition::CompletedSuccessfully
                    }
                    _ => Condition::Healthy,
                };
                (dep.clone(), condition)
            })
            .collect();
        let mut spec = ServiceSpec::new(name.clone(), command);
        spec.working_dir = Some(loaded.working_directory(name));
        spec.env = svc.env.clone();
        spec.port = port;
        spec.protocol = svc.protocol;
        spec.bind_address = svc.bind_address;
        spec.health = health.clone();
        spec.health_timing = timing;
        spec.restart = match svc.effective_restart() {
            ConfigRestart::Always => RestartPolicy::Always,
            ConfigRestart::OnFailure => RestartPolicy::OnFailure,
            ConfigRestart::Never => RestartPolicy::Never,
        };
        spec.restart_limits = RestartLimits {
            max_attempts: svc.max_restart_attempts,
            window: svc.restart_window.into(),
            ..RestartLimits::default()
        };
        spec.stop_signal = svc.stop_signal.to_signal();
        spec.stop_timeout = svc.stop_timeout.into();
        spec.setup_command = svc.setup_command.clone();
        spec.socket_activation = svc.socket_activation;
        for (dep, condition) in &depends_on {
            spec = spec.depends_on(dep.clone(), *condition);
        }
        let host = display_host(svc.bind_address);
        let http_base = match &health {
            HealthSpec::Http { url, .. } => Some(format!(
                "http://{}",
                supervisor::url_host(url)
                    .map(bracketed)
                    .unwrap_or_else(|| host.clone())
            )),
            _ => None,
        };
        metas.push(ServiceMeta {
            name: name.clone(),
            configured_port: svc.port,
            protocol: svc.protocol,
            http_base,
            host,
            stop_timeout: svc.stop_timeout.into(),
            depends_on: depends_on.into_iter().map(|(d, _)| d).collect(),
            critical: svc.critical,
        });
        specs.push(spec);
    }
    Built {
        specs,
        metas,
        unmanaged,
    }
}

/// The health check of a service and its timing, from the config's effective check.
fn health(config: &Config, name: &str, bind: IpAddr) -> (HealthSpec, HealthTiming) {
    let Some(check) = config.health_check(name) else {
        return (HealthSpec::None, HealthTiming::default());
    };
    let spec = match check.probe {
        HealthProbe::Http {
            url,
            expected_status,
            allow_remote,
        } => HealthSpec::Http {
            url,
            expected: expected_status,
            allow_remote,
        },
        HealthProbe::Tcp => HealthSpec::Tcp {
            address: format!("{}:{{port}}", display_host(bind)),
        },
        HealthProbe::Exec { command } => HealthSpec::Exec { command },
        HealthProbe::Listening => HealthSpec::Listening,
    };
    let timing = HealthTiming {
        interval: check.interval.into(),
        timeout: check.timeout.into(),
        retries: check.retries.max(1),
        start_period: check.start_period.into(),
        ..HealthTiming::default()
    };
    (spec, timing)
}

/// The address to reach a service bound to `bind`: loopback for a wildcard, brackets
/// around IPv6.
pub fn display_host(bind: IpAddr) -> String {
    match bind {
        IpAddr::V4(a) if a.is_unspecified() => Ipv4Addr::LOCALHOST.to_string(),
        IpAddr::V6(a) if a.is_unspecified() => format!("[{}]", Ipv6Addr::LOCALHOST),
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> LoadedConfig {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("portwarden.yaml");
        std::fs::write(&path, text).expect("write");
        crate::config::load_with_env(&path, std::iter::empty::<(&str, &str)>()).expect("loads")
    }

    #[test]
    fn config_maps_to_specs_with_resolved_ports() {
        let loaded = load(
            "services:
  api:
    port: 18000
    startup_command: exec ./api
    health_check_url: http://localhost:{port}/health
    stop_timeout: 3s
  web:
    port: 13000
    startup_command: exec ./web
    depends_on: [api, db]
    restart: always
  db:
    port: 15432
",
        );
        let built = build(&loaded, &BTreeMap::from([("api".to_owned(), 18001)]));
        assert_eq!(built.unmanaged, ["db"]);
        let names: Vec<&str> = built.specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["api", "web"]);
        let api = &built.specs[0];
        assert_eq!(api.port, Some(18001));
        assert_eq!(api.stop_timeout, Duration::from_secs(3));
        assert!(matches!(api.health, HealthSpec::Http { .. }));
        let web = &built.specs[1];
        assert_eq!(web.depends_on.len(), 1, "db is not run, so not waited for");
        assert_eq!(web.depends_on[0].condition, Condition::Healthy);
        assert_eq!(web.restart, RestartPolicy::Always);
        assert!(matches!(web.health, HealthSpec::Listening));
        assert_eq!(
            built.metas[0].url(18001).as_deref(),
            Some("http://localhost:18001")
        );
        assert_eq!(
            built.metas[1].url(13000).as_deref(),
            Some("127.0.0.1:13000")
        );
    }
}
