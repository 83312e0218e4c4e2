//! `plan`: from claims, a snapshot and a strategy to a [`Plan`], without touching anything.

use std::time::Duration;

use portcore::{PortRange, PortSet, Protocol};
use procscan::{Signal, Snapshot};
use serde::{Deserialize, Serialize};

use crate::detect::{PortIndex, detect_per_claim, migration_candidates};
use crate::strategy::DecisionContext;
use crate::{
    Action, Claim, Conflict, ConflictKind, ConflictLevel, Decision, DetectOptions, Holder, Plan,
    PlanEntry, ResolutionSettings, Strategy,
};

/// What [`plan`] takes besides the claims, the snapshot and the strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanOptions {
    /// Detection options (who we are, protected names, reserved ports, Docker names).
    /// Its `max_alternative_ports` is ignored: `settings` rules.
    pub detect: DetectOptions,
    /// The resolution settings.
    pub settings: ResolutionSettings,
    /// The first signal of a termination. Default SIGTERM.
    pub signal: Signal,
    /// Searched in ascending order once the alternatives are exhausted. Default `None`.
    pub fallback: Option<PortRange>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            detect: DetectOptions::default(),
            settings: ResolutionSettings::default(),
            signal: Signal::Term,
            fallback: None,
        }
    }
}

/// Plans the resolution of every claim's conflicts with `strategy`. Pure: no system call, no
/// clock, no file; the same inputs give the same plan.
///
/// Claims are planned in order. A port given to one service (kept or migrated to) is never
/// given to another in the same plan; migrations never use reserved ports or another service's
/// configured port; the sticky port is tried first, then the alternatives (at most
/// `max_alternative_ports`), then the fallback range. The strategy's decision is checked: a
/// termination must cover exactly the processes holding the port, each allowed by
/// [`DecisionContext::can_terminate`] (or [`DecisionContext::can_restart`]); a migration must
/// go to a port that is free and allowed. A decision that fails a check becomes
/// [`Decision::Unresolvable`] with the reason.
///
/// ```
/// # use std::collections::BTreeMap;
/// # use std::time::SystemTime;
/// use procscan::{ScanSource, Snapshot};
/// use resolver::{Claim, Conservative, PlanOptions, plan};
///
/// let empty = Snapshot {
///     sockets: vec![], processes: BTreeMap::new(), source: ScanSource::ProcNet,
///     taken_at: SystemTime::UNIX_EPOCH, unreadable_pids: vec![],
/// };
/// let claims = [Claim::new("web", 8080), Claim::new("api", 8080).with_alternatives([8081])];
/// let plan = plan(&claims, &empty, &Conservative, &PlanOptions::default());
/// // Both want 8080: web (listed first) keeps it, api moves.
/// assert_eq!(plan.resolved_ports()["web"], 8080);
/// assert_eq!(plan.resolved_ports()["api"], 8081);
/// ```
pub fn plan(
    claims: &[Claim],
    snapshot: &Snapshot,
    strategy: &dyn Strategy,
    options: &PlanOptions,
) -> Plan {
    let index = PortIndex::new(snapshot);
    let settings = &options.settings;
    let max = Some(settings.max_alternative_ports);
    let per_claim = detect_per_claim(claims, snapshot, &index, &options.detect, max);
    let mut assigned = PortSet::new();
    let mut entries = Vec::with_capacity(claims.len());
    for (claim, conflicts) in claims.iter().zip(per_claim) {
        let (primary, advisories): (Vec<Conflict>, Vec<Conflict>) =
            conflicts.into_iter().partition(Conflict::is_on_primary);
        let conflict = primary.into_iter().next();
        let (candidates, mut exclude) = migration_candidates(claim, claims, &options.detect, max);
        exclude.extend_from(&assigned);
        let ctx = DecisionContext::new(
            claim,
            settings,
            snapshot,
            &options.detect.context,
            &index,
            candidates,
            exclude,
            options.fallback,
        );
        let decided = match &conflict {
            None => Decision::Keep,
            Some(conflict) => strategy.decide(conflict, &ctx),
        };
        log::debug!(
            "{}: strategy {} decided {}",
            claim.name,
            strategy.name(),
            decided.name()
        );
        let checked = Checker {
            claim,
            conflict: conflict.as_ref(),
            ctx: &ctx,
            assigned: &assigned,
            signal: options.signal,
            grace: settings.grace_period,
            our_pgid: options.detect.context.our_pgid,
        }
        .check(decided);
        if let Some(port) = checked.resolved_port {
            assigned.insert(port);
        }
        entries.push(PlanEntry {
            service: Some(claim.name.clone()),
            port: claim.port,
            protocol: claim.protocol,
            level: conflict.as_ref().map_or(ConflictLevel::None, |c| c.level),
            conflict,
            advisories,
            decision: checked.decision,
            actions: checked.actions,
            resolved_port: checked.resolved_port,
        });
    }
    Plan {
        strategy: strategy.name().to_owned(),
        snapshot_taken_at: snapshot.taken_at,
        entries,
    }
}

/// A decision after the planner's checks.
struct Checked {
    decision: Decision,
    actions: Vec<Action>,
    resolved_port: Option<u16>,
}

impl Checked {
    fn unresolvable(reason: String) -> Checked {
        Checked {
            decision: Decision::Unresolvable {
                reason: reason.clone(),
            },
            actions: vec![Action::Unresolvable { reason }],
            resolved_port: None,
        }
    }
}

