//! Structural checks: every key known, every value of the right type, all problems found.
//!
//! Serde stops at the first error, so each key of each section is deserialized on its own (a
//! one-key map into the section's type: every field has a default, so only that key is
//! checked). A key that fails is reported and removed; what remains then deserializes whole,
//! which lets the semantic checks run on everything that was well-formed.

use figment::error::{Actual, Kind};
use figment::value::{Dict, Value};
use serde::de::DeserializeOwned;

use super::duration::DURATION_EXPECTED;
use super::health::HealthCheckConfig;
use super::issue::{Issue, IssueKind};
use super::model::{Config, ConflictResolutionConfig, MonitoringConfig};
use super::policy::SIGNAL_EXPECTED;
use super::ports::PORT_EXPECTED;
use super::service::ServiceConfig;
use super::suggest::suggest;

/// What the structural pass found.
#[derive(Debug)]
pub(crate) struct Checked {
    /// The config built from every well-formed key; `None` only if that still failed.
    pub(crate) config: Option<Config>,
    /// The problems, without origins.
    pub(crate) problems: Vec<Issue>,
    /// Dotted paths of the keys removed because they were wrong.
    pub(crate) pruned: Vec<String>,
}

/// Checks a merged document (file and environment).
pub(crate) fn check(mut root: Dict) -> Checked {
    let mut checker = Checker::default();
    checker.fields::<Config>(
        "",
        &mut root,
        &["services", "monitoring", "conflict_resolution"],
    );
    if let Some(Value::Dict(_, monitoring)) = root.get_mut("monitoring") {
        checker.fields::<MonitoringConfig>("monitoring", monitoring, &[]);
    }
    if let Some(Value::Dict(_, resolution)) = root.get_mut("conflict_resolution") {
        checker.fields::<ConflictResolutionConfig>("conflict_resolution", resolution, &[]);
    }
    if let Some(Value::Dict(_, services)) = root.get_mut("services") {
        checker.services(services);
    }
    let config = match Value::from(root).deserialize::<Config>() {
        Ok(config) => Some(config),
        Err(error) => {
            // Every key passed alone, so this is a combination the per-key pass cannot see.
            log::debug!("config failed to deserialize after the per-key pass: {error}");
            checker.record("", Box::new(error), None);
            None
        }
    };
    Checked {
        config,
        problems: checker.problems,
        pruned: checker.pruned,
    }
}

