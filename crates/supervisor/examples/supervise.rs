//! A minimal front end for the supervisor: runs a stack given on the command line and prints
//! its events as JSON lines, until its standard input closes (or SIGTERM/Ctrl-C ends it).
//!
//! ```text
//! supervise STATE_FILE LOG_DIR NAME[<DEP]=COMMAND ...
//! ```
//!
//! Each service gets a free port (`{port}`, `$PORT`); `NAME<DEP` makes it wait for `DEP` to
//! be healthy. Kill it with SIGKILL and start it again on the same state file to see the
//! second run stop what the first left behind (`recovered` events).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Read;
use std::path::PathBuf;

use supervisor::{Condition, ServiceSpec, Stack, Supervisor, SupervisorOptions};

fn main() {
    if let Err(e) = run() {
        eprintln!("supervise: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: supervise STATE_FILE LOG_DIR NAME[<DEP]=COMMAND ...";
    let state_file = PathBuf::from(args.next().ok_or(usage)?);
    let log_dir = PathBuf::from(args.next().ok_or(usage)?);
    let mut services = Vec::new();
    for arg in args {
        let (head, command) = arg.split_once('=').ok_or(usage)?;
        let spec = match head.split_once('<') {
            Some((name, dep)) => {
                ServiceSpec::new(name, command).depends_on(dep, Condition::Healthy)
            }
            None => ServiceSpec::new(head, command),
        };
        services.push(spec.port(0));
    }
    let handle = Supervisor::start(
        Stack::new(services)?,
        SupervisorOptions {
            log_dir,
            state_file: Some(state_file),
            ..SupervisorOptions::default()
        },
    )?;
    let events = handle.events();
    // Standard input closing is the signal to stop (a test closes the pipe).
    let stopper = handle.clone();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        stopper.shutdown();
    });
    for event in events.iter() {
        println!("{}", serde_json::to_string(&event)?);
    }
    handle.wait()?;
    Ok(())
}
