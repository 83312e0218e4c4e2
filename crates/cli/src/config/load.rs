//! Loading a config file: read, parse, layer the environment, check, resolve paths.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use figment::providers::Serialized;
use figment::value::{Dict, Value};
use figment::{Figment, Profile};
use portcore::EphemeralRange;
use serde_saphyr::MessageFormatter;

use super::check::{self, Checked};
use super::env::EnvOverrides;
use super::error::ConfigError;
use super::issue::{Issue, IssueKind, Origin, Severity};
use super::locate::SourceMap;
use super::model::Config;

/// The folder, beside the config file, where portwarden keeps its state.
pub const STATE_DIR_NAME: &str = ".portwarden";

/// Top-level keys with this prefix are ignored, so that they can hold YAML anchors
/// (`x-defaults: &defaults {...}`, then `<<: *defaults` in services), as in Compose files.
pub const EXTENSION_PREFIX: &str = "x-";

/// A config as loaded from a file, with where it came from.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LoadedConfig {
    /// The config, environment overrides applied and relative paths resolved.
    pub config: Config,
    /// The file, as given to [`load`].
    pub path: PathBuf,
    /// The file's folder, absolute: relative paths in the file are relative to it.
    pub base_dir: PathBuf,
    /// `base_dir/.portwarden`, where the stack's state lives (not created by loading).
    pub state_dir: PathBuf,
    /// Problems that do not stop the config from loading, with file and line.
    pub warnings: Vec<Issue>,
}

impl LoadedConfig {
    /// The folder the commands of `service` run in: its `working_directory` (already
    /// absolute after loading), or the config file's folder.
    pub fn working_directory(&self, service: &str) -> PathBuf {
        self.config
            .service(service)
            .and_then(|svc| svc.working_directory.clone())
            .unwrap_or_else(|| self.base_dir.clone())
    }
}

/// Loads the config file at `path`, with the `PORTWARDEN_*` overrides of this process's
/// environment (see [`EnvOverrides`]).
///
/// Every problem is reported at once: the error lists each with its file, line and field.
/// Warnings come back in [`LoadedConfig::warnings`].
///
/// ```no_run
/// let loaded = portwarden::config::load(std::path::Path::new("portwarden.yaml"))?;
/// for (name, service) in &loaded.config.services {
///     println!("{name}: {:?}", service.port);
/// }
/// # Ok::<(), portwarden::config::ConfigError>(())
/// ```
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    load_with_overrides(path, EnvOverrides::from_process())
}

/// Like [`load`], with the environment given as a list of variables instead of read from the
/// process (tests, or a config loaded for another environment).
pub fn load_with_env<I, K, V>(path: &Path, vars: I) -> Result<LoadedConfig, ConfigError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<OsStr>,
    V: AsRef<OsStr>,
{
    load_with_overrides(path, EnvOverrides::from_vars(vars))
}

/// Like [`load`], with the overrides already collected.
pub fn load_with_overrides(path: &Path, env: EnvOverrides) -> Result<LoadedConfig, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let base_dir = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
    // Without the range, the ephemeral-port warning is skipped; nothing else depends on it.
    let ephemeral = portcore::ephemeral_range()
        .inspect_err(|e| log::debug!("ephemeral range unknown, not checked: {e}"))
        .ok();
    let text = String::from_utf8_lossy(&bytes);
    let source = Source {
        path,
        text: &text,
        env,
    };
    let loaded = source.load(&base_dir, ephemeral.as_ref())?;
    for warning in &loaded.warnings {
        log::debug!("config warning: {warning}");
    }
    Ok(loaded)
}

struct Source<'a> {
    path: &'a Path,
    text: &'a str,
    env: EnvOverrides,
}

