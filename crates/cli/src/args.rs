//! The command line, as clap parses it.
//!
//! Every subcommand also answers to the original system's flag spelling: `portwarden scan` and
//! `portwarden --scan` are the same command (clap's `long_flag`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use portcore::{PortRange, Protocol};

mod stack;

pub use stack::*;

/// portwarden: see every port, resolve conflicts, run the stack.
#[derive(Debug, Parser)]
#[command(name = "portwarden", version, about, long_about = None, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 ok, 1 failed, 2 usage, 3 config, 4 conflicts remain, \
5 refused, 6 not found, 130 interrupted."
)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The config file (default: $PORTWARDEN_CONFIG, ./portwarden.yaml,
    /// ./config/port_manager_config.yaml, then the same names in parent folders).
    #[arg(short = 'c', long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// One JSON document on stdout (event commands: one JSON object per line).
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print only errors (and JSON when asked for).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// No colours (also when NO_COLOR is set or stdout is not a terminal).
    #[arg(long, global = true)]
    pub no_color: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every listening port, who holds it, and which service claims it.
    #[command(long_flag = "scan")]
    Scan(ScanArgs),
    /// One port in detail: holders, parent chains, bind probes, TIME_WAIT.
    #[command(long_flag = "port")]
    Port(PortArgs),
    /// A configured service's ports and who holds each.
    #[command(long_flag = "service")]
    Service(ServiceArgs),
    /// Write the effective config (defaults filled in) to a file.
    #[command(long_flag = "export-config")]
    ExportConfig(ExportArgs),
    /// Detect conflicts on the services' ports and resolve them under a strategy.
    #[command(long_flag = "resolve")]
    Resolve(ResolveArgs),
    /// End our own strays: copies of our services holding our ports.
    #[command(long_flag = "cleanup")]
    Cleanup(CleanupArgs),
    /// End whatever listens on exactly these ports (safety checks first).
    #[command(long_flag = "kill-port")]
    KillPort(KillPortArgs),
    /// Watch the services' ports, health and resource use; report each change as it happens
    /// (and resolve new conflicts when monitoring.auto_resolve_conflicts is on).
    #[command(long_flag = "monitor")]
    Monitor(MonitorArgs),
    /// One report of everything: port status, service health, conflict history, performance,
    /// start-up timings with the critical chain, and where the logs are.
    #[command(long_flag = "report")]
    Report(ReportArgs),
    /// The stack: up, status, stop, restart, logs, start-service, health-check, check.
    #[command(flatten)]
    Stack(StackCommand),
}

/// `resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// conservative, aggressive or intelligent (default: the config's conflict_resolution.strategy).
    #[arg(long, value_name = "NAME")]
    pub strategy: Option<String>,
    /// Show the plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before terminating processes (needed when there is no terminal).
    #[arg(short, long)]
    pub yes: bool,
    /// Allow ending other users' processes (with the privileges to do so).
    #[arg(long)]
    pub force: bool,
}

/// `cleanup`.
#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Show what would be ended; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before ending processes (needed when there is no terminal).
    #[arg(short, long)]
    pub yes: bool,
    /// Allow ending other users' processes (with the privileges to do so).
    #[arg(long)]
    pub force: bool,
    /// Time between the first signal and SIGKILL (default: conflict_resolution.grace_period).
    #[arg(long, value_name = "DURATION")]
    pub grace: Option<crate::config::Duration>,
}

/// `kill-port`.
#[derive(Debug, Args)]
pub struct KillPortArgs {
    /// The ports (exact: 3000 never touches 30001).
    #[arg(required = true, value_parser = clap::value_parser!(u16).range(1..))]
    pub ports: Vec<u16>,
    /// Only this protocol (default: both).
    #[arg(long, value_name = "tcp|udp")]
    pub proto: Option<Protocol>,
    /// The first signal (TERM, INT, HUP, KILL, ... or a number).
    #[arg(long, default_value = "TERM")]
    pub signal: procscan::Signal,
    /// Time between the first signal and SIGKILL.
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    pub grace: crate::config::Duration,
    /// Allow ending other users' processes (with the privileges to do so).
    #[arg(long)]
    pub force: bool,
    /// Show what would be ended; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before ending processes (needed when there is no terminal).
    #[arg(short, long)]
    pub yes: bool,
}

/// `monitor`.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Time between port checks (default: monitoring.interval).
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<crate::config::Duration>,
    /// Stop after this long (default: run until Ctrl-C or SIGTERM).
    #[arg(long = "for", value_name = "DURATION")]
    pub for_: Option<crate::config::Duration>,
    /// Stop after this many port checks.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Let conflict resolution stop the processes holding the ports (it never does without).
    #[arg(short, long)]
    pub yes: bool,
}

/// `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// How many of the most recent conflicts to list.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub last: usize,
}

/// `scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Only ports in this range, e.g. 8000-9000.
    #[arg(long, value_name = "FROM-TO")]
    pub range: Option<PortRange>,
    /// Only this protocol.
    #[arg(long, value_name = "tcp|udp")]
    pub proto: Option<Protocol>,
    /// Only the ports this configured service claims (preferred and alternatives).
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
}

/// `port`.
#[derive(Debug, Args)]
pub struct PortArgs {
    /// The port.
    #[arg(value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    /// Only this protocol (default: both).
    #[arg(long, value_name = "tcp|udp")]
    pub proto: Option<Protocol>,
}

/// `service`.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// The service's name in the config.
    pub name: String,
}

/// `export-config`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Where to write (`-` for stdout).
    pub file: PathBuf,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn seed_flags_are_the_same_commands() {
        let a = Cli::try_parse_from(["portwarden", "--scan", "--json"]).unwrap();
        assert!(matches!(a.command, Command::Scan(_)) && a.global.json);
        let b = Cli::try_parse_from(["portwarden", "--port", "8000"]).unwrap();
        assert!(matches!(
            b.command,
            Command::Port(PortArgs { port: 8000, .. })
        ));
        let c = Cli::try_parse_from(["portwarden", "--service", "backend"]).unwrap();
        assert!(
            matches!(c.command, Command::Service(ServiceArgs { ref name }) if name == "backend")
        );
        let d = Cli::try_parse_from(["portwarden", "--export-config", "out.yaml"]).unwrap();
        assert!(matches!(d.command, Command::ExportConfig(_)));
        let e = Cli::try_parse_from(["portwarden", "--monitor", "--interval", "5s", "-v"]).unwrap();
        assert!(matches!(
            e.command,
            Command::Monitor(MonitorArgs { interval: Some(i), .. }) if i.get().as_secs() == 5
        ));
        let f = Cli::try_parse_from(["portwarden", "--report", "--json"]).unwrap();
        assert!(matches!(f.command, Command::Report(ReportArgs { last: 10 })) && f.global.json);
    }

    #[test]
    fn bad_values_are_usage_errors() {
        assert!(Cli::try_parse_from(["portwarden", "port", "0"]).is_err());
        assert!(Cli::try_parse_from(["portwarden", "port", "70000"]).is_err());
        assert!(Cli::try_parse_from(["portwarden", "scan", "--range", "9000-8000"]).is_err());
        assert!(Cli::try_parse_from(["portwarden", "scan", "--proto", "sctp"]).is_err());
        assert!(Cli::try_parse_from(["portwarden", "monitor", "--count", "0"]).is_err());
        assert!(Cli::try_parse_from(["portwarden", "monitor", "--interval", "soon"]).is_err());
    }
}
