//! The intelligent strategy: the least disruptive fix for each kind of holder.

use crate::strategy::only_stale_copies;
use crate::{Conflict, Decision, DecisionContext, Strategy};

/// Chooses by holder:
///
/// - stale copies of ours: ended, so that ours starts on its own port;
/// - an external process: the service migrates when migration is allowed and a port is left;
///   otherwise, for a critical service with `preserve_external_processes` off, the holder is
///   terminated (another user's only with `force`); otherwise unresolvable, with the reason;
/// - a protected or system process, an unseen owner, a Docker container, one of our live
///   instances: the service migrates, or the conflict is unresolvable.
#[derive(Debug, Clone, Copy, Default)]
pub struct Intelligent;

impl Strategy for Intelligent {
    fn name(&self) -> &str {
        "intelligent"
    }

    fn summary(&self) -> &str {
        "end stale copies of ours, migrate around others, stop an external holder only for a \
         critical service when allowed"
    }

    fn decide(&self, conflict: &Conflict, ctx: &DecisionContext<'_>) -> Decision {
        if let Some(decision) = self.decide_common(conflict, ctx) {
            return decision;
        }
        if only_stale_copies(conflict)
            && let Ok(decision) = ctx.restart_ours(conflict)
        {
            return decision;
        }
        // Is there anyone we could stop at all? If not, moving is the only way.
        let terminate = match ctx.terminate_all(conflict) {
            Ok(decision) => decision,
            Err(why) => return ctx.migrate_or_unresolvable(&why),
        };
        let settings = ctx.settings();
        if settings.allow_port_migration
            && let Some(to) = ctx.alternative()
        {
            return Decision::Migrate { to };
        }
        let claim = ctx.claim();
        if claim.critical && !settings.preserve_external_processes {
            return terminate;
        }
        let no_migration = if settings.allow_port_migration {
            ctx.no_alternative_reason()
        } else {
            "port migration is disabled".to_owned()
        };
        let no_termination = if claim.critical {
            "preserve_external_processes is on".to_owned()
        } else {
            format!("`{}` is not critical", claim.name)
        };
        Decision::Unresolvable {
            reason: format!(
                "{}; {no_migration}; the holder is not stopped because {no_termination}",
                conflict.explanation
            ),
        }
    }
}
