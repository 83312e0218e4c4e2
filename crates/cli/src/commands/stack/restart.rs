//! `restart [SERVICES]` (also `--restart`): through the running supervisor.

use crate::args::RestartArgs;
use crate::commands::Context;
use crate::control::client::Client;
use crate::control::paths::StatePaths;
use crate::control::protocol::{ActionReport, Request};
use crate::exit::{self, CliError, CliResult};

pub fn run(ctx: &Context<'_>, args: &RestartArgs) -> CliResult {
    let paths = StatePaths::locate(ctx.global)?;
    let Some(mut client) = Client::connect(&paths)? else {
        return Err(CliError::new(
            exit::NOT_FOUND,
            format!(
                "no supervisor is running for {}: start the stack with `portwarden up`",
                paths.dir.display()
            ),
        ));
    };
    let report: ActionReport = client.call(&Request::Restart {
        services: args.services.clone(),
        timeout_ms: None,
    })?;
    super::stop::show_report(ctx, &report)
}
