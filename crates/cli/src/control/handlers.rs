//! What the supervisor does for each control request.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant, SystemTime};

use supervisor::{Event, Health, ServiceState, ServiceStatus};

use super::protocol::{
    ActionReport, ErrorKind, LogLine, Reply, Request, ServiceOutcome, ServiceRow, StatusReport,
    StreamEnd, StreamItem, SupervisorInfo, WireEvent,
};
use super::server::{Served, reply};
use crate::output::rfc3339;

/// How often a waiting request looks at the status.
const POLL: Duration = Duration::from_millis(20);

/// Answers a request that is not a stream.
pub fn answer(request: Request, served: &Served) -> Reply {
    match request {
        Request::Hello => Reply::success(info(served)),
        Request::Status => Reply::success(status(served)),
        Request::Start {
            services,
            timeout_ms,
        } => named(served, &services)
            .map(|()| start(served, &services, timeout(timeout_ms, 60_000)))
            .unwrap_or_else(|e| e),
        Request::Stop {
            services,
            timeout_ms,
        } => {
            if services.is_empty() {
                return Reply::failure(
                    ErrorKind::BadRequest,
                    "name the services to stop, or send `shutdown` to stop the stack",
                );
            }
            named(served, &services)
                .map(|()| stop(served, &services, timeout_ms.map(Duration::from_millis)))
                .unwrap_or_else(|e| e)
        }
        Request::Restart {
            services,
            timeout_ms,
        } => named(served, &services)
            .map(|()| restart(served, &services, timeout(timeout_ms, 120_000)))
            .unwrap_or_else(|e| e),
        Request::Shutdown | Request::Events { .. } | Request::Logs { .. } => Reply::failure(
            ErrorKind::BadRequest,
            "a stream request was answered as a call",
        ),
    }
}

fn timeout(ms: Option<u64>, default: u64) -> Duration {
    Duration::from_millis(ms.unwrap_or(default))
}

/// `Err` with the reply when a name is not a service of the stack.
fn named(served: &Served, services: &[String]) -> Result<(), Reply> {
    let unknown: Vec<&str> = services
        .iter()
        .filter(|s| served.meta(s).is_none())
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let known: Vec<&str> = served.services.iter().map(|m| m.name.as_str()).collect();
    Err(Reply::failure(
        ErrorKind::NotFound,
        format!(
            "no service {} in this stack (known: {})",
            unknown
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", "),
            known.join(", ")
        ),
    ))
}

fn info(served: &Served) -> SupervisorInfo {
    SupervisorInfo {
        uptime_ms: served.started.elapsed().as_millis() as u64,
        ..served.info.clone()
    }
}

/// The `status` answer.
pub fn status(served: &Served) -> StatusReport {
    served.metrics.refresh_new_groups();
    let now = SystemTime::now();
    let services = served
        .handle
        .status()
        .into_iter()
        .map(|s| {
            let meta = served.meta(&s.name);
            let usage = s.pgid.and_then(|g| served.metrics.usage(g));
            let (health, health_reason) = match &s.health {
                Health::Unknown => ("unknown", None),
                Health::Starting => ("starting", None),
                Health::Healthy => ("healthy", None),
                Health::Unhealthy { reason } => ("unhealthy", Some(reason.clone())),
                Health::NotChecked => ("not_checked", None),
            };
            let running = s.pid().is_some();
            ServiceRow {
                url: meta.and_then(|m| m.url(s.port?)),
                configured_port: meta.and_then(|m| m.configured_port),
                health: health.to_owned(),
                health_reason,
                pid: s.pid(),
                pgid: s.pgid,
                port: s.port,
                restarts: s.restarts,
                started_at: s.started_at.filter(|_| running).map(rfc3339),
                uptime_ms: s
                    .started_at
                    .filter(|_| running)
                    .and_then(|t| now.duration_since(t).ok())
                    .map(|d| d.as_millis() as u64),
                cpu_percent: usage.map(|u| u.cpu_percent),
                rss_bytes: usage.map(|u| u.rss_bytes),
                processes: usage.map(|u| u.processes),
                last_exit: s.last_exit,
                time_to_healthy_ms: s.time_to_healthy.map(|d| d.as_millis() as u64),
                health_checks: Some(s.health_checks.clone()),
                reason: s.reason.clone(),
                state: s.state,
                name: s.name,
            }
        })
        .collect();
    StatusReport {
        schema: "portwarden.status/1".into(),
        running: true,
        supervisor: Some(info(served)),
        stack: Some(served.phase().as_str().to_owned()),
        services,
        startup: Some(served.timeline.startup()),
    }
}

