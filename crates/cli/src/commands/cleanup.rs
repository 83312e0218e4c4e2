//! `portwarden cleanup`: end our own strays: processes that match a service's process patterns
//! (or a recorded instance) and hold one of its ports.

use procscan::ScanOptions;
use resolver::{KillOptions, PortMemory};

use super::Context;
use super::resolution::{self, PlanDocument};
use crate::args::CleanupArgs;
use crate::conflicts;
use crate::control::paths::StatePaths;
use crate::exit::{self, CliError, CliResult};

pub fn run(ctx: &Context<'_>, args: &CleanupArgs) -> CliResult {
    let loaded = ctx.require_config()?;
    let config = &loaded.config;
    let paths = StatePaths::for_config(&loaded);
    let memory = PortMemory::load(&paths.ports).map_err(|e| CliError::new(exit::FAILURE, e))?;
    let claims = conflicts::claims(config, Some(&memory))?;
    let snapshot = procscan::snapshot(&ScanOptions::default())
        .map_err(|e| CliError::failure(format!("cannot read the socket table: {e}")))?;
    let context = conflicts::classify_context(config);
    let options = KillOptions {
        grace: args.grace.map_or_else(
            || config.conflict_resolution.grace_period.into(),
            Into::into,
        ),
        force: args.force,
        context: context.clone(),
        ..KillOptions::default()
    };
    let plan = resolver::plan_cleanup(&claims, &snapshot, &options);
    let out = &ctx.out;
    if plan.entries.is_empty() || args.dry_run {
        if out.json {
            return out.json_document(&PlanDocument {
                schema: "portwarden.cleanup/1",
                strategy: None,
                dry_run: args.dry_run,
                plan: &plan,
                report: None,
            });
        }
        if plan.entries.is_empty() {
            return out.line("no strays: none of the services' ports is held by a copy of ours");
        }
        out.write(&resolution::render_plan(out, &plan))?;
        return out.line("\ndry run: nothing was changed");
    }
    if !out.json {
        out.write(&resolution::render_plan(out, &plan))?;
    }
    if resolution::is_destructive(&plan)
        && !resolution::confirm(out, args.yes, "end these processes")?
    {
        return Err(CliError::new(
            exit::REFUSED,
            "not confirmed: nothing was changed",
        ));
    }
    let report = resolver::execute(
        &plan,
        &resolution::execute_options(&context, args.force, false),
    );
    resolution::record(out, &paths, &plan, &report);
    if out.json {
        out.json_document(&PlanDocument {
            schema: "portwarden.cleanup/1",
            strategy: None,
            dry_run: false,
            plan: &plan,
            report: Some(&report),
        })?;
    } else {
        out.write(&resolution::render_report(out, &report))?;
    }
    resolution::report_exit(&report)
}
