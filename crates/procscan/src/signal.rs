//! Safe signalling: the one path every part of portwarden uses to signal a process.
//!
//! Every signal goes through [`SafetyPolicy`] checks and through a pidfd opened on the recorded
//! [`ProcessIdentity`]: the identity is checked again after the pidfd is open (the pidfd pins the
//! process, so it cannot be swapped afterwards), so a reused pid is never signalled.
//!
//! This module holds the values; `terminate.rs` the operations ([`crate::check_target`],
//! [`crate::send_signal`], [`crate::terminate`]).

use std::fmt;
use std::io;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ProcessIdentity;

/// The signals portwarden sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum Signal {
    /// SIGTERM: please exit.
    Term,
    /// SIGKILL: exit now (cannot be caught).
    Kill,
    /// SIGINT: what Ctrl-C sends.
    Int,
    /// SIGHUP.
    Hup,
    /// SIGQUIT.
    Quit,
    /// SIGUSR1.
    Usr1,
    /// SIGUSR2.
    Usr2,
}

/// The protections applied before any signal is sent.
///
/// Always refused, whatever the policy says: pid 0 and 1, the calling process and its
/// ancestors, kernel threads, and a process whose start time differs from the recorded one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyPolicy {
    /// Process names (`comm`, or the file name of `exe`) that are never signalled, compared
    /// exactly. Default: [`SafetyPolicy::DEFAULT_PROTECTED`] (init, systemd, sshd, dockerd,
    /// containerd, containerd-shim, docker-proxy, postgres, redis-server, Xorg, Xwayland,
    /// gnome-shell, kwin, dbus-daemon, NetworkManager and similar).
    pub protected_names: Vec<String>,
    /// Allow signalling processes of other users (the kernel still requires the privilege).
    /// Default false: `--force` turns it on.
    pub allow_other_users: bool,
}

/// Why a signal was refused. Each variant names the process and the reason in its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Refusal {
    /// pid 0 or 1.
    #[error("pid {pid} is the kernel's or init's: never signalled")]
    Init {
        /// The pid.
        pid: u32,
    },
    /// The calling process.
    #[error("pid {pid} is portwarden itself")]
    OurSelf {
        /// The pid.
        pid: u32,
    },
    /// An ancestor of the calling process (the shell or terminal that started it, say).
    #[error("pid {pid} ({name}) is an ancestor of portwarden")]
    Ancestor {
        /// The pid.
        pid: u32,
        /// Its name.
        name: String,
    },
    /// A kernel thread.
    #[error("pid {pid} ({name}) is a kernel thread")]
    KernelThread {
        /// The pid.
        pid: u32,
        /// Its name.
        name: String,
    },
    /// Another user's process, without the policy's permission.
    #[error(
        "pid {pid} ({name}) belongs to uid {uid}, not to you (uid {our_uid}); use --force with the privileges to signal it"
    )]
    OtherUser {
        /// The pid.
        pid: u32,
        /// Its name.
        name: String,
        /// Its owner.
        uid: u32,
        /// Our uid.
        our_uid: u32,
    },
    /// A name on the protected list.
    #[error("pid {pid} ({name}) is protected")]
    Protected {
        /// The pid.
        pid: u32,
        /// Its name.
        name: String,
    },
    /// The pid now belongs to another process than the one recorded.
    #[error("pid {pid} was reused: recorded start time {expected}, found {found}")]
    IdentityMismatch {
        /// The pid.
        pid: u32,
        /// Recorded start time.
        expected: u64,
        /// Start time found now.
        found: u64,
    },
    /// The process has exited.
    #[error("pid {pid} has exited")]
    Gone {
        /// The pid.
        pid: u32,
    },
}

/// How [`terminate`](crate::terminate) ends a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminateOptions {
    /// The first signal. Default SIGTERM.
    pub signal: Signal,
    /// How long to wait after the first signal before SIGKILL. Default 5 s.
    pub grace: Duration,
    /// Send SIGKILL when the grace period runs out. Default true.
    pub escalate: bool,
    /// Signal the whole process group of the target (when the target leads its group).
    /// Default false.
    pub group: bool,
}

/// What [`terminate`](crate::terminate) did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminateOutcome {
    /// The process terminated.
    pub identity: ProcessIdentity,
    /// Whether it exited (false: still alive when `escalate` was off).
    pub exited: bool,
    /// Whether SIGKILL was needed.
    pub killed: bool,
    /// Time from the first signal until the exit was seen (or until giving up).
    pub elapsed: Duration,
}

impl Signal {
    /// Every signal, in the order of their numbers on Linux.
    pub const ALL: [Signal; 7] = [
        Signal::Hup,
        Signal::Int,
        Signal::Quit,
        Signal::Kill,
        Signal::Usr1,
        Signal::Usr2,
        Signal::Term,
    ];

