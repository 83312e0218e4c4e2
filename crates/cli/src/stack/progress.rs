//! The stack's events as lines for people: one line per service as it changes state, each
//! service's URL once it is healthy, and its output behind a coloured `name |` prefix.

use std::collections::BTreeMap;
use std::time::Duration;

use supervisor::Event;

use super::specs::ServiceMeta;
use crate::control::protocol::{PortDecision, StackEvent, WireEvent};
use crate::output::{Painter, Style};

/// What kind of line a rendered event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A service changed state, or the stack did.
    Status,
    /// A line of a service's output.
    Output,
    /// Something went wrong.
    Problem,
}

/// A rendered event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The line, without its newline.
    pub text: String,
    /// What it is.
    pub kind: Kind,
}

/// Renders events; keeps what later lines need (ports, why a service moved).
#[derive(Debug)]
pub struct Progress {
    metas: BTreeMap<String, ServiceMeta>,
    colors: BTreeMap<String, Style>,
    width: usize,
    painter: Painter,
    /// Why a service is not on its configured port: "moved from 8000: taken by pid 1234
    /// demo-squatter".
    notes: BTreeMap<String, String>,
    /// A runtime port decision already shown, so that the supervisor's `port_migrated` that
    /// follows it is not shown again.
    shown_migration: BTreeMap<String, (u16, u16)>,
    ports: BTreeMap<String, u16>,
    stopping: bool,
}

impl Progress {
    /// A renderer for the stack of `metas`.
    pub fn new(metas: &[ServiceMeta], painter: Painter) -> Progress {
        let width = metas.iter().map(|m| m.name.len()).max().unwrap_or(0);
        Progress {
            colors: metas
                .iter()
                .enumerate()
                .map(|(i, m)| (m.name.clone(), Style::ROTATION[i % Style::ROTATION.len()]))
                .collect(),
            metas: metas.iter().map(|m| (m.name.clone(), m.clone())).collect(),
            width,
            painter,
            notes: BTreeMap::new(),
            shown_migration: BTreeMap::new(),
            ports: BTreeMap::new(),
            stopping: false,
        }
    }

    fn name(&self, service: &str) -> String {
        let padded = format!("{service:<width$}", width = self.width);
        match self.colors.get(service) {
            Some(&style) => self.painter.paint(style, padded),
            None => padded,
        }
    }

    fn status(&self, service: &str, text: impl std::fmt::Display) -> Option<Rendered> {
        Some(Rendered {
            text: format!("{}  {text}", self.name(service)),
            kind: Kind::Status,
        })
    }

    fn problem(&self, service: &str, text: impl std::fmt::Display) -> Option<Rendered> {
        Some(Rendered {
            text: format!(
                "{}  {}",
                self.name(service),
                self.painter.paint(Style::Red, text)
            ),
            kind: Kind::Problem,
        })
    }

    fn stack(&self, style: Style, text: impl std::fmt::Display) -> Option<Rendered> {
        Some(Rendered {
            text: self.painter.paint(style, text),
            kind: if style == Style::Red {
                Kind::Problem
            } else {
                Kind::Status
            },
        })
    }

    /// Where the service answers now.
    fn url(&self, service: &str) -> Option<String> {
        let port = self.ports.get(service)?;
        self.metas.get(service)?.url(*port)
    }

    /// The line for `event`, if it has one.
    pub fn render(&mut self, event: &WireEvent) -> Option<Rendered> {
        match event {
            WireEvent::Portwarden(StackEvent::StackStarting {
                config,
                services,
                supervisor_pid,
                detached,
            }) => self.stack(
                Style::Bold,
                format!(
                    "starting {} service{} from {} (supervisor pid {supervisor_pid}{})",
                    services.len(),
                    if services.len() == 1 { "" } else { "s" },
                    config.display(),
                    if *detached { ", in the background" } else { "" }
                ),
            ),
            WireEvent::Portwarden(StackEvent::PortDecision(decision)) => self.decision(decision),
            WireEvent::Supervisor(event) => self.supervisor(event),
        }
    }

