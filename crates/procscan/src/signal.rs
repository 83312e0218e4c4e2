//! Safe signalling: the one path every part of portwarden uses to signal a process.
//!
//! Every signal goes through [`SafetyPolicy`] checks and through a pidfd opened on the recorded
//! [`ProcessIdentity`]: the identity is checked again after the pidfd is open (the pidfd pins the
//! process, so it cannot be swapped afterwards), so a reused pid is never signalled.

use std::fmt;
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
    /// Process names (`comm`, or the file name of `exe`) that are never signalled.
    /// Default: init, systemd, sshd, dockerd, containerd, containerd-shim, docker-proxy,
    /// postgres, redis-server, Xorg, Xwayland, gnome-shell, kwin_x11, kwin_wayland.
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

/// How [`terminate`] ends a process.
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

/// What [`terminate`] did.
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
