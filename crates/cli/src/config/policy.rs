//! Restart, stop and dependency policies of a service.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// When a stopped service is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// After every exit, successful or not.
    Always,
    /// After an exit with a failure status or a signal.
    #[serde(alias = "on_failure")]
    OnFailure,
    /// Never.
    Never,
}

/// One entry of `depends_on`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Dependency {
    /// The state the dependency must reach. `None`: see
    /// [`Config::dependency_condition`](super::Config::dependency_condition).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<DependencyCondition>,
}

impl Dependency {
    /// A dependency with an explicit condition.
    pub fn with_condition(condition: DependencyCondition) -> Self {
        Self {
            condition: Some(condition),
        }
    }
}

/// The state a dependency must reach before its dependents start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DependencyCondition {
    /// Its process has been started.
    #[serde(alias = "service_started", alias = "process_started")]
    Started,
    /// Its health check passes.
    #[serde(alias = "service_healthy", alias = "process_healthy")]
    Healthy,
    /// It has exited with status 0 (a setup or migration job).
    #[serde(
        alias = "service_completed_successfully",
        alias = "process_completed_successfully"
    )]
    CompletedSuccessfully,
}

/// What a stop signal field accepts, as serde's "expected" text.
pub(crate) const SIGNAL_EXPECTED: &str = "a signal name: TERM, INT, HUP, QUIT, KILL, USR1 or USR2";

/// The signal that asks a service to stop. Written `TERM` or `SIGTERM`, in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StopSignal {
    /// SIGTERM (the default).
    #[default]
    Term,
    /// SIGINT, what Ctrl-C sends.
    Int,
    /// SIGHUP.
    Hup,
    /// SIGQUIT.
    Quit,
    /// SIGKILL: no clean shutdown at all.
    Kill,
    /// SIGUSR1.
    Usr1,
    /// SIGUSR2.
    Usr2,
}

impl StopSignal {
    /// The accepted names, without the optional `SIG` prefix.
    pub const NAMES: [&'static str; 7] = ["TERM", "INT", "HUP", "QUIT", "KILL", "USR1", "USR2"];
    const ALL: [StopSignal; 7] = [
        StopSignal::Term,
        StopSignal::Int,
        StopSignal::Hup,
        StopSignal::Quit,
        StopSignal::Kill,
        StopSignal::Usr1,
        StopSignal::Usr2,
    ];

    /// The name without `SIG`, as the config writes it: `TERM`.
    pub fn as_str(self) -> &'static str {
        match self {
            StopSignal::Term => "TERM",
            StopSignal::Int => "INT",
            StopSignal::Hup => "HUP",
            StopSignal::Quit => "QUIT",
            StopSignal::Kill => "KILL",
            StopSignal::Usr1 => "USR1",
            StopSignal::Usr2 => "USR2",
        }
    }

    /// The same signal as `procscan` sends it.
    pub fn to_signal(self) -> procscan::Signal {
        match self {
            StopSignal::Term => procscan::Signal::Term,
            StopSignal::Int => procscan::Signal::Int,
            StopSignal::Hup => procscan::Signal::Hup,
            StopSignal::Quit => procscan::Signal::Quit,
            StopSignal::Kill => procscan::Signal::Kill,
            StopSignal::Usr1 => procscan::Signal::Usr1,
            StopSignal::Usr2 => procscan::Signal::Usr2,
        }
    }
}

impl fmt::Display for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a supported stop signal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not {SIGNAL_EXPECTED}")]
pub struct ParseSignalError {
    text: String,
}

impl FromStr for StopSignal {
    type Err = ParseSignalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        Self::ALL
            .into_iter()
            .find(|signal| signal.as_str() == name)
            .ok_or_else(|| ParseSignalError { text: s.to_owned() })
    }
}

impl Serialize for StopSignal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for StopSignal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SignalVisitor;

        impl Visitor<'_> for SignalVisitor {
            type Value = StopSignal;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(SIGNAL_EXPECTED)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<StopSignal, E> {
                v.parse()
                    .map_err(|_| E::invalid_value(Unexpected::Str(v), &SIGNAL_EXPECTED))
            }
        }

        d.deserialize_any(SignalVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_with_or_without_sig_in_any_case() {
        assert_eq!("TERM".parse(), Ok(StopSignal::Term));
        assert_eq!("sigint".parse(), Ok(StopSignal::Int));
        assert_eq!(" SIGUSR2 ".parse(), Ok(StopSignal::Usr2));
        assert!("SIGSEGV".parse::<StopSignal>().is_err());
        assert!("SIG".parse::<StopSignal>().is_err());
        for signal in StopSignal::ALL {
            assert_eq!(signal.as_str().parse(), Ok(signal));
        }
    }
}
