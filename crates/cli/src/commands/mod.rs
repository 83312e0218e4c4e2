//! One module per command, and the context they share.

mod claims;
mod classify;
mod cleanup;
mod export;
mod kill_port;
mod monitor;
mod port;
mod report;
mod resolution;
mod resolve;
mod scan;
mod service;
mod stack;

use std::path::PathBuf;

use crate::args::{Cli, Command, GlobalArgs};
use crate::config::{self, LoadedConfig};
use crate::exit::{self, CliError, CliResult};
use crate::output::Output;

/// What every command gets: the global options, the output, and the config on demand.
#[derive(Debug)]
pub struct Context<'a> {
    /// The global options.
    pub global: &'a GlobalArgs,
    /// Where to write.
    pub out: Output,
}

impl Context<'_> {
    fn cwd(&self) -> CliResult<PathBuf> {
        std::env::current_dir()
            .map_err(|e| CliError::failure(format!("cannot read the current folder: {e}")))
    }

    /// The config, which must exist (explicit path, $PORTWARDEN_CONFIG, or discovered).
    pub fn require_config(&self) -> CliResult<LoadedConfig> {
        let env = std::env::var_os("PORTWARDEN_CONFIG");
        let path = config::discover(self.global.config.as_deref(), &self.cwd()?, env.as_deref())
            .map_err(|e| CliError::new(exit::CONFIG, e))?;
        self.load(path)
    }

    /// The config when there is one. A config that was asked for explicitly (flag or
    /// environment) must load; one that is merely absent is not an error.
    pub fn optional_config(&self) -> CliResult<Option<LoadedConfig>> {
        let env = std::env::var_os("PORTWARDEN_CONFIG");
        let explicit = self.global.config.is_some() || env.is_some();
        match config::discover(self.global.config.as_deref(), &self.cwd()?, env.as_deref()) {
            Ok(path) => self.load(path).map(Some),
            Err(e) if explicit => Err(CliError::new(exit::CONFIG, e)),
            Err(e) => {
                log::info!("no config: {e}");
                Ok(None)
            }
        }
    }

    fn load(&self, path: PathBuf) -> CliResult<LoadedConfig> {
        let loaded = config::load(&path).map_err(|e| CliError::new(exit::CONFIG, e))?;
        if !self.out.json {
            for warning in &loaded.warnings {
                self.out.note(warning);
            }
        }
        Ok(loaded)
    }
}

/// Runs the parsed command.
pub fn dispatch(cli: &Cli, out: Output) -> CliResult {
    let ctx = Context {
        global: &cli.global,
        out,
    };
    match &cli.command {
        Command::Scan(args) => scan::run(&ctx, args),
        Command::Port(args) => port::run(&ctx, args),
        Command::Service(args) => service::run(&ctx, args),
        Command::ExportConfig(args) => export::run(&ctx, args),
        Command::Resolve(args) => resolve::run(&ctx, args),
        Command::Cleanup(args) => cleanup::run(&ctx, args),
        Command::KillPort(args) => kill_port::run(&ctx, args),
        Command::Monitor(args) => monitor::run(&ctx, args),
        Command::Report(args) => report::run(&ctx, args),
        Command::Stack(command) => stack::dispatch(&ctx, command),
    }
}
