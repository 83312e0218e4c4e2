//! The running stack's event fan-out: the supervisor's events and portwarden's own go to the
//! terminal, the startup log and every control-socket subscriber, and a backlog lets a late
//! subscriber (the `up -d` parent following its daemon) replay the start.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::control::protocol::WireEvent;

/// Lifecycle events kept for replay.
const BACKLOG_EVENTS: usize = 2048;
/// Output lines kept for replay (separately, so a chatty service cannot push the lifecycle
/// events out).
const BACKLOG_OUTPUT: usize = 256;
/// How far a subscriber may fall behind before output lines are dropped for it; a subscriber
/// that falls this far behind on lifecycle events is disconnected.
const QUEUE: usize = 1024;

/// Broadcasts events without ever blocking the publisher.
#[derive(Debug, Default)]
pub struct Hub {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    subscribers: Vec<SyncSender<Arc<WireEvent>>>,
    events: VecDeque<(u64, Arc<WireEvent>)>,
    output: VecDeque<(u64, Arc<WireEvent>)>,
    next: u64,
    closed: bool,
}

/// One subscriber's queue; it ends once the hub is closed and the queue is read.
#[derive(Debug)]
pub struct Subscription {
    rx: Receiver<Arc<WireEvent>>,
}

impl Subscription {
    /// The next event; `None` once the hub is closed (or this subscriber was dropped for
    /// falling behind).
    pub fn recv(&self) -> Option<Arc<WireEvent>> {
        self.rx.recv().ok()
    }

    /// Like [`Subscription::recv`], but gives up (`None`) once `alive` says the reader is
    /// gone, looking every second while no event comes.
    pub fn recv_while(&self, alive: impl Fn() -> bool) -> Option<Arc<WireEvent>> {
        loop {
            match self.rx.recv_timeout(Duration::from_secs(1)) {
                Ok(event) => return Some(event),
                Err(RecvTimeoutError::Timeout) if alive() => {}
                Err(_) => return None,
            }
        }
    }
}

impl Hub {
    /// An open hub.
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub::default())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `event` to every subscriber and keeps it for replay.
    pub fn publish(&self, event: WireEvent) {
        let event = Arc::new(event);
        let output = event.is_output();
        let mut inner = self.lock();
        if inner.closed {
            return;
        }
        let seq = inner.next;
        inner.next += 1;
        let (kept, limit) = if output {
            (&mut inner.output, BACKLOG_OUTPUT)
        } else {
            (&mut inner.events, BACKLOG_EVENTS)
        };
        if kept.len() >= limit {
            kept.pop_front();
        }
        kept.push_back((seq, Arc::clone(&event)));
        inner
            .subscribers
            .retain(|tx| match tx.try_send(Arc::clone(&event)) {
                Ok(()) => true,
                // A line of output may be missed (the log file has it); a lifecycle event may
                // not: a subscriber that far behind is cut off, and sees its stream end.
                Err(TrySendError::Full(_)) => output,
                Err(TrySendError::Disconnected(_)) => false,
            });
    }

    /// A new subscriber: with `replay`, the kept events since the start come first, in order.
    pub fn subscribe(&self, replay: bool) -> Subscription {
        let mut inner = self.lock();
        let mut backlog: Vec<(u64, Arc<WireEvent>)> = Vec::new();
        if replay {
            backlog.extend(inner.events.iter().cloned());
            backlog.extend(inner.output.iter().cloned());
            backlog.sort_by_key(|(seq, _)| *seq);
        }
        let (tx, rx) = mpsc::sync_channel(QUEUE + backlog.len());
        for (_, event) in backlog {
            // Cannot fail: the channel has room for the whole backlog.
            let _ = tx.try_send(event);
        }
        if !inner.closed {
            inner.subscribers.push(tx);
        }
        Subscription { rx }
    }

    /// Ends every subscription (once its queue is read); later events are ignored.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.subscribers.clear();
    }
}

#[cfg(test)]
mod tests {
    use supervisor::{Event, Stream};

    use super::*;

    fn stopped(name: &str) -> WireEvent {
        WireEvent::Supervisor(Event::Stopped {
            service: name.into(),
        })
    }

    fn output(n: usize) -> WireEvent {
        WireEvent::Supervisor(Event::Output {
            service: "s".into(),
            stream: Stream::Stdout,
            line: n.to_string(),
        })
    }

    #[test]
    fn replay_keeps_lifecycle_events_when_output_floods() {
        let hub = Hub::new();
        hub.publish(stopped("first"));
        for n in 0..BACKLOG_OUTPUT * 2 {
            hub.publish(output(n));
        }
        hub.publish(stopped("last"));
        hub.close();
        let sub = hub.subscribe(true);
        let all: Vec<Arc<WireEvent>> = std::iter::from_fn(|| sub.recv()).collect();
        assert_eq!(*all[0], stopped("first"));
        assert_eq!(**all.last().expect("events"), stopped("last"));
        assert_eq!(all.len(), BACKLOG_OUTPUT + 2);
    }

    #[test]
    fn live_subscribers_get_new_events_and_end_at_close() {
        let hub = Hub::new();
        hub.publish(stopped("before"));
        let sub = hub.subscribe(false);
        hub.publish(stopped("after"));
        hub.close();
        assert_eq!(sub.recv().as_deref(), Some(&stopped("after")));
        assert!(sub.recv().is_none());
    }
}
