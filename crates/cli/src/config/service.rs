//! One service's settings: the seed's keys and portwarden's additions.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use portcore::Protocol;
use serde::de::{self, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::duration::Duration;
use super::health::{HealthCheck, HealthCheckConfig, HealthCheckKind, HealthProbe};
use super::model::MonitoringConfig;
use super::policy::{Dependency, RestartPolicy, StopSignal};
use super::ports;

/// One service of the stack, under `services.NAME`.
///
/// The first block of fields is the original system's `ServiceConfig`, loaded exactly as it was
/// written; the rest are portwarden's additions. Every field has a default, so a service may be
/// as small as `worker: {startup_command: "./worker"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ServiceConfig {
    /// The service's name. Optional; when given it must equal the key under `services`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The primary port, 1 to 65535. `None` for a service that listens on nothing.
    #[serde(with = "ports::optional", skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The port's protocol. Default: `tcp`.
    pub protocol: Protocol,
    /// Ports to migrate to, in order, when the primary port is taken. Default: none.
    #[serde(with = "ports::list")]
    pub alternative_ports: Vec<u16>,
    /// Regexes matched against process command lines to recognise this service's processes.
    pub process_patterns: Vec<String>,
    /// The seed's health check: an HTTP URL, with `{port}` templates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check_url: Option<String>,
    /// The command that starts the service (run by `sh -c`), with `{port}` templates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub startup_command: Option<String>,
    /// Where the commands run. A relative path is resolved against the config file's folder
    /// when loading; `None` means that folder itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<PathBuf>,
    /// Whether the stack fails when this service fails. Default: false.
    pub critical: bool,
    /// The seed's restart switch. Default: true. [`restart`](Self::restart), when given, wins.
    pub auto_restart: bool,
    /// How many restarts are allowed within [`restart_window`](Self::restart_window).
    /// Default: 3.
    pub max_restart_attempts: u32,

    /// Services to start first, with the state each must reach. Written as a list of names or
    /// as a map `{db: {condition: healthy}}`.
    #[serde(
        serialize_with = "serialize_dependencies",
        deserialize_with = "deserialize_dependencies"
    )]
    pub depends_on: BTreeMap<String, Dependency>,
    /// Environment variables for the service's commands; values may hold `{port}` templates.
    /// Numbers and booleans are taken as their text.
    #[serde(deserialize_with = "deserialize_env")]
    pub env: BTreeMap<String, String>,
    /// A command run once before the first start (such as `npm ci`), with templates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup_command: Option<String>,
    /// When to restart. `None`: see [`effective_restart`](Self::effective_restart).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartPolicy>,
    /// The window in which [`max_restart_attempts`](Self::max_restart_attempts) are counted.
    /// Default: 60s.
    pub restart_window: Duration,
    /// The signal that asks the service to stop. Default: `TERM`.
    pub stop_signal: StopSignal,
    /// How long to wait after the stop signal before `KILL`. Default: 10s.
    pub stop_timeout: Duration,
    /// Whether portwarden binds the port itself and passes it as fd 3 (`LISTEN_FDS=1`), so the
    /// port is held across restarts. Default: false. Needs a `port`.
    pub socket_activation: bool,
    /// The address for socket activation and for listening checks. Default: 127.0.0.1.
    #[serde(deserialize_with = "deserialize_ip")]
    pub bind_address: IpAddr,
    /// How to tell that the service is healthy. `None`: see
    /// [`effective_health_check`](Self::effective_health_check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckConfig>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            name: None,
            port: None,
            protocol: Protocol::Tcp,
            alternative_ports: Vec::new(),
            process_patterns: Vec::new(),
            health_check_url: None,
            startup_command: None,
            working_directory: None,
            critical: false,
            auto_restart: true,
            max_restart_attempts: 3,
            depends_on: BTreeMap::new(),
            env: BTreeMap::new(),
            setup_command: None,
            restart: None,
            restart_window: Duration::from_secs(60),
            stop_signal: StopSignal::Term,
            stop_timeout: Duration::from_secs(10),
            socket_activation: false,
            bind_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            health_check: None,
        }
    }
}