    /// The name without the `SIG` prefix, as `kill -l` prints it: `"TERM"`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Term => "TERM",
            Signal::Kill => "KILL",
            Signal::Int => "INT",
            Signal::Hup => "HUP",
            Signal::Quit => "QUIT",
            Signal::Usr1 => "USR1",
            Signal::Usr2 => "USR2",
        }
    }

    /// The signal's number on this system (`SIGUSR1` is 10 on Linux, 30 on macOS).
    pub fn number(self) -> i32 {
        match self {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
            Signal::Int => libc::SIGINT,
            Signal::Hup => libc::SIGHUP,
            Signal::Quit => libc::SIGQUIT,
            Signal::Usr1 => libc::SIGUSR1,
            Signal::Usr2 => libc::SIGUSR2,
        }
    }
}

/// `SIGTERM`, `SIGKILL`, ...
impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIG{}", self.name())
    }
}

/// A text that names no signal portwarden sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown signal {text:?}: expected one of TERM, KILL, INT, HUP, QUIT, USR1, USR2 (with or without SIG, or its number)"
)]
pub struct ParseSignalError {
    /// The text given.
    pub text: String,
}

/// Parses `TERM`, `SIGTERM`, `term` or `15` (this system's number).
///
/// ```
/// use procscan::Signal;
/// assert_eq!("sigkill".parse::<Signal>(), Ok(Signal::Kill));
/// assert_eq!("15".parse::<Signal>(), Ok(Signal::Term));
/// assert_eq!(Signal::Hup.to_string(), "SIGHUP");
/// assert!("STOP".parse::<Signal>().is_err());
/// ```
impl FromStr for Signal {
    type Err = ParseSignalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim().to_ascii_uppercase();
        let name = text.strip_prefix("SIG").unwrap_or(&text);
        let number: Option<i32> = name.parse().ok();
        Signal::ALL
            .into_iter()
            .find(|sig| sig.name() == name || Some(sig.number()) == number)
            .ok_or_else(|| ParseSignalError { text: s.to_owned() })
    }
}

impl SafetyPolicy {
    /// The names [`SafetyPolicy::default`] protects.
    pub const DEFAULT_PROTECTED: [&'static str; 21] = [
        "init",
        "systemd",
        "launchd",
        "sshd",
        "dockerd",
        "containerd",
        "containerd-shim",
        "docker-proxy",
        "postgres",
        "redis-server",
        "Xorg",
        "Xwayland",
        "gnome-shell",
        "kwin_x11",
        "kwin_wayland",
        "dbus-daemon",
        "NetworkManager",
        "polkitd",
        "journald",
        "systemd-journald",
        "systemd-logind",
    ];

    /// Whether `name` is on the protected list.
    pub fn protects(&self, name: &str) -> bool {
        self.protected_names.iter().any(|p| p == name)
    }
}

/// The protected names of [`SafetyPolicy::DEFAULT_PROTECTED`], other users not allowed.
impl Default for SafetyPolicy {
    fn default() -> Self {
        SafetyPolicy {
            protected_names: Self::DEFAULT_PROTECTED.map(String::from).to_vec(),
            allow_other_users: false,
        }
    }
}

/// SIGTERM, a 5 s grace period, then SIGKILL; the target alone.
impl Default for TerminateOptions {
    fn default() -> Self {
        TerminateOptions {
            signal: Signal::Term,
            grace: Duration::from_secs(5),
            escalate: true,
            group: false,
        }
    }
}

/// Why a signal was not sent, or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// The safety checks refused the target; nothing was signalled.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// The kernel refused (`EPERM`): the target belongs to someone we may not signal.
    #[error("not permitted to signal pid {pid}")]
    PermissionDenied {
        /// The target.
        pid: u32,
    },
    /// The process exited after the checks, before the signal reached it.
    #[error("pid {pid} exited before the signal reached it")]
    Gone {
        /// The target.
        pid: u32,
    },
    /// Another failure of the operating system, while reading the target or signalling it.
    #[error("signalling pid {pid} failed: {source}")]
    Os {
        /// The target.
        pid: u32,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Signalling is not available here.
    #[error("{what} is not supported on this system")]
    Unsupported {
        /// What was asked for.
        what: &'static str,
    },
}

impl SignalError {
    /// Whether the target had exited, either before the checks ([`Refusal::Gone`]) or after.
    pub fn is_gone(&self) -> bool {
        matches!(
            self,
            SignalError::Gone { .. } | SignalError::Refused(Refusal::Gone { .. })
        )
    }

    /// The refusal, when the checks refused.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            SignalError::Refused(r) => Some(r),
            _ => None,
        }
    }
}
