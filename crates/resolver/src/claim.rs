//! What a configured service claims: a port, alternatives, and how to recognise its processes.

use portcore::Protocol;
use procscan::{ProcessIdentity, ProcessInfo};
use regex::Regex;

use crate::ClaimError;

/// One service's claim on a port, as the CLI builds it from the config file (and from the
/// state of the last run: the recorded identity of our instance and the sticky port).
///
/// ```
/// use resolver::Claim;
/// let claim = Claim::new("backend", 8000)
///     .with_alternatives([8001, 8002])
///     .with_patterns(["python.*simple_backend_server"])?
///     .critical(true);
/// assert_eq!(claim.alternatives, vec![8001, 8002]);
/// # Ok::<(), resolver::ClaimError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Claim {
    /// The service's name (unique within a stack).
    pub name: String,
    /// The configured (preferred) port.
    pub port: u16,
    /// Ports to migrate to, in order of preference.
    pub alternatives: Vec<u16>,
    /// TCP (the default) or UDP.
    pub protocol: Protocol,
    /// Regexes matched against a process's command line (and its name): a match means the
    /// process is a copy of this service.
    pub process_patterns: Vec<Regex>,
    /// A critical service must get a port: one that cannot is a critical conflict.
    pub critical: bool,
    /// The identity of the instance of this service that portwarden started last, when known.
    /// A holder with this identity is our live, healthy instance.
    pub last_instance: Option<ProcessIdentity>,
    /// The port this service was given last time (see [`PortMemory`](crate::PortMemory)):
    /// preferred over the alternatives when a migration is needed, while it is free.
    pub sticky: Option<u16>,
}

impl Claim {
    /// A TCP claim on `port` with no alternatives, patterns or history.
    pub fn new(name: impl Into<String>, port: u16) -> Claim {
        Claim {
            name: name.into(),
            port,
            alternatives: Vec::new(),
            protocol: Protocol::Tcp,
            process_patterns: Vec::new(),
            critical: false,
            last_instance: None,
            sticky: None,
        }
    }

    /// Checks what [`Claim::new`] cannot: port 0 is refused.
    pub fn validate(&self) -> Result<(), ClaimError> {
        if self.port == 0 {
            return Err(ClaimError::PortZero {
                service: self.name.clone(),
            });
        }
        Ok(())
    }

    /// Sets the alternative ports, in order of preference.
    pub fn with_alternatives(mut self, ports: impl IntoIterator<Item = u16>) -> Claim {
        self.alternatives = ports.into_iter().collect();
        self
    }

    /// Compiles and adds process patterns.
    pub fn with_patterns<S: AsRef<str>>(
        mut self,
        patterns: impl IntoIterator<Item = S>,
    ) -> Result<Claim, ClaimError> {
        for pattern in patterns {
            let pattern = pattern.as_ref();
            let regex = Regex::new(pattern).map_err(|source| ClaimError::InvalidPattern {
                service: self.name.clone(),
                pattern: pattern.to_owned(),
                source,
            })?;
            self.process_patterns.push(regex);
        }
        Ok(self)
    }

    /// Sets the protocol.
    pub fn with_protocol(mut self, protocol: Protocol) -> Claim {
        self.protocol = protocol;
        self
    }

    /// Marks the service critical (or not).
    pub fn critical(mut self, critical: bool) -> Claim {
        self.critical = critical;
        self
    }

    /// Records the identity of our last instance.
    pub fn with_last_instance(mut self, identity: ProcessIdentity) -> Claim {
        self.last_instance = Some(identity);
        self
    }

    /// Records the port assigned last time.
    pub fn with_sticky(mut self, port: u16) -> Claim {
        self.sticky = Some(port);
        self
    }

    /// Whether `process` is our recorded live instance of this service.
    pub fn is_recorded_instance(&self, process: &ProcessInfo) -> bool {
        self.last_instance == Some(process.identity())
    }

    /// Whether `process` matches one of the process patterns (against its command line, then
    /// its short name).
    pub fn matches_pattern(&self, process: &ProcessInfo) -> bool {
        if self.process_patterns.is_empty() {
            return false;
        }
        let command = process.command_line();
        self.process_patterns
            .iter()
            .any(|re| re.is_match(&command) || re.is_match(&process.name))
    }
}
