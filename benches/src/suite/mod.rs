//! The suites, one module each. A suite takes the shared [`Context`] and its own options and
//! returns a [`SuiteReport`]; adding one is a module here plus a variant of
//! [`Suite`](crate::cli::Suite).

use std::path::PathBuf;
use std::time::Duration;

use crate::measure::{CommandSpec, Measured, Plan};
use crate::network::Network;
use crate::peers::Tool;
use crate::report::{CommandResult, Role};

pub mod kill_port;
pub mod monitor;
pub mod scan;
pub mod scan_steady;
pub mod status;
pub mod supervisor;

/// The background every suite but `scan` starts: processes each holding a few IPv4 TCP
/// listeners on 127.0.0.1, so every walk of `/proc/*/fd` (portwarden's and the peers') is as
/// long as on a machine running a big stack.
#[derive(Debug, Clone, clap::Args)]
pub struct BackgroundArgs {
    /// Background processes holding IPv4 TCP listeners on 127.0.0.1.
    #[arg(long, default_value_t = 300, value_name = "N")]
    pub procs: usize,
    /// Listening sockets each of those holds.
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=64))]
    pub sockets: u8,
}

impl BackgroundArgs {
    /// One entry per background process: its pw-fixture arguments.
    pub fn plan(&self) -> Vec<Vec<String>> {
        let one: Vec<String> = (0..self.sockets)
            .flat_map(|_| ["--tcp".to_string(), "127.0.0.1:0".to_string()])
            .collect();
        vec![one; self.procs]
    }

    /// The setup line describing it.
    pub fn describe(&self, listeners: usize) -> String {
        format!(
            "background: {} processes x {} TCP listeners on 127.0.0.1 ({listeners} listening)",
            self.procs, self.sockets
        )
    }
}

/// What every suite gets: the run plan, the binaries, and the network it is in.
#[derive(Debug, Clone)]
pub struct Context {
    /// Warm-ups, runs, per-run deadline.
    pub plan: Plan,
    /// The portwarden binary under test.
    pub portwarden: PathBuf,
    /// The pw-fixture binary.
    pub fixture: PathBuf,
    /// Where the fixtures' sockets live.
    pub network: Network,
    /// How long fixtures get to report ready.
    pub startup_timeout: Duration,
}

impl Context {
    /// The setup lines every suite ends with: which portwarden, the network, how the runs
    /// were made (`runs`: the suite's own line, or [`Context::describe_plan`]), and the
    /// machine's load around them.
    pub fn common_setup(
        &self,
        runs: Option<String>,
        others: usize,
        load_before: &str,
        load_after: &str,
    ) -> Vec<String> {
        vec![
            format!("portwarden: {}", self.portwarden.display()),
            self.network.describe(),
            runs.unwrap_or_else(|| self.describe_plan()),
            format!(
                "machine: {others} other processes; load average (1 min) {load_before} before, {load_after} after"
            ),
        ]
    }

    /// A suite's report: its own setup lines, then the common ones, and the results.
    pub fn report(
        &self,
        suite: &'static str,
        setup: Vec<String>,
        commands: Vec<CommandResult>,
        checks: Vec<crate::report::Check>,
        notes: Vec<String>,
    ) -> crate::report::SuiteReport {
        crate::report::SuiteReport {
            suite,
            setup,
            network: self.network.name(),
            warmup: self.plan.warmup,
            runs: self.plan.runs,
            commands,
            checks,
            notes,
        }
    }

    /// The setup line every suite shows about its runs.
    pub fn describe_plan(&self) -> String {
        format!(
            "{} timed runs per command after {} warm-up(s), interleaved round-robin; wall time is \
             spawn to reap, stdout and stderr drained through pipes",
            self.plan.runs, self.plan.warmup
        )
    }
}

/// The 1-minute load average (from /proc/loadavg), for the setup lines: other work on the
/// machine makes every figure noisier, though the same-run ratios hold up better.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string())
}

/// How many processes (kernel threads included) the machine has: ss -p, lsof, fuser and
/// portwarden all walk every one of them, so their times grow with it.
pub fn process_count() -> usize {
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                })
                .count()
        })
        .unwrap_or(0)
}

/// A command a suite wants measured.
#[derive(Debug, Clone)]
pub enum Wanted {
    /// portwarden with these arguments; always run.
    Portwarden(Vec<String>),
    /// A peer tool with these arguments; skipped (with an install hint) when not installed.
    Peer(Tool, Vec<String>),
}

/// The commands a suite will measure, in the order its table shows them, with the peers that
/// are missing already turned into skipped rows.
#[derive(Debug)]
pub struct Lineup {
    /// What to hand to [`measure::round_robin`](crate::measure::round_robin).
    pub specs: Vec<CommandSpec>,
    slots: Vec<Slot>,
    /// Install hints for missing peers.
    pub notes: Vec<String>,
}

#[derive(Debug)]
enum Slot {
    Measured(usize, Role),
    Skipped(Box<CommandResult>),
}

impl Lineup {
    /// Resolves each wanted command to a program.
    pub fn new(ctx: &Context, wanted: &[Wanted]) -> Lineup {
        let mut lineup = Lineup {
            specs: Vec::new(),
            slots: Vec::new(),
            notes: Vec::new(),
        };
        for want in wanted {
            match want {
                Wanted::Portwarden(args) => {
                    lineup.measure(ctx.portwarden.clone(), args, Role::Candidate);
                }
                Wanted::Peer(tool, args) => match tool.find() {
                    Some(program) => {
                        lineup.measure(program, args, Role::Peer);
                        if let Some(spec) = lineup.specs.last_mut() {
                            spec.label = crate::measure::label_of(&tool.label(), args);
                        }
                    }
                    None => {
                        let label = crate::measure::label_of(&tool.label(), args);
                        crate::note(&tool.missing());
                        lineup.notes.push(tool.missing());
                        let why = format!("{} is not installed", tool.name);
                        let skipped = CommandResult::skipped(label, Role::Peer, why);
                        lineup.slots.push(Slot::Skipped(Box::new(skipped)));
                    }
                },
            }
        }
        lineup
    }

    fn measure(&mut self, program: PathBuf, args: &[String], role: Role) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.slots.push(Slot::Measured(self.specs.len(), role));
        self.specs.push(CommandSpec::new(program, &args));
    }

    /// One result per wanted command, in order; `measured` is what `round_robin` returned for
    /// [`Lineup::specs`], `probe` the numbers each output must mention (none: no check).
    pub fn results(self, measured: &[Measured], probe: &[u64]) -> Vec<CommandResult> {
        self.slots
            .into_iter()
            .filter_map(|slot| match slot {
                Slot::Measured(i, role) => measured
                    .get(i)
                    .map(|m| CommandResult::measured(m, role, probe)),
                Slot::Skipped(result) => Some(*result),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_background_is_procs_by_sockets() {
        let plan = BackgroundArgs {
            procs: 2,
            sockets: 2,
        }
        .plan();
        let one = ["--tcp", "127.0.0.1:0", "--tcp", "127.0.0.1:0"];
        assert_eq!(plan, [one, one]);
    }
}
