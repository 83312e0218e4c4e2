//! Finding the config file.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::error::{ConfigError, NamedBy};

/// The environment variable that names the config file.
pub const CONFIG_ENV_VAR: &str = "PORTWARDEN_CONFIG";

/// The file names looked for in the working directory and each of its parents, in order:
/// portwarden's own name, then the original system's.
pub const CONFIG_FILE_NAMES: [&str; 2] = ["portwarden.yaml", "config/port_manager_config.yaml"];

/// Finds the config file.
///
/// In order: `explicit` (the `--config` option), `env_var` (the value of
/// `$PORTWARDEN_CONFIG`), then [`CONFIG_FILE_NAMES`] in `cwd` and in each of its parents up to
/// the root. A file named by `explicit` or `env_var` must exist (relative paths are resolved
/// against `cwd`); there is no falling back from a file someone asked for. When nothing is
/// found, the error lists every place searched.
///
/// ```no_run
/// use std::path::Path;
/// use portwarden::config::discover;
///
/// let cwd = std::env::current_dir()?;
/// let env = std::env::var_os("PORTWARDEN_CONFIG");
/// let path = discover(None, &cwd, env.as_deref())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn discover(
    explicit: Option<&Path>,
    cwd: &Path,
    env_var: Option<&OsStr>,
) -> Result<PathBuf, ConfigError> {
    let named = explicit.map(|p| (p, NamedBy::Flag)).or_else(|| {
        env_var
            .filter(|v| !v.is_empty())
            .map(|v| (Path::new(v), NamedBy::EnvVar))
    });
    if let Some((path, named_by)) = named {
        let path = cwd.join(path);
        log::debug!("config file named by {named_by}: {}", path.display());
        return if path.is_file() {
            Ok(path)
        } else {
            Err(ConfigError::MissingNamed { path, named_by })
        };
    }
    let mut searched = Vec::new();
    for dir in cwd.ancestors() {
        for name in CONFIG_FILE_NAMES {
            let candidate = dir.join(name);
            if candidate.is_file() {
                log::debug!("found config file {}", candidate.display());
                return Ok(candidate);
            }
            searched.push(candidate);
        }
    }
    Err(ConfigError::NotFound { searched })
}
