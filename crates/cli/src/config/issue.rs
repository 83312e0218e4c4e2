//! The problems that checking a config reports: where, which field, what is wrong.

use std::fmt;
use std::path::PathBuf;

use portcore::{PortRange, Protocol};

use super::TemplateError;
use super::health::HealthCheckKind;

/// Whether a problem stops the config from loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The config does not load.
    Error,
    /// The config loads; the problem is reported in [`LoadedConfig::warnings`](super::LoadedConfig).
    Warning,
}

/// Where a problem's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// A place in the config file.
    File {
        /// The file, as given to [`load`](super::load).
        path: PathBuf,
        /// 1-based line, when the field could be found in the file.
        line: Option<u32>,
        /// 1-based column, given for syntax errors.
        column: Option<u32>,
    },
    /// A `PORTWARDEN_*` environment variable that overrode the file.
    Env {
        /// The variable's name.
        var: String,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line, column } => {
                write!(f, "{}", path.display())?;
                if let Some(line) = line {
                    write!(f, ":{line}")?;
                    if let Some(column) = column {
                        write!(f, ":{column}")?;
                    }
                }
                Ok(())
            }
            Origin::Env { var } => write!(f, "${var}"),
        }
    }
}

/// One problem in a config: where, which field, and what is wrong.
///
/// Displays as `portwarden.yaml:7: services.backend.prot: unknown key; did you mean `port`?`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Issue {
    /// Where the value came from; `None` for a config built in code.
    pub origin: Option<Origin>,
    /// The field's dotted path, such as `services.backend.port` (sequence items by index:
    /// `services.backend.alternative_ports.2`); empty for the whole document.
    pub field: String,
    /// What is wrong.
    pub kind: IssueKind,
}

impl Issue {
    /// A problem at `field` with no origin yet.
    pub fn new(field: impl Into<String>, kind: IssueKind) -> Self {
        Self {
            origin: None,
            field: field.into(),
            kind,
        }
    }

    /// Whether the problem stops the config from loading.
    pub fn severity(&self) -> Severity {
        self.kind.severity()
    }

