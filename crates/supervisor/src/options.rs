//! How a supervisor runs, and the caller's port arbiter.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Finds a new port for a service whose port was taken by another process.
///
/// The supervisor calls it when a service crashed because its port was taken (the port is
/// held by another process after the exit, or the service said "Address already in use");
/// the service is then restarted on the returned port with a
/// [`crate::Event::PortMigrated`]. `None` ends the service in the `failed` state with the
/// reason. Closures implement it:
///
/// ```
/// use supervisor::PortArbiter;
/// let arbiter = |_service: &str, port: u16| Some(port + 1);
/// assert_eq!(arbiter.reassign("api", 8000), Some(8001));
/// ```
pub trait PortArbiter: Send + Sync {
    /// A free port for `service` instead of `port`, or `None`.
    fn reassign(&self, service: &str, port: u16) -> Option<u16>;
}

impl<F> PortArbiter for F
where
    F: Fn(&str, u16) -> Option<u16> + Send + Sync,
{
    fn reassign(&self, service: &str, port: u16) -> Option<u16> {
        self(service, port)
    }
}

/// How [`crate::Supervisor::start`] runs a stack. Every field has a default.
#[derive(Clone)]
pub struct SupervisorOptions {
    /// Where `<service>.log` files go. Default `.portwarden/logs`.
    pub log_dir: PathBuf,
    /// Where the state is recorded (and read back at start to stop what an earlier run left
    /// behind). Default `None`: no state file.
    pub state_file: Option<PathBuf>,
    /// Who finds new ports for services whose port was taken. Default `None`: such services
    /// fail with the reason.
    pub arbiter: Option<Arc<dyn PortArbiter>>,
    /// How many events a receiver may fall behind before output lines are dropped for it.
    /// Default 1024.
    pub event_capacity: usize,
    /// Services to start (with everything they depend on). Default `None`: all.
    pub services: Option<Vec<String>>,
    /// Size at which a log file is rotated. Default 10 MiB.
    pub log_max_bytes: u64,
    /// Rotated log files kept. Default 3.
    pub log_keep: usize,
    /// How long processes left by an earlier run get after SIGTERM before SIGKILL.
    /// Default 5 s.
    pub recovery_grace: Duration,
}

impl Default for SupervisorOptions {
    fn default() -> Self {
        SupervisorOptions {
            log_dir: PathBuf::from(".portwarden/logs"),
            state_file: None,
            arbiter: None,
            event_capacity: 1024,
            services: None,
            log_max_bytes: 10 * 1024 * 1024,
            log_keep: 3,
            recovery_grace: Duration::from_secs(5),
        }
    }
}

impl fmt::Debug for SupervisorOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorOptions")
            .field("log_dir", &self.log_dir)
            .field("state_file", &self.state_file)
            .field("arbiter", &self.arbiter.as_ref().map(|_| "dyn PortArbiter"))
            .field("event_capacity", &self.event_capacity)
            .field("services", &self.services)
            .field("log_max_bytes", &self.log_max_bytes)
            .field("log_keep", &self.log_keep)
            .field("recovery_grace", &self.recovery_grace)
            .finish()
    }
}
