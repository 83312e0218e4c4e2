//! portwarden's command-line front end, and the config file loader other programs can reuse.
//!
//! The binary's `main` calls [`main`]; argument parsing, dispatch and rendering live here so
//! tests reach them. [`config`] is public: another Rust program can load the same
//! `portwarden.yaml` the command line uses.
#![deny(missing_docs)]

mod args;
mod commands;
pub mod config;
mod conflicts;
mod control;
mod exit;
mod output;
mod stack;
mod sys;

use std::process::ExitCode;

use clap::Parser;

pub use args::Cli;
pub use exit::{CliError, CliResult};

/// Runs the command line with the process's arguments and returns its exit code.
pub fn main() -> ExitCode {
    run(std::env::args_os())
}

/// Runs the command line with the given arguments (the first is the program name).
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version are "errors" that print to stdout and exit 0.
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(exit::USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging(cli.global.verbose, cli.global.quiet);
    let out = output::Output {
        json: cli.global.json,
        quiet: cli.global.quiet,
        painter: output::Painter::detect(cli.global.no_color),
    };
    match commands::dispatch(&cli, out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is_broken_pipe() => ExitCode::SUCCESS,
        Err(err) => {
            out.error(&err);
            err.exit_code()
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => log::LevelFilter::Error,
        (false, 0) => log::LevelFilter::Warn,
        (false, 1) => log::LevelFilter::Info,
        (false, 2) => log::LevelFilter::Debug,
        (false, _) => log::LevelFilter::Trace,
    };
    // RUST_LOG, when set, refines the level chosen by the flags.
    // The supervisor's and the resolver's warnings (a service failed, a port moved) are
    // what the commands themselves report: shown again only when asked for with -v.
    let library = if verbose == 0 {
        log::LevelFilter::Error
    } else {
        level
    };
    let _ = env_logger::Builder::new()
        .filter_level(level)
        .filter_module("supervisor", library)
        .filter_module("resolver", library)
        .parse_env(env_logger::Env::default())
        .format_target(verbose >= 2)
        .try_init();
}