/// Polls the status until `done` holds for every service in `names`, or `deadline` passes.
fn wait_for(
    served: &Served,
    names: &BTreeSet<String>,
    deadline: Instant,
    done: impl Fn(&ServiceStatus) -> bool,
) -> Vec<ServiceStatus> {
    loop {
        let status: Vec<ServiceStatus> = served
            .handle
            .status()
            .into_iter()
            .filter(|s| names.contains(&s.name))
            .collect();
        if status.iter().all(&done) || Instant::now() >= deadline {
            return status;
        }
        std::thread::sleep(POLL);
    }
}

/// Whether a service has come up: running (healthy where checked), or a job that completed.
fn is_up(s: &ServiceStatus) -> bool {
    s.state == ServiceState::Running
        || (s.state == ServiceState::Exited && s.last_exit.is_some_and(|e| e.success()))
}

/// Whether a service will not come up without help.
fn is_stuck(s: &ServiceStatus) -> bool {
    matches!(s.state, ServiceState::Failed | ServiceState::Blocked)
}

/// Whether a service is down.
fn is_down(s: &ServiceStatus) -> bool {
    s.pid().is_none() && !s.state.is_active()
}

fn pids(served: &Served) -> std::collections::BTreeMap<String, Option<u32>> {
    served
        .handle
        .status()
        .into_iter()
        .map(|s| (s.name.clone(), s.pid()))
        .collect()
}

fn outcome(
    s: &ServiceStatus,
    previous_pid: Option<u32>,
    ok: bool,
    message: String,
) -> ServiceOutcome {
    ServiceOutcome {
        service: s.name.clone(),
        ok,
        state: s.state,
        previous_pid,
        pid: s.pid(),
        port: s.port,
        port_free: None,
        message,
    }
}

fn came_up(s: &ServiceStatus, previous: Option<u32>, verb: &str) -> ServiceOutcome {
    if is_up(s) {
        let message = match (previous, s.pid()) {
            (Some(old), Some(new)) if old != new => format!("{verb} (pid {old} -> {new})"),
            (_, Some(new)) => format!("{verb} (pid {new})"),
            _ => format!("{verb} (completed)"),
        };
        outcome(s, previous, true, message)
    } else if is_stuck(s) {
        let why = s
            .reason
            .clone()
            .unwrap_or_else(|| "no reason recorded".into());
        outcome(
            s,
            previous,
            false,
            format!("{:?}: {why}", s.state).to_lowercase(),
        )
    } else {
        outcome(
            s,
            previous,
            false,
            format!("still {:?} when the wait ended", s.state).to_lowercase(),
        )
    }
}

fn start(served: &Served, services: &[String], limit: Duration) -> Reply {
    let before = pids(served);
    for name in services {
        if let Err(e) = served.handle.start_service(name) {
            return Reply::failure(ErrorKind::Failed, format!("starting {name}: {e}"));
        }
    }
    let names: BTreeSet<String> = services.iter().cloned().collect();
    let status = wait_for(served, &names, Instant::now() + limit, |s| {
        is_up(s) || is_stuck(s)
    });
    Reply::success(ActionReport {
        action: "start".into(),
        services: status
            .iter()
            .map(|s| {
                let previous = before.get(&s.name).copied().flatten();
                if previous.is_some() && previous == s.pid() {
                    outcome(s, previous, true, "already running".into())
                } else {
                    came_up(s, previous, "started")
                }
            })
            .collect(),
    })
}