#[derive(Debug, Default)]
struct Checker {
    problems: Vec<Issue>,
    pruned: Vec<String>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl Checker {
    /// Checks each key of `dict` as a field of `T`, except the `nested` ones whose value is a
    /// map (the caller checks those deeper). A null value means "default" and is dropped.
    fn fields<T: DeserializeOwned>(&mut self, path: &str, dict: &mut Dict, nested: &[&str]) {
        let keys: Vec<String> = dict.keys().cloned().collect();
        for key in keys {
            let Some(value) = dict.get(&key) else {
                continue;
            };
            if matches!(value, Value::Empty(..)) {
                dict.remove(&key);
                continue;
            }
            if nested.contains(&key.as_str()) && matches!(value, Value::Dict(..)) {
                continue;
            }
            if let Err(error) = probe::<T>(&key, value.clone()) {
                // Only a problem inside the value is worth looking for in each entry; an
                // unknown key is one problem however many entries it holds.
                let inside = error.path.len() > 1;
                if !(inside && self.split::<T>(path, &key, value)) {
                    self.record(path, error, None);
                }
                dict.remove(&key);
                self.pruned.push(join(path, &key));
            }
        }
    }

    /// Serde stops at a list's or map's first bad entry: probing the entries one by one
    /// finds them all (`alternative_ports: [0, 70000]` is two problems). Returns whether that
    /// found anything; if not, the value is wrong as a whole.
    fn split<T: DeserializeOwned>(&mut self, path: &str, key: &str, value: &Value) -> bool {
        let before = self.problems.len();
        match value {
            Value::Array(_, items) if items.len() > 1 => {
                for (i, item) in items.iter().enumerate() {
                    if let Err(error) = probe::<T>(key, Value::from(vec![item.clone()])) {
                        self.record(path, error, Some(i));
                    }
                }
            }
            Value::Dict(_, entries) if entries.len() > 1 => {
                for (k, v) in entries {
                    let entry: Dict = std::iter::once((k.clone(), v.clone())).collect();
                    if let Err(error) = probe::<T>(key, Value::from(entry)) {
                        self.record(path, error, None);
                    }
                }
            }
            _ => {}
        }
        self.problems.len() > before
    }

    fn services(&mut self, services: &mut Dict) {
        let names: Vec<String> = services.keys().cloned().collect();
        for name in names {
            let path = join("services", &name);
            let Some(body) = services.get_mut(&name) else {
                continue;
            };
            match body {
                // `worker:` with nothing under it is a service with every default.
                Value::Empty(..) => *body = Value::from(Dict::new()),
                Value::Dict(_, fields) => {
                    self.fields::<ServiceConfig>(&path, fields, &["health_check"]);
                    if let Some(Value::Dict(_, check)) = fields.get_mut("health_check") {
                        self.fields::<HealthCheckConfig>(&join(&path, "health_check"), check, &[]);
                    }
                }
                other => {
                    let found = other.to_actual().to_string();
                    self.problems.push(Issue::new(
                        path.clone(),
                        IssueKind::WrongType {
                            expected: "a map of service settings".into(),
                            found,
                        },
                    ));
                    services.remove(&name);
                    self.pruned.push(path);
                }
            }
        }
    }

    /// Records a probe's errors. `item` is the real index of a list item probed alone (the
    /// error says index 0).
    fn record(&mut self, path: &str, error: Box<figment::Error>, item: Option<usize>) {
        for error in *error {
            let mut field = path.to_owned();
            for (i, segment) in error.path.iter().enumerate() {
                match item {
                    Some(index) if i == 1 => field = join(&field, &index.to_string()),
                    _ => field = join(&field, segment),
                }
            }
            self.problems
                .push(Issue::new(field, issue_kind(error.kind)));
        }
    }
}

/// Deserializes `{key: value}` as a `T`: every other field takes its default, so this checks
/// the one key.
fn probe<T: DeserializeOwned>(key: &str, value: Value) -> Result<T, Box<figment::Error>> {
    let probe: Dict = std::iter::once((key.to_owned(), value)).collect();
    Value::from(probe).deserialize::<T>().map_err(Box::new)
}

/// The text of a value as the user wrote it, for messages.
fn actual_text(actual: &Actual) -> String {
    match actual {
        Actual::Str(s) => s.clone(),
        Actual::Unsigned(n) => n.to_string(),
        Actual::Signed(n) => n.to_string(),
        Actual::Float(n) => n.to_string(),
        Actual::Bool(b) => b.to_string(),
        Actual::Char(c) => c.to_string(),
        other => other.to_string(),
    }
}

/// Serde names number types the Rust way (`u32`); the config's readers think in ranges.
fn readable(expected: String) -> String {
    let range = match expected.as_str() {
        "u8" => "from 0 to 255",
        "u16" => "from 0 to 65535",
        "u32" => "from 0 to 4294967295",
        "u64" | "usize" => "of 0 or more",
        "a sequence" => return "a list".to_owned(),
        _ => return expected,
    };
    format!("a whole number {range}")
}

/// Turns a deserializer's complaint into the named problem it stands for. The port, duration
/// and signal deserializers reject with their own "expected" texts, recognised here.
fn issue_kind(kind: Kind) -> IssueKind {
    match kind {
        Kind::UnknownField(key, expected) => IssueKind::UnknownKey {
            suggestion: suggest(&key, expected.iter().copied()),
            key,
        },
        Kind::UnknownVariant(value, expected) => IssueKind::UnknownVariant {
            suggestion: suggest(&value, expected.iter().copied()),
            expected: expected.iter().map(|s| (*s).to_owned()).collect(),
            value,
        },
        Kind::InvalidValue(actual, expected) | Kind::InvalidType(actual, expected)
            if expected == DURATION_EXPECTED =>
        {
            IssueKind::BadDuration {
                text: actual_text(&actual),
            }
        }
        Kind::InvalidValue(actual, expected) | Kind::InvalidType(actual, expected)
            if expected == SIGNAL_EXPECTED =>
        {
            IssueKind::BadSignal {
                text: actual_text(&actual),
            }
        }
        Kind::InvalidValue(Actual::Unsigned(n), expected) if expected == PORT_EXPECTED => {
            IssueKind::PortOutOfRange {
                value: i128::try_from(n).unwrap_or(i128::MAX),
            }
        }
        Kind::InvalidValue(Actual::Signed(n), expected) if expected == PORT_EXPECTED => {
            IssueKind::PortOutOfRange { value: n }
        }
        Kind::InvalidValue(actual, expected) => IssueKind::InvalidValue {
            value: actual_text(&actual),
            expected: readable(expected),
        },
        Kind::InvalidType(actual, expected) => IssueKind::WrongType {
            expected: readable(expected),
            found: actual.to_string(),
        },
        Kind::MissingField(key) => IssueKind::MissingKey {
            key: key.into_owned(),
        },
        Kind::Message(message) => IssueKind::Other { message },
        other => IssueKind::Other {
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_yaml(text: &str) -> Checked {
        let root: Dict = serde_saphyr::from_str(text).unwrap();
        check(root)
    }

    fn fields_and_kinds(checked: &Checked) -> Vec<(String, &IssueKind)> {
        checked
            .problems
            .iter()
            .map(|p| (p.field.clone(), &p.kind))
            .collect()
    }

    #[test]
    fn finds_every_problem_and_keeps_the_rest() {
        let checked = check_yaml(
            "services:\n  a:\n    prot: 1\n    port: 70000\n    critical: yes please\n    \
             startup_command: run\n  b: 5\nmonitoring:\n  interval: soon\nbogus: 1\n",
        );
        let found = fields_and_kinds(&checked);
        assert_eq!(found.len(), 6, "{found:?}");
        assert!(
            found
                .iter()
                .any(|(f, k)| f == "bogus" && matches!(k, IssueKind::UnknownKey { .. }))
        );
        assert!(found.iter().any(|(f, k)| f == "services.a.prot"
            && matches!(k, IssueKind::UnknownKey { suggestion: Some(s), .. } if s == "port")));
        assert!(found.iter().any(|(f, k)| f == "services.a.port"
            && matches!(k, IssueKind::PortOutOfRange { value: 70000 })));
        assert!(
            found.iter().any(
                |(f, k)| f == "services.a.critical" && matches!(k, IssueKind::WrongType { .. })
            )
        );
        assert!(
            found
                .iter()
                .any(|(f, k)| f == "services.b" && matches!(k, IssueKind::WrongType { .. }))
        );
        assert!(found.iter().any(|(f, k)| f == "monitoring.interval"
            && matches!(k, IssueKind::BadDuration { text } if text == "soon")));
        let config = checked.config.unwrap();
        assert_eq!(config.services["a"].startup_command.as_deref(), Some("run"));
        assert!(!config.services.contains_key("b"));
    }

    #[test]
    fn null_means_default_and_bare_services_are_allowed() {
        let checked = check_yaml("services:\n  worker:\n  web:\n    port: ~\nmonitoring: ~\n");
        assert!(checked.problems.is_empty(), "{:?}", checked.problems);
        let config = checked.config.unwrap();
        assert_eq!(config.services.len(), 2);
        assert_eq!(config.services["web"].port, None);
    }
}
