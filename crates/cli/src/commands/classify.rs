//! The class `scan` gives each listener: ours, external, system, or owner unknown. The
//! decision per process is the resolver's ([`resolver::classify`]), so `scan` and `resolve`
//! always agree.

use std::fmt;

use procscan::{Snapshot, Socket};
use resolver::{Claim, ClassifyContext, HolderClass};
use serde::Serialize;

use crate::config::Config;
use crate::conflicts;
use crate::exit::CliResult;

/// Who a listener belongs to, from the stack's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// A process of a configured service (its recorded instance or a copy matching its
    /// process patterns).
    Ours,
    /// A process of a regular user that is not one of ours.
    External,
    /// A protected process, or a system account's.
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
    claims: Vec<Claim>,
    context: ClassifyContext,
}

impl Classifier {
    pub fn new(config: Option<&Config>) -> CliResult<Self> {
        Ok(match config {
            Some(config) => Self {
                claims: conflicts::claims(config, None)?,
                context: conflicts::classify_context(config),
            },
            None => Self {
                claims: Vec::new(),
                context: ClassifyContext::current(),
            },
        })
    }

    /// The class of a listening socket: ours when any holder is ours, system when every
    /// holder is, external otherwise; unknown when no holder is visible.
    pub fn classify(&self, socket: &Socket, snapshot: &Snapshot) -> Class {
        let classes: Vec<HolderClass> = snapshot
            .holders(socket)
            .map(|p| resolver::classify(Some(p), &self.claims, &self.context))
            .collect();
        if classes.is_empty() {
            Class::Unknown
        } else if classes.iter().any(HolderClass::is_ours) {
            Class::Ours
        } else if classes.iter().all(|c| *c == HolderClass::System) {
            Class::System
        } else {
            Class::External
        }
    }
}
