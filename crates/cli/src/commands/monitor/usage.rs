//! The resource half of `monitor`: each service's CPU and memory against
//! `monitoring.cpu_threshold_percent` and `memory_threshold_mb`, with an alert when a service
//! goes above and another when it is back under (below 90% of the threshold, so a value that
//! hovers at it does not flap).
//!
//! The figures come from the running supervisor's `status` (it samples its process groups
//! every 2 s anyway), over one connection kept open; without a supervisor, from the groups a
//! dead one recorded, read from `/proc` here. Either way at most every [`MIN_EVERY`], and not
//! at all when no threshold is set.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::event::{Event, Metric};
use super::stack::View;
use crate::config::MonitoringConfig;
use crate::control::client::Client;
use crate::control::paths::StatePaths;
use crate::control::protocol::{Request, StatusReport};
use crate::sys;

/// The shortest time between two samples: the supervisor's own sampling period.
const MIN_EVERY: Duration = Duration::from_secs(2);

/// A value must fall below this share of its threshold to clear an alert.
const CLEAR_BELOW: f64 = 0.9;

const MIB: f64 = 1024.0 * 1024.0;

/// One service's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Figures {
    cpu_percent: Option<f64>,
    rss_mib: f64,
}

/// The thresholds, the sampling and the alerts in force.
#[derive(Debug)]
pub struct UsageWatch {
    cpu: Option<f64>,
    memory: Option<f64>,
    every: Duration,
    next: Instant,
    paths: StatePaths,
    client: Option<Client>,
    /// Our own previous sample (no supervisor): pgid to (when, CPU ticks).
    previous: HashMap<u32, (Instant, u64)>,
    alerting: HashSet<(String, Metric)>,
}

impl UsageWatch {
    /// Watches the thresholds of `monitoring`, sampling at most every `interval` (and never
    /// more often than every 2 s).
    pub fn new(monitoring: &MonitoringConfig, interval: Duration, paths: &StatePaths) -> Self {
        UsageWatch {
            cpu: monitoring.cpu_threshold_percent,
            memory: monitoring.memory_threshold_mb.map(|mb| mb as f64),
            every: interval.max(MIN_EVERY),
            next: Instant::now(),
            paths: paths.clone(),
            client: None,
            previous: HashMap::new(),
            alerting: HashSet::new(),
        }
    }

    /// Samples when due and returns the alerts that start or end.
    pub fn tick(&mut self, view: &View) -> Vec<Event> {
        let now = Instant::now();
        if (self.cpu.is_none() && self.memory.is_none()) || now < self.next {
            return Vec::new();
        }
        self.next = now + self.every;
        let figures = if view.supervisor.is_some() {
            self.ask_supervisor()
        } else {
            self.client = None;
            self.read_proc(view)
        };
        let mut events = Vec::new();
        for (service, f) in &figures {
            if let Some(threshold) = self.memory {
                self.judge(&mut events, service, Metric::Memory, f.rss_mib, threshold);
            }
            if let (Some(threshold), Some(cpu)) = (self.cpu, f.cpu_percent) {
                self.judge(&mut events, service, Metric::Cpu, cpu, threshold);
            }
        }
        // A service that stopped is not alerting any more; its next start starts afresh.
        self.alerting.retain(|(s, _)| figures.contains_key(s));
        events
    }

    fn judge(
        &mut self,
        events: &mut Vec<Event>,
        service: &str,
        metric: Metric,
        value: f64,
        threshold: f64,
    ) {
        let key = (service.to_owned(), metric);
        let value = (value * 10.0).round() / 10.0;
        if !self.alerting.contains(&key) && value > threshold {
            self.alerting.insert(key);
            events.push(Event::Alert {
                service: service.to_owned(),
                metric,
                value,
                threshold,
            });
        } else if self.alerting.contains(&key) && value < threshold * CLEAR_BELOW {
            self.alerting.remove(&key);
            events.push(Event::AlertCleared {
                service: service.to_owned(),
                metric,
                value,
                threshold,
            });
        }
    }

    /// The supervisor's figures, over a connection kept between samples (reopened once when
    /// the supervisor closed it).
    fn ask_supervisor(&mut self) -> HashMap<String, Figures> {
        for _ in 0..2 {
            if self.client.is_none() {
                self.client = Client::connect(&self.paths).ok().flatten();
                if let Some(client) = &self.client {
                    let _ = client.set_timeout(Some(Duration::from_secs(5)));
                }
            }
            let Some(client) = self.client.as_mut() else {
                return HashMap::new();
            };
            match client.call::<StatusReport>(&Request::Status) {
                Ok(report) => {
                    return report
                        .services
                        .into_iter()
                        .filter_map(|row| {
                            let rss = row.rss_bytes?;
                            Some((
                                row.name,
                                Figures {
                                    cpu_percent: row.cpu_percent,
                                    rss_mib: rss as f64 / MIB,
                                },
                            ))
                        })
                        .collect();
                }
                Err(e) => {
                    log::debug!("status from the supervisor: {e}");
                    self.client = None;
                }
            }
        }
        HashMap::new()
    }

    /// The recorded groups' figures, read here; CPU from the second sample on.
    fn read_proc(&mut self, view: &View) -> HashMap<String, Figures> {
        let groups: HashMap<u32, &str> = view
            .services
            .iter()
            .filter_map(|(name, r)| Some((r.pgid?, name.as_str())))
            .collect();
        let pgids: HashSet<u32> = groups.keys().copied().collect();
        let usage = sys::group_usage(&pgids);
        let now = Instant::now();
        let hz = sys::clock_ticks() as f64;
        let mut figures = HashMap::new();
        let mut previous = HashMap::new();
        for (pgid, u) in usage {
            let Some(&service) = groups.get(&pgid) else {
                continue;
            };
            let cpu_percent = self.previous.get(&pgid).and_then(|(at, ticks)| {
                let seconds = now.duration_since(*at).as_secs_f64();
                (seconds > 0.0 && u.cpu_ticks >= *ticks)
                    .then(|| (u.cpu_ticks - ticks) as f64 / hz / seconds * 100.0)
            });
            previous.insert(pgid, (now, u.cpu_ticks));
            figures.insert(
                service.to_owned(),
                Figures {
                    cpu_percent,
                    rss_mib: u.rss_bytes as f64 / MIB,
                },
            );
        }
        self.previous = previous;
        figures
    }
}
