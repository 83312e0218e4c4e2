//! `check`: the pre-start checks of `up`, without starting anything and without running any
//! setup command: the config is valid (no cycle among others), every command is found,
//! every working folder exists, health URLs are local, templates expand, and the ports can be
//! had (the resolver's plan against the live socket table, with what the strategy would do).
//! Exit 0 when the stack can start, 1 with every problem listed.

use std::path::PathBuf;

use serde::Serialize;

use crate::args::CheckArgs;
use crate::commands::Context;
use crate::config::{self, ConfigError, Severity};
use crate::control::paths::StatePaths;
use crate::control::protocol::PortDecision;
use crate::control::state::Recorded;
use crate::exit::{self, CliError, CliResult};
use crate::output::Style;
use crate::stack::{self, ports, specs};

#[derive(Debug, Serialize)]
struct Problem {
    /// `config`, `command_not_found`, `working_dir_missing`, `remote_health_url`,
    /// `unsupported_health_url`, `template`, `stack`, `port_conflict`.
    kind: String,
    service: Option<String>,
    message: String,
}

#[derive(Debug, Serialize)]
struct Document {
    schema: &'static str,
    config: PathBuf,
    /// Whether the stack can start.
    ok: bool,
    problems: Vec<Problem>,
    warnings: Vec<String>,
    /// The resolver's strategy and its decision for each service with a port.
    strategy: Option<String>,
    ports: Vec<PortDecision>,
}

pub fn run(ctx: &Context<'_>, _args: &CheckArgs) -> CliResult {
    let cwd = std::env::current_dir()?;
    let env = std::env::var_os(config::CONFIG_ENV_VAR);
    let path = config::discover(ctx.global.config.as_deref(), &cwd, env.as_deref())
        .map_err(|e| CliError::new(exit::CONFIG, e))?;
    let mut doc = Document {
        schema: "portwarden.check/1",
        config: std::path::absolute(&path).unwrap_or_else(|_| path.clone()),
        ok: true,
        problems: Vec::new(),
        warnings: Vec::new(),
        strategy: None,
        ports: Vec::new(),
    };
    match config::load(&path) {
        Err(ConfigError::Invalid {
            errors, warnings, ..
        }) => {
            doc.problems.extend(errors.iter().map(|issue| Problem {
                kind: "config".into(),
                service: service_of_field(&issue.field),
                message: issue.to_string(),
            }));
            doc.warnings
                .extend(warnings.iter().map(ToString::to_string));
        }
        Err(e) => return Err(CliError::new(exit::CONFIG, e)),
        Ok(loaded) => check_loaded(&loaded, &mut doc)?,
    }
    doc.ok = doc.problems.is_empty();
    show(ctx, &doc)?;
    if doc.ok {
        Ok(())
    } else {
        Err(CliError::failure(format!(
            "{} problem{} found: the stack would not start",
            doc.problems.len(),
            if doc.problems.len() == 1 { "" } else { "s" }
        )))
    }
}

fn service_of_field(field: &str) -> Option<String> {
    field
        .strip_prefix("services.")
        .and_then(|rest| rest.split('.').next())
        .map(str::to_owned)
}

fn check_loaded(loaded: &config::LoadedConfig, doc: &mut Document) -> CliResult {
    doc.warnings.extend(
        loaded
            .warnings
            .iter()
            .filter(|w| w.severity() == Severity::Warning)
            .map(ToString::to_string),
    );
    let built = specs::build(loaded, &Default::default());
    for name in &built.unmanaged {
        doc.warnings.push(format!(
            "{name}: no startup_command: portwarden does not start it (its dependents do not \
             wait for it)"
        ));
    }
    for issue in stack::pre_start_issues(&built) {
        let value = serde_json::to_value(&issue).unwrap_or_default();
        doc.problems.push(Problem {
            kind: value["kind"].as_str().unwrap_or("stack").to_owned(),
            service: value["service"].as_str().map(str::to_owned),
            message: issue.to_string(),
        });
    }
    // Ports: what `up` would plan now (nothing is done). Services of a running stack hold
    // their own ports: the state file's live instances count as ours.
    let paths = StatePaths::for_config(loaded);
    let live = Recorded::read(&paths)
        .map(|r| r.live_instances())
        .unwrap_or_default();
    let names: Vec<String> = built.specs.iter().map(|s| s.name.clone()).collect();
    let plan = ports::plan_start(loaded, &paths, &names, &live, None)?;
    for line in plan.unresolved() {
        let service = line.split(':').next().map(str::to_owned);
        doc.problems.push(Problem {
            kind: "port_conflict".into(),
            service,
            message: line,
        });
    }
    for line in plan.terminations() {
        doc.warnings
            .push(format!("`up` would {line} (it asks first, or needs --yes)"));
    }
    doc.strategy = Some(plan.strategy.clone());
    doc.ports = plan.decisions;
    Ok(())
}

fn show(ctx: &Context<'_>, doc: &Document) -> CliResult {
    if ctx.out.json {
        return ctx.out.json_document(doc);
    }
    let out = &ctx.out;
    let mut text = format!(
        "{} {}\n",
        out.paint(Style::Bold, "config"),
        doc.config.display()
    );
    if !doc.ports.is_empty() {
        text += &format!(
            "{} (strategy {}):\n",
            out.paint(Style::Bold, "ports"),
            doc.strategy.as_deref().unwrap_or("?")
        );
        let width = doc.ports.iter().map(|d| d.service.len()).max().unwrap_or(0);
        for d in &doc.ports {
            let what = match (d.decision.as_str(), d.resolved_port) {
                ("keep", _) if d.holders.is_empty() => out.paint(Style::Green, "free"),
                ("keep", _) => format!("{}; kept", d.detail),
                ("migrate", Some(to)) => out.paint(
                    Style::Yellow,
                    format!("{}: would move to {to}", d.holders.join("; ")),
                ),
                ("unresolvable", _) => out.paint(Style::Red, &d.detail),
                (decision, _) => out.paint(
                    Style::Yellow,
                    format!("{}: would {decision}", d.holders.join("; ")),
                ),
            };
            text += &format!("  {:<width$}  {:>5}  {what}\n", d.service, d.port);
        }
    }
    for warning in &doc.warnings {
        // Config issues say "warning:" themselves.
        if warning.contains("warning: ") {
            text += &format!("{warning}\n");
        } else {
            text += &format!("{} {warning}\n", out.paint(Style::Yellow, "warning:"));
        }
    }
    if doc.problems.is_empty() {
        text += &format!("{} the stack can start\n", out.paint(Style::Green, "ok:"));
    } else {
        text += &format!("{}\n", out.paint(Style::Bold, "problems:"));
        for p in &doc.problems {
            text += &format!("  {} {}\n", out.paint(Style::Red, "✗"), p.message);
        }
    }
    out.write(&text)
}
