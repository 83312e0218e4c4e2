//! `portwarden resolve`: detect conflicts on the services' ports, plan under a strategy, and
//! (unless `--dry-run`) carry the plan out, verify it and record it.

use procscan::ScanOptions;
use resolver::PortMemory;

use super::Context;
use super::resolution::{self, PlanDocument};
use crate::args::ResolveArgs;
use crate::conflicts;
use crate::control::paths::StatePaths;
use crate::exit::{self, CliError, CliResult};

pub fn run(ctx: &Context<'_>, args: &ResolveArgs) -> CliResult {
    let loaded = ctx.require_config()?;
    let config = &loaded.config;
    let paths = StatePaths::for_config(&loaded);
    let memory = PortMemory::load(&paths.ports).map_err(|e| CliError::new(exit::FAILURE, e))?;
    let mut claims = conflicts::claims(config, Some(&memory))?;
    // The running stack's services hold their own ports: they are no conflicts.
    conflicts::follow_stack(&mut claims, &conflicts::running_services(&paths));
    let strategy_name = args
        .strategy
        .clone()
        .unwrap_or_else(|| config.conflict_resolution.strategy.to_string());
    let strategy =
        resolver::strategy_by_name(&strategy_name).map_err(|e| CliError::new(exit::USAGE, e))?;
    let mut snapshot = procscan::snapshot(&ScanOptions::default())
        .map_err(|e| CliError::failure(format!("cannot read the socket table: {e}")))?;
    conflicts::without_supervisor(&mut snapshot, conflicts::live_supervisor(&paths));
    let mut options = conflicts::plan_options(config, args.force);
    conflicts::name_containers(&mut options, &snapshot);
    let plan = resolver::plan(&claims, &snapshot, &*strategy, &options);

    let out = &ctx.out;
    if args.dry_run {
        if out.json {
            return out.json_document(&PlanDocument {
                schema: "portwarden.resolve/1",
                strategy: Some(&strategy_name),
                dry_run: true,
                plan: &plan,
                report: None,
            });
        }
        out.write(&resolution::render_plan(out, &plan))?;
        out.line(format!(
            "\ndry run with strategy {strategy_name}: nothing was changed"
        ))?;
        return if plan.unresolved().next().is_some() {
            Err(CliError::new(
                exit::CONFLICT,
                "some conflicts cannot be resolved with this strategy",
            ))
        } else {
            Ok(())
        };
    }
    if resolution::is_destructive(&plan) {
        if !out.json {
            out.write(&resolution::render_plan(out, &plan))?;
        }
        if !resolution::confirm(out, args.yes, "terminate the processes listed above")? {
            return Err(CliError::new(
                exit::REFUSED,
                "not confirmed: nothing was changed",
            ));
        }
    }
    let context = conflicts::classify_context(config);
    let report = resolver::execute(
        &plan,
        &resolution::execute_options(&context, args.force, false),
    );
    resolution::record(out, &paths, &plan, &report);
    if out.json {
        out.json_document(&PlanDocument {
            schema: "portwarden.resolve/1",
            strategy: Some(&strategy_name),
            dry_run: false,
            plan: &plan,
            report: Some(&report),
        })?;
    } else {
        // A destructive plan was shown before the confirmation; show any other non-trivial one.
        let eventful = plan
            .entries
            .iter()
            .any(|e| e.decision != resolver::Decision::Keep);
        if eventful && !resolution::is_destructive(&plan) {
            out.write(&resolution::render_plan(out, &plan))?;
            out.line("")?;
        }
        out.write(&resolution::render_report(out, &report))?;
    }
    resolution::report_exit(&report)
}
