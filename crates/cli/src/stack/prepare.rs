//! Before a start: the config, the lock, the checks, and the ports.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};

use supervisor::{CheckIssue, Stack};

use super::ports::{self, PortOverride};
use super::specs::{self, Built};
use crate::commands::Context;
use crate::config::LoadedConfig;
use crate::control::paths::{StatePaths, SupervisorLock};
use crate::control::protocol::PortDecision;
use crate::control::state::Recorded;
use crate::exit::{self, CliError, CliResult};

/// A stack ready to be handed to the supervisor.
#[derive(Debug)]
pub struct Prepared {
    /// The config.
    pub loaded: LoadedConfig,
    /// The state folder.
    pub paths: StatePaths,
    /// The project's supervisor lock, held.
    pub lock: SupervisorLock,
    /// The services with their resolved ports.
    pub built: Built,
    /// The services asked for (`None`: all).
    pub selection: Option<Vec<String>>,
    /// The services that will start (those asked for and what they depend on), in order.
    pub selected: Vec<String>,
    /// Every service, dependencies first.
    pub start_order: Vec<String>,
    /// The port decisions, with their outcomes.
    pub decisions: Vec<PortDecision>,
}

/// The supervisor's pre-start checks of the built services: programs found on `PATH`,
/// working folders present, health URLs local, templates valid, no cycle.
pub fn pre_start_issues(built: &Built) -> Vec<CheckIssue> {
    supervisor::check_services(&built.specs)
}

/// Loads the config, takes the project's lock, checks the services, and plans and frees
/// their ports. `services` selects what starts (with what it depends on; empty: all).
pub fn prepare(
    ctx: &Context<'_>,
    services: &[String],
    yes: bool,
    port_override: Option<PortOverride>,
) -> CliResult<Prepared> {
    let loaded = ctx.require_config()?;
    let paths = StatePaths::for_config(&loaded);
    paths.ensure().map_err(|e| {
        CliError::failure(format!(
            "cannot prepare the state folder {}: {e}",
            paths.dir.display()
        ))
    })?;
    let lock = SupervisorLock::try_acquire(&paths)
        .map_err(|e| CliError::failure(format!("cannot lock {}: {e}", paths.lock_file.display())))?
        .ok_or_else(|| already_running(&paths))?;
    let recorded = Recorded::read(&paths);
    let live = recorded
        .as_ref()
        .map(Recorded::live_instances)
        .unwrap_or_default();
    if let Some(recorded) = &recorded
        && !live.is_empty()
    {
        ctx.out.note(format!(
            "a supervisor of this stack (pid {}) ended without stopping {}: {} \
             stopped before the start",
            recorded.file.supervisor.pid,
            live.keys().cloned().collect::<Vec<_>>().join(", "),
            if live.len() == 1 { "it is" } else { "they are" }
        ));
    }

    let configured = specs::build(&loaded, &BTreeMap::new());
    let known: Vec<&str> = configured.specs.iter().map(|s| s.name.as_str()).collect();
    for name in services {
        if configured.unmanaged.contains(name) {
            return Err(CliError::new(
                exit::NOT_FOUND,
                format!("service `{name}` has no startup_command: portwarden cannot start it"),
            ));
        }
        if !known.contains(&name.as_str()) {
            return Err(CliError::new(
                exit::NOT_FOUND,
                format!(
                    "no service `{name}` in {} (known: {})",
                    loaded.path.display(),
                    known.join(", ")
                ),
            ));
        }
    }
    if let Some(o) = &port_override
        && loaded
            .config
            .service(&o.service)
            .is_some_and(|s| s.port.is_none())
    {
        return Err(CliError::new(
            exit::USAGE,
            format!("service `{}` has no port to override", o.service),
        ));
    }
    let issues = pre_start_issues(&configured);
    if !issues.is_empty() {
        let list: Vec<String> = issues.iter().map(ToString::to_string).collect();
        return Err(CliError::failure(format!(
            "the stack cannot start:\n  {}",
            list.join("\n  ")
        )));
    }
    let stack = Stack::new(configured.specs.clone()).map_err(|e| CliError::new(exit::CONFIG, e))?;
    let start_order: Vec<String> = stack
        .start_order()
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let selected: Vec<String> = if services.is_empty() {
        start_order.clone()
    } else {
        stack
            .with_dependencies(services)
            .map_err(|e| CliError::new(exit::NOT_FOUND, e))?
            .into_iter()
            .map(str::to_owned)
            .collect()
    };

    let plan = ports::plan_start(&loaded, &paths, &selected, &live, port_override.as_ref())?;
    let unresolved = plan.unresolved();
    if !unresolved.is_empty() {
        return Err(CliError::new(
            exit::CONFLICT,
            format!(
                "port conflicts remain (strategy {}):\n  {}",
                plan.strategy,
                unresolved.join("\n  ")
            ),
        ));
    }
    confirm_terminations(ctx, &plan.terminations(), yes)?;
    let executed = plan.execute(&loaded, &paths)?;
    let built = specs::build(&loaded, &executed.ports);
    Ok(Prepared {
        loaded,
        paths,
        lock,
        built,
        selection: (!services.is_empty()).then(|| services.to_vec()),
        selected,
        start_order,
        decisions: executed.decisions,
    })
}

fn already_running(paths: &StatePaths) -> CliError {
    let who = Recorded::read(paths)
        .filter(|r| r.supervisor_alive)
        .map(|r| format!(" (pid {})", r.file.supervisor.pid))
        .unwrap_or_default();
    CliError::failure(format!(
        "a supervisor{who} already runs this stack ({}): see `portwarden status`, \
         or stop it with `portwarden stop`",
        paths.dir.display()
    ))
}

/// Asks before stopping other processes: on a terminal the user confirms; otherwise `--yes`
/// must have been given. Refused: exit code 5.
pub fn confirm_terminations(ctx: &Context<'_>, terminations: &[String], yes: bool) -> CliResult {
    if terminations.is_empty() || yes {
        return Ok(());
    }
    let interactive =
        !ctx.out.json && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let list = terminations.join("\n  ");
    if interactive {
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "To free the ports, portwarden would:\n  {list}\nGo ahead? [y/N] "
        );
        let _ = err.flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            return Ok(());
        }
        return Err(CliError::new(
            exit::REFUSED,
            "nothing was stopped: not confirmed",
        ));
    }
    Err(CliError::new(
        exit::REFUSED,
        format!(
            "the port plan would stop other processes:\n  {list}\npass --yes to allow it, or \
             use `conflict_resolution.strategy: conservative` to move services instead"
        ),
    ))
}