struct Checker<'a> {
    claim: &'a Claim,
    conflict: Option<&'a Conflict>,
    ctx: &'a DecisionContext<'a>,
    assigned: &'a PortSet,
    signal: Signal,
    grace: Duration,
    our_pgid: u32,
}

impl Checker<'_> {
    fn check(&self, decision: Decision) -> Checked {
        let port = self.claim.port;
        let name = &self.claim.name;
        match decision {
            Decision::Keep => {
                if let Some(conflict) = self.conflict.filter(|c| !port_usable(c)) {
                    return Checked::unresolvable(format!(
                        "the strategy kept `{name}` on its port, but {}",
                        conflict.explanation
                    ));
                }
                if self.assigned.contains(port) {
                    return Checked::unresolvable(already_given(port));
                }
                Checked {
                    decision: Decision::Keep,
                    actions: vec![Action::Keep],
                    resolved_port: Some(port),
                }
            }
            Decision::Migrate { to } => {
                if !self.ctx.settings().allow_port_migration {
                    return Checked::unresolvable(format!(
                        "the strategy moved `{name}` to port {to}, but port migration is disabled"
                    ));
                }
                if !self.ctx.may_migrate_to(to) {
                    return Checked::unresolvable(format!(
                        "the strategy moved `{name}` to port {to}, which is not free and allowed \
                         (reserved, another service's port, already given, or taken)"
                    ));
                }
                Checked {
                    decision: Decision::Migrate { to },
                    actions: vec![Action::Migrate {
                        service: name.clone(),
                        from: port,
                        to,
                    }],
                    resolved_port: Some(to),
                }
            }
            Decision::RestartOurs { targets } => match self.targets(&targets, true) {
                Ok(holders) => self.terminations(Decision::RestartOurs { targets }, &holders),
                Err(reason) => Checked::unresolvable(reason),
            },
            Decision::Terminate { targets, group } => match self.targets(&targets, false) {
                Ok(holders) => {
                    let group = group && crate::strategy::group_of_holders(&holders, self.our_pgid);
                    self.terminations(Decision::Terminate { targets, group }, &holders)
                }
                Err(reason) => Checked::unresolvable(reason),
            },
            Decision::Unresolvable { reason } => Checked::unresolvable(reason),
        }
    }

    /// The holders named by `targets`, when they are exactly the port's holders and each may
    /// be ended.
    fn targets(
        &self,
        targets: &[procscan::ProcessIdentity],
        restart: bool,
    ) -> Result<Vec<Holder>, String> {
        let port = self.claim.port;
        let Some(conflict) = self.conflict.filter(|c| c.kind == ConflictKind::Held) else {
            return Err(format!(
                "nothing holds port {port}: there is nothing to end"
            ));
        };
        let mut chosen = Vec::new();
        for target in targets {
            let Some(holder) = conflict
                .holders
                .iter()
                .find(|h| h.identity == Some(*target))
            else {
                return Err(format!(
                    "the strategy chose {target}, which does not hold port {port}"
                ));
            };
            if restart {
                self.ctx.can_restart(holder)?;
            } else {
                self.ctx.can_terminate(holder)?;
            }
            chosen.push(holder.clone());
        }
        if let Some(left) = conflict
            .holders
            .iter()
            .find(|h| h.identity.is_none_or(|id| !targets.contains(&id)))
        {
            return Err(format!(
                "ending the chosen processes would leave {} holding port {port}",
                left.describe()
            ));
        }
        if self.assigned.contains(port) {
            return Err(already_given(port));
        }
        Ok(chosen)
    }

    fn terminations(&self, decision: Decision, holders: &[Holder]) -> Checked {
        let group = match &decision {
            Decision::Terminate { group, .. } => *group,
            _ => crate::strategy::group_of_holders(holders, self.our_pgid),
        };
        Checked {
            decision,
            actions: terminate_actions(
                holders,
                self.claim.port,
                self.claim.protocol,
                self.signal,
                self.grace,
                group,
            ),
            resolved_port: Some(self.claim.port),
        }
    }
}

fn already_given(port: u16) -> String {
    format!("port {port} is already given to another service in this plan")
}

/// Whether the service can use its port despite the conflict.
fn port_usable(conflict: &Conflict) -> bool {
    match conflict.kind {
        ConflictKind::TimeWaitOnly { .. } => true,
        ConflictKind::Held => conflict.level <= ConflictLevel::Low,
        ConflictKind::DoubleClaim { .. } => !conflict.is_on_primary(),
    }
}

/// One terminate action per holder, the group leader first (with `group` set on it alone, so
/// that the other members are checked and, if still alive, ended one by one).
pub(crate) fn terminate_actions(
    holders: &[Holder],
    port: u16,
    protocol: Protocol,
    signal: Signal,
    grace: Duration,
    group: bool,
) -> Vec<Action> {
    let mut ordered: Vec<&Holder> = holders.iter().filter(|h| h.identity.is_some()).collect();
    ordered.sort_by_key(|h| (h.pid() != h.pgid, h.pid()));
    ordered
        .into_iter()
        .filter_map(|h| {
            let identity = h.identity?;
            Some(Action::Terminate {
                identity,
                name: h.name.clone().unwrap_or_default(),
                port,
                protocol,
                signal,
                grace,
                group: group && Some(identity.pid) == h.pgid,
            })
        })
        .collect()
}