fn stop(served: &Served, services: &[String], limit: Option<Duration>) -> Reply {
    let before = pids(served);
    for name in services {
        if let Err(e) = served.handle.stop_service(name) {
            return Reply::failure(ErrorKind::Failed, format!("stopping {name}: {e}"));
        }
    }
    let limit = limit.unwrap_or_else(|| {
        services
            .iter()
            .filter_map(|s| served.meta(s))
            .map(|m| m.stop_timeout)
            .max()
            .unwrap_or_default()
            + Duration::from_secs(5)
    });
    let names: BTreeSet<String> = services.iter().cloned().collect();
    let status = wait_for(served, &names, Instant::now() + limit, is_down);
    Reply::success(ActionReport {
        action: "stop".into(),
        services: status
            .iter()
            .map(|s| {
                let previous = before.get(&s.name).copied().flatten();
                if !is_down(s) {
                    return outcome(
                        s,
                        previous,
                        false,
                        "still running when the wait ended".into(),
                    );
                }
                let protocol = served
                    .meta(&s.name)
                    .map(|m| m.protocol)
                    .unwrap_or(portcore::Protocol::Tcp);
                let port_free = s.port.map(|p| port_is_free(p, protocol));
                let mut result = match port_free {
                    Some(false) => outcome(
                        s,
                        previous,
                        false,
                        format!("stopped, but port {} is still held", s.port.unwrap_or(0)),
                    ),
                    Some(true) => outcome(
                        s,
                        previous,
                        true,
                        format!("stopped; port {} is free", s.port.unwrap_or(0)),
                    ),
                    None => outcome(s, previous, true, "stopped".into()),
                };
                result.port_free = port_free;
                result
            })
            .collect(),
    })
}

/// Whether `port` can be bound again: nobody listens on it (TIME_WAIT sockets of closed
/// connections do not count; servers bind over them with `SO_REUSEADDR`). Waits up to a
/// second for a port that is still being released.
fn port_is_free(port: u16, protocol: portcore::Protocol) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if portcore::probe_port(port, protocol).is_free() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

fn restart(served: &Served, services: &[String], limit: Duration) -> Reply {
    let deadline = Instant::now() + limit;
    let before = pids(served);
    let targets: Vec<String> = if services.is_empty() {
        let status = served.handle.status();
        served
            .start_order
            .iter()
            .filter(|name| {
                status.iter().any(|s| {
                    &s.name == *name
                        && !matches!(s.state, ServiceState::Inactive | ServiceState::Stopped)
                })
            })
            .cloned()
            .collect()
    } else {
        services.to_vec()
    };
    if services.is_empty() {
        // The whole stack: down in reverse dependency order (a service stops once nothing
        // that depends on it runs), then up again in order.
        if let Err(reply) = stop_in_waves(served, &targets, deadline) {
            return reply;
        }
        for name in &targets {
            if let Err(e) = served.handle.start_service(name) {
                return Reply::failure(ErrorKind::Failed, format!("starting {name}: {e}"));
            }
        }
    } else {
        for name in &targets {
            if let Err(e) = served.handle.restart_service(name) {
                return Reply::failure(ErrorKind::Failed, format!("restarting {name}: {e}"));
            }
        }
    }
    let names: BTreeSet<String> = targets.iter().cloned().collect();
    let status = wait_for(served, &names, deadline, |s| {
        let previous = before.get(&s.name).copied().flatten();
        (is_up(s) && (previous.is_none() || s.pid() != previous)) || is_stuck(s)
    });
    Reply::success(ActionReport {
        action: "restart".into(),
        services: status
            .iter()
            .map(|s| came_up(s, before.get(&s.name).copied().flatten(), "restarted"))
            .collect(),
    })
}

