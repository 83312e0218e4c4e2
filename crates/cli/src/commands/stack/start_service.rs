//! `start-service NAME [--port P]` (also `--start-service`): one service and what it depends
//! on. A running supervisor starts it; otherwise it runs in this terminal like `up NAME`.

use std::time::Duration;

use crate::args::StartServiceArgs;
use crate::commands::Context;
use crate::control::client::Client;
use crate::control::paths::StatePaths;
use crate::control::protocol::{ActionReport, Request, StatusReport};
use crate::exit::{self, CliError, CliResult};
use crate::stack::ports::PortOverride;
use crate::stack::{self, Mode};

pub fn run(ctx: &Context<'_>, args: &StartServiceArgs) -> CliResult {
    let paths = StatePaths::locate(ctx.global)?;
    let Some(mut client) = Client::connect(&paths)? else {
        let port_override = args.port.map(|port| PortOverride {
            service: args.name.clone(),
            port,
        });
        let prepared = stack::prepare(
            ctx,
            std::slice::from_ref(&args.name),
            args.yes,
            port_override,
        )?;
        return stack::run(ctx, prepared, Mode::Foreground);
    };
    if let Some(port) = args.port {
        client.set_timeout(Some(Duration::from_secs(10)))?;
        let status: StatusReport = client.call(&Request::Status)?;
        let row = status
            .services
            .iter()
            .find(|s| s.name == args.name)
            .ok_or_else(|| {
                CliError::new(
                    exit::NOT_FOUND,
                    format!("no service `{}` in the running stack", args.name),
                )
            })?;
        if row.port != Some(port) {
            return Err(CliError::new(
                exit::USAGE,
                format!(
                    "the running stack gives {} port {}; a service's port cannot change while \
                     its supervisor runs: `portwarden stop`, then `portwarden start-service {} \
                     --port {port}`",
                    args.name,
                    row.port
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "none".into()),
                    args.name
                ),
            ));
        }
        client.set_timeout(None)?;
    }
    let report: ActionReport = client.call(&Request::Start {
        services: vec![args.name.clone()],
        timeout_ms: None,
    })?;
    super::stop::show_report(ctx, &report)
}
