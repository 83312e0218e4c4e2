//! `portwarden scan`: every listening port, who holds it, which service claims it.

use portcore::Protocol;
use procscan::{ScanOptions, Snapshot, Socket};
use serde::Serialize;

use super::Context;
use super::claims::primary_owner;
use super::classify::{Class, Classifier};
use crate::args::ScanArgs;
use crate::config::LoadedConfig;
use crate::exit::{self, CliError, CliResult};
use crate::output::{Output, Style, Table};

/// One row of `scan --json` (schema `portwarden.scan/1`).
#[derive(Debug, Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    socket: &'a Socket,
    address: String,
    port: u16,
    service: Option<&'a str>,
    class: Class,
    processes: Vec<&'a procscan::ProcessInfo>,
}

#[derive(Debug, Serialize)]
struct Document<'a> {
    schema: &'static str,
    taken_at: String,
    source: procscan::ScanSource,
    config: Option<&'a std::path::Path>,
    listeners: Vec<Row<'a>>,
    unreadable_pids: &'a [u32],
}

pub fn run(ctx: &Context<'_>, args: &ScanArgs) -> CliResult {
    let loaded = ctx.optional_config()?;
    let mut options = ScanOptions {
        ports: args.range,
        ..ScanOptions::default()
    };
    if let Some(proto) = args.proto {
        options.protocols = vec![proto];
    }
    let wanted_ports = match &args.service {
        Some(name) => Some(service_ports(loaded.as_ref(), name)?),
        None => None,
    };
    let snapshot = procscan::snapshot(&options)
        .map_err(|e| CliError::failure(format!("cannot read the socket table: {e}")))?;
    let classifier = Classifier::new(loaded.as_ref().map(|l| &l.config))?;
    let rows: Vec<Row<'_>> = snapshot
        .listeners()
        .filter(|s| {
            wanted_ports
                .as_ref()
                .is_none_or(|ports| ports.contains(&(s.port(), s.protocol)))
        })
        .map(|socket| {
            let service = loaded
                .as_ref()
                .and_then(|l| primary_owner(&l.config, socket.port(), socket.protocol));
            Row {
                socket,
                address: socket.local.ip().to_string(),
                port: socket.port(),
                service,
                class: classifier.classify(socket, &snapshot),
                processes: snapshot.holders(socket).collect(),
            }
        })
        .collect();
    if ctx.out.json {
        return ctx.out.json_document(&Document {
            schema: "portwarden.scan/1",
            taken_at: crate::output::rfc3339(snapshot.taken_at),
            source: snapshot.source,
            config: loaded.as_ref().map(|l| l.path.as_path()),
            listeners: rows,
            unreadable_pids: &snapshot.unreadable_pids,
        });
    }
    ctx.out.write(&render(&rows, &snapshot, &ctx.out))
}

/// The (port, protocol) pairs a service claims: its port and its alternatives.
fn service_ports(loaded: Option<&LoadedConfig>, name: &str) -> CliResult<Vec<(u16, Protocol)>> {
    let Some(loaded) = loaded else {
        return Err(CliError::new(
            exit::CONFIG,
            format!("--service {name} needs a config file, and none was found"),
        ));
    };
    let service = loaded.config.services.get(name).ok_or_else(|| {
        let known: Vec<&str> = loaded.config.services.keys().map(String::as_str).collect();
        CliError::new(
            exit::NOT_FOUND,
            format!(
                "no service `{name}` in {} (known: {})",
                loaded.path.display(),
                known.join(", ")
            ),
        )
    })?;
    Ok(service
        .port
        .into_iter()
        .chain(service.alternative_ports.iter().copied())
        .map(|p| (p, service.protocol))
        .collect())
}

fn render(rows: &[Row<'_>], snapshot: &Snapshot, out: &Output) -> String {
    let mut table = Table::new([
        "PROTO", "ADDRESS", "PORT", "PID", "PROCESS", "USER", "SERVICE", "CLASS",
    ]);
    for row in rows {
        let pids: Vec<String> = row.socket.holders.iter().map(u32::to_string).collect();
        let first = row.processes.first();
        let process = match (first, row.processes.len()) {
            (Some(p), 1) => p.name.clone(),
            (Some(p), n) => format!("{} (+{})", p.name, n - 1),
            (None, _) => "-".to_owned(),
        };
        let user = first
            .map(|p| p.user.clone().unwrap_or_else(|| p.uid.to_string()))
            .unwrap_or_else(|| format!("uid {}", row.socket.uid));
        let class = match row.class {
            Class::Ours => out.paint(Style::Green, row.class),
            Class::External => out.paint(Style::Yellow, row.class),
            Class::System => out.paint(Style::Dim, row.class),
            Class::Unknown => out.paint(
                Style::Red,
                format!("owner unknown (uid {})", row.socket.uid),
            ),
        };
        table.row([
            format!(
                "{}{}",
                row.socket.protocol,
                if row.socket.family == portcore::Family::V6 {
                    "6"
                } else {
                    ""
                }
            ),
            row.address.clone(),
            row.port.to_string(),
            if pids.is_empty() {
                "-".to_owned()
            } else {
                pids.join(",")
            },
            process,
            user,
            row.service.unwrap_or("-").to_owned(),
            class,
        ]);
    }
    let mut text = if table.is_empty() {
        "no listening ports match\n".to_owned()
    } else {
        table.render()
    };
    if !snapshot.unreadable_pids.is_empty() {
        text += &format!(
            "\n{} processes of other users could not be inspected: their sockets show as owner unknown \
             (run with privileges to see them)\n",
            snapshot.unreadable_pids.len()
        );
    }
    text
}
