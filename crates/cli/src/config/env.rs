//! `PORTWARDEN_*` environment variables layered over the file.
//!
//! The rules are figment's `Env::prefixed("PORTWARDEN_").split("__")`: the prefix is removed,
//! the rest is lowercased, `__` separates nested keys, and values are parsed as figment parses
//! them (numbers, booleans, `[a, b]` lists, strings otherwise). Two differences:
//!
//! - Only variables whose first key is a top-level config key are taken. portwarden itself
//!   puts `PORTWARDEN_CONFIG` and `PORTWARDEN_<NAME>_PORT` in services' environments, and
//!   those must never be read back as config.
//! - The variables come from a list, not only from the process, so that tests (and programs
//!   that load a config for another environment) need not change their own environment;
//!   figment's `Env` can read only the process's.

use std::ffi::OsStr;

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

/// The prefix of every config variable.
pub const ENV_PREFIX: &str = "PORTWARDEN_";

/// The keys a variable's first segment must be, to be taken.
pub(crate) const TOP_LEVEL_KEYS: [&str; 4] = [
    "services",
    "monitoring",
    "conflict_resolution",
    "reserved_ports",
];

/// One variable taken as a config override.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnvOverride {
    /// The variable's name, such as `PORTWARDEN_SERVICES__BACKEND__PORT`.
    pub var: String,
    /// The config path it sets, such as `["services", "backend", "port"]`.
    pub path: Vec<String>,
    /// The variable's value, as text.
    pub value: String,
}

/// The config overrides found in a set of environment variables; a figment [`Provider`].
///
/// `PORTWARDEN_SERVICES__<NAME>__<KEY>` sets a key of the file's service whose name matches
/// `<NAME>` ignoring case and `-`/`_` (variables cannot hold `-`); a name the file lacks adds
/// a service.
///
/// ```
/// use portwarden::config::EnvOverrides;
///
/// let env = EnvOverrides::from_vars([
///     ("PORTWARDEN_CONFLICT_RESOLUTION__STRATEGY", "aggressive"),
///     ("PORTWARDEN_BACKEND_PORT", "9000"), // set by portwarden for a service: not config
///     ("PORTWARDEN_CONFIG", "x.yaml"),     // names the file: not config
/// ]);
/// assert_eq!(env.overrides().len(), 1);
/// assert_eq!(env.overrides()[0].path, ["conflict_resolution", "strategy"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvOverrides {
    overrides: Vec<EnvOverride>,
}

impl EnvOverrides {
    /// The overrides in this process's environment.
    pub fn from_process() -> Self {
        Self::from_vars(std::env::vars_os())
    }

    /// The overrides in a list of variables; the others are ignored.
    pub fn from_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let mut overrides: Vec<EnvOverride> = vars
            .into_iter()
            .filter_map(|(k, v)| {
                let var = k.as_ref().to_str()?.trim().to_owned();
                let path = config_path(&var)?;
                let value = v.as_ref().to_string_lossy().into_owned();
                Some(EnvOverride { var, path, value })
            })
            .collect();
        // The process environment has no order; a stable one keeps merges reproducible.
        overrides.sort_by(|a, b| a.var.cmp(&b.var));
        log::debug!("config overrides from the environment: {overrides:?}");
        Self { overrides }
    }

    /// The variables taken, sorted by name.
    pub fn overrides(&self) -> &[EnvOverride] {
        &self.overrides
    }

    /// Renames `services.<x>` segments to the service of the file they mean: variables are
    /// lowercase and cannot hold `-`, so `PORTWARDEN_SERVICES__MY_API__PORT` sets `My-Api`.
    pub(crate) fn match_services<'a>(&mut self, names: impl IntoIterator<Item = &'a str> + Clone) {
        let fold = |s: &str| s.to_ascii_lowercase().replace('-', "_");
        for o in &mut self.overrides {
            if o.path.len() < 2 || o.path[0] != "services" {
                continue;
            }
            if let Some(name) = names
                .clone()
                .into_iter()
                .find(|n| fold(n) == fold(&o.path[1]))
            {
                o.path[1] = name.to_owned();
            }
        }
    }

    /// The override that set `field` (a dotted path) or one of its ancestors.
    pub(crate) fn source_of(&self, field: &str) -> Option<&EnvOverride> {
        self.overrides.iter().rev().find(|o| {
            let path = o.path.join(".");
            field == path || field.starts_with(&format!("{path}."))
        })
    }
}

