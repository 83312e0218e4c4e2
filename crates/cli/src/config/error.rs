//! The config module's error type.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::issue::Issue;

/// Why a config could not be found, read, loaded or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No config file in any of the places [`discover`](super::discover) looks.
    #[error("no config file found; searched:{}", list_paths(searched))]
    NotFound {
        /// Every path that was tried, in order.
        searched: Vec<PathBuf>,
    },
    /// The file named by `--config` or `$PORTWARDEN_CONFIG` does not exist.
    #[error("config file {path} (named by {named_by}) does not exist")]
    MissingNamed {
        /// The path as resolved against the working directory.
        path: PathBuf,
        /// Who named it.
        named_by: NamedBy,
    },
    /// The file exists but could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file was read but holds errors. Every error found is listed, not just the first.
    #[error("invalid config {path}: {} error(s){}", errors.len(), list_issues(errors))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The errors, in file order where known.
        errors: Vec<Issue>,
        /// Warnings found at the same time (not part of the message).
        warnings: Vec<Issue>,
    },
    /// The config could not be turned into YAML.
    #[error("cannot write the config as YAML: {source}")]
    Serialize {
        /// The serializer's error.
        #[source]
        source: serde_saphyr::SerializeError,
    },
    /// The exported file could not be written.
    #[error("cannot write config file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

impl ConfigError {
    /// The errors of an [`Invalid`](ConfigError::Invalid) config; empty for other variants.
    pub fn issues(&self) -> &[Issue] {
        match self {
            ConfigError::Invalid { errors, .. } => errors,
            _ => &[],
        }
    }
}

fn list_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| format!("\n  {}", p.display()))
        .collect()
}

fn list_issues(issues: &[Issue]) -> String {
    issues.iter().map(|issue| format!("\n  {issue}")).collect()
}

/// Who named an explicit config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NamedBy {
    /// The `--config` option.
    Flag,
    /// The `PORTWARDEN_CONFIG` environment variable.
    EnvVar,
}

impl fmt::Display for NamedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NamedBy::Flag => "--config",
            NamedBy::EnvVar => "$PORTWARDEN_CONFIG",
        })
    }
}
