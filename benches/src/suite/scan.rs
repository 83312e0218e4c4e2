//! `scan`: listing every listening socket with its processes, and finding the holders of one
//! port, against `ss -tulpn`, `lsof -nP -i` and `fuser`.
//!
//! The fixture fleet: `--procs` processes holding `--sockets` IPv4 TCP listeners each, `--mixed`
//! processes each holding a TCP listener on `::1` and UDP sockets on 127.0.0.1 and `::1`, and
//! one process whose listener is shared with a forked child. That shared port is the probe for
//! `portwarden port P` vs `fuser P/tcp`; every command's output must name it and both pids
//! holding it, or its figures do not count.

use crate::error::BenchError;
use crate::fleet::Fleet;
use crate::measure;
use crate::network;
use crate::peers;
use crate::report::{Check, SuiteReport};
use crate::suite::{self, Context, Lineup, Wanted};

/// Full scan: portwarden's median at most this fraction of `ss -tulpn`'s.
pub const SCAN_VS_SS: f64 = 0.7;
/// One port: portwarden's median at most this fraction of `fuser P/tcp`'s.
pub const PORT_VS_FUSER: f64 = 0.3;
/// portwarden's peak RSS must stay below this, MiB.
pub const MAX_RSS_MIB: f64 = 20.0;

/// Options of the scan suite.
#[derive(Debug, Clone, clap::Args)]
pub struct ScanArgs {
    /// Fixture processes holding IPv4 TCP listeners on 127.0.0.1.
    #[arg(long, default_value_t = 300, value_name = "N")]
    pub procs: usize,
    /// Listening sockets each of those holds.
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=64))]
    pub sockets: u8,
    /// More processes, each with a TCP listener on ::1 and UDP sockets on 127.0.0.1 and ::1.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub mixed: usize,
}

/// One entry per fixture process: its pw-fixture arguments. The shared-socket fixture is last.
pub fn fleet_plan(args: &ScanArgs, ipv6: bool) -> Vec<Vec<String>> {
    let tcp4 = || ["--tcp".to_string(), "127.0.0.1:0".to_string()];
    let background = suite::BackgroundArgs {
        procs: args.procs,
        sockets: args.sockets,
    };
    let mut plan = background.plan();
    for _ in 0..args.mixed {
        let mut mixed = vec!["--udp".to_string(), "127.0.0.1:0".to_string()];
        if ipv6 {
            mixed.extend(["--tcp", "[::1]:0", "--udp", "[::1]:0"].map(String::from));
        } else {
            mixed.extend(tcp4());
        }
        plan.push(mixed);
    }
    let mut shared = tcp4().to_vec();
    shared.push("--fork-child".to_string());
    plan.push(shared);
    plan
}

/// Runs the suite.
pub fn run(ctx: &Context, args: &ScanArgs) -> Result<SuiteReport, BenchError> {
    let mut notes = Vec::new();
    let ipv6 = network::ipv6_loopback();
    if !ipv6 {
        notes
            .push("::1 cannot be bound here, so the mixed fixtures use 127.0.0.1 only".to_string());
    }
    let plan = fleet_plan(args, ipv6);
    let others = suite::process_count();
    crate::note(&format!("starting {} fixture processes ...", plan.len()));
    let fleet = Fleet::start(&ctx.fixture, &plan, ctx.startup_timeout)?;
    let ready = fleet.ready();
    let tcp: usize = ready.iter().map(|r| r.tcp.len()).sum();
    let udp: usize = ready.iter().map(|r| r.udp.len()).sum();
    let shared = ready
        .last()
        .and_then(|r| Some((r.tcp.first()?.port(), r.pid, r.child?)));
    let Some((port, parent, child)) = shared else {
        return Err(BenchError::BadReady {
            index: plan.len() - 1,
            command: format!(
                "{} {}",
                ctx.fixture.display(),
                plan[plan.len() - 1].join(" ")
            ),
            line: "(no TCP listener or no child in its READY line)".to_string(),
        });
    };
    let strings = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let port_arg = port.to_string();
    let lineup = Lineup::new(
        ctx,
        &[
            Wanted::Portwarden(strings(&["scan", "--json"])),
            Wanted::Peer(peers::SS, strings(&["-tulpn"])),
            Wanted::Peer(peers::LSOF, strings(&["-nP", "-i"])),
            Wanted::Portwarden(strings(&["port", &port_arg, "--json"])),
            Wanted::Peer(peers::FUSER, vec![format!("{port}/tcp")]),
        ],
    );
    notes.extend(lineup.notes.iter().cloned());

    crate::note(&format!(
        "measuring {} commands: {} warm-up + {} timed rounds ...",
        lineup.specs.len(),
        ctx.plan.warmup,
        ctx.plan.runs
    ));
    let load_before = suite::load_average();
    let measured = measure::round_robin(&lineup.specs, &ctx.plan)?;
    let load_after = suite::load_average();
    fleet.stop()?;

    // Every tool must name the shared port and both its holders: "exactly which processes".
    let commands = lineup.results(&measured, &[port.into(), parent.into(), child.into()]);
    let [scan, ss, lsof, port_cmd, fuser] = &commands[..] else {
        return Err(BenchError::Internal(
            "the scan suite lost a command on the way",
        ));
    };
    let checks = vec![
        Check::median_ratio(scan, ss, Some(SCAN_VS_SS)),
        Check::median_ratio(scan, lsof, None),
        Check::peak_rss(scan, MAX_RSS_MIB),
        Check::median_ratio(port_cmd, fuser, Some(PORT_VS_FUSER)),
        Check::peak_rss(port_cmd, MAX_RSS_MIB),
    ];
    if let Ok(own) = crate::sys::own_max_rss_kib() {
        notes.push(format!(
            "peak RSS of a child includes pw-bench's own at spawn time ({:.1} MiB), the floor under every figure",
            own as f64 / 1024.0
        ));
    }
    let mut setup = vec![
        format!(
            "fixtures: {} processes: {} x {} TCP on 127.0.0.1, {} with TCP on {} + UDP, 1 sharing a listener with its forked child",
            plan.len(),
            args.procs,
            args.sockets,
            args.mixed,
            if ipv6 { "::1" } else { "127.0.0.1" }
        ),
        format!(
            "sockets: {tcp} TCP listeners, {udp} UDP; probe port {port} (held by pid {parent} and child {child})"
        ),
    ];
    setup.extend(ctx.common_setup(None, others, &load_before, &load_after));
    Ok(ctx.report("scan", setup, commands, checks, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_fleet_is_300_by_3_plus_mixed_plus_shared() {
        let args = ScanArgs {
            procs: 300,
            sockets: 3,
            mixed: 20,
        };
        let plan = fleet_plan(&args, true);
        assert_eq!(plan.len(), 321);
        assert_eq!(
            plan[0],
            [
                "--tcp",
                "127.0.0.1:0",
                "--tcp",
                "127.0.0.1:0",
                "--tcp",
                "127.0.0.1:0"
            ]
        );
        assert!(plan[300].contains(&"[::1]:0".to_string()));
        assert_eq!(plan[320], ["--tcp", "127.0.0.1:0", "--fork-child"]);
    }

    #[test]
    fn without_ipv6_the_mixed_fixtures_stay_on_ipv4() {
        let args = ScanArgs {
            procs: 1,
            sockets: 1,
            mixed: 2,
        };
        let plan = fleet_plan(&args, false);
        assert!(plan.iter().flatten().all(|a| !a.contains("::1")));
    }
}
