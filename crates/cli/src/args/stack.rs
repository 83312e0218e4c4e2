//! The commands that run the stack and talk to its supervisor.

use clap::{Args, Subcommand};

/// Running the stack, and controlling it from any terminal.
#[derive(Debug, Subcommand)]
pub enum StackCommand {
    /// Start the stack: pre-start checks, a port plan against the live socket table, then
    /// supervision in this terminal until Ctrl-C (or, with -d, in the background).
    #[command(long_flag = "start")]
    Up(UpArgs),
    /// The running stack: state, pid, port, health, restarts, uptime, CPU and memory of each
    /// service.
    #[command(long_flag = "status")]
    Status(StatusArgs),
    /// Stop services (their ports are checked free), or with no names the whole stack.
    #[command(long_flag = "stop")]
    Stop(StopArgs),
    /// Restart services, or with no names every running service in dependency order.
    #[command(long_flag = "restart")]
    Restart(RestartArgs),
    /// Service output from `.portwarden/logs`, optionally followed.
    Logs(LogsArgs),
    /// Start one service and what it depends on (through the running supervisor, or in this
    /// terminal like `up NAME`).
    #[command(long_flag = "start-service")]
    StartService(StartServiceArgs),
    /// Run a service's health check once now: the result and how long it took.
    #[command(long_flag = "health-check")]
    HealthCheck(HealthCheckArgs),
    /// Pre-start checks: config, commands, folders, health URLs, cycles and ports, without
    /// starting anything.
    Check(CheckArgs),
    /// The background supervisor of `up -d` (internal).
    #[command(name = "__supervise", hide = true)]
    Supervise(SuperviseArgs),
}

/// `up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Services to start, with what they depend on (default: all).
    pub services: Vec<String>,
    /// Run in the background; return once the stack is healthy (or has failed).
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Let the port plan stop other processes without asking.
    #[arg(short = 'y', long)]
    pub yes: bool,
}

/// `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only these services.
    pub services: Vec<String>,
}

/// `stop`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Services to stop (default: the whole stack, and the supervisor exits).
    pub services: Vec<String>,
}

/// `restart`.
#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Services to restart (default: every running service).
    pub services: Vec<String>,
}

/// `logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// One service (default: all, each line prefixed with its service).
    pub service: Option<String>,
    /// Keep printing new lines as they are written.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Lines from the end of each log (default: all, or 10 with -f).
    #[arg(short = 'n', long, value_name = "N")]
    pub tail: Option<usize>,
}

/// `start-service`.
#[derive(Debug, Args)]
pub struct StartServiceArgs {
    /// The service.
    pub name: String,
    /// Use this port instead of the configured one (no alternatives are tried).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Let the port plan stop other processes without asking.
    #[arg(short = 'y', long)]
    pub yes: bool,
}

/// `health-check`.
#[derive(Debug, Args)]
pub struct HealthCheckArgs {
    /// The service.
    pub name: String,
}

/// `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {}

/// `__supervise`: what `up -d` runs in the background.
#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// The descriptor holding the project's lock, passed by the parent.
    #[arg(long)]
    pub lock_fd: i32,
    /// The parent's port decisions, as JSON.
    #[arg(long)]
    pub decisions: String,
    /// Services to start (default: all).
    pub services: Vec<String>,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::args::{Cli, Command};

    fn stack(args: &[&str]) -> StackCommand {
        match Cli::try_parse_from(args).expect("parses").command {
            Command::Stack(command) => command,
            other => panic!("not a stack command: {other:?}"),
        }
    }

    #[test]
    fn seed_flags_name_the_stack_commands() {
        assert!(matches!(stack(&["pw", "--start"]), StackCommand::Up(_)));
        assert!(matches!(
            stack(&["pw", "--status", "--json"]),
            StackCommand::Status(_)
        ));
        assert!(matches!(stack(&["pw", "--stop"]), StackCommand::Stop(_)));
        assert!(matches!(
            stack(&["pw", "--restart", "api"]),
            StackCommand::Restart(_)
        ));
        assert!(matches!(
            stack(&["pw", "--start-service", "backend", "--port", "3000"]),
            StackCommand::StartService(StartServiceArgs {
                port: Some(3000),
                ..
            })
        ));
        assert!(matches!(
            stack(&["pw", "--health-check", "frontend"]),
            StackCommand::HealthCheck(_)
        ));
        assert!(matches!(
            stack(&["pw", "up", "-d", "api", "web"]),
            StackCommand::Up(UpArgs { detach: true, ref services, .. }) if services.len() == 2
        ));
        assert!(matches!(
            stack(&["pw", "logs", "api", "-f", "--tail", "5"]),
            StackCommand::Logs(LogsArgs {
                follow: true,
                tail: Some(5),
                ..
            })
        ));
    }
}
