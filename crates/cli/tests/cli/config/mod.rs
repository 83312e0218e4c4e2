//! The config file, end to end on real files: the seed's schema and the example load, every
//! bad config gives its named problem at the right line and field, environment layering,
//! discovery, path resolution, export round trips, and no input makes the loader panic.

// Helpers outside `#[test]` functions unwrap too: any failure there is the test's failure.

use std::path::{Path, PathBuf};

use portwarden::config::{
    self, Config, ConfigError, Issue, IssueKind, LoadedConfig, Origin, Severity,
};
use tempfile::TempDir;

const NO_ENV: [(&str, &str); 0] = [];

/// The seed's two YAML snippets (the backend service, then monitoring and conflict
/// resolution), exactly as the original system's description prints them.
const SEED: &str = r#"services:
  backend:
    name: "backend"
    port: 8000
    alternative_ports: [8001, 8002, 8003, 12001, 12002]
    process_patterns:
      - "python.*simple_backend_server"
      - "python.*apps/backend/main"
    health_check_url: "http://localhost:{port}/health"
    startup_command: "python simple_backend_server.py"
    working_directory: "/workspace/reVoAgent"
    critical: true
    auto_restart: true
    max_restart_attempts: 3

monitoring:
  enabled: true
  interval: 30  # seconds between checks
  auto_resolve_conflicts: true
  health_check_interval: 60

conflict_resolution:
  strategy: "intelligent"
  allow_port_migration: true
  preserve_external_processes: true
  max_alternative_ports: 10
"#;

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/revoagent.yaml")
}

/// A temp dir holding `portwarden.yaml` with `text`.
struct Fixture {
    dir: TempDir,
    path: PathBuf,
}

fn fixture(text: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portwarden.yaml");
    std::fs::write(&path, text).unwrap();
    Fixture { dir, path }
}

fn load(text: &str) -> Result<LoadedConfig, ConfigError> {
    let f = fixture(text);
    config::load_with_env(&f.path, NO_ENV)
}

fn load_ok(text: &str) -> LoadedConfig {
    load(text).unwrap_or_else(|e| panic!("should load:\n{e}"))
}

/// The errors of a config that must not load.
fn errors(text: &str) -> Vec<Issue> {
    match load(text) {
        Ok(_) => panic!("should not load:\n{text}"),
        Err(ConfigError::Invalid { errors, .. }) => errors,
        Err(other) => panic!("expected an invalid config, got: {other}"),
    }
}

/// The one issue at `field`.
fn at<'a>(issues: &'a [Issue], field: &str) -> &'a Issue {
    let found: Vec<&Issue> = issues.iter().filter(|i| i.field == field).collect();
    match found.as_slice() {
        [one] => one,
        _ => panic!(
            "expected one issue at {field}, found {}:\n{issues:#?}",
            found.len()
        ),
    }
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> u32 {
    let index = text.lines().position(|l| l.contains(needle));
    u32::try_from(index.unwrap_or_else(|| panic!("{needle:?} not in text")) + 1).unwrap()
}

mod discovery;
mod env;
mod errors;
mod export;
mod paths;
mod robustness;
mod seed;
mod warnings;