    /// The 1-based line in the config file, when known.
    pub fn line(&self) -> Option<u32> {
        match &self.origin {
            Some(Origin::File { line, .. }) => *line,
            _ => None,
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(origin) = &self.origin {
            write!(f, "{origin}: ")?;
        }
        if self.severity() == Severity::Warning {
            f.write_str("warning: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        write!(f, "{}", self.kind)
    }
}

/// What is wrong with a field. Variants up to [`Other`](IssueKind::Other) are errors, the rest
/// warnings (see [`IssueKind::severity`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum IssueKind {
    /// The file is not valid YAML (the origin carries line and column).
    Syntax {
        /// The parser's message.
        message: String,
    },
    /// A key the schema does not have (the field path ends with it).
    UnknownKey {
        /// The key as written.
        key: String,
        /// The closest known key, when one is close.
        suggestion: Option<String>,
    },
    /// A required key is absent.
    MissingKey {
        /// The key.
        key: String,
    },
    /// A value of the wrong type, such as a list where a number belongs.
    WrongType {
        /// What the field takes.
        expected: String,
        /// What was found.
        found: String,
    },
    /// A value outside a fixed set of names (strategy, protocol, restart policy, ...).
    UnknownVariant {
        /// The value as written.
        value: String,
        /// The accepted names.
        expected: Vec<String>,
        /// The closest accepted name, when one is close.
        suggestion: Option<String>,
    },
    /// A value of the right type that the field does not accept.
    InvalidValue {
        /// The value as written.
        value: String,
        /// What the field accepts.
        expected: String,
    },
    /// A port number outside 1..=65535.
    PortOutOfRange {
        /// The number as written.
        value: i128,
    },
    /// A service's primary port is in `reserved_ports`.
    ReservedPort {
        /// The port.
        port: u16,
    },
    /// Two services claim the same primary port and protocol.
    DuplicatePort {
        /// The port.
        port: u16,
        /// The protocol both use.
        protocol: Protocol,
        /// The service that claimed it first.
        other: String,
    },
    /// A `process_patterns` entry is not a valid regex.
    BadPattern {
        /// The pattern.
        pattern: String,
        /// The regex compiler's message.
        message: String,
    },
    /// `depends_on` names a service that does not exist.
    UnknownDependency {
        /// The name as written.
        name: String,
        /// The closest service name, when one is close.
        suggestion: Option<String>,
    },
    /// Services that depend on each other in a loop.
    DependencyCycle {
        /// The services of the loop, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// `condition: healthy` on a dependency that has no health check and no port.
    ConditionNeedsHealthCheck {
        /// The dependency.
        dependency: String,
    },
    /// A service's `name` differs from its key.
    NameMismatch {
        /// The `name` value.
        name: String,
        /// The key under `services`.
        key: String,
    },
    /// A service name that cannot be used in environment variables and templates.
    InvalidServiceName {
        /// The name.
        name: String,
    },
    /// A template names something other than `{port}` or `{services.NAME.port}` of a known
    /// service.
    UnknownTemplateRef {
        /// The text between the braces.
        reference: String,
        /// The closest valid reference (the text between the braces), when one is close.
        suggestion: Option<String>,
    },
    /// A template refers to the port of a service that has none.
    TemplateNeedsPort {
        /// The text between the braces.
        reference: String,
        /// The service without a port.
        service: String,
    },
    /// A template whose braces do not pair up.
    BadTemplate {
        /// The template error.
        error: TemplateError,
    },
    /// A value that is not a duration (or a zero interval).
    BadDuration {
        /// The value as written.
        text: String,
    },
    /// A value that is not one of the supported stop signals.
    BadSignal {
        /// The value as written.
        text: String,
    },
    /// A health check lacks the setting its type needs.
    HealthCheckIncomplete {
        /// The check's type.
        kind: HealthCheckKind,
        /// The missing key.
        missing: &'static str,
    },
    /// A feature that needs the service to have a port, on a service without one.
    RequiresPort {
        /// The feature, such as `socket_activation`.
        feature: &'static str,
    },
    /// Any other deserialization failure, with the deserializer's message.
    Other {
        /// The message.
        message: String,
    },
    /// Warning: an alternative port is in `reserved_ports` and will be skipped.
    AlternativeReserved {
        /// The port.
        port: u16,
    },
    /// Warning: an alternative port is another service's primary port.
    AlternativeIsPrimary {
        /// The port.
        port: u16,
        /// The service whose primary port it is.
        service: String,
    },
    /// Warning: a port inside the kernel's ephemeral range, where outgoing connections of any
    /// program may take it at random.
    EphemeralPort {
        /// The port.
        port: u16,
        /// The machine's ephemeral range.
        range: PortRange,
    },
    /// Warning: an HTTP health check aimed at another host without `allow_remote: true`; it
    /// will be refused at run time.
    RemoteHealthUrl {
        /// The URL's host.
        host: String,
    },
}

impl IssueKind {
    /// Whether this kind of problem stops the config from loading.
    pub fn severity(&self) -> Severity {
        match self {
            IssueKind::AlternativeReserved { .. }
            | IssueKind::AlternativeIsPrimary { .. }
            | IssueKind::EphemeralPort { .. }
            | IssueKind::RemoteHealthUrl { .. } => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

fn did_you_mean(f: &mut fmt::Formatter<'_>, suggestion: &Option<String>) -> fmt::Result {
    match suggestion {
        Some(s) => write!(f, "; did you mean `{s}`?"),
        None => Ok(()),
    }
}

impl fmt::Display for IssueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IssueKind::Syntax { message } => write!(f, "YAML syntax error: {message}"),
            IssueKind::UnknownKey { suggestion, .. } => {
                f.write_str("unknown key")?;
                did_you_mean(f, suggestion)
            }
            IssueKind::MissingKey { key } => write!(f, "missing key `{key}`"),
            IssueKind::WrongType { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            IssueKind::UnknownVariant {
                value,
                expected,
                suggestion,
            } => {
                write!(
                    f,
                    "unknown value `{value}`, expected one of: {}",
                    expected.join(", ")
                )?;
                did_you_mean(f, suggestion)
            }
            IssueKind::InvalidValue { value, expected } => {
                write!(f, "invalid value `{value}`: expected {expected}")
            }
            IssueKind::PortOutOfRange { value } => {
                write!(f, "port {value} is out of range: ports go from 1 to 65535")
            }
            IssueKind::ReservedPort { port } => write!(
                f,
                "port {port} is reserved (see `reserved_ports`); pick another port or unreserve it"
            ),
            IssueKind::DuplicatePort {
                port,
                protocol,
                other,
            } => {
                write!(
                    f,
                    "{protocol} port {port} is already the port of service `{other}`"
                )
            }
            IssueKind::BadPattern { pattern, message } => {
                write!(f, "invalid regex `{pattern}`: {message}")
            }
            IssueKind::UnknownDependency { name, suggestion } => {
                write!(f, "depends on unknown service `{name}`")?;
                did_you_mean(f, suggestion)
            }
            IssueKind::DependencyCycle { cycle } => {
                write!(f, "dependency cycle: {}", cycle.join(" -> "))
            }
            IssueKind::ConditionNeedsHealthCheck { dependency } => write!(
                f,
                "condition `healthy` on `{dependency}`, which has no health check and no port, \
                 so it would never become healthy"
            ),
            IssueKind::NameMismatch { name, key } => {
                write!(
                    f,
                    "`name` is `{name}` but the service's key is `{key}`; they must match"
                )
            }
            IssueKind::InvalidServiceName { name } => write!(
                f,
                "invalid service name `{name}`: use letters, digits, `_` and `-`, starting with a \
                 letter or digit"
            ),
            IssueKind::UnknownTemplateRef {
                reference,
                suggestion,
            } => {
                write!(
                    f,
                    "unknown template reference `{{{reference}}}` (use {{port}} or \
                     {{services.NAME.port}}, and {{{{ }}}} for literal braces)"
                )?;
                did_you_mean(f, &suggestion.as_ref().map(|s| format!("{{{s}}}")))
            }
            IssueKind::TemplateNeedsPort { reference, service } => write!(
                f,
                "template reference `{{{reference}}}` needs a port, but service `{service}` has none"
            ),
            IssueKind::BadTemplate { error } => write!(f, "invalid template: {error}"),
            IssueKind::BadDuration { text } => write!(
                f,
                "invalid duration `{text}`: expected seconds as a number, or a number with a unit \
                 (500ms, 5s, 2m, 1h)"
            ),
            IssueKind::BadSignal { text } => write!(
                f,
                "invalid stop signal `{text}`: expected one of {}",
                super::policy::StopSignal::NAMES.join(", ")
            ),
            IssueKind::HealthCheckIncomplete { kind, missing } => {
                write!(f, "a `{kind}` health check needs `{missing}`")?;
                if *kind == HealthCheckKind::Http && *missing == "url" {
                    f.write_str(" (or the service's `health_check_url`)")?;
                }
                Ok(())
            }
            IssueKind::RequiresPort { feature } => {
                write!(f, "`{feature}` needs the service to have a `port`")
            }
            IssueKind::Other { message } => f.write_str(message),
            IssueKind::AlternativeReserved { port } => {
                write!(
                    f,
                    "alternative port {port} is reserved and will never be used"
                )
            }
            IssueKind::AlternativeIsPrimary { port, service } => write!(
                f,
                "alternative port {port} is the primary port of service `{service}` and will only \
                 be used while that service is stopped"
            ),
            IssueKind::EphemeralPort { port, range } => write!(
                f,
                "port {port} is inside the kernel's ephemeral port range {range}: any program's \
                 outgoing connections may take it"
            ),
            IssueKind::RemoteHealthUrl { host } => write!(
                f,
                "health check URL points at `{host}`, not this machine; it will be refused unless \
                 `allow_remote: true`"
            ),
        }
    }
}
