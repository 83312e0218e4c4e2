//! Semantic checks on a well-typed config: ports, names, dependencies, patterns, templates
//! and health checks. Each problem names its field; loading adds the file and line.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use portcore::{EphemeralRange, Protocol};

use super::duration::Duration;
use super::health::HealthCheckKind;
use super::issue::{Issue, IssueKind};
use super::model::Config;
use super::policy::DependencyCondition;
use super::service::ServiceConfig;
use super::suggest::suggest;
use super::{Reference, references};

/// Every problem of `config`, errors and warnings, in service order.
pub(crate) fn validate(config: &Config, ephemeral: Option<&EphemeralRange>) -> Vec<Issue> {
    let mut v = Validator {
        config,
        issues: Vec::new(),
    };
    v.ports(ephemeral);
    for (name, svc) in &config.services {
        let path = format!("services.{name}");
        v.service(name, svc, &path);
    }
    v.cycles();
    v.monitoring();
    v.issues
}

struct Validator<'a> {
    config: &'a Config,
    issues: Vec<Issue>,
}

fn valid_service_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The essential line of a regex error (the crate's message spans several lines, with the
/// pattern and a caret).
fn regex_message(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .find_map(|line| line.strip_prefix("error: "))
        .map(str::to_owned)
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The host of an `http://` or `https://` URL; `None` when it is not such a URL.
pub(crate) fn url_host(url: &str) -> Option<&str> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &url[7..]
    } else if lower.starts_with("https://") {
        &url[8..]
    } else {
        return None;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6.split(']').next();
    }
    Some(host_port.split(':').next().unwrap_or(host_port))
}

/// Whether a health check aimed at `host` stays on this machine.
fn is_local_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
}

