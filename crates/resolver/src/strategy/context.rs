//! What a strategy sees besides the conflict: the claim, the settings, and the ports it may
//! move to.

use std::time::SystemTime;

use portcore::{PortRange, PortRequest, PortSet, choose_port};
use procscan::Snapshot;

use crate::detect::PortIndex;
use crate::{Claim, ClassifyContext, Conflict, Decision, Holder, HolderClass, ResolutionSettings};

/// The context of one decision, built by the planner.
///
/// The ports offered for a migration ([`DecisionContext::alternative`]) are already free in the
/// snapshot and exclude reserved ports, other services' configured ports and ports given to an
/// earlier service of the same plan.
#[derive(Debug)]
pub struct DecisionContext<'a> {
    claim: &'a Claim,
    settings: &'a ResolutionSettings,
    snapshot: &'a Snapshot,
    who: &'a ClassifyContext,
    index: &'a PortIndex<'a>,
    candidates: Vec<u16>,
    exclude: PortSet,
    fallback: Option<PortRange>,
}

impl<'a> DecisionContext<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        claim: &'a Claim,
        settings: &'a ResolutionSettings,
        snapshot: &'a Snapshot,
        who: &'a ClassifyContext,
        index: &'a PortIndex<'a>,
        candidates: Vec<u16>,
        exclude: PortSet,
        fallback: Option<PortRange>,
    ) -> DecisionContext<'a> {
        DecisionContext {
            claim,
            settings,
            snapshot,
            who,
            index,
            candidates,
            exclude,
            fallback,
        }
    }

    /// The claim of the service in conflict.
    pub fn claim(&self) -> &Claim {
        self.claim
    }

    /// The resolution settings.
    pub fn settings(&self) -> &ResolutionSettings {
        self.settings
    }

    /// The snapshot the plan is made from.
    pub fn snapshot(&self) -> &Snapshot {
        self.snapshot
    }

    /// "Now" for this plan: when the snapshot was taken (planning reads no clock).
    pub fn now(&self) -> SystemTime {
        self.snapshot.taken_at
    }

    /// The migration candidates in order of preference (the sticky port, then the
    /// alternatives up to `max_alternative_ports`), before exclusions.
    pub fn candidates(&self) -> &[u16] {
        &self.candidates
    }

    /// Whether the service may move to `port`: not excluded, not already given to another
    /// service of this plan, and free in the snapshot.
    pub fn may_migrate_to(&self, port: u16) -> bool {
        !self.exclude.contains(port) && self.index.is_free(self.claim.protocol, port)
    }

    /// The first port the service may move to (see [`DecisionContext::may_migrate_to`]),
    /// chosen by [`portcore::choose_port`] among the candidates, then the fallback range.
    pub fn alternative(&self) -> Option<u16> {
        self.alternative_where(|_| true)
    }

    /// Like [`DecisionContext::alternative`], among the ports `accept` also likes.
    pub fn alternative_where(&self, mut accept: impl FnMut(u16) -> bool) -> Option<u16> {
        let request = PortRequest {
            preferred: None,
            alternatives: self.candidates.clone(),
            exclude: self.exclude.clone(),
            max_alternatives: None,
            fallback: self.fallback,
        };
        choose_port(&request, |port| {
            accept(port) && self.index.is_free(self.claim.protocol, port)
        })
        .ok()
        .map(|choice| choice.port)
    }

    /// Migrates to [`DecisionContext::alternative`] when migration is allowed and a port is
    /// left; otherwise unresolvable, with `why` and the reason migration is impossible.
    pub fn migrate_or_unresolvable(&self, why: &str) -> Decision {
        if !self.settings.allow_port_migration {
            return Decision::Unresolvable {
                reason: format!("{why}; port migration is disabled"),
            };
        }
        match self.alternative() {
            Some(to) => Decision::Migrate { to },
            None => Decision::Unresolvable {
                reason: format!("{why}; {}", self.no_alternative_reason()),
            },
        }
    }

    /// Why no alternative is offered, for messages.
    pub fn no_alternative_reason(&self) -> String {
        if self.candidates.is_empty() && self.fallback.is_none() {
            format!("`{}` has no alternative ports", self.claim.name)
        } else {
            let list = self
                .candidates
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "none of `{}`'s alternatives ({list}) is free and allowed",
                self.claim.name
            )
        }
    }

    /// Whether `holder` may be terminated: visible, not protected or a system process, not a
    /// Docker proxy, not a live instance of one of our services, and of our user unless
    /// `force` is set. `Err` carries the reason.
    pub fn can_terminate(&self, holder: &Holder) -> Result<(), String> {
        self.check(holder, false)
    }

    /// Whether `holder` may be ended to restart our service: one of our processes (a stale
    /// copy, or our own instance of this service) that passes the other checks of
    /// [`DecisionContext::can_terminate`].
    pub fn can_restart(&self, holder: &Holder) -> Result<(), String> {
        match &holder.class {
            HolderClass::Ours { .. } => self.check(holder, true),
            _ => Err(format!("{} is not one of ours", holder.describe())),
        }
    }

    fn check(&self, holder: &Holder, restart: bool) -> Result<(), String> {
        let restartable = restart.then_some(self.claim.name.as_str());
        may_end(holder, self.who.our_uid, self.settings.force, restartable)
    }

    /// Whether to signal the holders' process group as a whole: every holder is visible and in
    /// one group, its leader is one of them, and it is not our own group.
    pub fn group_of(&self, conflict: &Conflict) -> bool {
        group_of(&conflict.holders, self.who.our_pgid)
    }

    /// Terminates every holder when all of them may be terminated
    /// ([`DecisionContext::can_terminate`]), as a group when [`DecisionContext::group_of`]
    /// says so; `Err` with the first reason otherwise.
    pub fn terminate_all(&self, conflict: &Conflict) -> Result<Decision, String> {
        for holder in &conflict.holders {
            self.can_terminate(holder)?;
        }
        Ok(Decision::Terminate {
            targets: conflict.holders.iter().filter_map(|h| h.identity).collect(),
            group: self.group_of(conflict),
        })
    }

    /// Ends every holder so ours can restart, when all of them may be ended
    /// ([`DecisionContext::can_restart`]); `Err` with the first reason otherwise.
    pub fn restart_ours(&self, conflict: &Conflict) -> Result<Decision, String> {
        for holder in &conflict.holders {
            self.can_restart(holder)?;
        }
        Ok(Decision::RestartOurs {
            targets: conflict.holders.iter().filter_map(|h| h.identity).collect(),
        })
    }
}

