//! The report for people: one titled section per report type.

use std::time::Duration;

use super::Document;
use crate::output::{Output, Style, Table, format_bytes, format_duration};

fn dash() -> String {
    "-".to_owned()
}

fn ms(ms: u64) -> String {
    format_duration(Duration::from_millis(ms))
}

fn title(out: &Output, text: &str, note: &str) -> String {
    let note = if note.is_empty() {
        String::new()
    } else {
        format!("  {}", out.paint(Style::Dim, format!("({note})")))
    };
    format!("\n{}{note}\n", out.paint(Style::Bold, text))
}

/// The whole report as text.
pub fn render(out: &Output, doc: &Document) -> String {
    let mut text = format!(
        "{} {}  {}\n",
        out.paint(Style::Bold, "portwarden report"),
        doc.generated_at,
        out.paint(Style::Dim, doc.config.display())
    );
    text += &format!("services: {}\n", doc.source_note);
    text += &ports(out, doc);
    text += &services(out, doc);
    text += &performance(out, doc);
    text += &startup(out, doc);
    text += &history(out, doc);
    text += &logs(out, doc);
    text
}

fn ports(out: &Output, doc: &Document) -> String {
    let text = title(out, "Port status", "scanned now");
    if doc.ports.is_empty() {
        return text + "no service has a port\n";
    }
    let mut table = Table::new(["SERVICE", "PORT", "NOW ON", "STICKY", "STATUS", "HELD BY"]);
    for row in &doc.ports {
        let status = match row.status {
            "free" => out.paint(Style::Green, "free"),
            "held" => out.paint(Style::Green, "ours"),
            _ => out.paint(Style::Red, format!("conflict ({})", row.level)),
        };
        let holders: Vec<&str> = row.holders.iter().map(|h| h.description.as_str()).collect();
        table.row([
            row.service.clone(),
            format!("{}/{}", row.configured_port, row.protocol),
            row.current_port.map_or_else(dash, |p| p.to_string()),
            row.sticky_port.map_or_else(dash, |p| p.to_string()),
            status,
            if holders.is_empty() {
                dash()
            } else {
                holders.join("; ")
            },
        ]);
    }
    text + &table.render()
}

fn services(out: &Output, doc: &Document) -> String {
    let mut text = title(out, "Service health", &doc.source_note);
    if doc.services.is_empty() {
        return text + "no service state: nothing runs under a supervisor\n";
    }
    if let Some(stack) = &doc.stack {
        text += &format!("stack {stack}\n");
    }
    let mut table = Table::new([
        "SERVICE", "STATE", "HEALTH", "PID", "PORT", "RESTARTS", "UPTIME",
    ]);
    for s in &doc.services {
        let health = match s.health.as_str() {
            "healthy" => out.paint(Style::Green, "healthy"),
            "unhealthy" => out.paint(Style::Red, "unhealthy"),
            "not_checked" => dash(),
            other => other.to_owned(),
        };
        table.row([
            s.name.clone(),
            s.state.clone(),
            health,
            s.pid.map_or_else(dash, |p| p.to_string()),
            s.port.map_or_else(dash, |p| p.to_string()),
            s.restarts.to_string(),
            s.uptime_ms.map_or_else(dash, ms),
        ]);
    }
    text += &table.render();
    for s in &doc.services {
        if let Some(reason) = s.reason.as_ref().or(s.health_reason.as_ref()) {
            text += &format!("{}: {reason}\n", s.name);
        }
    }
    text
}

fn performance(out: &Output, doc: &Document) -> String {
    let text = title(
        out,
        "Performance",
        "CPU of one core; health-check latency p50/p95",
    );
    if doc.performance.is_empty() {
        return text + "no figures: nothing runs under a supervisor\n";
    }
    let mut table = Table::new([
        "SERVICE", "CPU", "RSS", "PROCS", "RESTARTS", "CHECKS", "FAILED", "P50", "P95",
    ]);
    for p in &doc.performance {
        let checks = p.health_checks.as_ref();
        let latency = |v: Option<u64>| v.map_or_else(dash, |v| format!("{v}ms"));
        table.row([
            p.service.clone(),
            p.cpu_percent.map_or_else(dash, |c| format!("{c:.1}%")),
            p.rss_bytes.map_or_else(dash, format_bytes),
            p.processes.map_or_else(dash, |n| n.to_string()),
            p.restarts.to_string(),
            checks.map_or_else(dash, |c| c.checks.to_string()),
            checks.map_or_else(dash, |c| c.failures.to_string()),
            latency(checks.and_then(|c| c.p50_ms)),
            latency(checks.and_then(|c| c.p95_ms)),
        ]);
    }
    text + &table.render()
}

