//! Detection: which claimed ports are taken, by whom, and how seriously.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::SystemTime;

use portcore::{PortSet, Protocol};
use procscan::{ProcessIdentity, ProcessInfo, Snapshot, Socket, SocketState};
use serde::{Deserialize, Serialize};

use crate::classify::classify_for;
use crate::docker::{ContainerPort, DOCKER_PROXY, PublishedPort, parse_docker_proxy};
use crate::{Claim, ClassifyContext, ConflictLevel, HolderClass};

/// What [`detect`] and [`plan`](crate::plan) take besides the claims and the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectOptions {
    /// Who we are and what is protected. Default: [`ClassifyContext::current`].
    pub context: ClassifyContext,
    /// Ports never assigned by a migration. Default: [`PortSet::default_reserved`].
    pub reserved: PortSet,
    /// How many of a service's alternatives count (`None`: all). Default `None`;
    /// [`plan`](crate::plan) uses [`ResolutionSettings::max_alternative_ports`](crate::ResolutionSettings).
    pub max_alternative_ports: Option<usize>,
    /// Ports published by Docker containers (from [`published_ports`](crate::published_ports)),
    /// used to name the container behind a `docker-proxy`. Default: empty.
    pub published: Vec<PublishedPort>,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions {
            context: ClassifyContext::current(),
            reserved: PortSet::default_reserved(),
            max_alternative_ports: None,
            published: Vec::new(),
        }
    }
}

/// How a service claims a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortRole {
    /// Its configured port.
    Primary,
    /// One of its alternatives.
    Alternative,
}

/// What kind of conflict was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConflictKind {
    /// Processes (or an owner we cannot see) hold the port.
    Held,
    /// Nobody holds the port; only TIME_WAIT sockets remain on it.
    TimeWaitOnly {
        /// How many.
        sockets: usize,
    },
    /// A configuration conflict: another service claims the same port.
    DoubleClaim {
        /// The other service.
        other: String,
        /// How this service claims the port (`Primary`: it loses the port to `other`, which
        /// claimed it first; `Alternative`: the port is never chosen for this service).
        ours: PortRole,
        /// How the other service claims it.
        theirs: PortRole,
    },
}

/// One process (or unseen owner) holding a conflicting port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The process's identity; `None` when the owner could not be seen.
    pub identity: Option<ProcessIdentity>,
    /// Its short name.
    pub name: Option<String>,
    /// Its command line.
    pub command: Option<String>,
    /// Its uid (the socket's uid when the process is not visible).
    pub uid: u32,
    /// Its process group.
    pub pgid: Option<u32>,
    /// Its parent.
    pub ppid: Option<u32>,
    /// When it started, when known.
    pub started_at: Option<SystemTime>,
    /// What it is to the claiming service.
    pub class: HolderClass,
    /// The level this holder alone gives the conflict.
    pub level: ConflictLevel,
    /// The local addresses it holds the port on.
    pub addresses: Vec<SocketAddr>,
    /// For a `docker-proxy`: the container port it forwards to.
    pub container: Option<ContainerPort>,
    /// For a [`HolderClass::System`] holder: why it is protected.
    pub protected: Option<String>,
}

impl Holder {
    /// The pid, when the owner is visible.
    pub fn pid(&self) -> Option<u32> {
        self.identity.map(|i| i.pid)
    }

    /// One line saying who this is: "pid 42 (node), another process of yours".
    pub fn describe(&self) -> String {
        let who = match (self.identity, &self.name) {
            (Some(id), Some(name)) => format!("pid {} ({name})", id.pid),
            (Some(id), None) => format!("pid {}", id.pid),
            _ => return format!("an owner we cannot see (uid {})", self.uid),
        };
        if let Some(container) = &self.container {
            return format!("{who}, {}: never stopped", container.describe());
        }
        let what = match &self.class {
            HolderClass::Ours {
                service,
                stale: false,
            } => format!("our live instance of {service}"),
            HolderClass::Ours {
                service,
                stale: true,
            } => format!("a stale copy of our {service} (matches its process patterns)"),
            HolderClass::External if self.level == ConflictLevel::Critical => {
                format!("a process of another user (uid {})", self.uid)
            }
            HolderClass::External => "another process of yours".to_owned(),
            HolderClass::System => self
                .protected
                .clone()
                .unwrap_or_else(|| "a protected or system process".to_owned()),
            HolderClass::Unknown => "a process whose details could not be read".to_owned(),
        };
        format!("{who}, {what}")
    }
}

