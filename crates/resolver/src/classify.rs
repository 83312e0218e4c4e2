//! Who holds a port: one of our services (live or stale), someone else, the system, or nobody
//! we can see.

use std::fmt;

use procscan::ProcessInfo;
use serde::{Deserialize, Serialize};

use crate::Claim;

/// Uids below this belong to system accounts (Debian's and Fedora's `UID_MIN`).
pub const SYSTEM_UID_LIMIT: u32 = 1000;

/// Process names that are never ours to stop, used when no list is configured: procscan's
/// [`SafetyPolicy::DEFAULT_PROTECTED`](procscan::SafetyPolicy::DEFAULT_PROTECTED), so that
/// planning and signalling agree.
pub const DEFAULT_PROTECTED_NAMES: &[&str] = &procscan::SafetyPolicy::DEFAULT_PROTECTED;

/// What a port's holder is to the service that claims the port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum HolderClass {
    /// A copy of one of our services: `stale: false` when it is the instance we recorded
    /// (our live instance), `true` when it only matches the service's process patterns.
    Ours {
        /// The service it belongs to.
        service: String,
        /// Whether it is a leftover copy rather than our recorded instance.
        stale: bool,
    },
    /// Another process of a regular user (this user or another one).
    External,
    /// A protected process: a protected name, pid 0/1, a kernel thread, portwarden itself or
    /// its ancestors, or another user's process with a system uid (below 1000).
    System,
    /// A socket whose holder cannot be seen (another user's process without the privilege to
    /// read its descriptors).
    Unknown,
}

impl HolderClass {
    /// Whether the holder is one of our services' processes.
    pub fn is_ours(&self) -> bool {
        matches!(self, HolderClass::Ours { .. })
    }
}

impl fmt::Display for HolderClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HolderClass::Ours {
                service,
                stale: false,
            } => write!(f, "our {service} (live instance)"),
            HolderClass::Ours {
                service,
                stale: true,
            } => write!(f, "a stale copy of our {service}"),
            HolderClass::External => f.write_str("external process"),
            HolderClass::System => f.write_str("protected/system process"),
            HolderClass::Unknown => f.write_str("owner unknown"),
        }
    }
}

/// Who "we" are and what is protected: what [`classify`] needs besides the process.
///
/// The default describes the calling process ([`ClassifyContext::current`]) with
/// [`DEFAULT_PROTECTED_NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassifyContext {
    /// Our uid: holders with another uid are another user's.
    pub our_uid: u32,
    /// Our pid (never a target).
    pub our_pid: u32,
    /// Our process group (never signalled as a group).
    pub our_pgid: u32,
    /// Our ancestors' pids, parent first (never targets: the shell or terminal that runs us).
    pub ancestors: Vec<u32>,
    /// Process names never to stop (the defaults plus configured extras).
    pub protected_names: Vec<String>,
}

impl Default for ClassifyContext {
    fn default() -> Self {
        ClassifyContext::current()
    }
}

impl ClassifyContext {
    /// The calling process's uid, pid, process group and ancestors, with the default protected
    /// names.
    pub fn current() -> ClassifyContext {
        let me = crate::sys::caller();
        ClassifyContext {
            our_uid: me.uid,
            our_pid: me.pid,
            our_pgid: me.pgid,
            ancestors: me.ancestors,
            protected_names: DEFAULT_PROTECTED_NAMES
                .iter()
                .map(|&n| n.to_owned())
                .collect(),
        }
    }

    /// Adds configured protected names to the list.
    pub fn with_protected_names<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> ClassifyContext {
        self.protected_names
            .extend(names.into_iter().map(Into::into));
        self
    }

    /// Whether `process` carries a protected name (its `comm` or its executable's file name).
    pub fn is_protected_name(&self, process: &ProcessInfo) -> bool {
        let exe_name = process
            .exe
            .as_ref()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str());
        self.protected_names
            .iter()
            .any(|n| *n == process.name || Some(n.as_str()) == exe_name)
    }

    /// Why `process` must never be signalled, if it must not ("init or the kernel", "a kernel
    /// thread", "portwarden itself", "an ancestor of portwarden", "a protected process"). Another
    /// user's process is a separate question.
    pub fn protection(&self, process: &ProcessInfo) -> Option<&'static str> {
        let pid = process.pid;
        if pid <= 1 {
            Some("init or the kernel")
        } else if process.kernel_thread {
            Some("a kernel thread")
        } else if pid == self.our_pid {
            Some("portwarden itself")
        } else if self.ancestors.contains(&pid) {
            Some("an ancestor of portwarden")
        } else if self.is_protected_name(process) {
            Some("a protected process")
        } else {
            None
        }
    }
}

/// Classifies the holder of a socket against the claims. `None` (no visible holder) is
/// [`HolderClass::Unknown`].
///
/// In order: our recorded instance of a service (healthy); a protected process
/// ([`ClassifyContext::protection`]); another user's process (system below uid 1000, external
/// otherwise); a process matching a service's patterns (a stale copy); anything else external.
///
/// ```
/// # use std::collections::BTreeMap;
/// use procscan::ProcessInfo;
/// use resolver::{Claim, ClassifyContext, HolderClass, classify};
/// let process = ProcessInfo {
///     pid: 4242, ppid: 1, pgid: 4242, sid: 4242, uid: 1000, user: None,
///     name: "python3".into(), exe: None,
///     cmdline: vec!["python3".into(), "simple_backend_server.py".into()],
///     cwd: None, start_time: 99, started_at: None, kernel_thread: false,
/// };
/// let claims = [Claim::new("backend", 8000).with_patterns(["simple_backend_server"])?];
/// let ctx = ClassifyContext { our_uid: 1000, ..ClassifyContext::default() };
/// assert_eq!(
///     classify(Some(&process), &claims, &ctx),
///     HolderClass::Ours { service: "backend".into(), stale: true },
/// );
/// # Ok::<(), resolver::ClaimError>(())
/// ```
pub fn classify(
    process: Option<&ProcessInfo>,
    claims: &[Claim],
    ctx: &ClassifyContext,
) -> HolderClass {
    classify_for(process, claims, None, ctx)
}

/// [`classify`], preferring the claim named `claimant` when several services' patterns match.
pub(crate) fn classify_for(
    process: Option<&ProcessInfo>,
    claims: &[Claim],
    claimant: Option<&str>,
    ctx: &ClassifyContext,
) -> HolderClass {
    let Some(process) = process else {
        return HolderClass::Unknown;
    };
    // The claimant first, then the others in order.
    let ordered = claims
        .iter()
        .filter(|c| Some(c.name.as_str()) == claimant)
        .chain(claims.iter().filter(|c| Some(c.name.as_str()) != claimant));
    if let Some(claim) = ordered.clone().find(|c| c.is_recorded_instance(process)) {
        return HolderClass::Ours {
            service: claim.name.clone(),
            stale: false,
        };
    }
    if ctx.protection(process).is_some() {
        return HolderClass::System;
    }
    if process.uid != ctx.our_uid {
        return if process.uid < SYSTEM_UID_LIMIT {
            HolderClass::System
        } else {
            HolderClass::External
        };
    }
    match ordered.into_iter().find(|c| c.matches_pattern(process)) {
        Some(claim) => HolderClass::Ours {
            service: claim.name.clone(),
            stale: true,
        },
        None => HolderClass::External,
    }
}
