//! What the supervisor reports, and the queues that carry it to callers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Something that happened to a service or to the stack.
///
/// Serialized with a `type` tag in snake_case; durations are whole milliseconds in fields
/// ending in `_ms`:
///
/// ```
/// use supervisor::Event;
/// let event = Event::Spawned { service: "api".into(), pid: 42, port: Some(8000) };
/// assert_eq!(
///     serde_json::to_string(&event).unwrap(),
///     r#"{"type":"spawned","service":"api","pid":42,"port":8000}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A setup command started.
    SetupStarted {
        /// The service.
        service: String,
        /// The setup command line.
        command: String,
    },
    /// A setup command ended.
    SetupFinished {
        /// The service.
        service: String,
        /// Whether it exited 0.
        success: bool,
        /// Its exit status, when it exited by itself.
        code: Option<i32>,
        /// The signal that ended it, when one did.
        signal: Option<i32>,
    },
    /// A service's process was started.
    Spawned {
        /// The service.
        service: String,
        /// Its pid (also its process-group and session id).
        pid: u32,
        /// The port it was given.
        port: Option<u16>,
    },
    /// A service passed its health check for the first time since it was spawned.
    Healthy {
        /// The service.
        service: String,
        /// Time from the spawn.
        #[serde(rename = "after_ms", with = "millis")]
        after: Duration,
    },
    /// A service failed its health check `retries` times in a row, or never passed it within
    /// its start period.
    Unhealthy {
        /// The service.
        service: String,
        /// The last check's failure.
        reason: String,
    },
    /// A service will be started again.
    Restarting {
        /// The service.
        service: String,
        /// The restart's number within the current window (1 for the first).
        attempt: u32,
        /// The wait before it.
        #[serde(rename = "delay_ms", with = "millis")]
        delay: Duration,
    },
    /// A service whose port was taken by another process moves to another port.
    PortMigrated {
        /// The service.
        service: String,
        /// The taken port.
        from: u16,
        /// The new one.
        to: u16,
    },
    /// A service's process exited.
    Exited {
        /// The service.
        service: String,
        /// Its pid.
        pid: u32,
        /// Exit status, when it exited by itself.
        code: Option<i32>,
        /// The signal that ended it, when one did.
        signal: Option<i32>,
    },
    /// A service is being stopped (its stop signal was sent to its process group).
    Stopping {
        /// The service.
        service: String,
    },
    /// A service is stopped and will not be restarted.
    Stopped {
        /// The service.
        service: String,
    },
    /// After a stop, processes of the service's group were still alive, or its port was
    /// still held.
    Leftovers {
        /// The service.
        service: String,
        /// Pids still in its process group.
        pids: Vec<u32>,
        /// The port, when something still holds it.
        port_held: Option<u16>,
    },
    /// A service has given up: it will not run again unless started by hand.
    Failed {
        /// The service.
        service: String,
        /// Why, naming what failed.
        reason: String,
    },
    /// A service will not start because a dependency failed.
    Blocked {
        /// The service.
        service: String,
        /// The failed dependency.
        dependency: String,
        /// What went wrong with it.
        reason: String,
    },
    /// A line a service (or its setup command) wrote.
    Output {
        /// The service.
        service: String,
        /// Where it was written.
        stream: Stream,
        /// The line, without its newline (invalid UTF-8 replaced).
        line: String,
    },
    /// Processes recorded by an earlier run that were still alive were stopped.
    Recovered {
        /// The service they belonged to (`None` for orphans).
        service: Option<String>,
        /// The stopped process.
        pid: u32,
    },
    /// Every selected service is running (and healthy, where checked) or has completed.
    StackReady {
        /// Time from the supervisor's start.
        #[serde(rename = "after_ms", with = "millis")]
        after: Duration,
    },
    /// The stack cannot come up as asked.
    StackFailed {
        /// The first failure, naming the service.
        reason: String,
    },
    /// Everything is stopped; the supervisor is finishing.
    StackStopped,
    /// Something the caller should know that is not a service's state: a state file that
    /// could not be written, say.
    Warning {
        /// What happened.
        message: String,
    },
}

impl Event {
    /// The service the event is about, if any.
    pub fn service(&self) -> Option<&str> {
        use Event::*;
        match self {
            SetupStarted { service, .. }
            | SetupFinished { service, .. }
            | Spawned { service, .. }
            | Healthy { service, .. }
            | Unhealthy { service, .. }
            | Restarting { service, .. }
            | PortMigrated { service, .. }
            | Exited { service, .. }
            | Stopping { service }
            | Stopped { service }
            | Leftovers { service, .. }
            | Failed { service, .. }
            | Blocked { service, .. }
            | Output { service, .. } => Some(service),
            Recovered { service, .. } => service.as_deref(),
            StackReady { .. } | StackFailed { .. } | StackStopped | Warning { .. } => None,
        }
    }
}

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// How far lifecycle events (never dropped) may grow past the capacity before even they are
/// dropped: a caller that never reads must not make the supervisor grow without bound.
const LIFECYCLE_SLACK: usize = 64;

struct Queue {
    inner: Mutex<QueueInner>,
    ready: Condvar,
    dropped: AtomicU64,
}

