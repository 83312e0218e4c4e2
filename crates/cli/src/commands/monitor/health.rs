//! The health half of `monitor`: every `monitoring.health_check_interval`, the services'
//! configured checks (built as `health-check` builds them) run off the tick loop, a few at a
//! time, and the results come back as changes: each service's first result, then
//! healthy → unhealthy and back.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use supervisor::HealthResult;

use super::Wake;
use super::event::Event;
use super::stack::View;
use crate::config::LoadedConfig;
use crate::stack::probe::{self, Probe};

/// Checks run at once, at most: enough for a stack's worth of slow checks to finish within
/// one check timeout or two, few enough that they do not crowd the machine.
const PARALLEL: usize = 8;

/// The result of one check.
#[derive(Debug, Clone)]
pub struct Checked {
    service: String,
    check: String,
    result: HealthResult,
    latency: Duration,
}

/// The schedule and the last result of each service.
#[derive(Debug)]
pub struct HealthWatch {
    interval: Duration,
    next: Instant,
    in_flight: bool,
    last: HashMap<String, bool>,
    wake: Sender<Wake>,
    /// Services whose check could not be built (reported once).
    broken: Vec<String>,
}

impl HealthWatch {
    /// Checks every `interval`, the first time at the first tick; results are sent to `wake`.
    pub fn new(interval: Duration, wake: Sender<Wake>) -> HealthWatch {
        HealthWatch {
            interval,
            next: Instant::now(),
            in_flight: false,
            last: HashMap::new(),
            wake,
            broken: Vec::new(),
        }
    }

    /// Starts a round of checks when one is due and the last one is over. Which services:
    /// while a supervisor runs, those it runs (a stopped service is not "unhealthy"); without
    /// one, every service with a check. Returns warnings about checks that cannot be built.
    pub fn tick(&mut self, loaded: &LoadedConfig, view: &View) -> Vec<Event> {
        let now = Instant::now();
        if self.in_flight || now < self.next {
            return Vec::new();
        }
        self.next = now + self.interval;
        let mut ports = probe::configured_ports(loaded);
        for (name, record) in &view.services {
            if let Some(port) = record.port {
                ports.insert(name.clone(), port);
            }
        }
        let mut warnings = Vec::new();
        let mut probes: Vec<Probe> = Vec::new();
        for name in loaded.config.services.keys() {
            let running = view.instance(name);
            if view.supervisor.is_some() && running.is_none() {
                continue;
            }
            match probe::build(loaded, name, &ports, running.map(|i| i.pid)) {
                Ok(Some(probe)) => probes.push(probe),
                Ok(None) => {}
                Err(e) if !self.broken.contains(name) => {
                    self.broken.push(name.clone());
                    warnings.push(Event::Warning {
                        message: format!("{name} is not health-checked: {e}"),
                    });
                }
                Err(_) => {}
            }
        }
        // A service no longer checked starts afresh when it is checked again.
        let names: Vec<&str> = probes.iter().map(|p| p.context.service.as_str()).collect();
        self.last.retain(|name, _| names.contains(&name.as_str()));
        if probes.is_empty() {
            return warnings;
        }
        let wake = self.wake.clone();
        let spawned = std::thread::Builder::new()
            .name("portwarden-health".into())
            .spawn(move || {
                let _ = wake.send(Wake::Health(run_all(&probes)));
            });
        match spawned {
            Ok(_) => self.in_flight = true,
            Err(e) => warnings.push(Event::Warning {
                message: format!("health checks not run: {e}"),
            }),
        }
        warnings
    }

    /// The events of a finished round.
    pub fn results(&mut self, results: Vec<Checked>) -> Vec<Event> {
        self.in_flight = false;
        let mut events = Vec::new();
        for checked in results {
            let healthy = checked.result.is_healthy();
            let previous = self.last.insert(checked.service.clone(), healthy);
            // Reported: each service's first result, then its changes.
            if previous == Some(healthy) {
                continue;
            }
            let reason = match checked.result {
                HealthResult::Unhealthy { reason } => Some(reason),
                _ => None,
            };
            events.push(Event::Health {
                service: checked.service,
                healthy,
                previous: match previous {
                    Some(true) => "healthy",
                    Some(false) => "unhealthy",
                    None => "unknown",
                }
                .to_owned(),
                check: checked.check,
                latency_ms: (checked.latency.as_secs_f64() * 10_000.0).round() / 10.0,
                reason,
            });
        }
        events
    }
}

/// Runs every probe, [`PARALLEL`] at a time; results in the probes' order.
fn run_all(probes: &[Probe]) -> Vec<Checked> {
    let next = AtomicUsize::new(0);
    let results: std::sync::Mutex<BTreeMap<usize, Checked>> = Default::default();
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(probe) = probes.get(i) else {
                return;
            };
            let (result, latency) = probe.run();
            let checked = Checked {
                service: probe.context.service.clone(),
                check: probe.describe(),
                result,
                latency,
            };
            results
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(i, checked);
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..PARALLEL.min(probes.len()) {
            scope.spawn(work);
        }
        work();
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_values()
        .collect()
}