/// See [`DecisionContext::group_of`].
pub(crate) fn group_of(holders: &[Holder], our_pgid: u32) -> bool {
    let mut pgids = holders.iter().map(|h| h.identity.and(h.pgid));
    let Some(Some(pgid)) = pgids.next() else {
        return false;
    };
    pgid > 1
        && pgid != our_pgid
        && pgids.all(|p| p == Some(pgid))
        && holders.iter().any(|h| h.pid() == Some(pgid))
}

/// Whether `holder` may be ended (see [`DecisionContext::can_terminate`]); `restart_of` names
/// the service whose own live instance may be ended to restart it.
pub(crate) fn may_end(
    holder: &Holder,
    our_uid: u32,
    force: bool,
    restart_of: Option<&str>,
) -> Result<(), String> {
    let Some(identity) = holder.identity else {
        return Err(format!(
            "the port is held by an owner we cannot see (uid {}): nothing can be signalled",
            holder.uid
        ));
    };
    if holder.container.is_some() {
        return Err(holder.describe());
    }
    match &holder.class {
        HolderClass::System | HolderClass::Unknown => {
            return Err(format!("{}: never stopped", holder.describe()));
        }
        HolderClass::Ours {
            service,
            stale: false,
        } if restart_of != Some(service.as_str()) => {
            return Err(format!(
                "pid {} is our live instance of `{service}`",
                identity.pid
            ));
        }
        _ => {}
    }
    if holder.uid != our_uid && !force {
        return Err(format!(
            "pid {} ({}) belongs to uid {}, not to us (uid {our_uid}): only stopped with force",
            identity.pid,
            holder.name.as_deref().unwrap_or("?"),
            holder.uid
        ));
    }
    Ok(())
}