    fn decision(&mut self, d: &PortDecision) -> Option<Rendered> {
        let taker = d
            .holders
            .first()
            .map(|h| h.split(", ").next().unwrap_or(h).to_owned())
            .unwrap_or_else(|| "another process".to_owned());
        let runtime = d.phase == "runtime";
        match (d.decision.as_str(), d.resolved_port) {
            (_, Some(to)) if runtime && to != d.port => {
                self.notes.insert(
                    d.service.clone(),
                    format!("moved from {}: taken by {taker}", d.port),
                );
                self.shown_migration.insert(d.service.clone(), (d.port, to));
                self.status(
                    &d.service,
                    self.painter.paint(
                        Style::Yellow,
                        format!("port {} was taken by {taker}: moving to {to}", d.port),
                    ),
                )
            }
            ("migrate", Some(to)) => {
                let configured = self
                    .metas
                    .get(&d.service)
                    .and_then(|m| m.configured_port)
                    .unwrap_or(d.port);
                let why = if d.holders.is_empty() {
                    d.detail.clone()
                } else {
                    format!("taken by {taker}")
                };
                self.notes
                    .insert(d.service.clone(), format!("moved from {configured}: {why}"));
                self.status(
                    &d.service,
                    self.painter.paint(
                        Style::Yellow,
                        format!("port {} is {why}: moving to {to}", d.port),
                    ),
                )
            }
            ("terminate" | "restart_ours", _) => self.status(
                &d.service,
                self.painter.paint(
                    Style::Yellow,
                    format!(
                        "port {} is held by {}: stopping it{}",
                        d.port,
                        d.holders.join("; "),
                        d.outcome
                            .as_deref()
                            .map(|o| format!(" ({o})"))
                            .unwrap_or_default()
                    ),
                ),
            ),
            ("unresolvable", _) => {
                self.problem(&d.service, format!("port {}: {}", d.port, d.detail))
            }
            _ if d.holders.is_empty() => None,
            _ if d.level == "low" => self.status(
                &d.service,
                format!(
                    "port {} is held by its earlier instance, {taker}: it is replaced",
                    d.port
                ),
            ),
            _ => self.status(
                &d.service,
                format!("port {}: {}; keeping it", d.port, d.detail),
            ),
        }
    }

    fn supervisor(&mut self, event: &Event) -> Option<Rendered> {
        match event {
            Event::SetupStarted { service, command } => {
                self.status(service, format!("setting up: {command}"))
            }
            Event::SetupFinished {
                service,
                success: true,
                ..
            } => self.status(service, "setup done"),
            Event::SetupFinished {
                service,
                code,
                signal,
                ..
            } => self.problem(
                service,
                format!("setup failed ({})", exit_text(*code, *signal)),
            ),
            Event::Spawned { service, pid, port } => {
                if let Some(port) = port {
                    self.ports.insert(service.clone(), *port);
                }
                let port = port.map(|p| format!("  port {p}")).unwrap_or_default();
                self.status(service, format!("started  pid {pid}{port}"))
            }
            Event::Healthy { service, after } => {
                let mut text = format!(
                    "{} in {}",
                    self.painter.paint(Style::Green, "healthy"),
                    short(*after)
                );
                if let Some(url) = self.url(service) {
                    text += &format!("  {}", self.painter.paint(Style::Bold, url));
                }
                if let Some(note) = self.notes.get(service) {
                    text += &format!("  ({note})");
                }
                self.status(service, text)
            }
            Event::Unhealthy { service, reason } => {
                self.problem(service, format!("unhealthy: {reason}"))
            }
            Event::Restarting {
                service,
                attempt,
                delay,
            } => self.status(
                service,
                self.painter.paint(
                    Style::Yellow,
                    if delay.is_zero() {
                        format!("restarting (attempt {attempt})")
                    } else {
                        format!("restarting in {} (attempt {attempt})", short(*delay))
                    },
                ),
            ),
            Event::PortMigrated { service, from, to } => {
                self.ports.insert(service.clone(), *to);
                if self.shown_migration.remove(service) == Some((*from, *to)) {
                    return None;
                }
                self.notes
                    .insert(service.clone(), format!("moved from {from}: it was taken"));
                self.status(
                    service,
                    self.painter.paint(
                        Style::Yellow,
                        format!("port {from} is taken: moving to {to}"),
                    ),
                )
            }
            Event::Exited {
                service,
                pid,
                code,
                signal,
            } => {
                let text = format!("exited  pid {pid} ({})", exit_text(*code, *signal));
                if self.stopping || *code == Some(0) {
                    self.status(service, text)
                } else {
                    self.problem(service, text)
                }
            }
            Event::Stopping { service } => self.status(service, "stopping"),
            Event::Stopped { service } => self.status(service, "stopped"),
            Event::Leftovers {
                service,
                pids,
                port_held,
            } => {
                let mut what = Vec::new();
                if !pids.is_empty() {
                    what.push(format!("processes {pids:?} survived"));
                }
                if let Some(port) = port_held {
                    what.push(format!("port {port} is still held"));
                }
                self.problem(service, what.join("; "))
            }
            Event::Failed { service, reason } => self.problem(service, format!("failed: {reason}")),
            Event::Blocked {
                service, reason, ..
            } => self.problem(service, format!("not started: dependency {reason}")),
            Event::Output { service, line, .. } => Some(Rendered {
                text: format!("{} {} {line}", self.name(service), self.prefix_bar(service)),
                kind: Kind::Output,
            }),
            Event::Recovered { service, pid } => {
                let text = format!("stopped pid {pid}, left running by an earlier supervisor");
                match service {
                    Some(service) => self.status(service, text),
                    None => self.stack(Style::Yellow, text),
                }
            }
            Event::StackReady { after } => self.stack(
                Style::Green,
                format!(
                    "stack ready in {} ({} service{})",
                    short(*after),
                    self.metas.len(),
                    if self.metas.len() == 1 { "" } else { "s" }
                ),
            ),
            Event::StackFailed { reason } => {
                self.stack(Style::Red, format!("the stack failed to start: {reason}"))
            }
            Event::StackStopped => self.stack(Style::Bold, "stack stopped"),
            Event::Warning { message } => self.stack(Style::Yellow, format!("warning: {message}")),
            _ => None,
        }
    }

