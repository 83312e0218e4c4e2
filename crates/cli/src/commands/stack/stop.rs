//! `stop [SERVICES]` (also `--stop`): named services stop (ports checked free, the rest
//! untouched); with no names the whole stack stops and its supervisor exits. Services left
//! by a supervisor that died are stopped too.

use std::time::{Duration, Instant};

use supervisor::{Event, Stack, Supervisor, SupervisorOptions};

use super::up::follow;
use crate::args::StopArgs;
use crate::commands::Context;
use crate::control::client::Client;
use crate::control::paths::{StatePaths, SupervisorLock};
use crate::control::protocol::{ActionReport, Request, StatusReport, SupervisorInfo};
use crate::control::state::Recorded;
use crate::exit::{self, CliError, CliResult};
use crate::output::Style;
use crate::stack::progress::Progress;
use crate::stack::specs::ServiceMeta;

pub fn run(ctx: &Context<'_>, args: &StopArgs) -> CliResult {
    let paths = StatePaths::locate(ctx.global)?;
    let Some(mut client) = Client::connect(&paths)? else {
        return stop_leftovers(ctx, &paths, &args.services);
    };
    if args.services.is_empty() {
        return shutdown(ctx, &paths, client);
    }
    let report: ActionReport = client.call(&Request::Stop {
        services: args.services.clone(),
        timeout_ms: None,
    })?;
    show_report(ctx, &report)
}

/// Prints an action's report; fails (exit 1) when a service did not reach the goal.
pub(super) fn show_report(ctx: &Context<'_>, report: &ActionReport) -> CliResult {
    if ctx.out.json {
        ctx.out.json_document(report)?;
    } else {
        let width = report
            .services
            .iter()
            .map(|s| s.service.len())
            .max()
            .unwrap_or(0);
        for s in &report.services {
            let mark = if s.ok {
                ctx.out.paint(Style::Green, "ok")
            } else {
                ctx.out.paint(Style::Red, "failed")
            };
            ctx.out
                .line(format!("{:<width$}  {mark}  {}", s.service, s.message))?;
        }
    }
    if report.success() {
        Ok(())
    } else {
        let failed: Vec<&str> = report
            .services
            .iter()
            .filter(|s| !s.ok)
            .map(|s| s.service.as_str())
            .collect();
        Err(CliError::failure(format!(
            "{} failed for {}",
            report.action,
            failed.join(", ")
        )))
    }
}

/// Stops the whole stack, showing its shutdown, and waits for the supervisor to exit.
fn shutdown(ctx: &Context<'_>, paths: &StatePaths, mut client: Client) -> CliResult {
    client.set_timeout(Some(Duration::from_secs(10)))?;
    let status: StatusReport = client.call(&Request::Status)?;
    client.set_timeout(None)?;
    let metas: Vec<ServiceMeta> = status
        .services
        .iter()
        .map(|s| ServiceMeta::named(&s.name, s.port))
        .collect();
    let mut progress = Progress::new(&metas, ctx.out.painter);
    progress.set_stopping();
    let (info, mut stream) = client.stream::<SupervisorInfo>(&Request::Shutdown)?;
    follow(ctx, &mut stream, &mut progress, false)?;
    // The stream ends as the supervisor finishes; wait for its process to be gone too.
    let identity = procscan::ProcessIdentity {
        pid: info.pid,
        start_time: info.start_time,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while procscan::is_same_process(&identity) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if procscan::is_same_process(&identity) {
        return Err(CliError::failure(format!(
            "the supervisor (pid {}) stopped the stack but has not exited",
            info.pid
        )));
    }
    if SupervisorLock::is_held(paths) {
        log::info!("the lock of {} is still held", paths.dir.display());
    }
    Ok(())
}

/// No supervisor runs: stop what a dead one left alive, through the supervisor library's own
/// recovery (a supervisor started on the old state file stops the recorded processes that
/// are still the same processes, whole groups, before anything else).
fn stop_leftovers(ctx: &Context<'_>, paths: &StatePaths, services: &[String]) -> CliResult {
    let live = Recorded::read(paths)
        .map(|r| r.live_services())
        .unwrap_or_default();
    if live.is_empty() {
        return Err(CliError::new(
            exit::NOT_FOUND,
            format!(
                "no supervisor is running for {}: nothing to stop",
                paths.dir.display()
            ),
        ));
    }
    if !services.is_empty() {
        return Err(CliError::new(
            exit::NOT_FOUND,
            "no supervisor is running; `portwarden stop` without names stops what the last \
             one left running",
        ));
    }
    let Some(_lock) = SupervisorLock::try_acquire(paths)? else {
        return Err(CliError::failure(
            "a supervisor is starting for this stack; try again in a moment",
        ));
    };
    let options = SupervisorOptions {
        log_dir: paths.logs.clone(),
        state_file: Some(paths.state_file.clone()),
        ..SupervisorOptions::default()
    };
    let empty = Stack::new(Vec::new()).map_err(CliError::failure)?;
    let handle = Supervisor::start(empty, options).map_err(CliError::failure)?;
    let events = handle.events();
    handle.shutdown();
    while let Some(event) = events.recv() {
        match &event {
            Event::Recovered { service, pid } => {
                if ctx.out.json {
                    ctx.out.json_line(&event)?;
                } else {
                    ctx.out.line(format!(
                        "{}  stopped pid {pid}, left running by a supervisor that is gone",
                        service.as_deref().unwrap_or("orphan")
                    ))?;
                }
            }
            Event::Warning { message } => ctx.out.warn(message),
            _ => {}
        }
    }
    handle.wait().map_err(CliError::failure)?;
    Ok(())
}