/// `PORTWARDEN_A__B` to `["a", "b"]`, when `a` is a top-level key.
fn config_path(var: &str) -> Option<Vec<String>> {
    let prefix = var.get(..ENV_PREFIX.len())?;
    if !prefix.eq_ignore_ascii_case(ENV_PREFIX) {
        return None;
    }
    let path: Vec<String> = var[ENV_PREFIX.len()..]
        .to_ascii_lowercase()
        .split("__")
        .map(str::to_owned)
        .collect();
    let usable = path.iter().all(|s| !s.is_empty() && !s.contains('.'))
        && TOP_LEVEL_KEYS.contains(&path[0].as_str());
    usable.then_some(path)
}

impl Provider for EnvOverrides {
    fn metadata(&self) -> Metadata {
        Metadata::named("`PORTWARDEN_` environment variables")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        for o in &self.overrides {
            // Parsing figment's way; it cannot fail (anything unparsed is a string).
            let value = o
                .value
                .parse::<Value>()
                .unwrap_or_else(|_| Value::from(o.value.clone()));
            insert(&mut root, &o.path, value);
        }
        let mut data = Map::new();
        data.insert(Profile::Default, root);
        Ok(data)
    }
}

/// Sets `path` in `dict` to `value`, making dictionaries on the way (replacing non-dicts).
fn insert(dict: &mut Dict, path: &[String], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        dict.insert(first.clone(), value);
        return;
    }
    let entry = dict
        .entry(first.clone())
        .or_insert_with(|| Value::from(Dict::new()));
    if !matches!(entry, Value::Dict(..)) {
        *entry = Value::from(Dict::new());
    }
    if let Value::Dict(_, inner) = entry {
        insert(inner, rest, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_only_top_level_keys() {
        let env = EnvOverrides::from_vars([
            ("PORTWARDEN_SERVICES__BACKEND__PORT", "9000"),
            ("portwarden_monitoring__interval", "5s"),
            ("PORTWARDEN_RESERVED_PORTS", "1-1023,5432"),
            ("PORTWARDEN_CONFIG", "x"),
            ("PORTWARDEN_BACKEND_PORT", "1"),
            ("PORTWARDEN_SERVICES_PORT", "1"),
            ("PORTWARDEN_SERVICES____PORT", "1"),
            ("PORTWARDEN_", "1"),
            ("OTHER_SERVICES__X", "1"),
            ("PORTWARD", "1"),
        ]);
        let paths: Vec<String> = env.overrides().iter().map(|o| o.path.join(".")).collect();
        // Sorted by variable name (byte order: upper case first).
        assert_eq!(
            paths,
            [
                "reserved_ports",
                "services.backend.port",
                "monitoring.interval"
            ]
        );
    }

    #[test]
    fn provides_nested_parsed_values() {
        let env = EnvOverrides::from_vars([
            ("PORTWARDEN_SERVICES__BACKEND__PORT", "9000"),
            ("PORTWARDEN_SERVICES__BACKEND__CRITICAL", "true"),
        ]);
        let data = env.data().unwrap();
        let backend = data[&Profile::Default]["services"]
            .clone()
            .find("backend")
            .unwrap();
        assert_eq!(
            backend.clone().find("port").and_then(|v| v.to_u128()),
            Some(9000)
        );
        assert_eq!(
            backend.find("critical").and_then(|v| v.to_bool()),
            Some(true)
        );
    }

    #[test]
    fn service_segments_match_file_names() {
        let mut env = EnvOverrides::from_vars([("PORTWARDEN_SERVICES__MY_API__PORT", "1")]);
        env.match_services(["My-Api", "other"]);
        assert_eq!(env.overrides()[0].path, ["services", "My-Api", "port"]);
        assert_eq!(
            env.source_of("services.My-Api.port")
                .map(|o| o.var.as_str()),
            Some("PORTWARDEN_SERVICES__MY_API__PORT")
        );
        assert!(env.source_of("services.My-Api").is_none());
    }
}