impl Source<'_> {
    fn invalid(&self, errors: Vec<Issue>, warnings: Vec<Issue>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            errors,
            warnings,
        }
    }

    fn file_origin(&self, line: Option<u32>, column: Option<u32>) -> Option<Origin> {
        Some(Origin::File {
            path: self.path.to_path_buf(),
            line,
            column,
        })
    }

    fn load(
        mut self,
        base_dir: &Path,
        ephemeral: Option<&EphemeralRange>,
    ) -> Result<LoadedConfig, ConfigError> {
        let mut root = self.parse()?;
        // Compose's convention: top-level `x-` keys hold YAML anchors for reuse, not config.
        root.retain(|key, _| !key.starts_with(EXTENSION_PREFIX));
        let map = SourceMap::build(self.text);
        if let Some(Value::Dict(_, services)) = root.get("services") {
            self.env.match_services(services.keys().map(String::as_str));
        }
        let merged = Figment::new()
            .merge(Serialized::from(Value::from(root), Profile::Default))
            .merge(self.env.clone())
            .extract::<Dict>()
            // Both layers are maps of plain values, so merging them cannot fail; if it ever
            // does, the error is still reported rather than unwrapped.
            .map_err(|e| {
                let issue = Issue::new(
                    "",
                    IssueKind::Other {
                        message: e.to_string(),
                    },
                );
                self.invalid(vec![issue], Vec::new())
            })?;
        let Checked {
            config,
            problems,
            pruned,
        } = check::check(merged);
        let mut issues = problems;
        let config = config.map(|mut config| {
            resolve_paths(&mut config, base_dir);
            order_services(&mut config, &map);
            let semantic = config.check(ephemeral);
            issues.extend(semantic.into_iter().filter(|i| !is_cascade(i, &pruned)));
            config
        });
        for issue in &mut issues {
            issue.origin = self.origin_of(&map, &issue.field);
        }
        let (mut errors, mut warnings): (Vec<Issue>, Vec<Issue>) = issues
            .into_iter()
            .partition(|i| i.severity() == Severity::Error);
        // File order first; variables after, as they came.
        errors.sort_by_key(|i| i.line().unwrap_or(u32::MAX));
        warnings.sort_by_key(|i| i.line().unwrap_or(u32::MAX));
        match config {
            Some(config) if errors.is_empty() => Ok(LoadedConfig {
                config,
                path: self.path.to_path_buf(),
                base_dir: base_dir.to_path_buf(),
                state_dir: base_dir.join(STATE_DIR_NAME),
                warnings,
            }),
            _ => Err(self.invalid(errors, warnings)),
        }
    }

    /// The document's top-level map; an empty document is an empty map.
    fn parse(&self) -> Result<Dict, ConfigError> {
        match serde_saphyr::from_str::<Option<Value>>(self.text) {
            Ok(None) => Ok(Dict::new()),
            Ok(Some(Value::Dict(_, dict))) => Ok(dict),
            Ok(Some(other)) => {
                let found = other.to_actual().to_string();
                let mut issue = Issue::new(
                    "",
                    IssueKind::WrongType {
                        expected: "a map of config sections (services, monitoring, ...)".into(),
                        found,
                    },
                );
                issue.origin = self.file_origin(Some(1), None);
                Err(self.invalid(vec![issue], Vec::new()))
            }
            Err(error) => {
                let message =
                    serde_saphyr::UserMessageFormatter.format_message(error.without_snippet());
                let location = error.location();
                let line = location.map(|l| u32::try_from(l.line()).unwrap_or(u32::MAX));
                let column = location.map(|l| u32::try_from(l.column()).unwrap_or(u32::MAX));
                let mut issue = Issue::new(
                    "",
                    IssueKind::Syntax {
                        message: message.into_owned(),
                    },
                );
                issue.origin = self.file_origin(line.filter(|l| *l > 0), column.filter(|c| *c > 0));
                Err(self.invalid(vec![issue], Vec::new()))
            }
        }
    }

    fn origin_of(&self, map: &SourceMap, field: &str) -> Option<Origin> {
        if let Some(o) = self.env.source_of(field) {
            return Some(Origin::Env { var: o.var.clone() });
        }
        let line = map.locate(field).map(|(line, _)| line);
        self.file_origin(line, None)
    }
}

/// Makes relative working directories absolute against the config file's folder.
fn resolve_paths(config: &mut Config, base_dir: &Path) {
    for svc in config.services.values_mut() {
        if let Some(dir) = svc.working_directory.as_mut().filter(|d| d.is_relative()) {
            *dir = base_dir.join(&*dir);
        }
    }
}

/// Puts the services back in file order (the layering goes through sorted maps); services
/// that only the environment defined come last.
fn order_services(config: &mut Config, map: &SourceMap) {
    let order = map.keys_under("services");
    let rank = |name: &str| order.iter().position(|n| n == name).unwrap_or(usize::MAX);
    config.services.sort_by(|a, _, b, _| rank(a).cmp(&rank(b)));
}

/// Whether a semantic problem only follows from a key that the structural pass removed
/// (a port reference to a service whose bad port was dropped, say): reporting it would
/// blame the wrong place.
fn is_cascade(issue: &Issue, pruned: &[String]) -> bool {
    // Whether `service` lost its whole body or one of `fields` (or something under them).
    let touches = |service: &str, fields: &[&str]| {
        let base = format!("services.{service}");
        pruned.iter().any(|p| {
            *p == base
                || fields.iter().any(|f| {
                    let field = format!("{base}.{f}");
                    *p == field || p.starts_with(&format!("{field}."))
                })
        })
    };
    let health_fields = ["port", "health_check", "health_check_url"];
    let service_of_field = issue.field.split('.').nth(1).unwrap_or("");
    match &issue.kind {
        IssueKind::TemplateNeedsPort { service, .. } => touches(service, &["port"]),
        IssueKind::RequiresPort { .. } | IssueKind::HealthCheckIncomplete { .. } => {
            touches(service_of_field, &health_fields)
        }
        IssueKind::ConditionNeedsHealthCheck { dependency } => touches(dependency, &health_fields),
        IssueKind::UnknownDependency { name, .. } => touches(name, &[]),
        IssueKind::UnknownTemplateRef { reference, .. } => reference
            .strip_prefix("services.")
            .and_then(|r| r.strip_suffix(".port"))
            .is_some_and(|service| touches(service, &[])),
        _ => false,
    }
}
