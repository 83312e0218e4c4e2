//! The stack's config file: one YAML file, layered with `PORTWARDEN_*` environment variables.
//!
//! The file's schema is the original port-management system's, loaded exactly as that system
//! wrote it (`services`, `monitoring`, `conflict_resolution`, `reserved_ports`), with
//! portwarden's additions beside the original keys: dependencies, environment, restart and
//! stop policies, socket activation and typed health checks. Unknown keys are errors, except
//! top-level keys starting with `x-`, which are ignored so that they can hold YAML anchors.
//!
//! - [`discover`] finds the file (`--config`, `$PORTWARDEN_CONFIG`, `portwarden.yaml` or
//!   `config/port_manager_config.yaml` in the working directory or a parent).
//! - [`load`] reads it, applies the environment, and checks everything at once: the error lists
//!   every problem with file, line and field; warnings come back with the config.
//! - [`export`] writes the effective config back, and [`expand`] fills `{port}` templates.
//!
//! ```
//! use portwarden::config::load_with_env;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("portwarden.yaml");
//! std::fs::write(&path, "services:\n  backend:\n    port: 8000\n    working_directory: api\n")?;
//!
//! let loaded = load_with_env(&path, [("PORTWARDEN_SERVICES__BACKEND__PORT", "9000")])?;
//! let backend = loaded.config.service("backend").unwrap();
//! assert_eq!(backend.port, Some(9000));
//! assert_eq!(backend.working_directory.as_deref(), Some(loaded.base_dir.join("api").as_path()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod check;
mod discover;
mod duration;
mod env;
mod error;
mod export;
mod health;
mod issue;
mod load;
mod locate;
mod model;
mod policy;
mod ports;
mod service;
mod suggest;
mod validate;

pub use discover::{CONFIG_ENV_VAR, CONFIG_FILE_NAMES, discover};
pub use duration::{Duration, ParseDurationError};
pub use env::{ENV_PREFIX, EnvOverride, EnvOverrides};
pub use error::{ConfigError, NamedBy};
pub use export::export;
pub use health::{HealthCheck, HealthCheckConfig, HealthCheckKind, HealthProbe};
pub use issue::{Issue, IssueKind, Origin, Severity};
pub use load::{
    EXTENSION_PREFIX, LoadedConfig, STATE_DIR_NAME, load, load_with_env, load_with_overrides,
};
pub use model::{Config, ConflictResolutionConfig, MonitoringConfig, Strategy};
pub use policy::{Dependency, DependencyCondition, ParseSignalError, RestartPolicy, StopSignal};
pub use service::ServiceConfig;
/// Templates (`{port}`, `{services.NAME.port}`) are the supervisor's: one language, one parser.
pub use supervisor::template::{
    Reference, TemplateError, Values as TemplateContext, expand, references,
};
