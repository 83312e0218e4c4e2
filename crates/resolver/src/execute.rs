//! Carrying out a plan: the only part of this crate that signals processes.

use std::time::{Duration, Instant};

use portcore::{Protocol, probe_port};
use procscan::{Refusal, SafetyPolicy, TerminateOptions};
use serde::{Deserialize, Serialize};

use crate::host::{self, TerminateError};
use crate::{
    Action, ActionReport, ClassifyContext, EntryReport, Migration, Outcome, Plan, PlanEntry,
    Report, Verification,
};

/// How [`execute`] runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecuteOptions {
    /// Do nothing: every action is reported skipped ("dry run"). Default false.
    pub dry_run: bool,
    /// The protections applied before any signal (protected names, and
    /// `allow_other_users`, which `--force` turns on). Default: the default protected names,
    /// other users refused.
    pub policy: SafetyPolicy,
    /// How long to wait for a freed port to become bindable. Default 2 s.
    #[serde(with = "crate::serde_ms")]
    pub verify_timeout: Duration,
}

impl Default for ExecuteOptions {
    fn default() -> Self {
        ExecuteOptions {
            dry_run: false,
            policy: default_policy(),
            verify_timeout: Duration::from_secs(2),
        }
    }
}

impl ExecuteOptions {
    /// Options whose safety policy agrees with the plan's: the protected names of `context`
    /// (the one the plan was made with, configured extras included) and other users' processes
    /// allowed only with `force` (the plan's [`ResolutionSettings::force`](crate::ResolutionSettings)
    /// or [`KillOptions::force`](crate::KillOptions)).
    ///
    /// ```
    /// use resolver::{ClassifyContext, ExecuteOptions};
    /// let context = ClassifyContext::current().with_protected_names(["mongod"]);
    /// let options = ExecuteOptions::matching(&context, false);
    /// assert!(options.policy.protected_names.iter().any(|n| n == "mongod"));
    /// assert!(!options.policy.allow_other_users);
    /// ```
    pub fn matching(context: &ClassifyContext, force: bool) -> ExecuteOptions {
        ExecuteOptions {
            policy: SafetyPolicy {
                protected_names: context.protected_names.clone(),
                allow_other_users: force,
            },
            ..ExecuteOptions::default()
        }
    }
}

/// The default safety policy: procscan's default (its protected names, other users refused).
pub fn default_policy() -> SafetyPolicy {
    SafetyPolicy::default()
}

/// Carries out `plan` and reports each action's outcome, then checks each port.
///
/// A termination is sent only after checking, right before it, that the process still has the
/// recorded identity (pid and start time: a reused pid is refused), passes the safety policy
/// (refused otherwise, with the reason) and still holds the port (a fresh lookup: a process
/// that moved away is skipped). procscan then signals it through a pidfd, waits the grace
/// period and sends SIGKILL if needed, to the process group when the action says so. A
/// migration records the new port after checking that it is still free. Nothing here panics
/// or returns an error: every problem is an [`Outcome`].
pub fn execute(plan: &Plan, options: &ExecuteOptions) -> Report {
    let started = Instant::now();
    let mut entries = Vec::with_capacity(plan.entries.len());
    let mut migrations = Vec::new();
    for entry in &plan.entries {
        let report = execute_entry(entry, options);
        for action in &report.actions {
            if let (Action::Migrate { service, from, to }, Outcome::Done { .. }) =
                (&action.action, &action.outcome)
            {
                log::warn!("{service} moves from port {from} to port {to}");
                migrations.push(Migration {
                    service: service.clone(),
                    from: *from,
                    to: *to,
                });
            }
        }
        entries.push(report);
    }
    Report {
        strategy: plan.strategy.clone(),
        dry_run: options.dry_run,
        entries,
        migrations,
        duration: started.elapsed(),
    }
}

fn execute_entry(entry: &PlanEntry, options: &ExecuteOptions) -> EntryReport {
    let started = Instant::now();
    let mut actions = Vec::with_capacity(entry.actions.len());
    for action in &entry.actions {
        let begun = Instant::now();
        let outcome = if options.dry_run {
            Outcome::Skipped {
                reason: "dry run".to_owned(),
            }
        } else {
            run(action, entry.protocol, options)
        };
        log::info!("{action:?}: {}", outcome.name());
        actions.push(ActionReport {
            action: action.clone(),
            outcome,
            duration: begun.elapsed(),
        });
    }
    let verification = if options.dry_run {
        None
    } else {
        verify(entry, &actions, options)
    };
    let failed = actions
        .iter()
        .any(|a| matches!(a.outcome, Outcome::Failed { .. } | Outcome::Refused { .. }));
    let resolved_port = entry
        .resolved_port
        .filter(|_| !failed && verification.as_ref().is_none_or(|v| v.free));
    EntryReport {
        service: entry.service.clone(),
        port: entry.port,
        protocol: entry.protocol,
        level: entry.level,
        decision: entry.decision.clone(),
        actions,
        resolved_port,
        verification,
        duration: started.elapsed(),
    }
}

