//! `portwarden kill-port N...`: end whatever listens on exactly these ports, safely.

use procscan::{ProcessDetail, StateFilter};
use resolver::KillOptions;
use serde::Serialize;

use super::Context;
use super::resolution;
use crate::args::KillPortArgs;
use crate::conflicts;
use crate::control::paths::StatePaths;
use crate::exit::{self, CliError, CliResult};

#[derive(Debug, Serialize)]
struct PortResult {
    port: u16,
    plan: resolver::Plan,
    report: Option<resolver::Report>,
}

#[derive(Debug, Serialize)]
struct Document<'a> {
    schema: &'static str,
    dry_run: bool,
    ports: &'a [PortResult],
}

pub fn run(ctx: &Context<'_>, args: &KillPortArgs) -> CliResult {
    // The config is optional here: it only adds protected names and the audit trail.
    let loaded = ctx.optional_config()?;
    let context = match &loaded {
        Some(l) => conflicts::classify_context(&l.config),
        None => resolver::ClassifyContext::current(),
    };
    let options = KillOptions {
        signal: args.signal,
        grace: args.grace.into(),
        force: args.force,
        group: true,
        context: context.clone(),
    };
    let out = &ctx.out;
    let mut results = Vec::new();
    for &port in &args.ports {
        let snapshot = procscan::lookup_port(
            port,
            args.proto,
            StateFilter::Listening,
            ProcessDetail::Basic,
        )
        .map_err(|e| {
            CliError::failure(format!("cannot read the socket table for port {port}: {e}"))
        })?;
        let plan = resolver::plan_kill_port(port, args.proto, &snapshot, &options);
        results.push(PortResult {
            port,
            plan,
            report: None,
        });
    }
    let work = results.iter().any(|r| resolution::is_destructive(&r.plan));
    if args.dry_run || !work {
        if out.json {
            return out.json_document(&Document {
                schema: "portwarden.kill_port/1",
                dry_run: args.dry_run,
                ports: &results,
            });
        }
        for r in &results {
            if r.plan
                .entries
                .iter()
                .all(|e| e.decision == resolver::Decision::Keep)
            {
                out.line(format!("port {}: nothing listens on it", r.port))?;
            } else {
                out.write(&resolution::render_plan(out, &r.plan))?;
            }
        }
        if args.dry_run && work {
            out.line("\ndry run: nothing was changed")?;
        }
        return refused_if_unresolvable(&results);
    }
    if !out.json {
        for r in &results {
            out.write(&resolution::render_plan(out, &r.plan))?;
        }
    }
    if !resolution::confirm(out, args.yes, "end these processes")? {
        return Err(CliError::new(
            exit::REFUSED,
            "not confirmed: nothing was changed",
        ));
    }
    let execute = resolution::execute_options(&context, args.force, false);
    for r in &mut results {
        let report = resolver::execute(&r.plan, &execute);
        if let Some(l) = &loaded {
            resolution::record(out, &StatePaths::for_config(l), &r.plan, &report);
        }
        r.report = Some(report);
    }
    if out.json {
        out.json_document(&Document {
            schema: "portwarden.kill_port/1",
            dry_run: false,
            ports: &results,
        })?;
    } else {
        for r in &results {
            if let Some(report) = &r.report {
                out.write(&resolution::render_report(out, report))?;
            }
        }
    }
    // A holder that nothing safe can be done about (protected, another user's, unseen) is a
    // refusal here: the user named the port and asked for its holders to end.
    let refused = results
        .iter()
        .filter_map(|r| r.report.as_ref())
        .flat_map(|r| &r.entries)
        .any(|e| {
            matches!(
                e.outcome(),
                resolver::EntryOutcome::Refused | resolver::EntryOutcome::Unresolvable
            )
        });
    if refused {
        return refused_if_unresolvable(&results).and(Err(CliError::new(
            exit::REFUSED,
            "some holders were not ended: see the reasons above",
        )));
    }
    for r in &results {
        if let Some(report) = &r.report {
            resolution::report_exit(report)?;
        }
    }
    Ok(())
}

/// Holders that nothing safe can be done about make the command fail with "refused".
fn refused_if_unresolvable(results: &[PortResult]) -> CliResult {
    let unresolved: Vec<String> = results
        .iter()
        .flat_map(|r| r.plan.unresolved())
        .flat_map(|e| &e.actions)
        .filter_map(|a| match a {
            resolver::Action::Unresolvable { reason } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    if unresolved.is_empty() {
        Ok(())
    } else {
        Err(CliError::new(exit::REFUSED, unresolved.join("; ")))
    }
}
