//! CPU and memory of each service's process group, sampled in the background so that
//! `status` answers from memory instead of walking `/proc` while the user waits.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use supervisor::SupervisorHandle;

use crate::sys;

/// Time between samples.
const INTERVAL: Duration = Duration::from_secs(5);

/// What a service's group used at the last sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// CPU in percent of one core since the previous sample (the lifetime average at the
    /// first sample).
    pub cpu_percent: f64,
    /// Resident memory in bytes.
    pub rss_bytes: u64,
    /// Live processes.
    pub processes: u32,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    ticks: u64,
    usage: Usage,
}

/// The sampler. Stops when dropped (or [`Metrics::stop`]).
#[derive(Debug)]
pub struct Metrics {
    handle: SupervisorHandle,
    samples: Arc<Mutex<HashMap<u32, Sample>>>,
    /// Dropped (or sent to) to stop the sampler at once; it sleeps on it between samples.
    stop: Mutex<Option<mpsc::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Metrics {
    /// Starts sampling the groups of `handle`'s services.
    pub fn start(handle: SupervisorHandle) -> Metrics {
        let samples: Arc<Mutex<HashMap<u32, Sample>>> = Arc::default();
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = {
            let samples = Arc::clone(&samples);
            let handle = handle.clone();
            std::thread::Builder::new()
                .name("portwarden-metrics".into())
                .spawn(move || {
                    // Sleep on the channel: no wake-ups between samples, and a stop is
                    // noticed at once.
                    loop {
                        sample(&handle, &samples, false);
                        match stopped.recv_timeout(INTERVAL) {
                            Err(RecvTimeoutError::Timeout) => {}
                            Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                        }
                    }
                })
                .map_err(|e| log::warn!("no CPU and memory figures: {e}"))
                .ok()
        };
        Metrics {
            handle,
            samples,
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(thread),
        }
    }

    /// Samples now when a service's group has no figures yet (it started since the last
    /// sample), so that `status` right after a start or restart shows them.
    pub fn refresh_new_groups(&self) {
        let missing = {
            let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
            self.handle
                .status()
                .iter()
                .filter_map(|s| s.pgid)
                .any(|g| !samples.contains_key(&g))
        };
        if missing {
            sample(&self.handle, &self.samples, true);
        }
    }

    /// The last figures of process group `pgid`.
    pub fn usage(&self, pgid: u32) -> Option<Usage> {
        let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        samples.get(&pgid).map(|s| s.usage)
    }

    /// Stops the sampler and waits for it.
    pub fn stop(&self) {
        // Dropping the sender wakes the sampler, which then ends.
        drop(self.stop.lock().unwrap_or_else(|p| p.into_inner()).take());
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Metrics {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Samples every service group (`only_new`: only those without figures, keeping the others'
/// last samples so their CPU share stays measured over a full interval).
fn sample(handle: &SupervisorHandle, samples: &Mutex<HashMap<u32, Sample>>, only_new: bool) {
    let known: HashSet<u32> = if only_new {
        let samples = samples.lock().unwrap_or_else(|p| p.into_inner());
        samples.keys().copied().collect()
    } else {
        HashSet::new()
    };
    let groups: Vec<(u32, Option<SystemTime>)> = handle
        .status()
        .into_iter()
        .filter_map(|s| Some((s.pgid?, s.started_at)))
        .filter(|(g, _)| !known.contains(g))
        .collect();
    let pgids: HashSet<u32> = groups.iter().map(|(g, _)| *g).collect();
    let usage = sys::group_usage(&pgids);
    let now = Instant::now();
    let hz = sys::clock_ticks() as f64;
    let mut samples = samples.lock().unwrap_or_else(|p| p.into_inner());
    let mut next = HashMap::with_capacity(groups.len());
    for (pgid, started_at) in groups {
        let Some(current) = usage.get(&pgid) else {
            continue;
        };
        let cpu_percent = match samples.get(&pgid) {
            Some(previous) if current.cpu_ticks >= previous.ticks => {
                let seconds = now.duration_since(previous.at).as_secs_f64();
                percent(current.cpu_ticks - previous.ticks, hz, seconds)
            }
            _ => {
                let lifetime = started_at
                    .and_then(|s| SystemTime::now().duration_since(s).ok())
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                percent(current.cpu_ticks, hz, lifetime)
            }
        };
        next.insert(
            pgid,
            Sample {
                at: now,
                ticks: current.cpu_ticks,
                usage: Usage {
                    cpu_percent,
                    rss_bytes: current.rss_bytes,
                    processes: current.processes,
                },
            },
        );
    }
    if only_new {
        samples.extend(next);
    } else {
        *samples = next;
    }
}

fn percent(ticks: u64, hz: f64, seconds: f64) -> f64 {
    if seconds <= 0.0 {
        return 0.0;
    }
    (ticks as f64 / hz / seconds * 1000.0).round() / 10.0
}