impl ServiceConfig {
    /// The restart policy in force: `restart` when given, otherwise `on-failure` when
    /// `auto_restart` (the seed's switch) is on and `never` when it is off.
    ///
    /// ```
    /// use portwarden::config::{RestartPolicy, ServiceConfig};
    ///
    /// let mut svc = ServiceConfig::default();
    /// assert_eq!(svc.effective_restart(), RestartPolicy::OnFailure);
    /// svc.auto_restart = false;
    /// assert_eq!(svc.effective_restart(), RestartPolicy::Never);
    /// svc.restart = Some(RestartPolicy::Always);
    /// assert_eq!(svc.effective_restart(), RestartPolicy::Always);
    /// ```
    pub fn effective_restart(&self) -> RestartPolicy {
        self.restart.unwrap_or(if self.auto_restart {
            RestartPolicy::OnFailure
        } else {
            RestartPolicy::Never
        })
    }

    /// The health check in force, with every default applied.
    ///
    /// - A `health_check` block gives the check; its `type`, when absent, is `http` if it or
    ///   the service has a URL, `exec` if it has a `command`, and `listening` otherwise.
    /// - Without a block, `health_check_url` gives an `http` check (the seed's form), and a
    ///   service with a `port` gets a `listening` check.
    /// - Otherwise, and for a check that lacks what its type needs (which validation reports),
    ///   there is none.
    ///
    /// The interval defaults to `monitoring.health_check_interval`, so the seed's global
    /// setting applies to every service that does not set its own.
    pub fn effective_health_check(&self, monitoring: &MonitoringConfig) -> Option<HealthCheck> {
        let default_block = HealthCheckConfig::default();
        let block = self.health_check.as_ref().unwrap_or(&default_block);
        let kind = match self.health_check.as_ref() {
            Some(block) => block.kind_or_inferred(self.health_check_url.is_some()),
            None if self.health_check_url.is_some() => HealthCheckKind::Http,
            None => HealthCheckKind::Listening,
        };
        let probe = match kind {
            HealthCheckKind::Http => HealthProbe::Http {
                url: block
                    .url
                    .clone()
                    .or_else(|| self.health_check_url.clone())?,
                expected_status: block.expected_status.clone(),
                allow_remote: block.allow_remote,
            },
            HealthCheckKind::Exec => HealthProbe::Exec {
                command: block.command.clone()?,
            },
            HealthCheckKind::Tcp => {
                self.port?;
                HealthProbe::Tcp
            }
            HealthCheckKind::Listening => {
                self.port?;
                HealthProbe::Listening
            }
        };
        Some(HealthCheck {
            probe,
            interval: block.interval.unwrap_or(monitoring.health_check_interval),
            timeout: block.timeout,
            start_period: block.start_period,
            retries: block.retries,
        })
    }

    /// The `process_patterns` compiled. Loading has checked them, so this fails only for a
    /// config changed in code since.
    pub fn compiled_patterns(&self) -> Result<Vec<regex::Regex>, regex::Error> {
        self.process_patterns
            .iter()
            .map(|p| regex::Regex::new(p))
            .collect()
    }

    /// The text fields that may hold templates, with the name of each field.
    pub(crate) fn templates(&self) -> Vec<(String, &str)> {
        let block = self.health_check.as_ref();
        let optional = [
            ("startup_command", self.startup_command.as_deref()),
            ("setup_command", self.setup_command.as_deref()),
            ("health_check_url", self.health_check_url.as_deref()),
            ("health_check.url", block.and_then(|b| b.url.as_deref())),
            (
                "health_check.command",
                block.and_then(|b| b.command.as_deref()),
            ),
        ];
        let mut out: Vec<(String, &str)> = optional
            .into_iter()
            .filter_map(|(field, text)| Some((field.to_owned(), text?)))
            .collect();
        for (key, value) in &self.env {
            out.push((format!("env.{key}"), value.as_str()));
        }
        out
    }
}

fn serialize_dependencies<S: Serializer>(
    deps: &BTreeMap<String, Dependency>,
    s: S,
) -> Result<S::Ok, S::Error> {
    // The list form reads better and means the same when no condition is set.
    if deps.values().all(|d| d.condition.is_none()) {
        s.collect_seq(deps.keys())
    } else {
        s.collect_map(deps)
    }
}

