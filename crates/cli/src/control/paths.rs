//! The per-project state folder `.portwarden/` and everything in it, the control socket's
//! path (with a short fallback when the folder's path is too long for a Unix socket), and the
//! lock that makes one supervisor per project.
//!
//! ```text
//! <project>/.portwarden/             mode 0700
//!   state.json                       the supervisor's state (services, pids, groups, ports)
//!   supervisor.lock                  flock held by the running supervisor
//!   control.sock                     the control socket, mode 0600
//!   control.sock.path                only when the socket lives elsewhere: its path
//!   history.jsonl                    port conflict history (one JSON record per line)
//!   ports.json                       sticky port assignments
//!   logs/<service>.log[.1 .2 .3]     service output, rotated by size
//!   logs/fullstack_startup.log       the supervisor's own lines
//!   logs/port_manager.log            conflicts, decisions and outcomes, one line each
//! ```

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::args::GlobalArgs;
use crate::config::{self, LoadedConfig, STATE_DIR_NAME};
use crate::exit::{self, CliError, CliResult};
use crate::sys;

/// The longest path a Unix socket address holds (`sun_path` is 108 bytes with its NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// The startup log's file name, as in the original system.
pub const STARTUP_LOG: &str = "fullstack_startup.log";

/// The port manager's log file name, as in the original system.
pub const PORT_MANAGER_LOG: &str = "port_manager.log";

/// Where a project's state lives. Everything is under the project's own `.portwarden/`
/// (next to its config file), so two projects never share anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatePaths {
    /// `.portwarden/` itself.
    pub dir: PathBuf,
    /// `logs/`.
    pub logs: PathBuf,
    /// The supervisor's state file.
    pub state_file: PathBuf,
    /// The lock held by the running supervisor.
    pub lock_file: PathBuf,
    /// The control socket's usual place.
    pub socket: PathBuf,
    /// Names the socket's real place when it could not be `socket`.
    pub socket_record: PathBuf,
    /// The conflict history.
    pub history: PathBuf,
    /// Sticky port assignments.
    pub ports: PathBuf,
    /// The supervisor's own log.
    pub startup_log: PathBuf,
    /// Conflict resolution's log.
    pub port_manager_log: PathBuf,
}

impl StatePaths {
    /// The paths inside the state folder `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> StatePaths {
        let dir = dir.into();
        let logs = dir.join("logs");
        StatePaths {
            logs: logs.clone(),
            state_file: dir.join("state.json"),
            lock_file: dir.join("supervisor.lock"),
            socket: dir.join("control.sock"),
            socket_record: dir.join("control.sock.path"),
            history: dir.join("history.jsonl"),
            ports: dir.join("ports.json"),
            startup_log: logs.join(STARTUP_LOG),
            port_manager_log: logs.join(PORT_MANAGER_LOG),
            dir,
        }
    }

    /// The state folder of a loaded config.
    pub fn for_config(loaded: &LoadedConfig) -> StatePaths {
        StatePaths::new(&loaded.state_dir)
    }

    /// The state folder of the config the command line names (or discovers), without loading
    /// the config: `status`, `stop` and `logs` work even while the file has errors, and stay
    /// fast.
    pub fn locate(global: &GlobalArgs) -> CliResult<StatePaths> {
        let cwd = std::env::current_dir()
            .map_err(|e| CliError::failure(format!("cannot read the current folder: {e}")))?;
        let env = std::env::var_os(config::CONFIG_ENV_VAR);
        let path = config::discover(global.config.as_deref(), &cwd, env.as_deref())
            .map_err(|e| CliError::new(exit::CONFIG, e))?;
        let absolute = std::path::absolute(&path).unwrap_or(path);
        let base = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(StatePaths::new(base.join(STATE_DIR_NAME)))
    }

    /// The log file of `service`.
    pub fn log_file(&self, service: &str) -> PathBuf {
        self.logs.join(format!("{service}.log"))
    }

    /// Creates the state folder (mode 0700) and its `logs/`, and makes an existing folder
    /// private: it holds the control socket and logs that may carry secrets.
    pub fn ensure(&self) -> io::Result<()> {
        private_dir(&self.dir)?;
        fs::create_dir_all(&self.logs)
    }

    /// Where a client finds the socket: the recorded place, else the usual one; `None` when
    /// the usual place is too long to be a socket and nothing is recorded (no supervisor has
    /// bound one yet).
    pub fn socket_to_connect(&self) -> Option<PathBuf> {
        match fs::read_to_string(&self.socket_record) {
            Ok(text) if !text.trim().is_empty() => Some(PathBuf::from(text.trim())),
            _ => (self.socket.as_os_str().len() <= MAX_SOCKET_PATH).then(|| self.socket.clone()),
        }
    }

    /// Where the supervisor binds its socket: the usual place when its path fits a socket
    /// address; otherwise a short path in a private folder of this user
    /// (`$XDG_RUNTIME_DIR/portwarden/` or `/tmp/portwarden-<uid>/`), named by a hash of the
    /// state folder and recorded in [`StatePaths::socket_record`] for clients.
    pub fn socket_for_binding(&self) -> io::Result<PathBuf> {
        if self.socket.as_os_str().len() <= MAX_SOCKET_PATH {
            remove_if_present(&self.socket_record)?;
            return Ok(self.socket.clone());
        }
        let name = format!(
            "{:016x}.sock",
            fnv1a(self.dir.as_os_str().as_encoded_bytes())
        );
        let mut candidates = Vec::new();
        if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)
            && runtime.is_absolute()
        {
            candidates.push(runtime.join("portwarden"));
        }
        candidates.push(std::env::temp_dir().join(format!("portwarden-{}", sys::euid())));
        candidates.push(PathBuf::from(format!("/tmp/portwarden-{}", sys::euid())));
        let mut last = io::Error::other("no short socket folder");
        for folder in candidates {
            let path = folder.join(&name);
            if path.as_os_str().len() > MAX_SOCKET_PATH {
                continue;
            }
            match private_dir(&folder) {
                Ok(()) => {
                    let mut text = path.as_os_str().to_owned();
                    text.push("\n");
                    write_private(&self.socket_record, text.as_encoded_bytes())?;
                    return Ok(path);
                }
                Err(e) => {
                    log::warn!(
                        "cannot use {} for the control socket: {e}",
                        folder.display()
                    );
                    last = e;
                }
            }
        }
        Err(last)
    }
}