fn startup(out: &Output, doc: &Document) -> String {
    let Some(startup) = &doc.startup else {
        return title(out, "Start-up", "") + "no start-up timings: no supervisor runs this stack\n";
    };
    let mut text = title(
        out,
        "Start-up",
        &format!(
            "from the stack's start at {}{}",
            startup.started_at,
            startup
                .ready_after_ms
                .map(|r| format!(", ready after {}", ms(r)))
                .unwrap_or_default()
        ),
    );
    let mut table = Table::new(["SERVICE", "SPAWNED", "READY", "TOOK", "WAITS FOR"]);
    for t in &startup.services {
        table.row([
            t.service.clone(),
            format!("@{}", ms(t.spawned_ms)),
            t.ready_ms.map_or_else(dash, |r| format!("@{}", ms(r))),
            t.took_ms.map_or_else(dash, |d| format!("+{}", ms(d))),
            if t.depends_on.is_empty() {
                dash()
            } else {
                t.depends_on.join(", ")
            },
        ]);
    }
    text += &table.render();
    if !startup.critical_chain.is_empty() {
        text += &format!(
            "\ncritical chain {}\n",
            out.paint(
                Style::Dim,
                "(@ when the service was spawned, + how long it took to become ready)"
            )
        );
        text += &startup.render_chain();
    }
    text
}

fn history(out: &Output, doc: &Document) -> String {
    let h = &doc.history;
    let mut text = title(out, "Conflict history", &h.path.display().to_string());
    if let Some(damage) = h.damage() {
        text += &format!("{} {damage}\n", out.paint(Style::Yellow, "note:"));
    }
    if h.records == 0 {
        return text + "nothing recorded\n";
    }
    let counts = |map: &std::collections::BTreeMap<String, usize>| {
        map.iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    text += &format!(
        "{} record{}, {} conflict{} (the port held by another process), from {} to {}: {}\n",
        h.records,
        if h.records == 1 { "" } else { "s" },
        h.conflicts,
        if h.conflicts == 1 { "" } else { "s" },
        h.first_at.as_deref().unwrap_or("?"),
        h.last_at.as_deref().unwrap_or("?"),
        counts(&h.outcomes)
    );
    text += &format!("decisions: {}\n", counts(&h.decisions));
    let mut strategies = Table::new(["STRATEGY", "OUTCOMES"]);
    for (strategy, outcomes) in &h.strategies {
        strategies.row([strategy.clone(), counts(outcomes)]);
    }
    text += &strategies.render();
    if !h.services.is_empty() {
        let mut table = Table::new([
            "SERVICE",
            "RECORDS",
            "CONFLICTS",
            "MIGRATED",
            "TERMINATED",
            "UNRESOLVED",
            "LAST",
        ]);
        for (service, s) in &h.services {
            table.row([
                service.clone(),
                s.records.to_string(),
                s.conflicts.to_string(),
                s.migrations.to_string(),
                s.terminations.to_string(),
                s.unresolved.to_string(),
                s.last_at.clone(),
            ]);
        }
        text += "\n";
        text += &table.render();
    }
    text += &format!("\nthe last {}:\n", h.last.len());
    let mut table = Table::new([
        "WHEN", "SERVICE", "PORT", "LEVEL", "DECISION", "OUTCOME", "NOW ON",
    ]);
    for r in &h.last {
        table.row([
            r.timestamp.clone(),
            r.service.clone().unwrap_or_else(dash),
            format!("{}/{}", r.port, r.protocol),
            r.level.to_string(),
            format!("{} ({})", r.decision.name(), r.strategy),
            super::enum_name(&r.outcome),
            r.resolved_port.map_or_else(dash, |p| p.to_string()),
        ]);
    }
    text + &table.render()
}

fn logs(out: &Output, doc: &Document) -> String {
    let text = title(out, "Logs", &doc.logs.dir.display().to_string());
    let mut table = Table::new(["LOG", "PATH", "SIZE"]);
    let files = [
        ("startup", &doc.logs.startup_log),
        ("port manager", &doc.logs.port_manager_log),
    ];
    let services = doc
        .logs
        .services
        .iter()
        .map(|f| (f.service.as_deref().unwrap_or("-"), f));
    for (name, file) in files.into_iter().chain(services) {
        let size = match file.bytes {
            Some(b) if file.rotated > 0 => {
                format!("{} (+{} rotated)", format_bytes(b), file.rotated)
            }
            Some(b) => format_bytes(b),
            None => "not written yet".to_owned(),
        };
        table.row([name.to_owned(), file.path.display().to_string(), size]);
    }
    text + &table.render()
}
