//! A by-hand tool for checking `procscan` against `ss -tulpn` and `fuser` (and for timing it
//! with hyperfine): prints the table as `ss` would, one line per socket.
//!
//! ```text
//! cargo run --release -p procscan --example pwscan                  # listening, as ss -tulpn
//! cargo run --release -p procscan --example pwscan -- --all         # every state
//! cargo run --release -p procscan --example pwscan -- --port 8080   # one port (tcp and udp)
//! cargo run --release -p procscan --example pwscan -- --procnet     # from /proc/net
//! cargo run --release -p procscan --example pwscan -- --scanner 100 # 100 incremental scans
//!                                        ... --scanner 100 --full-every 1000  # no scheduled pass
//! cargo run --release -p procscan --example pwscan -- --quiet       # scan, print nothing
//! cargo run --release -p procscan --example pwscan -- --pids        # no process details
//! cargo run --release -p procscan --example pwscan -- --repeat 50   # time 50 scans in-process
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::time::Instant;

use procscan::{
    ProcessDetail, ScanOptions, Scanner, Snapshot, SourcePreference, StateFilter, lookup_port,
    snapshot,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<u32>().ok())
    };
    let mut options = ScanOptions::default();
    if has("--all") {
        options.states = StateFilter::All;
    }
    if has("--procnet") {
        options.source = SourcePreference::ProcNet;
    }
    if has("--pids") {
        options.detail = ProcessDetail::Pids;
    }
    if let Some(n) = value("--repeat") {
        let start = Instant::now();
        for _ in 0..n {
            let _ = match value("--port") {
                Some(port) => lookup_port(port as u16, None, options.states, options.detail),
                None => snapshot(&options),
            };
        }
        eprintln!("{:?} per scan", start.elapsed() / n.max(1));
    }
    let result = if let Some(port) = value("--port") {
        lookup_port(port as u16, None, options.states, options.detail)
    } else if let Some(n) = value("--scanner") {
        let mut scanner =
            value("--full-every").map_or_else(Scanner::new, Scanner::with_full_pass_every);
        let start = Instant::now();
        let mut last = scanner.scan(&options);
        let cold = start.elapsed();
        let start = Instant::now();
        let mut full = 0;
        for _ in 1..n {
            last = scanner.scan(&options);
            full += u32::from(scanner.last_scan_was_full());
        }
        let steady = start.elapsed() / n.saturating_sub(1).max(1);
        eprintln!("cold {cold:?}, then {steady:?} per scan ({full} of {n} full passes)");
        last
    } else {
        snapshot(&options)
    };
    match result {
        Ok(snap) => {
            if !has("--quiet") {
                print(&snap);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pwscan: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print(snap: &Snapshot) {
    for s in &snap.sockets {
        let holders: Vec<String> = s
            .holders
            .iter()
            .map(|pid| match snap.process(*pid) {
                Some(p) => format!("(\"{}\",pid={})", p.name, pid),
                None => format!("(pid={pid})"),
            })
            .collect();
        let remote = s.remote.map_or_else(|| "*:*".to_owned(), |r| r.to_string());
        println!(
            "{:<4} {:<12} {:<28} {:<28} uid={:<5} ino={:<8} {}",
            s.protocol,
            s.state,
            s.local,
            remote,
            s.uid,
            s.inode,
            holders.join(",")
        );
    }
    println!(
        "{} sockets from {:?}, {} processes, {} unreadable pids",
        snap.sockets.len(),
        snap.source,
        snap.processes.len(),
        snap.unreadable_pids.len()
    );
}
