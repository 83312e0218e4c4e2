//! `portwarden port N`: one port in detail.

use std::time::SystemTime;

use portcore::{BindProbe, PortSet, Protocol, probe_port};
use procscan::{ProcessDetail, ProcessInfo, Socket, SocketState, StateFilter};
use serde::Serialize;

use super::Context;
use super::claims::{ServiceClaim, claims_on_port};
use crate::args::PortArgs;
use crate::exit::{CliError, CliResult};
use crate::output::{Output, Style, Table, format_duration, rfc3339};

/// A holder with its parent chain.
#[derive(Debug, Serialize)]
struct Holder {
    #[serde(flatten)]
    process: ProcessInfo,
    /// Uptime in seconds.
    uptime_secs: Option<u64>,
    /// The start time as RFC 3339.
    started: Option<String>,
    /// Parents, nearest first, up to pid 1.
    parents: Vec<Parent>,
}

#[derive(Debug, Serialize)]
struct Parent {
    pid: u32,
    name: String,
    user: Option<String>,
}

#[derive(Debug, Serialize)]
struct Listener {
    #[serde(flatten)]
    socket: Socket,
    owner: String,
    processes: Vec<Holder>,
}

#[derive(Debug, Serialize)]
struct ProbeSet {
    protocol: Protocol,
    /// Would a typical server (SO_REUSEADDR) bind on every address?
    free: bool,
    /// Would even a bind without SO_REUSEADDR succeed everywhere?
    clean: bool,
    binds: Vec<BindProbe>,
}

/// The JSON document of `port --json` (schema `portwarden.port/1`).
#[derive(Debug, Serialize)]
struct PortReport {
    schema: &'static str,
    port: u16,
    /// "free", "held", or "time_wait" (only TIME_WAIT sockets: free for servers that set
    /// SO_REUSEADDR, busy for a plain bind).
    status: &'static str,
    claimed_by: Vec<ServiceClaim>,
    reserved: bool,
    in_ephemeral_range: bool,
    listeners: Vec<Listener>,
    time_wait: usize,
    established: usize,
    other_sockets: usize,
    probes: Vec<ProbeSet>,
}

pub fn run(ctx: &Context<'_>, args: &PortArgs) -> CliResult {
    let loaded = ctx.optional_config()?;
    let protocols = args
        .proto
        .map_or_else(|| Protocol::ALL.to_vec(), |p| vec![p]);
    let snapshot =
        procscan::lookup_port(args.port, args.proto, StateFilter::All, ProcessDetail::Full)
            .map_err(|e| {
                CliError::failure(format!(
                    "cannot read the socket table for port {}: {e}",
                    args.port
                ))
            })?;
    let now = SystemTime::now();

    let mut listeners = Vec::new();
    let (mut time_wait, mut established, mut other) = (0, 0, 0);
    for socket in &snapshot.sockets {
        match socket.state {
            _ if socket.is_listening() => {
                let processes = snapshot
                    .holders(socket)
                    .map(|p| holder(p.clone(), now))
                    .collect();
                let owner = if socket.owner_known() {
                    String::new()
                } else {
                    format!("owner unknown (uid {})", socket.uid)
                };
                listeners.push(Listener {
                    socket: socket.clone(),
                    owner,
                    processes,
                });
            }
            SocketState::TimeWait => time_wait += 1,
            SocketState::Established => established += 1,
            _ => other += 1,
        }
    }
    let probes: Vec<ProbeSet> = protocols
        .iter()
        .map(|&protocol| {
            let probe = probe_port(args.port, protocol);
            ProbeSet {
                protocol,
                free: probe.is_free(),
                clean: probe.is_clean(),
                binds: probe.binds,
            }
        })
        .collect();
    let reserved = loaded
        .as_ref()
        .map_or_else(PortSet::default_reserved, |l| l.config.reserved().clone());
    let in_ephemeral_range = portcore::ephemeral_range().is_ok_and(|e| e.may_assign(args.port));
    let status = if !listeners.is_empty() || probes.iter().any(|p| !p.free) {
        "held"
    } else if time_wait > 0 || probes.iter().any(|p| !p.clean) {
        "time_wait"
    } else {
        "free"
    };
    let report = PortReport {
        schema: "portwarden.port/1",
        port: args.port,
        status,
        claimed_by: loaded
            .as_ref()
            .map(|l| claims_on_port(&l.config, args.port))
            .unwrap_or_default(),
        reserved: reserved.contains(args.port),
        in_ephemeral_range,
        listeners,
        time_wait,
        established,
        other_sockets: other,
        probes,
    };
    if ctx.out.json {
        ctx.out.json_document(&report)
    } else {
        ctx.out.write(&render(&report, &ctx.out))
    }
}

