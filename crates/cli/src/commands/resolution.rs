//! What `resolve`, `cleanup` and `kill-port` share: confirmation of destructive plans, and
//! plans and reports rendered for people. The config-to-resolver mapping is in
//! [`crate::conflicts`].

use std::io::{IsTerminal, Write};

use resolver::{Action, ClassifyContext, Decision, EntryOutcome, ExecuteOptions, Plan, Report};

use crate::conflicts;
use crate::control::paths::StatePaths;
use crate::exit::{self, CliError, CliResult};
use crate::output::{Output, Style, Table};

/// The JSON document of `resolve` and `cleanup` (schemas `portwarden.resolve/1` and
/// `portwarden.cleanup/1`): the plan, and what carrying it out did (`null` on a dry run).
#[derive(Debug, serde::Serialize)]
pub struct PlanDocument<'a> {
    /// The schema's name and version.
    pub schema: &'static str,
    /// The strategy (`resolve` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<&'a str>,
    /// Whether nothing was done.
    pub dry_run: bool,
    /// The plan.
    pub plan: &'a Plan,
    /// What was done.
    pub report: Option<&'a Report>,
}

/// Whether a plan would signal any process.
pub fn is_destructive(plan: &Plan) -> bool {
    plan.entries
        .iter()
        .flat_map(|e| &e.actions)
        .any(|a| matches!(a, Action::Terminate { .. }))
}

/// Asks before a destructive plan runs: `--yes` answers for the user; on a terminal the user is
/// asked; with no terminal and no `--yes` the plan is refused (exit 5).
pub fn confirm(out: &Output, yes: bool, question: &str) -> CliResult<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(CliError::new(
            exit::REFUSED,
            format!(
                "{question}: confirmation needed, and there is no terminal to ask on; pass --yes to proceed"
            ),
        ));
    }
    let mut stderr = std::io::stderr();
    let _ = write!(
        stderr,
        "{} {question} [y/N] ",
        out.paint(Style::Yellow, "?")
    );
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Execution options matching the plan's protections.
pub fn execute_options(context: &ClassifyContext, force: bool, dry_run: bool) -> ExecuteOptions {
    ExecuteOptions {
        dry_run,
        ..ExecuteOptions::matching(context, force)
    }
}

/// Records the plan's outcome (see [`conflicts::record`]), warning about what could not be
/// written.
pub fn record(out: &Output, paths: &StatePaths, plan: &Plan, report: &Report) {
    for warning in conflicts::record(paths, plan, report) {
        out.warn(warning);
    }
}

/// A decision in a few words.
pub fn describe_decision(decision: &Decision) -> String {
    match decision {
        Decision::Keep => "keep".to_owned(),
        Decision::Migrate { to } => format!("migrate to {to}"),
        Decision::RestartOurs { targets } => format!("end our stale copy ({})", pids(targets)),
        Decision::Terminate { targets, group } => {
            format!(
                "terminate {}{}",
                pids(targets),
                if *group { " and its group" } else { "" }
            )
        }
        Decision::Unresolvable { reason } => format!("unresolvable: {reason}"),
        other => other.name().to_owned(),
    }
}

fn pids(targets: &[procscan::ProcessIdentity]) -> String {
    let list: Vec<String> = targets.iter().map(|t| format!("pid {}", t.pid)).collect();
    list.join(", ")
}

/// An action in a few words.
pub fn describe_action(action: &Action) -> String {
    match action {
        Action::Terminate {
            identity,
            name,
            port,
            signal,
            grace,
            group,
            ..
        } => format!(
            "{} pid {} ({name}) on port {port}{}, SIGKILL after {}ms",
            signal,
            identity.pid,
            if *group { " and its process group" } else { "" },
            grace.as_millis()
        ),
        Action::Migrate { service, from, to } => format!("move {service} from {from} to {to}"),
        Action::Keep => "nothing to do".to_owned(),
        Action::Unresolvable { reason } => format!("nothing safe can be done: {reason}"),
        _ => "another action".to_owned(),
    }
}