/// Stops `targets` so that no service stops while one that depends on it still runs.
fn stop_in_waves(served: &Served, targets: &[String], deadline: Instant) -> Result<(), Reply> {
    let mut running: BTreeSet<String> = targets.iter().cloned().collect();
    while !running.is_empty() {
        let wave: BTreeSet<String> = running
            .iter()
            .filter(|name| {
                !served
                    .services
                    .iter()
                    .any(|m| running.contains(&m.name) && m.depends_on.contains(name))
            })
            .cloned()
            .collect();
        if wave.is_empty() {
            // Cannot happen in a stack without cycles; stop the rest together.
            return stop_all(served, &running.clone(), deadline);
        }
        stop_all(served, &wave, deadline)?;
        running.retain(|n| !wave.contains(n));
    }
    Ok(())
}

fn stop_all(served: &Served, names: &BTreeSet<String>, deadline: Instant) -> Result<(), Reply> {
    for name in names {
        served
            .handle
            .stop_service(name)
            .map_err(|e| Reply::failure(ErrorKind::Failed, format!("stopping {name}: {e}")))?;
    }
    let status = wait_for(served, names, deadline, is_down);
    match status.iter().find(|s| !is_down(s)) {
        Some(s) => Err(Reply::failure(
            ErrorKind::Failed,
            format!("{} did not stop in time", s.name),
        )),
        None => Ok(()),
    }
}

/// Serves a stream request: the reply, then items until the end.
///
/// A stream ends when the stack stops, or when the client goes away (noticed at the next
/// write, or within a second while nothing is sent).
pub fn stream(request: Request, served: &Served, stream: &UnixStream) -> io::Result<()> {
    let writer = &mut &*stream;
    let alive = || !crate::sys::peer_closed(stream);
    match request {
        Request::Events { replay, services } => {
            if let Err(reply_error) = named(served, &services) {
                return reply(writer, &reply_error);
            }
            let subscription = served.hub.subscribe(replay);
            reply(writer, &Reply::success(info(served)))?;
            while let Some(event) = subscription.recv_while(alive) {
                let wanted = services.is_empty()
                    || event
                        .service()
                        .is_none_or(|s| services.iter().any(|n| n == s));
                if wanted {
                    reply(writer, &StreamItem::Event((*event).clone()))?;
                }
            }
            end(writer, "stack_stopped")
        }
        Request::Shutdown => {
            let subscription = served.hub.subscribe(false);
            served.set_phase(super::server::Phase::Stopping);
            served.handle.shutdown();
            reply(writer, &Reply::success(info(served)))?;
            while let Some(event) = subscription.recv_while(alive) {
                if !event.is_output() {
                    reply(writer, &StreamItem::Event((*event).clone()))?;
                }
            }
            end(writer, "stack_stopped")
        }
        Request::Logs {
            services,
            tail,
            follow,
        } => {
            if let Err(reply_error) = named(served, &services) {
                return reply(writer, &reply_error);
            }
            let names: Vec<String> = if services.is_empty() {
                served.services.iter().map(|m| m.name.clone()).collect()
            } else {
                services
            };
            // Subscribe before reading the files, so no line falls between the two.
            let subscription = follow.then(|| served.hub.subscribe(false));
            reply(writer, &Reply::success(info(served)))?;
            for name in &names {
                let path = served.paths.log_file(name);
                for line in crate::control::logfiles::tail_lines(&path, tail.unwrap_or(10))? {
                    reply(
                        writer,
                        &StreamItem::Log(LogLine {
                            service: name.clone(),
                            line,
                        }),
                    )?;
                }
            }
            let Some(subscription) = subscription else {
                return end(writer, "done");
            };
            while let Some(event) = subscription.recv_while(alive) {
                if let WireEvent::Supervisor(Event::Output { service, line, .. }) = &*event
                    && names.contains(service)
                {
                    reply(
                        writer,
                        &StreamItem::Log(LogLine {
                            service: service.clone(),
                            line: line.clone(),
                        }),
                    )?;
                }
            }
            end(writer, "stack_stopped")
        }
        other => reply(writer, &answer(other, served)),
    }
}

fn end(writer: &mut impl Write, reason: &str) -> io::Result<()> {
    reply(
        writer,
        &StreamItem::End(StreamEnd {
            reason: reason.into(),
        }),
    )
}
