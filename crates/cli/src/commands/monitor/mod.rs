//! `portwarden monitor` (also `--monitor`): continuous port and service monitoring, as the
//! seed's monitoring mode. Every `monitoring.interval` (or `--interval`):
//!
//! - the services' ports ([`ports`]): an incremental socket scan (the scanner is kept between
//!   ticks), the resolver's detection on the claims, new conflicts and conflicts that went
//!   away reported, new ones resolved when `monitoring.auto_resolve_conflicts` is on;
//! - their health ([`health`]), every `monitoring.health_check_interval`, off the tick loop;
//! - their CPU and memory ([`usage`]) against the configured thresholds.
//!
//! Only changes are reported: a quiet tick prints nothing (`-v` prints a summary of each).
//! Runs until Ctrl-C or SIGTERM, or for `--for DURATION` / `--count N` ticks.

mod event;
mod health;
mod ports;
mod stack;
mod usage;

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use self::event::{Emitter, Event};
use self::health::{Checked, HealthWatch};
use self::ports::PortWatch;
use self::stack::StackWatch;
use self::usage::UsageWatch;
use super::Context;
use crate::args::MonitorArgs;
use crate::control::paths::StatePaths;
use crate::exit::{self, CliError, CliResult};
use crate::stack::signals::{self, SIGHUP, SIGINT, SIGTERM};

/// What wakes the monitor between ticks.
#[derive(Debug)]
pub enum Wake {
    /// A signal: stop.
    Signal(i32),
    /// A round of health checks finished.
    Health(Vec<Checked>),
}

pub fn run(ctx: &Context<'_>, args: &MonitorArgs) -> CliResult {
    let loaded = ctx.require_config()?;
    let monitoring = &loaded.config.monitoring;
    if !monitoring.enabled {
        ctx.out.note(
            "monitoring is disabled in the config (monitoring.enabled: false): nothing to watch",
        );
        return Ok(());
    }
    let interval: Duration = args.interval.map_or(monitoring.interval.get(), Into::into);
    let health_interval: Duration = monitoring.health_check_interval.get();
    if interval.is_zero() || health_interval.is_zero() {
        return Err(CliError::new(
            exit::USAGE,
            "the monitoring interval must be longer than zero",
        ));
    }
    let paths = StatePaths::for_config(&loaded);
    let (wake, woken) = mpsc::channel();
    {
        let wake = wake.clone();
        signals::watch(&[SIGINT, SIGTERM, SIGHUP], move |signal| {
            let _ = wake.send(Wake::Signal(signal));
        })?;
    }
    let mut emitter = Emitter::new(ctx.out, &paths, ctx.global.verbose > 0);
    let mut stack = StackWatch::new(&paths);
    let mut ports = PortWatch::new(&loaded, &paths, args.yes)?;
    let mut health = HealthWatch::new(health_interval, wake);
    let mut usage = UsageWatch::new(monitoring, interval, &paths);

    let view = stack.refresh();
    emitter.emit(&Event::MonitorStarted {
        config: std::path::absolute(&loaded.path).unwrap_or_else(|_| loaded.path.clone()),
        interval_ms: interval.as_millis() as u64,
        health_check_interval_ms: health_interval.as_millis() as u64,
        services: loaded.config.services.len(),
        ports: ports.ports(),
        supervisor: view.supervisor.map(|s| s.pid),
        auto_resolve: monitoring.auto_resolve_conflicts,
        strategy: ports.strategy().to_owned(),
        terminate: args.yes,
    })?;

    let started = Instant::now();
    let deadline = args.for_.map(|d| started + d.get());
    let mut next = started;
    let mut ticks = 0u64;
    let reason = 'watch: loop {
        ticks += 1;
        let began = Instant::now();
        let view = stack.refresh();
        match ports.tick(view) {
            Ok(events) => {
                for event in &events {
                    emitter.emit(event)?;
                }
            }
            Err(e) => emitter.emit(&Event::Warning {
                message: e.to_string(),
            })?,
        }
        let mut events = ports.resolve_new();
        events.extend(health.tick(&loaded, view));
        events.extend(usage.tick(view));
        events.push(Event::Tick {
            tick: ticks,
            duration_ms: (began.elapsed().as_secs_f64() * 10_000.0).round() / 10.0,
            full_scan: ports.last_full,
            ports: ports.ports(),
            conflicts: ports.open_conflicts(),
        });
        for event in &events {
            emitter.emit(event)?;
        }
        if args.count.is_some_and(|count| ticks >= count) {
            break 'watch "count";
        }
        // The next tick on the schedule; ticks missed while the machine was busy are skipped.
        next += interval;
        let now = Instant::now();
        if next < now {
            next = now + interval;
        }
        loop {
            let until = deadline.map_or(next, |d| d.min(next));
            match woken.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(Wake::Signal(signal)) => {
                    log::info!("signal {signal}: stopping");
                    break 'watch "signal";
                }
                Ok(Wake::Health(results)) => {
                    for event in health.results(results) {
                        emitter.emit(&event)?;
                    }
                }
                Err(e) => {
                    if e == RecvTimeoutError::Disconnected {
                        // Cannot happen (the health watch keeps a sender): sleep, do not spin.
                        std::thread::sleep(until.saturating_duration_since(Instant::now()));
                    }
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break 'watch "duration";
                    }
                    if Instant::now() >= next {
                        break;
                    }
                }
            }
        }
    };
    emitter.emit(&Event::MonitorStopped {
        ticks,
        reason: reason.to_owned(),
    })
}