/// The plan as a table for people, with each entry's explanation below it.
pub fn render_plan(out: &Output, plan: &Plan) -> String {
    let mut table = Table::new(["SERVICE", "PORT", "LEVEL", "DECISION", "PORT AFTER"]);
    for e in &plan.entries {
        table.row([
            e.service.clone().unwrap_or_else(|| "-".to_owned()),
            format!("{}/{}", e.port, e.protocol),
            paint_level(out, e.level),
            describe_decision(&e.decision),
            e.resolved_port
                .map_or_else(|| "-".to_owned(), |p| p.to_string()),
        ]);
    }
    let mut text = table.render();
    for e in &plan.entries {
        if let Some(conflict) = &e.conflict {
            text += &format!(
                "  {}: {}\n",
                e.service.as_deref().unwrap_or("port"),
                conflict.explanation
            );
        }
        for action in e.actions.iter().filter(|a| !matches!(a, Action::Keep)) {
            text += &format!("    - {}\n", describe_action(action));
        }
    }
    text
}

fn paint_level(out: &Output, level: resolver::ConflictLevel) -> String {
    use resolver::ConflictLevel as L;
    let style = match level {
        L::None => Style::Green,
        L::Low => Style::Dim,
        L::Medium => Style::Yellow,
        L::High | L::Critical => Style::Red,
    };
    out.paint(style, level)
}

/// The report of an execution for people: what was done to each entry and how long it took,
/// with migrations announced loudly.
pub fn render_report(out: &Output, report: &Report) -> String {
    let mut text = String::new();
    let mut table = Table::new(["SERVICE", "PORT", "OUTCOME", "NOW ON", "TOOK"]);
    for e in &report.entries {
        let outcome = e.outcome();
        let style = match outcome {
            EntryOutcome::Kept | EntryOutcome::Done => Style::Green,
            EntryOutcome::Skipped | EntryOutcome::Partial => Style::Yellow,
            _ => Style::Red,
        };
        table.row([
            e.service.clone().unwrap_or_else(|| "-".to_owned()),
            format!("{}/{}", e.port, e.protocol),
            out.paint(style, format!("{outcome:?}").to_lowercase()),
            e.resolved_port
                .map_or_else(|| "-".to_owned(), |p| p.to_string()),
            format!("{}ms", e.duration.as_millis()),
        ]);
    }
    text += &table.render();
    for e in &report.entries {
        for a in &e.actions {
            if matches!(a.action, Action::Keep) {
                continue;
            }
            text += &format!(
                "  {}: {} ({}ms)\n",
                describe_action(&a.action),
                outcome_text(&a.outcome),
                a.duration.as_millis()
            );
        }
        if let Some(v) = &e.verification {
            let verdict = if v.free {
                out.paint(Style::Green, "free")
            } else {
                out.paint(Style::Red, "still held")
            };
            text += &format!(
                "  port {}/{} verified {verdict}{}\n",
                v.port,
                v.protocol,
                if v.detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", v.detail)
                }
            );
        }
    }
    for m in &report.migrations {
        text += &format!(
            "\n{} {} now uses port {} instead of {}: dependents started by portwarden get the new port\n",
            out.paint(Style::Yellow, "MIGRATED"),
            out.paint(Style::Bold, &m.service),
            out.paint(Style::Bold, m.to),
            m.from
        );
    }
    text
}

fn outcome_text(outcome: &resolver::Outcome) -> String {
    match outcome {
        resolver::Outcome::Done { escalated, detail } => {
            format!(
                "done{}{}",
                if *escalated { " (needed SIGKILL)" } else { "" },
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                }
            )
        }
        resolver::Outcome::Refused { refusal } => format!("refused: {refusal}"),
        resolver::Outcome::Failed { message } => format!("failed: {message}"),
        resolver::Outcome::Skipped { reason } => format!("skipped: {reason}"),
        other => other.name().to_owned(),
    }
}

/// The exit code for a report: 0 when every entry was kept or done, 5 when a safety check
/// refused something, 4 when conflicts remain otherwise.
pub fn report_exit(report: &Report) -> CliResult {
    if report.dry_run || report.success() {
        return Ok(());
    }
    let outcomes: Vec<EntryOutcome> = report.entries.iter().map(|e| e.outcome()).collect();
    let bad: Vec<String> = report
        .entries
        .iter()
        .filter(|e| !matches!(e.outcome(), EntryOutcome::Kept | EntryOutcome::Done))
        .map(|e| format!("{}:{}", e.service.as_deref().unwrap_or("port"), e.port))
        .collect();
    let code = if outcomes.contains(&EntryOutcome::Refused) {
        exit::REFUSED
    } else {
        exit::CONFLICT
    };
    Err(CliError::new(
        code,
        format!("not resolved: {}", bad.join(", ")),
    ))
}
