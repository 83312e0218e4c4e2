//! `portwarden service NAME`: a service's preferred and alternative ports and who holds each.

use procscan::{ProcessDetail, ProcessInfo, ScanOptions, StateFilter};
use serde::Serialize;

use super::Context;
use super::claims::claims_on_port;
use crate::args::ServiceArgs;
use crate::exit::{self, CliError, CliResult};
use crate::output::{Style, Table};

#[derive(Debug, Serialize)]
struct PortLine {
    port: u16,
    role: &'static str,
    /// "free" or "held".
    status: &'static str,
    reserved: bool,
    /// Other services that also name this port.
    also_claimed_by: Vec<String>,
    holders: Vec<ProcessInfo>,
    /// Uids of listeners on this port whose holders could not be seen.
    unknown_owner_uids: Vec<u32>,
}

#[derive(Debug, Serialize)]
struct Document {
    schema: &'static str,
    service: String,
    protocol: portcore::Protocol,
    critical: bool,
    ports: Vec<PortLine>,
}

pub fn run(ctx: &Context<'_>, args: &ServiceArgs) -> CliResult {
    let loaded = ctx.require_config()?;
    let config = &loaded.config;
    let service = config.services.get(&args.name).ok_or_else(|| {
        let known: Vec<&str> = config.services.keys().map(String::as_str).collect();
        CliError::new(
            exit::NOT_FOUND,
            format!(
                "no service `{}` in {} (known: {})",
                args.name,
                loaded.path.display(),
                known.join(", ")
            ),
        )
    })?;
    let options = ScanOptions {
        protocols: vec![service.protocol],
        states: StateFilter::Listening,
        detail: ProcessDetail::Basic,
        ..ScanOptions::default()
    };
    let snapshot = procscan::snapshot(&options)
        .map_err(|e| CliError::failure(format!("cannot read the socket table: {e}")))?;
    let reserved = config.reserved();
    let ports = service
        .port
        .map(|p| (p, "primary"))
        .into_iter()
        .chain(
            service
                .alternative_ports
                .iter()
                .map(|&p| (p, "alternative")),
        )
        .map(|(port, role)| {
            let sockets: Vec<_> = snapshot
                .on_port(port, Some(service.protocol))
                .filter(|s| s.is_listening())
                .collect();
            let mut holders: Vec<ProcessInfo> = sockets
                .iter()
                .flat_map(|s| snapshot.holders(s))
                .cloned()
                .collect();
            holders.sort_by_key(|p| p.pid);
            holders.dedup_by_key(|p| p.pid);
            let unknown_owner_uids = sockets
                .iter()
                .filter(|s| !s.owner_known())
                .map(|s| s.uid)
                .collect();
            PortLine {
                port,
                role,
                status: if sockets.is_empty() { "free" } else { "held" },
                reserved: reserved.contains(port),
                also_claimed_by: claims_on_port(config, port)
                    .into_iter()
                    .filter(|c| c.service != args.name)
                    .map(|c| c.service)
                    .collect(),
                holders,
                unknown_owner_uids,
            }
        })
        .collect();
    let doc = Document {
        schema: "portwarden.service/1",
        service: args.name.clone(),
        protocol: service.protocol,
        critical: service.critical,
        ports,
    };
    if ctx.out.json {
        return ctx.out.json_document(&doc);
    }
    let out = &ctx.out;
    let mut text = format!(
        "{} ({}{})\n",
        out.paint(Style::Bold, &doc.service),
        doc.protocol,
        if doc.critical { ", critical" } else { "" }
    );
    let mut table = Table::new(["PORT", "ROLE", "STATUS", "HELD BY", "NOTES"]);
    for line in &doc.ports {
        let held_by = if line.holders.is_empty() && line.unknown_owner_uids.is_empty() {
            "-".to_owned()
        } else {
            line.holders
                .iter()
                .map(|p| format!("{} {}", p.pid, p.name))
                .chain(
                    line.unknown_owner_uids
                        .iter()
                        .map(|uid| format!("owner unknown (uid {uid})")),
                )
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut notes = Vec::new();
        if line.reserved {
            notes.push("reserved".to_owned());
        }
        if !line.also_claimed_by.is_empty() {
            notes.push(format!(
                "also claimed by {}",
                line.also_claimed_by.join(", ")
            ));
        }
        let status = if line.status == "free" {
            out.paint(Style::Green, "free")
        } else {
            out.paint(Style::Red, "held")
        };
        table.row([
            line.port.to_string(),
            line.role.to_owned(),
            status,
            held_by,
            notes.join("; "),
        ]);
    }
    text += &table.render();
    out.write(&text)
}