impl Validator<'_> {
    fn push(&mut self, field: impl Into<String>, kind: IssueKind) {
        self.issues.push(Issue::new(field, kind));
    }

    fn service_names(&self) -> impl Iterator<Item = &str> + Clone {
        self.config.services.keys().map(String::as_str)
    }

    fn ports(&mut self, ephemeral: Option<&EphemeralRange>) {
        let reserved = &self.config.reserved_ports;
        let mut primaries: HashMap<(u16, Protocol), &str> = HashMap::new();
        for (name, svc) in &self.config.services {
            let Some(port) = svc.port else { continue };
            let field = format!("services.{name}.port");
            if reserved.contains(port) {
                self.push(&field, IssueKind::ReservedPort { port });
            }
            match primaries.get(&(port, svc.protocol)) {
                Some(other) => {
                    let other = (*other).to_owned();
                    self.push(
                        &field,
                        IssueKind::DuplicatePort {
                            port,
                            protocol: svc.protocol,
                            other,
                        },
                    );
                }
                None => {
                    primaries.insert((port, svc.protocol), name);
                }
            }
            if let Some(eph) = ephemeral.filter(|e| e.may_assign(port)) {
                self.push(
                    &field,
                    IssueKind::EphemeralPort {
                        port,
                        range: eph.range,
                    },
                );
            }
        }
        for (name, svc) in &self.config.services {
            for (i, &port) in svc.alternative_ports.iter().enumerate() {
                let field = format!("services.{name}.alternative_ports.{i}");
                if reserved.contains(port) {
                    self.push(&field, IssueKind::AlternativeReserved { port });
                }
                if let Some(owner) = primaries.get(&(port, svc.protocol)).filter(|o| **o != name) {
                    let service = (*owner).to_owned();
                    self.push(&field, IssueKind::AlternativeIsPrimary { port, service });
                }
                if let Some(eph) = ephemeral.filter(|e| e.may_assign(port)) {
                    self.push(
                        &field,
                        IssueKind::EphemeralPort {
                            port,
                            range: eph.range,
                        },
                    );
                }
            }
        }
    }

    fn service(&mut self, name: &str, svc: &ServiceConfig, path: &str) {
        if !valid_service_name(name) {
            self.push(
                path,
                IssueKind::InvalidServiceName {
                    name: name.to_owned(),
                },
            );
        }
        if let Some(given) = svc.name.as_ref().filter(|given| *given != name) {
            let kind = IssueKind::NameMismatch {
                name: given.clone(),
                key: name.to_owned(),
            };
            self.push(format!("{path}.name"), kind);
        }
        for (i, pattern) in svc.process_patterns.iter().enumerate() {
            if let Err(error) = regex::Regex::new(pattern) {
                let kind = IssueKind::BadPattern {
                    pattern: pattern.clone(),
                    message: regex_message(&error),
                };
                self.push(format!("{path}.process_patterns.{i}"), kind);
            }
        }
        for (dep, spec) in &svc.depends_on {
            let field = format!("{path}.depends_on.{dep}");
            if !self.config.services.contains_key(dep) {
                let suggestion = suggest(dep, self.service_names());
                self.push(
                    field,
                    IssueKind::UnknownDependency {
                        name: dep.clone(),
                        suggestion,
                    },
                );
            } else if spec.condition == Some(DependencyCondition::Healthy)
                && self.config.health_check(dep).is_none()
            {
                self.push(
                    field,
                    IssueKind::ConditionNeedsHealthCheck {
                        dependency: dep.clone(),
                    },
                );
            }
        }
        for (field, text) in svc.templates() {
            self.template(name, svc, &format!("{path}.{field}"), text);
        }
        if svc.socket_activation && svc.port.is_none() {
            self.push(
                format!("{path}.socket_activation"),
                IssueKind::RequiresPort {
                    feature: "socket_activation",
                },
            );
        }
        self.health_check(svc, path);
    }

    fn template(&mut self, name: &str, svc: &ServiceConfig, field: &str, text: &str) {
        let refs = match references(text) {
            Ok(refs) => refs,
            Err(error) => return self.push(field, IssueKind::BadTemplate { error }),
        };
        for reference in refs {
            let kind = match &reference {
                Reference::Port if svc.port.is_none() => IssueKind::TemplateNeedsPort {
                    reference: reference.name(),
                    service: name.to_owned(),
                },
                Reference::ServicePort(service) => match self.config.service(service) {
                    None => self.unknown_reference(&reference),
                    Some(other) if other.port.is_none() => IssueKind::TemplateNeedsPort {
                        reference: reference.name(),
                        service: service.clone(),
                    },
                    Some(_) => continue,
                },
                Reference::Unknown(_) => self.unknown_reference(&reference),
                _ => continue,
            };
            self.push(field, kind);
        }
    }

    /// An unknown reference, with the closest valid one as a suggestion: for
    /// `{services.NAME.port}` the closest service with a port, otherwise `{port}` or any
    /// service's port reference.
    fn unknown_reference(&self, reference: &Reference) -> IssueKind {
        let with_port = || {
            self.config
                .services
                .iter()
                .filter(|(_, s)| s.port.is_some())
        };
        let suggestion = match reference {
            Reference::ServicePort(service) => {
                suggest(service, with_port().map(|(name, _)| name.as_str()))
                    .map(|name| Reference::ServicePort(name).name())
            }
            _ => {
                let valid: Vec<String> = std::iter::once("port".to_owned())
                    .chain(with_port().map(|(name, _)| Reference::ServicePort(name.clone()).name()))
                    .collect();
                suggest(&reference.name(), valid.iter().map(String::as_str))
            }
        };
        IssueKind::UnknownTemplateRef {
            reference: reference.name(),
            suggestion,
        }
    }

    fn health_check(&mut self, svc: &ServiceConfig, path: &str) {
        let block = svc.health_check.as_ref();
        let kind = match block {
            Some(block) => block.kind_or_inferred(svc.health_check_url.is_some()),
            None if svc.health_check_url.is_some() => HealthCheckKind::Http,
            None => return,
        };
        let hc = format!("{path}.health_check");
        match kind {
            HealthCheckKind::Http => {
                let block_url = block.and_then(|b| b.url.as_deref());
                let (url, field) = match (block_url, svc.health_check_url.as_deref()) {
                    (Some(url), _) => (url, format!("{hc}.url")),
                    (None, Some(url)) => (url, format!("{path}.health_check_url")),
                    (None, None) => {
                        let kind = IssueKind::HealthCheckIncomplete {
                            kind,
                            missing: "url",
                        };
                        return self.push(hc, kind);
                    }
                };
                let allow_remote = block.is_some_and(|b| b.allow_remote);
                match url_host(url) {
                    None => self.push(
                        &field,
                        IssueKind::InvalidValue {
                            value: url.to_owned(),
                            expected: "an http:// or https:// URL".into(),
                        },
                    ),
                    Some(host) if !allow_remote && !host.contains('{') && !is_local_host(host) => {
                        self.push(
                            &field,
                            IssueKind::RemoteHealthUrl {
                                host: host.to_owned(),
                            },
                        );
                    }
                    Some(_) => {}
                }
            }
            HealthCheckKind::Exec if block.and_then(|b| b.command.as_ref()).is_none() => {
                self.push(
                    &hc,
                    IssueKind::HealthCheckIncomplete {
                        kind,
                        missing: "command",
                    },
                );
            }
            HealthCheckKind::Tcp | HealthCheckKind::Listening if svc.port.is_none() => {
                self.push(
                    &hc,
                    IssueKind::HealthCheckIncomplete {
                        kind,
                        missing: "port",
                    },
                );
            }
            _ => {}
        }
        let Some(block) = block else { return };
        for (i, &status) in block.expected_status.iter().enumerate() {
            if !(100..=599).contains(&status) {
                self.push(
                    format!("{hc}.expected_status.{i}"),
                    IssueKind::InvalidValue {
                        value: status.to_string(),
                        expected: "an HTTP status from 100 to 599".into(),
                    },
                );
            }
        }
        if let Some(interval) = block.interval {
            self.nonzero(format!("{hc}.interval"), interval);
        }
        self.nonzero(format!("{hc}.timeout"), block.timeout);
        if block.retries == 0 {
            self.push(
                format!("{hc}.retries"),
                IssueKind::InvalidValue {
                    value: "0".into(),
                    expected: "at least 1 failure before unhealthy".into(),
                },
            );
        }
    }

    fn nonzero(&mut self, field: String, duration: Duration) {
        if duration.is_zero() {
            self.push(
                field,
                IssueKind::InvalidValue {
                    value: duration.to_string(),
                    expected: "a duration above zero".into(),
                },
            );
        }
    }

    fn monitoring(&mut self) {
        let m = &self.config.monitoring;
        self.nonzero("monitoring.interval".into(), m.interval);
        self.nonzero(
            "monitoring.health_check_interval".into(),
            m.health_check_interval,
        );
        if let Some(cpu) = m
            .cpu_threshold_percent
            .filter(|c| !(c.is_finite() && *c > 0.0))
        {
            self.push(
                "monitoring.cpu_threshold_percent",
                IssueKind::InvalidValue {
                    value: cpu.to_string(),
                    expected: "a percentage above zero".into(),
                },
            );
        }
        if m.memory_threshold_mb == Some(0) {
            self.push(
                "monitoring.memory_threshold_mb",
                IssueKind::InvalidValue {
                    value: "0".into(),
                    expected: "a size above zero".into(),
                },
            );
        }
    }

    /// Reports each dependency loop once, at the `depends_on` of the service it was found
    /// from.
    fn cycles(&mut self) {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Visiting,
            Done,
        }
        let graph: BTreeMap<&str, Vec<&str>> = self
            .config
            .services
            .iter()
            .map(|(name, svc)| {
                let deps = svc
                    .depends_on
                    .keys()
                    .map(String::as_str)
                    .filter(|d| self.config.services.contains_key(*d))
                    .collect();
                (name.as_str(), deps)
            })
            .collect();
        let mut marks: HashMap<&str, Mark> = HashMap::new();
        let mut found = Vec::new();
        // Iterative depth-first search: configs are small, but recursion depth is input-driven.
        for start in self.config.services.keys().map(String::as_str) {
            if marks.contains_key(start) {
                continue;
            }
            let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
            marks.insert(start, Mark::Visiting);
            while let Some(&(node, next)) = stack.last() {
                let deps = graph.get(node).map(Vec::as_slice).unwrap_or_default();
                let Some(&dep) = deps.get(next) else {
                    marks.insert(node, Mark::Done);
                    stack.pop();
                    continue;
                };
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                match marks.get(dep) {
                    Some(Mark::Visiting) => {
                        let from = stack.iter().position(|(n, _)| *n == dep).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            stack[from..].iter().map(|(n, _)| (*n).to_owned()).collect();
                        cycle.push(dep.to_owned());
                        found.push(cycle);
                    }
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(dep, Mark::Visiting);
                        stack.push((dep, 0));
                    }
                }
            }
        }
        for cycle in found {
            let field = format!("services.{}.depends_on", cycle[0]);
            self.push(field, IssueKind::DependencyCycle { cycle });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts() {
        assert_eq!(
            url_host("http://localhost:{port}/health"),
            Some("localhost")
        );
        assert_eq!(url_host("HTTPS://user@example.com/x"), Some("example.com"));
        assert_eq!(url_host("http://[::1]:80/"), Some("::1"));
        assert_eq!(url_host("http://10.0.0.1?x"), Some("10.0.0.1"));
        assert_eq!(url_host("ftp://x"), None);
        assert_eq!(url_host("localhost:80"), None);
        assert!(
            is_local_host("127.0.0.2") && is_local_host("::1") && is_local_host("app.localhost")
        );
        assert!(!is_local_host("example.com") && !is_local_host("10.0.0.1"));
    }

    #[test]
    fn names() {
        assert!(valid_service_name("memory_api") && valid_service_name("web-1"));
        assert!(!valid_service_name("") && !valid_service_name("-x") && !valid_service_name("a.b"));
    }

    #[test]
    fn cycles_are_reported_once_each() {
        let mut config = Config::default();
        for (name, deps) in [
            ("a", vec!["b"]),
            ("b", vec!["c"]),
            ("c", vec!["a"]),
            ("d", vec!["d"]),
        ] {
            let svc = ServiceConfig {
                depends_on: deps
                    .into_iter()
                    .map(|d| (d.to_owned(), Default::default()))
                    .collect(),
                ..ServiceConfig::default()
            };
            config.services.insert(name.to_owned(), svc);
        }
        let cycles: Vec<Vec<String>> = validate(&config, None)
            .into_iter()
            .filter_map(|i| match i.kind {
                IssueKind::DependencyCycle { cycle } => Some(cycle),
                _ => None,
            })
            .collect();
        assert_eq!(cycles, [vec!["a", "b", "c", "a"], vec!["d", "d"]]);
    }
}