/// Creates `dir` with mode 0700, or checks that an existing one is a real folder of ours and
/// makes it 0700. Refuses a symbolic link or another user's folder (in `/tmp`, someone else
/// could have made it first).
pub fn private_dir(dir: &Path) -> io::Result<()> {
    match DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::other(format!(
            "{} is not a folder (a symbolic link?)",
            dir.display()
        )));
    }
    if meta.uid() != sys::euid() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} belongs to uid {}, not to us", dir.display(), meta.uid()),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes a small file readable by its owner only, atomically (temporary file + rename).
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        io::Write::write_all(&mut file, bytes)?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// Removes a file; a missing one is fine.
pub fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// FNV-1a, 64 bits: a stable short name for a long path (not for security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The exclusive lock of a project's supervisor: whoever holds it runs (or is about to run)
/// the stack. It is an `flock` on `supervisor.lock`, released by the kernel when its holder
/// dies, so a killed supervisor never blocks the next one.
#[derive(Debug)]
pub struct SupervisorLock {
    file: File,
}

impl SupervisorLock {
    /// Takes the lock; `None` when another process holds it.
    pub fn try_acquire(paths: &StatePaths) -> io::Result<Option<SupervisorLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&paths.lock_file)?;
        Ok(sys::try_lock(&file)?.then_some(SupervisorLock { file }))
    }

    /// Whether some process holds the lock now (without keeping it).
    pub fn is_held(paths: &StatePaths) -> bool {
        match SupervisorLock::try_acquire(paths) {
            Ok(Some(_)) => false,
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// The lock a parent passed on as descriptor `fd` (the daemon's side of `up -d`): the
    /// descriptor is marked close-on-exec again so that services never inherit it, and the
    /// lock is checked to be held through it.
    pub fn inherited(fd: RawFd) -> io::Result<SupervisorLock> {
        if fd < 3 {
            return Err(io::Error::other(format!(
                "lock descriptor {fd} is not valid"
            )));
        }
        sys::set_cloexec(fd, true)?;
        // SAFETY: the parent passed this descriptor to us and nothing else in this process
        // owns it; it is valid (set_cloexec would have failed with EBADF).
        let file = unsafe { File::from_raw_fd(fd) };
        // Locking again through the same open file succeeds: it is already ours.
        if sys::try_lock(&file)? {
            Ok(SupervisorLock { file })
        } else {
            Err(io::Error::other(
                "the inherited lock is held by another process",
            ))
        }
    }

    /// The descriptor, to pass to a child.
    pub fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_state_folder_gets_a_short_recorded_socket() {
        let dir = tempfile::tempdir().expect("temp dir");
        let deep = dir.path().join("x".repeat(60)).join("y".repeat(60));
        let paths = StatePaths::new(deep.join(".portwarden"));
        paths.ensure().expect("state folder");
        let socket = paths.socket_for_binding().expect("a socket path");
        assert!(socket.as_os_str().len() <= MAX_SOCKET_PATH, "{socket:?}");
        assert_ne!(socket, paths.socket);
        assert_eq!(paths.socket_to_connect(), Some(socket.clone()));
        let mode = fs::metadata(socket.parent().expect("folder"))
            .expect("folder exists")
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn a_short_state_folder_keeps_the_socket_inside() {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = StatePaths::new(dir.path().join(".portwarden"));
        paths.ensure().expect("state folder");
        assert_eq!(paths.socket_for_binding().expect("path"), paths.socket);
        assert_eq!(paths.socket_to_connect(), Some(paths.socket.clone()));
        let mode = fs::metadata(&paths.dir).expect("exists").mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn the_lock_is_exclusive() {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = StatePaths::new(dir.path().join(".portwarden"));
        paths.ensure().expect("state folder");
        let held = SupervisorLock::try_acquire(&paths)
            .expect("lock")
            .expect("free");
        assert!(SupervisorLock::is_held(&paths));
        assert!(SupervisorLock::try_acquire(&paths).expect("lock").is_none());
        drop(held);
        assert!(!SupervisorLock::is_held(&paths));
    }
}