fn holder(process: ProcessInfo, now: SystemTime) -> Holder {
    let parents = procscan::ancestors(process.pid)
        .into_iter()
        .map(|p| Parent {
            pid: p.pid,
            name: p.name,
            user: p.user,
        })
        .collect();
    Holder {
        uptime_secs: process.uptime(now).map(|d| d.as_secs()),
        started: process.started_at.map(rfc3339),
        process,
        parents,
    }
}

fn render(r: &PortReport, out: &Output) -> String {
    let mut s = String::new();
    let status = match r.status {
        "free" => out.paint(Style::Green, "free"),
        "time_wait" => out.paint(
            Style::Yellow,
            "free for servers (only TIME_WAIT sockets remain)",
        ),
        _ => out.paint(Style::Red, "in use"),
    };
    s += &format!(
        "{} {}: {status}\n",
        out.paint(Style::Bold, "Port"),
        out.paint(Style::Bold, r.port)
    );
    if r.claimed_by.is_empty() {
        s += "  claimed by: no configured service\n";
    } else {
        let names: Vec<String> = r
            .claimed_by
            .iter()
            .map(|c| format!("{} ({})", c.service, c.role))
            .collect();
        s += &format!("  claimed by: {}\n", names.join(", "));
    }
    if r.reserved {
        s += &format!(
            "  {}\n",
            out.paint(
                Style::Yellow,
                "reserved: yes (services are never moved onto it)"
            )
        );
    }
    if r.in_ephemeral_range {
        s += &format!(
            "  {}\n",
            out.paint(
                Style::Yellow,
                "inside the kernel's ephemeral range: outgoing connections may take it at random"
            )
        );
    }
    for l in &r.listeners {
        let addr = l.socket.local;
        s += &format!("\n  {} {} {addr}", l.socket.protocol, l.socket.state);
        if l.processes.is_empty() {
            s += &format!("  {}\n", out.paint(Style::Yellow, &l.owner));
        } else {
            s.push('\n');
        }
        for h in &l.processes {
            let p = &h.process;
            let user = p.user.clone().unwrap_or_else(|| format!("uid {}", p.uid));
            let up = h.uptime_secs.map(|u| {
                format!(
                    ", up {}",
                    format_duration(std::time::Duration::from_secs(u))
                )
            });
            s += &format!(
                "    pid {} {} (user {user}{})\n",
                p.pid,
                out.paint(Style::Bold, &p.name),
                up.unwrap_or_default()
            );
            s += &format!("      cmd:     {}\n", p.command_line());
            if let Some(cwd) = &p.cwd {
                s += &format!("      cwd:     {}\n", cwd.display());
            }
            if !h.parents.is_empty() {
                let chain: Vec<String> = h
                    .parents
                    .iter()
                    .map(|a| format!("{} {}", a.pid, a.name))
                    .collect();
                s += &format!("      parents: {}\n", chain.join(" ← "));
            }
        }
    }
    if r.time_wait > 0 {
        s += &format!(
            "\n  TIME_WAIT sockets: {} (no process holds them; a server that sets SO_REUSEADDR binds \
             anyway, a plain bind fails until they expire)\n",
            r.time_wait
        );
    }
    if r.established > 0 {
        s += &format!(
            "  established connections on this port: {}\n",
            r.established
        );
    }
    for p in &r.probes {
        s += &format!("\n  bind probes ({}):\n", p.protocol);
        let mut t = Table::new(["    address", "plain bind", "with SO_REUSEADDR"]);
        for pair in p.binds.chunks(2) {
            let [plain, reuse] = pair else { continue };
            let cell = |b: &BindProbe| {
                let text = b.outcome.describe();
                if b.outcome.is_free() {
                    out.paint(Style::Green, text)
                } else {
                    out.paint(Style::Red, text)
                }
            };
            t.row([format!("    {}", plain.address), cell(plain), cell(reuse)]);
        }
        s += &t.render();
    }
    s
}
