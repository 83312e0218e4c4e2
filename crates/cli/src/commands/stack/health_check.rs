//! `health-check NAME` (also `--health-check`): the service's configured check, run once now
//! with the supervisor crate's check plugins, against the port the service has now (the
//! running supervisor's, else the configured one). Exit 1 when unhealthy.

use std::time::Duration;

use serde::Serialize;

use crate::args::HealthCheckArgs;
use crate::commands::Context;
use crate::control::client::Client;
use crate::control::paths::StatePaths;
use crate::control::protocol::{Request, StatusReport};
use crate::exit::{self, CliError, CliResult};
use crate::output::Style;
use crate::stack::probe;

#[derive(Debug, Serialize)]
struct Document {
    schema: &'static str,
    service: String,
    /// What was checked, e.g. `GET http://127.0.0.1:8001/health`.
    check: String,
    port: Option<u16>,
    /// `supervisor` (the port of the running stack) or `config`.
    port_source: &'static str,
    healthy: bool,
    reason: Option<String>,
    latency_ms: f64,
}

pub fn run(ctx: &Context<'_>, args: &HealthCheckArgs) -> CliResult {
    let loaded = ctx.require_config()?;
    let config = &loaded.config;
    let name = &args.name;
    config.service(name).ok_or_else(|| {
        let known: Vec<&str> = config.services.keys().map(String::as_str).collect();
        CliError::new(
            exit::NOT_FOUND,
            format!("no service `{name}` (known: {})", known.join(", ")),
        )
    })?;
    // The ports and pid of the running stack, when there is one.
    let paths = StatePaths::for_config(&loaded);
    let mut ports = probe::configured_ports(&loaded);
    let mut pid = None;
    let mut source = "config";
    if let Some(mut client) = Client::connect(&paths)? {
        client.set_timeout(Some(Duration::from_secs(10)))?;
        let status: StatusReport = client.call(&Request::Status)?;
        for row in &status.services {
            if let Some(port) = row.port {
                ports.insert(row.name.clone(), port);
            }
            if &row.name == name {
                pid = row.pid;
                source = "supervisor";
            }
        }
    }
    let port = ports.get(name).copied();
    let Some(probe) = probe::build(&loaded, name, &ports, pid)? else {
        return Err(CliError::failure(format!(
            "service `{name}` has no health check (no health_check, health_check_url or port)"
        )));
    };
    let (result, latency) = probe.run();
    let reason = match &result {
        supervisor::HealthResult::Unhealthy { reason } => Some(reason.clone()),
        _ => None,
    };
    let doc = Document {
        schema: "portwarden.health_check/1",
        service: name.clone(),
        check: probe.describe(),
        port,
        port_source: source,
        healthy: result.is_healthy(),
        reason: reason.clone(),
        latency_ms: (latency.as_secs_f64() * 10_000.0).round() / 10.0,
    };
    if ctx.out.json {
        ctx.out.json_document(&doc)?;
    } else {
        let verdict = if doc.healthy {
            ctx.out.paint(Style::Green, "healthy")
        } else {
            ctx.out.paint(Style::Red, "unhealthy")
        };
        ctx.out.line(format!(
            "{name}  {verdict} in {:.1}ms  {}{}",
            doc.latency_ms,
            doc.check,
            reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ))?;
    }
    if doc.healthy {
        Ok(())
    } else {
        Err(CliError::failure(format!(
            "{name} is unhealthy: {}",
            reason.unwrap_or_default()
        )))
    }
}
