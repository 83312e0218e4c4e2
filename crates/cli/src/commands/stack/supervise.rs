//! `__supervise`: the background supervisor `up -d` starts. It takes over the lock and the
//! port decisions from its parent and runs the stack like `up` would, its lines going to the
//! startup log.

use std::collections::BTreeMap;

use crate::args::SuperviseArgs;
use crate::commands::Context;
use crate::control::paths::{StatePaths, SupervisorLock};
use crate::control::protocol::PortDecision;
use crate::exit::{self, CliError, CliResult};
use crate::output::Output;
use crate::stack::{self, Mode, Prepared, specs};

pub fn run(ctx: &Context<'_>, args: &SuperviseArgs) -> CliResult {
    // The daemon writes to the startup log: never colours, never JSON.
    let ctx = &Context {
        global: ctx.global,
        out: Output {
            quiet: ctx.out.quiet,
            ..Output::plain()
        },
    };
    let lock = SupervisorLock::inherited(args.lock_fd)
        .map_err(|e| CliError::failure(format!("the supervisor lock was not handed over: {e}")))?;
    let loaded = ctx.require_config()?;
    let paths = StatePaths::for_config(&loaded);
    let decisions: Vec<PortDecision> = serde_json::from_str(&args.decisions)
        .map_err(|e| CliError::new(exit::USAGE, format!("--decisions: {e}")))?;
    let ports: BTreeMap<String, u16> = decisions
        .iter()
        .filter_map(|d| Some((d.service.clone(), d.resolved_port?)))
        .collect();
    let built = specs::build(&loaded, &ports);
    let stack =
        supervisor::Stack::new(built.specs.clone()).map_err(|e| CliError::new(exit::CONFIG, e))?;
    let start_order: Vec<String> = stack
        .start_order()
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let selected: Vec<String> = if args.services.is_empty() {
        start_order.clone()
    } else {
        stack
            .with_dependencies(&args.services)
            .map_err(|e| CliError::new(exit::NOT_FOUND, e))?
            .into_iter()
            .map(str::to_owned)
            .collect()
    };
    let prepared = Prepared {
        loaded,
        paths,
        lock,
        built,
        selection: (!args.services.is_empty()).then(|| args.services.clone()),
        selected,
        start_order,
        decisions,
    };
    stack::run(ctx, prepared, Mode::Detached)
}