    fn prefix_bar(&self, service: &str) -> String {
        match self.colors.get(service) {
            Some(&style) => self.painter.paint(style, "|"),
            None => "|".to_owned(),
        }
    }

    /// From now on, exits are expected (the stack is stopping).
    pub fn set_stopping(&mut self) {
        self.stopping = true;
    }
}

fn exit_text(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(code), _) => format!("status {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        _ => "unknown status".to_owned(),
    }
}

/// `412ms`, `1.3s`, `2m05s`.
pub fn short(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d < Duration::from_secs(60) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        crate::output::format_duration(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, port: u16) -> ServiceMeta {
        ServiceMeta {
            name: name.into(),
            configured_port: Some(port),
            protocol: portcore::Protocol::Tcp,
            http_base: Some("http://127.0.0.1".into()),
            host: "127.0.0.1".into(),
            stop_timeout: Duration::from_secs(1),
            depends_on: vec![],
            critical: false,
        }
    }

    fn text(progress: &mut Progress, event: WireEvent) -> String {
        progress.render(&event).map(|r| r.text).unwrap_or_default()
    }

    #[test]
    fn a_migrated_service_shows_where_it_went_and_why_when_healthy() {
        let mut p = Progress::new(&[meta("api", 8000), meta("web", 3000)], Painter::plain());
        let decision = PortDecision {
            phase: "plan".into(),
            service: "api".into(),
            port: 8000,
            level: "high".into(),
            decision: "migrate".into(),
            resolved_port: Some(8001),
            holders: vec!["pid 1234 (demo-squatter), another process of yours".into()],
            detail: "held".into(),
            outcome: None,
        };
        assert_eq!(
            text(
                &mut p,
                WireEvent::Portwarden(StackEvent::PortDecision(decision))
            ),
            "api  port 8000 is taken by pid 1234 (demo-squatter): moving to 8001"
        );
        text(
            &mut p,
            WireEvent::Supervisor(Event::Spawned {
                service: "api".into(),
                pid: 42,
                port: Some(8001),
            }),
        );
        assert_eq!(
            text(
                &mut p,
                WireEvent::Supervisor(Event::Healthy {
                    service: "api".into(),
                    after: Duration::from_millis(412),
                })
            ),
            "api  healthy in 412ms  http://127.0.0.1:8001  \
             (moved from 8000: taken by pid 1234 (demo-squatter))"
        );
        let output = WireEvent::Supervisor(Event::Output {
            service: "web".into(),
            stream: supervisor::Stream::Stdout,
            line: "hello".into(),
        });
        assert_eq!(text(&mut p, output), "web | hello");
    }

    #[test]
    fn free_ports_kept_say_nothing() {
        let mut p = Progress::new(&[meta("api", 8000)], Painter::plain());
        let decision = PortDecision {
            phase: "plan".into(),
            service: "api".into(),
            port: 8000,
            level: "none".into(),
            decision: "keep".into(),
            resolved_port: Some(8000),
            holders: vec![],
            detail: "port 8000 is free".into(),
            outcome: None,
        };
        assert!(
            p.render(&WireEvent::Portwarden(StackEvent::PortDecision(decision)))
                .is_none()
        );
    }
}