/// A service whose claimed port is not simply free.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The claiming service.
    pub service: String,
    /// The port in conflict (the service's port, or for an alternative double claim that
    /// alternative).
    pub port: u16,
    /// The protocol.
    pub protocol: Protocol,
    /// What kind of conflict.
    #[serde(flatten)]
    pub kind: ConflictKind,
    /// How serious (see [`ConflictLevel`]).
    pub level: ConflictLevel,
    /// Whether the claiming service is critical.
    pub critical_service: bool,
    /// Who holds the port (empty for TIME_WAIT and double claims).
    pub holders: Vec<Holder>,
    /// A sentence for humans.
    pub explanation: String,
}

impl Conflict {
    /// Whether this conflict is about the service's own port (not an advisory about one of
    /// its alternatives).
    pub fn is_on_primary(&self) -> bool {
        !matches!(
            self.kind,
            ConflictKind::DoubleClaim {
                ours: PortRole::Alternative,
                ..
            }
        )
    }
}

/// The snapshot's port-holding sockets by (protocol, port), built once per detection or plan.
#[derive(Debug)]
pub(crate) struct PortIndex<'a> {
    held: HashMap<(Protocol, u16), Vec<&'a Socket>>,
    time_wait: HashMap<(Protocol, u16), usize>,
}

