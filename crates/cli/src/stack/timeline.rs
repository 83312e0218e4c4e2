//! The stack's start-up timeline: when each service was first spawned and first became ready,
//! relative to the supervisor's start. The supervisor keeps only the running process's spawn
//! time (a restart replaces it), so the first ones are noted here, from its events, for
//! `report`'s start-up timings and critical chain.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use supervisor::Event;

use crate::control::protocol::{Startup, StartupTimes};
use crate::output::rfc3339;

/// What the event pump notes, read by `status`.
#[derive(Debug)]
pub struct Timeline {
    zero: Instant,
    started_at: SystemTime,
    /// Services with a health check: ready when healthy. The others are ready once spawned.
    checked: BTreeSet<String>,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// In spawn order.
    services: Vec<StartupTimes>,
    index: HashMap<String, usize>,
    ready_after_ms: Option<u64>,
}

impl Timeline {
    /// A timeline whose time zero is `zero` (the same moment as `started_at`).
    pub fn new(zero: Instant, started_at: SystemTime, checked: BTreeSet<String>) -> Timeline {
        Timeline {
            zero,
            started_at,
            checked,
            inner: Mutex::default(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.zero.elapsed().as_millis() as u64
    }

    /// Notes `event` if it is a first spawn, a first readiness, or the stack being ready.
    pub fn observe(&self, event: &Event) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Event::Spawned { service, .. } if !inner.index.contains_key(service) => {
                let spawned_ms = self.now_ms();
                let ready_ms = (!self.checked.contains(service)).then_some(spawned_ms);
                let position = inner.services.len();
                inner.index.insert(service.clone(), position);
                inner.services.push(StartupTimes {
                    service: service.clone(),
                    spawned_ms,
                    ready_ms,
                });
            }
            Event::Healthy { service, .. } => {
                // When the event arrives, like the spawn: both are read off the same clock in
                // the order the supervisor sent them, so a service spawned once its dependency
                // was healthy is never seen spawned before it (the supervisor's own `after_ms`
                // would mix its clock with the pump's latency).
                let now = self.now_ms();
                if let Some(&i) = inner.index.get(service) {
                    let times = &mut inner.services[i];
                    if times.ready_ms.is_none() {
                        times.ready_ms = Some(now);
                    }
                }
            }
            Event::StackReady { .. } if inner.ready_after_ms.is_none() => {
                inner.ready_after_ms = Some(self.now_ms());
            }
            _ => {}
        }
    }

    /// The timeline so far.
    pub fn startup(&self) -> Startup {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        Startup {
            started_at: rfc3339(self.started_at),
            ready_after_ms: inner.ready_after_ms,
            services: inner.services.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn spawned(name: &str) -> Event {
        Event::Spawned {
            service: name.into(),
            pid: 1,
            port: None,
        }
    }

    #[test]
    fn first_spawn_and_readiness_stay_put() {
        let timeline = Timeline::new(
            Instant::now(),
            SystemTime::now(),
            BTreeSet::from(["api".to_owned()]),
        );
        timeline.observe(&spawned("api"));
        timeline.observe(&spawned("worker"));
        timeline.observe(&Event::Healthy {
            service: "api".into(),
            after: Duration::from_millis(300),
        });
        let first = timeline.startup();
        let api = &first.services[0];
        assert!(api.ready_ms.is_some_and(|r| r >= api.spawned_ms));
        let worker = &first.services[1];
        assert_eq!(
            worker.ready_ms,
            Some(worker.spawned_ms),
            "no check: ready when spawned"
        );
        // A restart later does not move the first times.
        timeline.observe(&spawned("api"));
        timeline.observe(&Event::Healthy {
            service: "api".into(),
            after: Duration::from_millis(5),
        });
        assert_eq!(timeline.startup().services, first.services);
    }
}
