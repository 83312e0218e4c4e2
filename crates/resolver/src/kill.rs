//! Plans for `kill-port N` and `cleanup`: ending processes on request rather than resolving
//! claims with a strategy. Same safety rules, same [`Plan`] shape, same executor.

use std::time::Duration;

use portcore::Protocol;
use procscan::{Signal, Snapshot, Socket};
use serde::{Deserialize, Serialize};

use crate::detect::{holders_of, holds_port};
use crate::planner::terminate_actions;
use crate::strategy::{group_of_holders, may_end};
use crate::{
    Action, Claim, ClassifyContext, Conflict, ConflictKind, ConflictLevel, Decision, Holder,
    HolderClass, Plan, PlanEntry,
};

/// How `kill-port` and `cleanup` end processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillOptions {
    /// The first signal. Default SIGTERM.
    pub signal: Signal,
    /// Time before SIGKILL. Default 5 s.
    #[serde(with = "crate::serde_ms")]
    pub grace: Duration,
    /// Other users' processes too (with the privilege to signal them). Default false.
    pub force: bool,
    /// When the holders are one process group led by one of them (a server and the workers
    /// it forked), signal the group. Default true.
    pub group: bool,
    /// Who we are and what is protected. Default: [`ClassifyContext::current`].
    pub context: ClassifyContext,
}

impl Default for KillOptions {
    fn default() -> Self {
        KillOptions {
            signal: Signal::Term,
            grace: Duration::from_secs(5),
            force: false,
            group: true,
            context: ClassifyContext::current(),
        }
    }
}

/// Plans ending the processes that listen on exactly `port` (`protocol`, or both when `None`).
/// Pure.
///
/// Only listening sockets count (a TCP socket in LISTEN, an unconnected UDP socket), so a
/// client connected to the port is never a target, and `3000` never matches `30001`. Every
/// process sharing a listening socket (a parent and the child it forked) is a target; when
/// they form one process group led by one of them, the leader's action signals the group.
/// Holders that must not be signalled (protected, system, another user's without `force`,
/// unseen owners, Docker proxies) get an [`Action::Unresolvable`] with the reason: nothing is
/// sent to them.
pub fn plan_kill_port(
    port: u16,
    protocol: Option<Protocol>,
    snapshot: &Snapshot,
    options: &KillOptions,
) -> Plan {
    let protocols = match protocol {
        Some(protocol) => vec![protocol],
        None => Protocol::ALL.to_vec(),
    };
    let mut entries = Vec::new();
    for protocol in protocols {
        let sockets: Vec<&Socket> = snapshot
            .on_port(port, Some(protocol))
            .filter(|s| s.is_listening())
            .collect();
        if sockets.is_empty() {
            continue;
        }
        let holders = holders_of(&sockets, snapshot, &[], None, &options.context, &[]);
        entries.push(kill_entry(None, port, protocol, holders, options));
    }
    if entries.is_empty() {
        entries.push(PlanEntry {
            service: None,
            port,
            protocol: protocol.unwrap_or(Protocol::Tcp),
            level: ConflictLevel::None,
            conflict: None,
            advisories: Vec::new(),
            decision: Decision::Keep,
            actions: vec![Action::Keep],
            resolved_port: Some(port),
        });
    }
    Plan {
        strategy: "kill-port".to_owned(),
        snapshot_taken_at: snapshot.taken_at,
        entries,
    }
}

/// Plans ending our own strays: processes that match a service's process patterns or recorded
/// identity and hold one of its ports (its configured port, its alternatives, its sticky port).
/// Other holders of those ports are left alone and not listed. Pure.
pub fn plan_cleanup(claims: &[Claim], snapshot: &Snapshot, options: &KillOptions) -> Plan {
    let mut entries = Vec::new();
    for claim in claims {
        let mut ports = vec![claim.port];
        ports.extend(claim.alternatives.iter().copied());
        ports.extend(claim.sticky);
        let mut seen = Vec::new();
        for port in ports {
            if seen.contains(&port) {
                continue;
            }
            seen.push(port);
            let sockets: Vec<&Socket> = snapshot
                .on_port(port, Some(claim.protocol))
                .filter(|s| holds_port(s))
                .collect();
            let holders: Vec<Holder> = holders_of(
                &sockets,
                snapshot,
                claims,
                Some(&claim.name),
                &options.context,
                &[],
            )
            .into_iter()
            .filter(|h| h.class.is_ours())
            .collect();
            if holders.is_empty() {
                continue;
            }
            let mut entry = kill_entry(Some(claim), port, claim.protocol, holders, options);
            entry.service = Some(claim.name.clone());
            entries.push(entry);
        }
    }
    Plan {
        strategy: "cleanup".to_owned(),
        snapshot_taken_at: snapshot.taken_at,
        entries,
    }
}

fn kill_entry(
    claim: Option<&Claim>,
    port: u16,
    protocol: Protocol,
    holders: Vec<Holder>,
    options: &KillOptions,
) -> PlanEntry {
    let our_uid = options.context.our_uid;
    let mut allowed = Vec::new();
    let mut refused = Vec::new();
    for holder in &holders {
        // In a cleanup, any of our processes may be ended, live instances included.
        let restart_of = match &holder.class {
            HolderClass::Ours { service, .. } if claim.is_some() => Some(service.as_str()),
            _ => None,
        };
        match may_end(holder, our_uid, options.force, restart_of) {
            Ok(()) => allowed.push(holder.clone()),
            Err(reason) => refused.push(reason),
        }
    }
    let group =
        options.group && refused.is_empty() && group_of_holders(&allowed, options.context.our_pgid);
    let mut actions = terminate_actions(
        &allowed,
        port,
        protocol,
        options.signal,
        options.grace,
        group,
    );
    actions.extend(refused.iter().map(|reason| Action::Unresolvable {
        reason: reason.clone(),
    }));
    let decision = if allowed.is_empty() {
        Decision::Unresolvable {
            reason: refused.join("; "),
        }
    } else {
        Decision::Terminate {
            targets: allowed.iter().filter_map(|h| h.identity).collect(),
            group,
        }
    };
    let level = holders
        .iter()
        .map(|h| h.level)
        .max()
        .unwrap_or(ConflictLevel::None);
    let explanation = format!(
        "port {port}/{protocol} is held by {}",
        holders
            .iter()
            .map(Holder::describe)
            .collect::<Vec<_>>()
            .join("; and by ")
    );
    PlanEntry {
        service: None,
        port,
        protocol,
        level,
        conflict: Some(Conflict {
            service: claim.map_or_else(|| format!("port {port}"), |c| c.name.clone()),
            port,
            protocol,
            kind: ConflictKind::Held,
            level,
            critical_service: claim.is_some_and(|c| c.critical),
            holders,
            explanation,
        }),
        advisories: Vec::new(),
        resolved_port: refused.is_empty().then_some(port),
        decision,
        actions,
    }
}
