//! Using `portcore` and `procscan` as libraries, without the portwarden command line.
//!
//! ```sh
//! cargo run -p portwarden-examples --example library_scan            # every listener
//! cargo run -p portwarden-examples --example library_scan -- 8000    # one port in detail
//! ```
//!
//! It lists every listening socket with the processes holding it (what `ss -tulpn` shows), or
//! for one port: who holds it, whether a server could bind it on each address, and a free port
//! nearby chosen with `portcore::choose_port`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use portcore::{PortRange, PortRequest, Protocol, choose_port_probed, ephemeral_range, probe_port};
use procscan::{ProcessDetail, ScanOptions, StateFilter, lookup_port, snapshot};

fn main() -> ExitCode {
    let arg = std::env::args().nth(1);
    let result = match arg.as_deref().map(str::parse::<u16>) {
        None => list_all(),
        Some(Ok(port)) if port > 0 => one_port(port),
        Some(_) => Err(format!("`{}` is not a port (1-65535)", arg.unwrap_or_default()).into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("library_scan: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Every listener and its holders.
fn list_all() -> Result {
    let snap = snapshot(&ScanOptions::default())?;
    println!("{:<5} {:<28} {:<7} HOLDERS", "PROTO", "LOCAL", "STATE");
    for socket in snap.listeners() {
        let holders: Vec<String> = snap
            .holders(socket)
            .map(|p| {
                format!(
                    "{} {} ({})",
                    p.pid,
                    p.name,
                    p.user.as_deref().unwrap_or("?")
                )
            })
            .collect();
        let holders = if holders.is_empty() {
            format!("owner unknown (uid {})", socket.uid)
        } else {
            holders.join(", ")
        };
        println!(
            "{:<5} {:<28} {:<7} {holders}",
            socket.protocol.as_str(),
            socket.local.to_string(),
            socket.state.as_str()
        );
    }
    println!(
        "({} listeners, read from {:?})",
        snap.listeners().count(),
        snap.source
    );
    Ok(())
}

/// One port: holders with their identity, the bind probes, and a free port nearby.
fn one_port(port: u16) -> Result {
    let found = lookup_port(
        port,
        Some(Protocol::Tcp),
        StateFilter::All,
        ProcessDetail::Full,
    )?;
    let mut held = false;
    for socket in found.sockets.iter().filter(|s| s.is_listening()) {
        held = true;
        println!("{} {} {}", socket.protocol, socket.state, socket.local);
        for p in found.holders(socket) {
            // The identity (pid + start time) is what to record before acting on a process
            // later: procscan::send_signal refuses a pid that now belongs to another process.
            println!("  {} {} | {}", p.identity(), p.name, p.command_line());
        }
    }
    if !held {
        println!("port {port}/tcp: nobody listens");
    }
    let time_wait = found
        .sockets
        .iter()
        .filter(|s| s.state == procscan::SocketState::TimeWait);
    println!("TIME_WAIT sockets: {}", time_wait.count());

    let probe = probe_port(port, Protocol::Tcp);
    for bind in probe.binds.iter().filter(|b| b.reuse_address) {
        println!(
            "  bind {:<10} {}",
            bind.address.to_string(),
            bind.outcome.describe()
        );
    }
    if let Ok(eph) = ephemeral_range()
        && eph.may_assign(port)
    {
        println!("note: {port} is inside the ephemeral range {}", eph.range);
    }
    let request = PortRequest {
        preferred: Some(port),
        fallback: PortRange::new(port.saturating_add(1), port.saturating_add(100)),
        ..PortRequest::default()
    };
    match choose_port_probed(&request, Protocol::Tcp) {
        Ok(choice) => println!(
            "a server could use port {} ({:?})",
            choice.port, choice.reason
        ),
        Err(e) => println!("{e}"),
    }
    Ok(())
}
