//! The class `scan` gives each listener: ours, external, system, or owner unknown.

use std::fmt;

use procscan::{ProcessInfo, SafetyPolicy, Snapshot, Socket};
use regex::Regex;
use serde::Serialize;

use crate::config::Config;

/// Who a listener belongs to, from the stack's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// A process of a configured service (its process patterns match).
    Ours,
    /// A process of this user that is not one of ours.
    External,
    /// A protected process, or one of a system account that is not ours.
    System,
    /// Nobody visible holds it (another user's process, without the privilege to see it).
    Unknown,
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Class::Ours => "ours",
            Class::External => "external",
            Class::System => "system",
            Class::Unknown => "owner unknown",
        })
    }
}

/// Classifies listeners against the config's services.
#[derive(Debug)]
pub struct Classifier {
    patterns: Vec<(String, Vec<Regex>)>,
    protected: Vec<String>,
    our_uid: u32,
}

impl Classifier {
    pub fn new(config: Option<&Config>) -> Self {
        let patterns = config
            .map(|c| {
                c.services
                    .iter()
                    .map(|(name, s)| {
                        (
                            name.clone(),
                            s.process_patterns
                                .iter()
                                .filter_map(|p| Regex::new(p).ok())
                                .collect(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut protected = SafetyPolicy::default().protected_names;
        if let Some(c) = config {
            protected.extend(c.conflict_resolution.protected_processes.iter().cloned());
        }
        // SAFETY: getuid has no preconditions and cannot fail.
        let our_uid = unsafe { libc::getuid() };
        Self {
            patterns,
            protected,
            our_uid,
        }
    }

    fn is_ours(&self, process: &ProcessInfo, service: Option<&str>) -> bool {
        let cmdline = process.command_line();
        self.patterns
            .iter()
            .filter(|(name, _)| service.is_none_or(|s| s == name))
            .any(|(_, patterns)| patterns.iter().any(|re| re.is_match(&cmdline)))
    }

    /// The class of a listening socket: ours when any holder is ours, then system, then
    /// external; unknown when no holder is visible.
    pub fn classify(&self, socket: &Socket, snapshot: &Snapshot, service: Option<&str>) -> Class {
        let holders: Vec<&ProcessInfo> = snapshot.holders(socket).collect();
        if holders.is_empty() {
            return Class::Unknown;
        }
        if holders.iter().any(|p| self.is_ours(p, service)) {
            return Class::Ours;
        }
        let system = |p: &&ProcessInfo| {
            self.protected.iter().any(|n| n == &p.name) || (p.uid != self.our_uid && p.uid < 1000)
        };
        if holders.iter().all(system) {
            Class::System
        } else {
            Class::External
        }
    }
}