struct QueueInner {
    events: VecDeque<Event>,
    closed: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueInner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Broadcasts events to every subscribed [`EventReceiver`] without ever blocking: output
/// lines are dropped (and counted) when a receiver's queue is full.
pub(crate) struct EventBus {
    subscribers: Mutex<Vec<Weak<Queue>>>,
    capacity: usize,
}

impl EventBus {
    pub(crate) fn new(capacity: usize) -> EventBus {
        EventBus {
            subscribers: Mutex::new(Vec::new()),
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn subscribe(&self) -> EventReceiver {
        let queue = Arc::new(Queue {
            inner: Mutex::new(QueueInner {
                events: VecDeque::new(),
                closed: false,
            }),
            ready: Condvar::new(),
            dropped: AtomicU64::new(0),
        });
        self.lock().push(Arc::downgrade(&queue));
        EventReceiver { queue }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Weak<Queue>>> {
        self.subscribers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Delivers `event`; returns whether some receiver had to drop it.
    pub(crate) fn publish(&self, event: Event) -> bool {
        let lossy = matches!(event, Event::Output { .. });
        let limit = if lossy {
            self.capacity
        } else {
            self.capacity.saturating_mul(LIFECYCLE_SLACK)
        };
        let mut dropped = false;
        let mut subscribers = self.lock();
        subscribers.retain(|weak| weak.strong_count() > 0);
        for queue in subscribers.iter().filter_map(Weak::upgrade) {
            let mut inner = queue.lock();
            if inner.closed {
                continue;
            }
            if inner.events.len() >= limit {
                queue.dropped.fetch_add(1, Ordering::Relaxed);
                dropped = true;
                continue;
            }
            inner.events.push_back(event.clone());
            drop(inner);
            queue.ready.notify_one();
        }
        dropped
    }

    /// Ends every receiver once it has read what is queued.
    pub(crate) fn close(&self) {
        for queue in self.lock().iter().filter_map(Weak::upgrade) {
            queue.lock().closed = true;
            queue.ready.notify_all();
        }
    }
}

/// A subscription to a supervisor's events (see [`crate::SupervisorHandle::events`]).
///
/// Reading never slows the services down: when this receiver falls behind by its capacity,
/// further output lines are dropped for it and counted in [`EventReceiver::dropped`];
/// lifecycle events are kept. The receiver ends (returns `None` / `Disconnected`) once the
/// supervisor has stopped and the queue is read.
pub struct EventReceiver {
    queue: Arc<Queue>,
}

impl std::fmt::Debug for EventReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventReceiver")
            .field("queued", &self.queue.lock().events.len())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl EventReceiver {
    /// The next event, waiting for it; `None` once the supervisor has stopped.
    pub fn recv(&self) -> Option<Event> {
        let mut inner = self.queue.lock();
        loop {
            if let Some(event) = inner.events.pop_front() {
                return Some(event);
            }
            if inner.closed {
                return None;
            }
            inner = self
                .queue
                .ready
                .wait(inner)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// The next event, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        let deadline = Instant::now() + timeout;
        let mut inner = self.queue.lock();
        loop {
            if let Some(event) = inner.events.pop_front() {
                return Ok(event);
            }
            if inner.closed {
                return Err(RecvTimeoutError::Disconnected);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RecvTimeoutError::Timeout);
            }
            inner = self
                .queue
                .ready
                .wait_timeout(inner, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// The next event if one is queued.
    pub fn try_recv(&self) -> Option<Event> {
        self.queue.lock().events.pop_front()
    }

    /// Events dropped for this receiver because it fell behind.
    pub fn dropped(&self) -> u64 {
        self.queue.dropped.load(Ordering::Relaxed)
    }

    /// Iterates until the supervisor stops.
    pub fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        std::iter::from_fn(|| self.recv())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: usize) -> Event {
        Event::Output {
            service: "s".into(),
            stream: Stream::Stdout,
            line: n.to_string(),
        }
    }

    #[test]
    fn output_is_dropped_when_full_but_lifecycle_events_are_kept() {
        let bus = EventBus::new(2);
        let rx = bus.subscribe();
        assert!(!bus.publish(line(0)));
        assert!(!bus.publish(line(1)));
        assert!(bus.publish(line(2)));
        assert!(!bus.publish(Event::StackStopped));
        assert_eq!(rx.dropped(), 1);
        assert_eq!(rx.try_recv(), Some(line(0)));
        assert_eq!(rx.try_recv(), Some(line(1)));
        assert_eq!(rx.try_recv(), Some(Event::StackStopped));
        assert_eq!(rx.try_recv(), None);
    }

    #[test]
    fn receivers_end_after_close() {
        let bus = EventBus::new(4);
        let rx = bus.subscribe();
        bus.publish(Event::StackStopped);
        bus.close();
        assert_eq!(rx.recv(), Some(Event::StackStopped));
        assert_eq!(rx.recv(), None);
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(1)),
            Err(RecvTimeoutError::Disconnected)
        );
    }

    #[test]
    fn dropped_receivers_are_forgotten() {
        let bus = EventBus::new(4);
        drop(bus.subscribe());
        bus.publish(Event::StackStopped);
        assert!(bus.lock().is_empty());
    }

    #[test]
    fn events_serialize_with_a_snake_case_type_tag_and_millis() {
        let json = serde_json::to_string(&Event::Restarting {
            service: "api".into(),
            attempt: 2,
            delay: Duration::from_millis(250),
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"type":"restarting","service":"api","attempt":2,"delay_ms":250}"#
        );
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back.service(), Some("api"));
    }
}
