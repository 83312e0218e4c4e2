//! The aggressive strategy: stop whatever holds the port, when it is safe to.

use crate::strategy::only_stale_copies;
use crate::{Conflict, Decision, DecisionContext, Strategy};

/// Stops the holders of the port (stale copies of ours are restarted over): every holder
/// must pass [`DecisionContext::can_terminate`] (not protected, not a system process, not an
/// unseen owner, not a Docker proxy, not another user's unless `force`, not one of our live
/// instances). When one does not, the service migrates, or the conflict is unresolvable.
///
/// `preserve_external_processes` does not apply: choosing this strategy is choosing not to
/// preserve them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Aggressive;

impl Strategy for Aggressive {
    fn name(&self) -> &str {
        "aggressive"
    }

    fn summary(&self) -> &str {
        "stop the process holding the port (after the safety checks)"
    }

    fn decide(&self, conflict: &Conflict, ctx: &DecisionContext<'_>) -> Decision {
        if let Some(decision) = self.decide_common(conflict, ctx) {
            return decision;
        }
        let decision = if only_stale_copies(conflict) {
            ctx.restart_ours(conflict)
        } else {
            ctx.terminate_all(conflict)
        };
        decision.unwrap_or_else(|why| ctx.migrate_or_unresolvable(&why))
    }
}