fn deserialize_dependencies<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Dependency>, D::Error> {
    struct DepsVisitor;

    impl<'de> Visitor<'de> for DepsVisitor {
        type Value = BTreeMap<String, Dependency>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of service names, or a map of names to {condition: ...}")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut deps = BTreeMap::new();
            while let Some(name) = seq.next_element::<String>()? {
                deps.insert(name, Dependency::default());
            }
            Ok(deps)
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut deps = BTreeMap::new();
            while let Some((name, dep)) = map.next_entry::<String, Option<Dependency>>()? {
                deps.insert(name, dep.unwrap_or_default());
            }
            Ok(deps)
        }
    }

    d.deserialize_any(DepsVisitor)
}

fn deserialize_env<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    /// A scalar taken as its text.
    struct Text(String);

    impl<'de> Deserialize<'de> for Text {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct TextVisitor;

            impl Visitor<'_> for TextVisitor {
                type Value = Text;

                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a string, number or boolean")
                }

                fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                    Ok(Text(v.to_owned()))
                }

                fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                    Ok(Text(v.to_string()))
                }

                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                    Ok(Text(v.to_string()))
                }

                fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                    Ok(Text(v.to_string()))
                }

                fn visit_u128<E: de::Error>(self, v: u128) -> Result<Text, E> {
                    Ok(Text(v.to_string()))
                }

                fn visit_i128<E: de::Error>(self, v: i128) -> Result<Text, E> {
                    Ok(Text(v.to_string()))
                }

                fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                    Ok(Text(v.to_string()))
                }

                fn visit_char<E: de::Error>(self, v: char) -> Result<Text, E> {
                    Ok(Text(v.to_string()))
                }
            }

            d.deserialize_any(TextVisitor)
        }
    }

    let map = BTreeMap::<String, Text>::deserialize(d)?;
    Ok(map.into_iter().map(|(k, Text(v))| (k, v)).collect())
}

fn deserialize_ip<'de, D: Deserializer<'de>>(d: D) -> Result<IpAddr, D::Error> {
    const EXPECTED: &str = "an IP address such as 127.0.0.1 or ::1";

    struct IpVisitor;

    impl Visitor<'_> for IpVisitor {
        type Value = IpAddr;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(EXPECTED)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<IpAddr, E> {
            v.trim()
                .parse()
                .map_err(|_| E::invalid_value(Unexpected::Str(v), &EXPECTED))
        }
    }

    d.deserialize_any(IpVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_check_defaults_follow_the_documented_rules() {
        let monitoring = MonitoringConfig::default();
        let mut svc = ServiceConfig::default();
        assert_eq!(svc.effective_health_check(&monitoring), None);

        svc.port = Some(8000);
        let check = svc.effective_health_check(&monitoring).unwrap();
        assert_eq!(check.probe, HealthProbe::Listening);
        assert_eq!(check.interval, monitoring.health_check_interval);

        svc.health_check_url = Some("http://localhost:{port}/health".into());
        let check = svc.effective_health_check(&monitoring).unwrap();
        assert!(matches!(check.probe, HealthProbe::Http { ref url, .. } if url.contains("{port}")));

        svc.health_check = Some(HealthCheckConfig {
            command: Some("true".into()),
            interval: Some(Duration::from_secs(1)),
            ..HealthCheckConfig::default()
        });
        // The service's URL still makes an untyped block an http check.
        let check = svc.effective_health_check(&monitoring).unwrap();
        assert!(matches!(check.probe, HealthProbe::Http { .. }));
        assert_eq!(check.interval, Duration::from_secs(1));

        svc.health_check_url = None;
        let check = svc.effective_health_check(&monitoring).unwrap();
        assert_eq!(
            check.probe,
            HealthProbe::Exec {
                command: "true".into()
            }
        );

        svc.port = None;
        svc.health_check = Some(HealthCheckConfig {
            kind: Some(HealthCheckKind::Tcp),
            ..Default::default()
        });
        assert_eq!(svc.effective_health_check(&monitoring), None);
    }
}