fn run(action: &Action, entry_protocol: Protocol, options: &ExecuteOptions) -> Outcome {
    match action {
        Action::Keep => Outcome::Done {
            escalated: false,
            detail: "nothing to do".to_owned(),
        },
        Action::Unresolvable { reason } => Outcome::Skipped {
            reason: format!("unresolvable: {reason}"),
        },
        Action::Migrate { service, to, .. } => {
            if probe_port(*to, entry_protocol).is_free() {
                Outcome::Done {
                    escalated: false,
                    detail: format!("{service} now uses port {to}"),
                }
            } else {
                Outcome::Failed {
                    message: format!("port {to} was taken after the plan was made"),
                }
            }
        }
        Action::Terminate {
            identity,
            name,
            port,
            protocol,
            signal,
            grace,
            group,
        } => {
            if let Err(err) = host::check_target(*identity, &options.policy) {
                return terminate_error(err, identity.pid);
            }
            match host::still_holds(identity.pid, *port, *protocol) {
                Err(message) => {
                    return Outcome::Failed {
                        message: format!(
                            "cannot check that pid {} still holds port {port}: {message}",
                            identity.pid
                        ),
                    };
                }
                Ok(false) => {
                    return Outcome::Skipped {
                        reason: format!(
                            "pid {} ({name}) no longer holds port {port}/{protocol}: not signalled",
                            identity.pid
                        ),
                    };
                }
                Ok(true) => {}
            }
            let terminate = TerminateOptions {
                signal: *signal,
                grace: *grace,
                escalate: true,
                group: *group,
            };
            match host::terminate(*identity, &terminate, &options.policy) {
                Ok(outcome) if outcome.exited => Outcome::Done {
                    escalated: outcome.killed,
                    detail: if outcome.killed {
                        format!(
                            "pid {} ({name}) ignored {signal:?} for {grace:?} and was killed \
                             (SIGKILL)",
                            identity.pid
                        )
                    } else {
                        format!(
                            "pid {} ({name}) exited after {signal:?} in {:?}",
                            identity.pid, outcome.elapsed
                        )
                    },
                },
                Ok(outcome) => Outcome::Failed {
                    message: format!(
                        "pid {} ({name}) is still alive after {:?}",
                        identity.pid, outcome.elapsed
                    ),
                },
                Err(err) => terminate_error(err, identity.pid),
            }
        }
    }
}

fn terminate_error(err: TerminateError, pid: u32) -> Outcome {
    match err {
        TerminateError::Refused(Refusal::Gone { .. }) => Outcome::Skipped {
            reason: format!("pid {pid} had already exited: not signalled"),
        },
        TerminateError::Refused(refusal) => Outcome::Refused { refusal },
        TerminateError::Failed(message) => Outcome::Failed { message },
    }
}

/// Checks the entry's port after its actions: the freed port (terminations) must become
/// bindable within the timeout; a migration's new port must be free.
fn verify(
    entry: &PlanEntry,
    actions: &[ActionReport],
    options: &ExecuteOptions,
) -> Option<Verification> {
    let terminated = actions
        .iter()
        .any(|a| matches!(a.action, Action::Terminate { .. }));
    let migrated_to = actions.iter().find_map(|a| match a.action {
        Action::Migrate { to, .. } => Some(to),
        _ => None,
    });
    let port = match (terminated, migrated_to) {
        (_, Some(to)) => to,
        (true, None) => entry.port,
        (false, None) => return None,
    };
    let deadline = Instant::now() + options.verify_timeout;
    loop {
        // Poll the kernel's table (cheap); walk the processes only to name a holder left.
        let listened = host::port_listened(port, entry.protocol).unwrap_or(true);
        let free = !listened && probe_port(port, entry.protocol).is_free();
        if free || Instant::now() >= deadline || migrated_to.is_some() {
            let holders = if free || !listened {
                Vec::new()
            } else {
                host::port_holders(port, entry.protocol).unwrap_or_default()
            };
            let detail = if free {
                format!("port {port}/{} is free", entry.protocol)
            } else if holders.is_empty() {
                format!(
                    "port {port}/{} cannot be bound yet, though no holder is visible",
                    entry.protocol
                )
            } else {
                format!(
                    "port {port}/{} is still held by pid(s) {holders:?}",
                    entry.protocol
                )
            };
            return Some(Verification {
                port,
                protocol: entry.protocol,
                free,
                holders,
                detail,
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
