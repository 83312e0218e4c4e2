//! Runs a service's health checks on a thread of their own: a fast startup phase, then the
//! steady interval; at most one check in flight, each bounded by its timeout.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{HealthCheck, HealthContext, HealthResult};
use crate::spec::HealthTiming;
use crate::status::HealthRecorder;

/// What the monitor tells the supervisor. The monitor ends after `StartupFailed` or
/// `Unhealthy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HealthNews {
    /// The first passed check since the spawn.
    Healthy { after: Duration },
    /// The start period ran out without a passed check.
    StartupFailed { reason: String },
    /// `retries` failed checks in a row after startup.
    Unhealthy { reason: String },
}

/// The first startup poll comes right after the spawn; the gaps then double from this up to
/// `startup_interval`, so instantly-ready services are seen within milliseconds.
const FIRST_STARTUP_GAP: Duration = Duration::from_millis(10);

/// Stops the monitor when dropped.
#[derive(Debug)]
pub(crate) struct MonitorHandle {
    _stop: Sender<()>,
}

/// Starts monitoring. `report` is called on the monitor's thread.
pub(crate) fn start(
    check: Arc<dyn HealthCheck>,
    ctx: HealthContext,
    timing: HealthTiming,
    spawned_at: Instant,
    record: Arc<Mutex<HealthRecorder>>,
    report: Box<dyn Fn(HealthNews) + Send>,
) -> MonitorHandle {
    let (stop_tx, stop_rx) = mpsc::channel();
    let name = format!("pw-health-{}", ctx.service);
    let spawned = std::thread::Builder::new().name(name).spawn(move || {
        Monitor {
            check,
            ctx,
            timing,
            stop: stop_rx,
            worker: None,
            in_flight: false,
            record,
        }
        .run(spawned_at, &*report)
    });
    if let Err(e) = spawned {
        log::error!("health monitor thread: {e}");
    }
    MonitorHandle { _stop: stop_tx }
}

struct Monitor {
    check: Arc<dyn HealthCheck>,
    ctx: HealthContext,
    timing: HealthTiming,
    stop: Receiver<()>,
    /// The thread that runs the checks, one at a time (started on first use, started again
    /// after a check panicked).
    worker: Option<Worker>,
    /// A check that overran its timeout and has not returned yet (its result will arrive on
    /// the worker's channel).
    in_flight: bool,
    /// Each check's latency and result.
    record: Arc<Mutex<HealthRecorder>>,
}

impl Monitor {
    /// Sleeps `delay`; false when the monitor is to stop.
    fn pause(&self, delay: Duration) -> bool {
        matches!(
            self.stop.recv_timeout(delay),
            Err(RecvTimeoutError::Timeout)
        )
    }

    fn stopped(&self) -> bool {
        matches!(self.stop.try_recv(), Err(TryRecvError::Disconnected))
    }

    fn run(mut self, spawned_at: Instant, report: &dyn Fn(HealthNews)) {
        let mut gap = FIRST_STARTUP_GAP;
        let mut delay = Duration::ZERO;
        // Startup: poll fast until healthy or the start period runs out.
        loop {
            if !self.pause(delay) {
                return;
            }
            let Some(result) = self.run_one() else { return };
            if self.stopped() {
                return;
            }
            match result {
                HealthResult::Healthy => {
                    report(HealthNews::Healthy {
                        after: spawned_at.elapsed(),
                    });
                    break;
                }
                HealthResult::Unhealthy { reason } => {
                    let elapsed = spawned_at.elapsed();
                    if elapsed >= self.timing.start_period {
                        report(HealthNews::StartupFailed {
                            reason: format!(
                                "not healthy within its start period of {:?} ({}): {reason}",
                                self.timing.start_period,
                                self.check.describe()
                            ),
                        });
                        return;
                    }
                    delay = gap
                        .min(self.timing.startup_interval)
                        .min(self.timing.start_period - elapsed);
                    gap = gap.saturating_mul(2);
                }
            }
        }
        // Steady: count consecutive failures.
        let mut failures = 0;
        loop {
            if !self.pause(self.timing.interval) {
                return;
            }
            let Some(result) = self.run_one() else { return };
            if self.stopped() {
                return;
            }
            match result {
                HealthResult::Healthy => failures = 0,
                HealthResult::Unhealthy { reason } => {
                    failures += 1;
                    log::debug!(
                        "{}: health check failed ({failures}/{}): {reason}",
                        self.ctx.service,
                        self.timing.retries
                    );
                    if failures >= self.timing.retries.max(1) {
                        report(HealthNews::Unhealthy {
                            reason: format!(
                                "{failures} failed checks in a row ({}): {reason}",
                                self.check.describe()
                            ),
                        });
                        return;
                    }
                }
            }
        }
    }

    /// Runs one check, waiting at most the timeout for it. A check that overruns is left to
    /// finish on the worker thread, and no other starts until it has: checks never pile up.
    /// `None` when the monitor was stopped meanwhile.
    fn run_one(&mut self) -> Option<HealthResult> {
        if self.in_flight
            && let Some(worker) = &self.worker
        {
            loop {
                match worker.results.recv_timeout(Duration::from_millis(50)) {
                    Ok(_) => break,
                    Err(RecvTimeoutError::Disconnected) => {
                        self.worker = None;
                        break;
                    }
                    Err(RecvTimeoutError::Timeout) if self.stopped() => return None,
                    Err(RecvTimeoutError::Timeout) => {}
                }
            }
        }
        self.in_flight = false;
        let worker = match self.worker.take() {
            Some(worker) => worker,
            None => match Worker::start(Arc::clone(&self.check), self.ctx.clone()) {
                Ok(worker) => worker,
                Err(e) => {
                    return Some(HealthResult::unhealthy(format!(
                        "no thread for the check: {e}"
                    )));
                }
            },
        };
        let started = Instant::now();
        if worker.requests.send(()).is_err() {
            // The worker died with a panicking check: a new one next time.
            return Some(HealthResult::unhealthy(format!(
                "{} panicked",
                self.check.describe()
            )));
        }
        // A little grace, so checks that honour the timeout report their own reason.
        let limit = self.timing.timeout + Duration::from_millis(50);
        let result = worker.results.recv_timeout(limit);
        let healthy = matches!(result, Ok(HealthResult::Healthy));
        if let Ok(mut record) = self.record.lock() {
            record.record(started.elapsed(), healthy);
        }
        match result {
            Ok(result) => {
                self.worker = Some(worker);
                Some(result)
            }
            Err(RecvTimeoutError::Timeout) => {
                self.worker = Some(worker);
                self.in_flight = true;
                Some(HealthResult::unhealthy(format!(
                    "{} did not answer within {:?}",
                    self.check.describe(),
                    self.timing.timeout
                )))
            }
            Err(RecvTimeoutError::Disconnected) => Some(HealthResult::unhealthy(format!(
                "{} panicked",
                self.check.describe()
            ))),
        }
    }
}

/// A thread that runs a service's check each time it is asked, for the life of the monitor:
/// an idle supervisor with many services must not start a thread for every check. It ends
/// when the monitor drops its request channel.
struct Worker {
    requests: Sender<()>,
    results: Receiver<HealthResult>,
}

impl Worker {
    fn start(check: Arc<dyn HealthCheck>, ctx: HealthContext) -> std::io::Result<Worker> {
        let (requests, asked) = mpsc::channel::<()>();
        let (answer, results) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("pw-check-{}", ctx.service))
            .spawn(move || {
                while asked.recv().is_ok() {
                    if answer.send(check.check(&ctx)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Worker { requests, results })
    }
}
