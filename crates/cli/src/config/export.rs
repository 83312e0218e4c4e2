//! Writing the effective config back as YAML.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::ConfigError;
use super::model::Config;

/// The comment that opens an exported file.
const HEADER: &str = "# portwarden config, exported: every default filled in and relative paths \
                      resolved.\n# It loads back to the same config.\n";

pub(crate) fn to_yaml(config: &Config) -> Result<String, ConfigError> {
    serde_saphyr::to_string(config).map_err(|source| ConfigError::Serialize { source })
}

/// Writes `config` to `path` as YAML (the effective config, as [`Config::to_yaml`] gives it,
/// under a header comment).
///
/// The file is written beside its destination and renamed into place, so a reader never sees
/// half a config.
pub fn export(config: &Config, path: &Path) -> Result<(), ConfigError> {
    let text = format!("{HEADER}{}", to_yaml(config)?);
    let write_err = |source| ConfigError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Unique per process and call, so concurrent exports never share a temporary file.
    static EXPORTS: AtomicU64 = AtomicU64::new(0);
    let serial = EXPORTS.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(".{file_name}.{}-{serial}.tmp", std::process::id()));
    let written = std::fs::File::create(&temp)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, path));
    if let Err(error) = written {
        // Best effort: the temporary file may not even exist.
        let _ = std::fs::remove_file(&temp);
        return Err(write_err(error));
    }
    Ok(())
}
