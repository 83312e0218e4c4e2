//! The conservative strategy: never stop a process.

use crate::{Conflict, Decision, DecisionContext, Strategy};

/// Never stops any process, ours included: a service whose port is taken moves to an
/// alternative (a stale copy of ours is left alone too), or the conflict is unresolvable.
#[derive(Debug, Clone, Copy, Default)]
pub struct Conservative;

impl Strategy for Conservative {
    fn name(&self) -> &str {
        "conservative"
    }

    fn summary(&self) -> &str {
        "never stop a process: migrate our service to an alternative port"
    }

    fn decide(&self, conflict: &Conflict, ctx: &DecisionContext<'_>) -> Decision {
        self.decide_common(conflict, ctx)
            .unwrap_or_else(|| ctx.migrate_or_unresolvable(&conflict.explanation))
    }
}
