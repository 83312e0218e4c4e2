//! A library user's own conflict strategy, plugged into portwarden's planner.
//!
//! `EvenPorts` wraps any strategy and only lets services move to even ports (say, because a
//! proxy in front of them forwards only even ports). It holds a port itself, claims that very
//! port for a service, takes a real snapshot of the socket table, and plans: the holder is this
//! process, which is never a target, so the service has to move, and `EvenPorts` picks the
//! first even alternative.
//!
//! Run with `cargo run -p portwarden-examples --example custom_strategy`.
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::net::TcpListener;

use procscan::{ScanOptions, snapshot};
use resolver::{
    Claim, Conflict, Decision, DecisionContext, ExecuteOptions, Intelligent, PlanOptions, Strategy,
    execute, plan,
};

/// Delegates to `inner`, then moves any migration to the first free even port.
struct EvenPorts<S>(S);

impl<S: Strategy> Strategy for EvenPorts<S> {
    fn name(&self) -> &str {
        "even-ports"
    }

    fn summary(&self) -> &str {
        "like the wrapped strategy, but services only move to even ports"
    }

    fn decide(&self, conflict: &Conflict, ctx: &DecisionContext<'_>) -> Decision {
        match self.0.decide(conflict, ctx) {
            Decision::Migrate { to } if to % 2 != 0 => {
                match ctx.alternative_where(|port| port % 2 == 0) {
                    Some(even) => Decision::Migrate { to: even },
                    None => Decision::Unresolvable {
                        reason: format!("{}; no even alternative is free", conflict.explanation),
                    },
                }
            }
            other => other,
        }
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    // Hold a port, and claim it for "demo" with the next eight ports as alternatives.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let claim = Claim::new("demo", port)
        .with_alternatives((1..=8).filter_map(|k| port.checked_add(k)))
        .critical(true);

    let snap = snapshot(&ScanOptions::default())?;
    let strategy = EvenPorts(Intelligent);
    let plan = plan(&[claim], &snap, &strategy, &PlanOptions::default());
    println!("{}", serde_json::to_string_pretty(&plan)?);

    let entry = &plan.entries[0];
    println!(
        "\n{}: port {port} is {} -> {:?}",
        strategy.name(),
        entry.level,
        entry.decision
    );
    if let Some(conflict) = &entry.conflict {
        println!("why: {}", conflict.explanation);
    }

    let report = execute(&plan, &ExecuteOptions::default());
    for migration in &report.migrations {
        println!(
            "MIGRATED: {} moves from port {} to port {}",
            migration.service, migration.from, migration.to
        );
    }
    drop(listener);
    Ok(())
}