impl<'a> PortIndex<'a> {
    pub(crate) fn new(snapshot: &'a Snapshot) -> PortIndex<'a> {
        let mut held: HashMap<_, Vec<_>> = HashMap::new();
        let mut time_wait: HashMap<_, usize> = HashMap::new();
        for socket in &snapshot.sockets {
            let key = (socket.protocol, socket.port());
            if holds_port(socket) {
                held.entry(key).or_default().push(socket);
            } else if socket.state == SocketState::TimeWait {
                *time_wait.entry(key).or_default() += 1;
            }
        }
        PortIndex { held, time_wait }
    }

    /// The sockets holding `port`.
    pub(crate) fn held(&self, protocol: Protocol, port: u16) -> &[&'a Socket] {
        self.held.get(&(protocol, port)).map_or(&[], Vec::as_slice)
    }

    /// Whether no socket holds `port` (TIME_WAIT sockets do not: see [`ConflictLevel`]).
    pub(crate) fn is_free(&self, protocol: Protocol, port: u16) -> bool {
        port != 0 && !self.held.contains_key(&(protocol, port))
    }

    fn time_wait(&self, protocol: Protocol, port: u16) -> usize {
        self.time_wait.get(&(protocol, port)).copied().unwrap_or(0)
    }
}

/// Whether a socket stops a server from binding its port: a listening TCP socket, a TCP socket
/// bound without listening, or any UDP socket.
pub(crate) fn holds_port(socket: &Socket) -> bool {
    match socket.protocol {
        Protocol::Tcp => matches!(socket.state, SocketState::Listen | SocketState::Close),
        Protocol::Udp => true,
    }
}

/// Finds the conflicts of `claims` in `snapshot`. Pure: reads nothing but its arguments.
///
/// Reports, per claim: a double claim when an earlier service has the same primary port (the
/// earlier one keeps it) and an advisory double claim for each alternative that is another
/// service's primary; otherwise the holders of the port (level low when it is only our live
/// instance) or its TIME_WAIT sockets. A free port gives no conflict.
pub fn detect(claims: &[Claim], snapshot: &Snapshot, options: &DetectOptions) -> Vec<Conflict> {
    let index = PortIndex::new(snapshot);
    detect_per_claim(
        claims,
        snapshot,
        &index,
        options,
        options.max_alternative_ports,
    )
    .into_iter()
    .flatten()
    .collect()
}

/// [`detect`] with a prepared index, grouping the conflicts by claim (same order as `claims`).
pub(crate) fn detect_per_claim(
    claims: &[Claim],
    snapshot: &Snapshot,
    index: &PortIndex<'_>,
    options: &DetectOptions,
    max_alternatives: Option<usize>,
) -> Vec<Vec<Conflict>> {
    let mut all = Vec::with_capacity(claims.len());
    for (position, claim) in claims.iter().enumerate() {
        let mut conflicts = Vec::new();
        let earlier_owner = claims[..position]
            .iter()
            .find(|c| c.port == claim.port && c.protocol == claim.protocol);
        let conflict = match earlier_owner {
            Some(owner) => Some(double_claim(claim, claim.port, owner, PortRole::Primary)),
            None => held_conflict(claim, claims, snapshot, index, options),
        };
        if let Some(mut conflict) = conflict {
            escalate_without_alternative(
                &mut conflict,
                claim,
                claims,
                index,
                options,
                max_alternatives,
            );
            conflicts.push(conflict);
        }
        for &alternative in &claim.alternatives {
            let owner = claims.iter().find(|c| {
                c.name != claim.name && c.port == alternative && c.protocol == claim.protocol
            });
            if let Some(owner) = owner {
                let mut advisory = double_claim(claim, alternative, owner, PortRole::Alternative);
                advisory.level = ConflictLevel::Low;
                conflicts.push(advisory);
            }
        }
        all.push(conflicts);
    }
    all
}

fn double_claim(claim: &Claim, port: u16, other: &Claim, ours: PortRole) -> Conflict {
    let explanation = match ours {
        PortRole::Primary => format!(
            "port {port}/{} is also the configured port of `{}`, listed earlier, which keeps it: \
             `{}` needs another port",
            claim.protocol, other.name, claim.name
        ),
        PortRole::Alternative => format!(
            "alternative port {port}/{} of `{}` is the configured port of `{}`: it is never chosen \
             for `{}`",
            claim.protocol, claim.name, other.name, claim.name
        ),
    };
    Conflict {
        service: claim.name.clone(),
        port,
        protocol: claim.protocol,
        kind: ConflictKind::DoubleClaim {
            other: other.name.clone(),
            ours,
            theirs: PortRole::Primary,
        },
        level: ConflictLevel::High,
        critical_service: claim.critical,
        holders: Vec::new(),
        explanation,
    }
}

fn held_conflict(
    claim: &Claim,
    claims: &[Claim],
    snapshot: &Snapshot,
    index: &PortIndex<'_>,
    options: &DetectOptions,
) -> Option<Conflict> {
    let sockets = index.held(claim.protocol, claim.port);
    if sockets.is_empty() {
        let count = index.time_wait(claim.protocol, claim.port);
        return (count > 0).then(|| Conflict {
            service: claim.name.clone(),
            port: claim.port,
            protocol: claim.protocol,
            kind: ConflictKind::TimeWaitOnly { sockets: count },
            level: ConflictLevel::Medium,
            critical_service: claim.critical,
            holders: Vec::new(),
            explanation: format!(
                "port {}/{} is not held by anyone: only {count} TIME_WAIT socket(s) of closed \
                 connections remain. A server that sets SO_REUSEADDR (most do) binds fine; one \
                 that does not gets EADDRINUSE until they expire (up to 60 s)",
                claim.port, claim.protocol
            ),
        });
    }
    let mut holders = holders_of(
        sockets,
        snapshot,
        claims,
        Some(&claim.name),
        &options.context,
        &options.published,
    );
    adopt_workers(&mut holders);
    let level = holders
        .iter()
        .map(|h| h.level)
        .max()
        .unwrap_or(ConflictLevel::Critical);
    let mut explanation = format!("port {}/{} is held by ", claim.port, claim.protocol);
    for (i, holder) in holders.iter().enumerate() {
        if i > 0 {
            explanation.push_str("; and by ");
        }
        explanation.push_str(&holder.describe());
    }
    Some(Conflict {
        service: claim.name.clone(),
        port: claim.port,
        protocol: claim.protocol,
        kind: ConflictKind::Held,
        level,
        critical_service: claim.critical,
        holders,
        explanation,
    })
}

/// Our live instance's own children and group members (a server's forked workers sharing its
/// listener) match the service's patterns without being the recorded process: they belong to
/// the live instance, not to a stale copy.
fn adopt_workers(holders: &mut [Holder]) {
    let live: Vec<(String, u32, Option<u32>)> = holders
        .iter()
        .filter_map(|h| match &h.class {
            HolderClass::Ours {
                service,
                stale: false,
            } => Some((service.clone(), h.pid()?, h.pgid)),
            _ => None,
        })
        .collect();
    for holder in holders.iter_mut() {
        let HolderClass::Ours {
            service,
            stale: true,
        } = &holder.class
        else {
            continue;
        };
        let family = live.iter().any(|(live_service, pid, pgid)| {
            live_service == service
                && (holder.ppid == Some(*pid) || (pgid.is_some() && holder.pgid == *pgid))
        });
        if family {
            holder.class = HolderClass::Ours {
                service: service.clone(),
                stale: false,
            };
            holder.level = ConflictLevel::Low;
        }
    }
}

/// The holders of `sockets` (one entry per process, and one per uid for unseen owners).
pub(crate) fn holders_of(
    sockets: &[&Socket],
    snapshot: &Snapshot,
    claims: &[Claim],
    claimant: Option<&str>,
    context: &ClassifyContext,
    published: &[PublishedPort],
) -> Vec<Holder> {
    let mut holders: Vec<Holder> = Vec::new();
    for socket in sockets {
        if socket.holders.is_empty() {
            match holders
                .iter_mut()
                .find(|h| h.identity.is_none() && h.uid == socket.uid)
            {
                Some(holder) => holder.addresses.push(socket.local),
                None => holders.push(unseen_holder(socket)),
            }
            continue;
        }
        for &pid in &socket.holders {
            if let Some(holder) = holders.iter_mut().find(|h| h.pid() == Some(pid)) {
                if !holder.addresses.contains(&socket.local) {
                    holder.addresses.push(socket.local);
                }
                continue;
            }
            let holder = match snapshot.process(pid) {
                Some(process) => seen_holder(process, socket, claims, claimant, context, published),
                None => Holder {
                    identity: Some(ProcessIdentity { pid, start_time: 0 }),
                    ..unseen_holder(socket)
                },
            };
            holders.push(holder);
        }
    }
    holders
}

fn unseen_holder(socket: &Socket) -> Holder {
    Holder {
        identity: None,
        name: None,
        command: None,
        uid: socket.uid,
        pgid: None,
        ppid: None,
        started_at: None,
        class: HolderClass::Unknown,
        level: ConflictLevel::Critical,
        addresses: vec![socket.local],
        container: None,
        protected: None,
    }
}

fn seen_holder(
    process: &ProcessInfo,
    socket: &Socket,
    claims: &[Claim],
    claimant: Option<&str>,
    context: &ClassifyContext,
    published: &[PublishedPort],
) -> Holder {
    let class = classify_for(Some(process), claims, claimant, context);
    let other_user = process.uid != context.our_uid;
    let protected = (class == HolderClass::System).then(|| match context.protection(process) {
        Some(reason) => reason.to_owned(),
        None => format!("a system user's process (uid {})", process.uid),
    });
    let level = ConflictLevel::of_holder(&class, claimant.unwrap_or(""), other_user);
    let container = (process.name == DOCKER_PROXY).then(|| {
        let mut port = parse_docker_proxy(&process.cmdline).unwrap_or(ContainerPort {
            container_ip: None,
            container_port: None,
            host_port: Some(socket.port()),
            container: None,
        });
        let host_port = port.host_port.unwrap_or(socket.port());
        port.container = published
            .iter()
            .find(|p| {
                p.host_port == host_port
                    && p.protocol == socket.protocol
                    && port.container_port.is_none_or(|c| c == p.container_port)
            })
            .map(|p| p.container.clone());
        port
    });
    Holder {
        identity: Some(process.identity()),
        name: Some(process.name.clone()),
        command: Some(process.command_line()),
        uid: process.uid,
        pgid: Some(process.pgid),
        ppid: Some(process.ppid),
        started_at: process.started_at,
        class,
        level,
        addresses: vec![socket.local],
        container,
        protected,
    }
}

/// The ports a migration of `claim` may use, in order (the sticky port first, then the
/// alternatives up to the limit), minus reserved ports and other services' primaries.
pub(crate) fn migration_candidates(
    claim: &Claim,
    claims: &[Claim],
    options: &DetectOptions,
    max_alternatives: Option<usize>,
) -> (Vec<u16>, PortSet) {
    let mut exclude = options.reserved.clone();
    exclude.insert(claim.port);
    for other in claims {
        if other.name != claim.name && other.protocol == claim.protocol {
            exclude.insert(other.port);
        }
    }
    let mut candidates: Vec<u16> = claim.sticky.into_iter().collect();
    candidates.extend(
        claim
            .alternatives
            .iter()
            .take(max_alternatives.unwrap_or(usize::MAX)),
    );
    (candidates, exclude)
}

/// A critical service whose port is taken (by anything but our live instance or TIME_WAIT)
/// and that has no free alternative left is a critical conflict.
fn escalate_without_alternative(
    conflict: &mut Conflict,
    claim: &Claim,
    claims: &[Claim],
    index: &PortIndex<'_>,
    options: &DetectOptions,
    max_alternatives: Option<usize>,
) {
    let needs_port = match conflict.kind {
        // A stale copy of ours can be ended instead (level medium): only higher levels need a
        // port elsewhere.
        ConflictKind::Held => conflict.level >= ConflictLevel::High,
        ConflictKind::DoubleClaim { .. } => true,
        ConflictKind::TimeWaitOnly { .. } => false,
    };
    if !claim.critical || !needs_port || conflict.level == ConflictLevel::Critical {
        return;
    }
    let (candidates, exclude) = migration_candidates(claim, claims, options, max_alternatives);
    let has_free = candidates
        .iter()
        .any(|&p| !exclude.contains(p) && index.is_free(claim.protocol, p));
    if !has_free {
        conflict.level = ConflictLevel::Critical;
        let _ = write!(
            conflict.explanation,
            "; `{}` is critical and none of its alternatives is free",
            claim.name
        );
    }
}
