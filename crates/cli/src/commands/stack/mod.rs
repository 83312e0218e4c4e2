//! The stack's commands: `up` (and its background daemon), `status`, `stop`, `restart`,
//! `logs`, `start-service`, `health-check` and `check`.

mod check;
mod health_check;
mod logs;
mod restart;
mod start_service;
mod status;
mod stop;
mod supervise;
mod up;

use super::Context;
use crate::args::StackCommand;
use crate::exit::CliResult;

/// Runs one of the stack's commands.
pub fn dispatch(ctx: &Context<'_>, command: &StackCommand) -> CliResult {
    match command {
        StackCommand::Up(args) => up::run(ctx, args),
        StackCommand::Status(args) => status::run(ctx, args),
        StackCommand::Stop(args) => stop::run(ctx, args),
        StackCommand::Restart(args) => restart::run(ctx, args),
        StackCommand::Logs(args) => logs::run(ctx, args),
        StackCommand::StartService(args) => start_service::run(ctx, args),
        StackCommand::HealthCheck(args) => health_check::run(ctx, args),
        StackCommand::Check(args) => check::run(ctx, args),
        StackCommand::Supervise(args) => supervise::run(ctx, args),
    }
}
