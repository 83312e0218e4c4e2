//! Sticky port assignments, remembered between runs.

use std::collections::BTreeMap;
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Claim, MemoryError, Report};

/// The file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Stored {
    version: u32,
    /// Service name to the port it was given last.
    ports: BTreeMap<String, u16>,
}

/// The port each service was given last, kept in a JSON file (the CLI passes its path, e.g.
/// `.portwarden/ports.json`). The next run prefers that port, while it is free, when the
/// service has to move ([`Claim::sticky`]). Saved atomically (a temporary file beside it,
/// then a rename), so a crash never leaves half a file.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// use resolver::{Claim, PortMemory};
/// let path = dir.path().join("ports.json");
/// let mut memory = PortMemory::load(&path)?;
/// memory.set("api", 8081);
/// memory.save()?;
/// let mut claims = vec![Claim::new("api", 8080)];
/// PortMemory::load(&path)?.apply(&mut claims);
/// assert_eq!(claims[0].sticky, Some(8081));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMemory {
    path: PathBuf,
    stored: Stored,
}

impl PortMemory {
    /// Loads the memory at `path` (a missing file is an empty memory).
    pub fn load(path: impl Into<PathBuf>) -> Result<PortMemory, MemoryError> {
        let path = path.into();
        let stored = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| MemoryError::Parse {
                path: path.clone(),
                line: source.line(),
                column: source.column(),
                source,
            })?,
            Err(err) if err.kind() == ErrorKind::NotFound => Stored::default(),
            Err(source) => return Err(MemoryError::Io { path, source }),
        };
        Ok(PortMemory { path, stored })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The port `service` was given last.
    pub fn get(&self, service: &str) -> Option<u16> {
        self.stored.ports.get(service).copied()
    }

    /// Remembers `port` for `service`.
    pub fn set(&mut self, service: &str, port: u16) {
        self.stored.ports.insert(service.to_owned(), port);
    }

    /// Forgets `service`.
    pub fn forget(&mut self, service: &str) {
        self.stored.ports.remove(service);
    }

    /// Every remembered assignment.
    pub fn assignments(&self) -> &BTreeMap<String, u16> {
        &self.stored.ports
    }

    /// Sets each claim's [`Claim::sticky`] from memory (claims that already have one keep it).
    pub fn apply(&self, claims: &mut [Claim]) {
        for claim in claims {
            if claim.sticky.is_none() {
                claim.sticky = self.get(&claim.name);
            }
        }
    }

    /// Remembers the port each service of a (non-dry-run) report ended up with. Returns
    /// whether anything changed.
    pub fn record(&mut self, report: &Report) -> bool {
        if report.dry_run {
            return false;
        }
        let mut changed = false;
        for entry in &report.entries {
            if let (Some(service), Some(port)) = (&entry.service, entry.resolved_port)
                && self.stored.ports.insert(service.clone(), port) != Some(port)
            {
                changed = true;
            }
        }
        changed
    }

    /// Writes the memory atomically, creating the folder when needed.
    pub fn save(&self) -> Result<(), MemoryError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| MemoryError::Io { path, source }
        };
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(io(dir))?;
        let stored = Stored {
            version: 1,
            ports: self.stored.ports.clone(),
        };
        let mut bytes =
            serde_json::to_vec_pretty(&stored).map_err(|source| MemoryError::Encode {
                path: self.path.clone(),
                source,
            })?;
        bytes.push(b'\n');
        let file_name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "ports.json".to_owned());
        let temp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut file = fs::File::create(&temp)?;
            file.write_all(&bytes)?;
            file.sync_all()
        };
        if let Err(source) = write() {
            let _ = fs::remove_file(&temp);
            return Err(MemoryError::Io { path: temp, source });
        }
        fs::rename(&temp, &self.path).map_err(|source| {
            let _ = fs::remove_file(&temp);
            MemoryError::Io {
                path: self.path.clone(),
                source,
            }
        })
    }
}
