//! `status` (also `--status`): the running stack, from its supervisor; or, when none runs,
//! what a dead supervisor left alive.

use std::time::Duration;

use supervisor::ServiceState;

use crate::args::StatusArgs;
use crate::commands::Context;
use crate::control::client::Client;
use crate::control::paths::StatePaths;
use crate::control::protocol::{Request, ServiceRow, StatusReport};
use crate::control::state::Recorded;
use crate::exit::{self, CliError, CliResult};
use crate::output::{Style, Table, format_bytes, format_duration};

pub fn run(ctx: &Context<'_>, args: &StatusArgs) -> CliResult {
    let paths = StatePaths::locate(ctx.global)?;
    let Some(mut client) = Client::connect(&paths)? else {
        return not_running(ctx, &paths);
    };
    client.set_timeout(Some(Duration::from_secs(10)))?;
    let mut report: StatusReport = client.call(&Request::Status)?;
    if !args.services.is_empty() {
        let unknown: Vec<&String> = args
            .services
            .iter()
            .filter(|n| !report.services.iter().any(|s| &&s.name == n))
            .collect();
        if let Some(name) = unknown.first() {
            return Err(CliError::new(
                exit::NOT_FOUND,
                format!("no service `{name}` in the running stack"),
            ));
        }
        report.services.retain(|s| args.services.contains(&s.name));
    }
    if ctx.out.json {
        return ctx.out.json_document(&report);
    }
    let mut text = String::new();
    if let Some(sup) = &report.supervisor {
        text += &format!(
            "{} {} (supervisor pid {}, {}, up {}) {}\n",
            ctx.out.paint(Style::Bold, "stack"),
            paint_stack(ctx, report.stack.as_deref().unwrap_or("?")),
            sup.pid,
            sup.mode,
            format_duration(Duration::from_millis(sup.uptime_ms)),
            ctx.out.paint(Style::Dim, sup.config.display()),
        );
    }
    text += &table(ctx, &report.services);
    ctx.out.write(&text)
}

fn paint_stack(ctx: &Context<'_>, stack: &str) -> String {
    let style = match stack {
        "ready" => Style::Green,
        "failed" => Style::Red,
        _ => Style::Yellow,
    };
    ctx.out.paint(style, stack)
}

fn table(ctx: &Context<'_>, rows: &[ServiceRow]) -> String {
    let out = &ctx.out;
    let mut table = Table::new([
        "SERVICE", "STATE", "PID", "PORT", "HEALTH", "RESTARTS", "UPTIME", "CPU", "RSS", "URL",
    ]);
    for row in rows {
        let state = serde_json::to_value(row.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "?".into());
        let state = match row.state {
            ServiceState::Running => out.paint(Style::Green, state),
            ServiceState::Failed | ServiceState::Blocked => out.paint(Style::Red, state),
            ServiceState::Stopped | ServiceState::Inactive | ServiceState::Exited => {
                out.paint(Style::Dim, state)
            }
            _ => out.paint(Style::Yellow, state),
        };
        let health = match row.health.as_str() {
            "healthy" => out.paint(Style::Green, "healthy"),
            "unhealthy" => out.paint(Style::Red, "unhealthy"),
            "not_checked" => "-".to_owned(),
            other => other.to_owned(),
        };
        let port = match (row.port, row.configured_port) {
            (Some(p), Some(c)) if p != c => out.paint(Style::Yellow, format!("{p} (from {c})")),
            (Some(p), _) => p.to_string(),
            (None, _) => "-".into(),
        };
        let dash = || "-".to_owned();
        table.row([
            row.name.clone(),
            state,
            row.pid.map(|p| p.to_string()).unwrap_or_else(dash),
            port,
            health,
            row.restarts.to_string(),
            row.uptime_ms
                .map(|ms| format_duration(Duration::from_millis(ms)))
                .unwrap_or_else(dash),
            row.cpu_percent
                .map(|c| format!("{c:.1}%"))
                .unwrap_or_else(dash),
            row.rss_bytes.map(format_bytes).unwrap_or_else(dash),
            row.url
                .clone()
                .filter(|_| row.pid.is_some())
                .unwrap_or_else(dash),
        ]);
    }
    let mut text = table.render();
    for row in rows {
        if let Some(reason) = row.reason.as_ref().or(row.health_reason.as_ref()) {
            text += &format!("{}: {reason}\n", row.name);
        }
    }
    text
}

/// No supervisor answers: say so (exit 6), and list what a dead one left alive.
fn not_running(ctx: &Context<'_>, paths: &StatePaths) -> CliResult {
    let recorded = Recorded::read(paths);
    let live = recorded
        .as_ref()
        .map(Recorded::live_services)
        .unwrap_or_default();
    let rows: Vec<ServiceRow> = live
        .iter()
        .map(|l| ServiceRow {
            name: l.service.clone(),
            state: ServiceState::Running,
            health: "unknown".into(),
            health_reason: None,
            pid: Some(l.pid),
            pgid: l.pgid,
            port: l.port,
            configured_port: None,
            url: None,
            restarts: 0,
            started_at: None,
            uptime_ms: None,
            cpu_percent: None,
            rss_bytes: None,
            processes: None,
            last_exit: None,
            time_to_healthy_ms: None,
            health_checks: None,
            reason: Some("left running by a supervisor that is gone".into()),
        })
        .collect();
    let message = match (&recorded, live.is_empty()) {
        (Some(r), false) if r.supervisor_alive => format!(
            "the supervisor (pid {}) of this stack does not answer on its control socket",
            r.file.supervisor.pid
        ),
        (Some(r), false) => format!(
            "no supervisor is running for {}; the last one (pid {}) is gone and left {} \
             service{} running: `portwarden stop` stops {}, `portwarden up` replaces {}",
            paths.dir.display(),
            r.file.supervisor.pid,
            live.len(),
            if live.len() == 1 { "" } else { "s" },
            if live.len() == 1 { "it" } else { "them" },
            if live.len() == 1 { "it" } else { "them" },
        ),
        _ => format!("no supervisor is running for {}", paths.dir.display()),
    };
    if ctx.out.json {
        ctx.out.json_document(&StatusReport {
            schema: "portwarden.status/1".into(),
            running: false,
            supervisor: None,
            stack: None,
            services: rows,
            startup: None,
        })?;
    } else if !rows.is_empty() {
        let mut table = Table::new(["SERVICE", "PID", "PGID", "PORT"]);
        for l in &live {
            let dash = || "-".to_owned();
            table.row([
                l.service.clone(),
                l.pid.to_string(),
                l.pgid.map(|g| g.to_string()).unwrap_or_else(dash),
                l.port.map(|p| p.to_string()).unwrap_or_else(dash),
            ]);
        }
        ctx.out.write(&table.render())?;
    }
    Err(CliError::new(exit::NOT_FOUND, message))
}
