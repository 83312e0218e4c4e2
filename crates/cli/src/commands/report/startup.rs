//! Start-up timings and the critical chain, in the manner of `systemd-analyze critical-chain`:
//! from the service that became ready last, follow the dependency that became ready last
//! before it was spawned, back to a service that waited for nothing.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::control::protocol::Startup;
use crate::output::format_duration;

/// One service's start, relative to the stack's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timing {
    /// The service.
    pub service: String,
    /// Its first spawn, in milliseconds after the stack's start.
    pub spawned_ms: u64,
    /// When it first became ready (healthy, or spawned without a check); `None`: never.
    pub ready_ms: Option<u64>,
    /// From spawn to ready.
    pub took_ms: Option<u64>,
    /// The services it waits for (those the supervisor started).
    pub depends_on: Vec<String>,
}

/// The start-up section of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StartupReport {
    /// The stack's start (the supervisor's), RFC 3339 UTC.
    pub started_at: String,
    /// When the whole stack was ready, in milliseconds after its start.
    pub ready_after_ms: Option<u64>,
    /// Each service started, in spawn order.
    pub services: Vec<Timing>,
    /// The chain that decided when the last service was ready: the first service first, the
    /// one ready last at the end.
    pub critical_chain: Vec<Timing>,
}

impl StartupReport {
    /// The timings of `startup`, with each service's dependencies from `depends_on`.
    pub fn new(startup: &Startup, depends_on: &BTreeMap<String, Vec<String>>) -> StartupReport {
        let services: Vec<Timing> = startup
            .services
            .iter()
            .map(|s| Timing {
                service: s.service.clone(),
                spawned_ms: s.spawned_ms,
                ready_ms: s.ready_ms,
                took_ms: s.ready_ms.map(|r| r.saturating_sub(s.spawned_ms)),
                depends_on: depends_on.get(&s.service).cloned().unwrap_or_default(),
            })
            .collect();
        StartupReport {
            started_at: startup.started_at.clone(),
            ready_after_ms: startup.ready_after_ms,
            critical_chain: critical_chain(&services),
            services,
        }
    }

    /// The chain for people, the last service on top and each service above what it waited
    /// for, as `systemd-analyze critical-chain` draws it.
    pub fn render_chain(&self) -> String {
        let mut text = String::new();
        for (depth, link) in self.critical_chain.iter().rev().enumerate() {
            let indent = match depth {
                0 => String::new(),
                d => format!("{}└─", "  ".repeat(d - 1)),
            };
            let took = link
                .took_ms
                .filter(|&t| t > 0)
                .map(|t| format!(" +{}", ms(t)))
                .unwrap_or_default();
            text += &format!("{indent}{} @{}{took}\n", link.service, ms(link.spawned_ms));
        }
        text
    }
}

fn ms(ms: u64) -> String {
    format_duration(std::time::Duration::from_millis(ms))
}

/// The critical chain of `timings`, first service first. Starts at the service ready last
/// and goes, from each service, to the dependency that became ready last at or before the
/// service's spawn (the one it was waiting for); stops at a service with no such dependency.
pub fn critical_chain(timings: &[Timing]) -> Vec<Timing> {
    let by_name: BTreeMap<&str, &Timing> =
        timings.iter().map(|t| (t.service.as_str(), t)).collect();
    // Ties go to the later-spawned service: it is the one that waited.
    let Some(mut current) = timings
        .iter()
        .filter(|t| t.ready_ms.is_some())
        .max_by_key(|t| (t.ready_ms, t.spawned_ms))
    else {
        return Vec::new();
    };
    let mut chain = vec![current.clone()];
    loop {
        let waited_for = current
            .depends_on
            .iter()
            .filter_map(|d| by_name.get(d.as_str()).copied())
            .filter(|d| d.ready_ms.is_some_and(|r| r <= current.spawned_ms))
            .max_by_key(|d| d.ready_ms);
        match waited_for {
            Some(next) if !chain.iter().any(|c| c.service == next.service) => {
                chain.push(next.clone());
                current = next;
            }
            _ => break,
        }
    }
    chain.reverse();
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(service: &str, spawned: u64, ready: Option<u64>, deps: &[&str]) -> Timing {
        Timing {
            service: service.into(),
            spawned_ms: spawned,
            ready_ms: ready,
            took_ms: ready.map(|r| r - spawned),
            depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
        }
    }

    fn names(chain: &[Timing]) -> Vec<&str> {
        chain.iter().map(|t| t.service.as_str()).collect()
    }

    #[test]
    fn the_chain_follows_the_dependency_ready_last() {
        // db (slow) and cache (fast) both feed api; web waits for api; worker starts at once.
        let timings = [
            timing("db", 0, Some(400), &[]),
            timing("cache", 0, Some(50), &[]),
            timing("worker", 0, Some(0), &[]),
            timing("api", 401, Some(700), &["cache", "db"]),
            timing("web", 702, Some(900), &["api", "worker"]),
        ];
        let chain = critical_chain(&timings);
        assert_eq!(names(&chain), ["db", "api", "web"]);
    }

    #[test]
    fn a_dependency_ready_after_the_spawn_was_not_waited_for() {
        // `started` condition: web was spawned as soon as api was, before api was healthy.
        let timings = [
            timing("api", 0, Some(500), &[]),
            timing("web", 1, Some(600), &["api"]),
        ];
        assert_eq!(names(&critical_chain(&timings)), ["web"]);
    }

    #[test]
    fn the_chain_is_drawn_like_systemd() {
        let startup = Startup {
            started_at: "2026-01-01T00:00:00.000Z".into(),
            ready_after_ms: Some(900),
            services: vec![
                crate::control::protocol::StartupTimes {
                    service: "api".into(),
                    spawned_ms: 3,
                    ready_ms: Some(408),
                },
                crate::control::protocol::StartupTimes {
                    service: "web".into(),
                    spawned_ms: 410,
                    ready_ms: Some(445),
                },
            ],
        };
        let deps = BTreeMap::from([("web".to_owned(), vec!["api".to_owned()])]);
        let report = StartupReport::new(&startup, &deps);
        assert_eq!(
            report.render_chain(),
            "web @410ms +35ms\n└─api @3ms +405ms\n"
        );
    }

    #[test]
    fn nothing_ready_is_no_chain() {
        assert!(critical_chain(&[timing("api", 0, None, &[])]).is_empty());
    }
}
