//! Helpers: a running stack that records its events with their arrival times.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use supervisor::{
    Event, EventReceiver, ServiceSpec, Stack, Supervisor, SupervisorHandle, SupervisorOptions,
};

/// A generous bound for things that take milliseconds when all is well.
pub const LONG: Duration = Duration::from_secs(20);

/// `pw-fixture`, quoted for a shell command.
pub fn fixture() -> String {
    testkit::fixture_path().display().to_string()
}

/// A workspace binary (`demo-api` ...), quoted for a shell command.
pub fn bin(name: &str) -> String {
    testkit::bin_path(name).display().to_string()
}

/// A service running `pw-fixture ARGS` (through `exec`, so the fixture is the service's pid).
pub fn fixture_service(name: &str, args: &str) -> ServiceSpec {
    ServiceSpec::new(name, format!("exec {} {args}", fixture()))
}

/// A started stack, shut down (and waited for) when dropped.
pub struct Run {
    pub handle: SupervisorHandle,
    pub events: EventReceiver,
    pub seen: Vec<(Instant, Event)>,
    /// Which of `seen` a `wait_for` has returned already.
    consumed: Vec<bool>,
    pub dir: tempfile::TempDir,
    pub started: Instant,
}

impl Run {
    pub fn start(services: Vec<ServiceSpec>) -> Run {
        Run::start_with(services, |_| {})
    }

    pub fn start_with(
        services: Vec<ServiceSpec>,
        adjust: impl FnOnce(&mut SupervisorOptions),
    ) -> Run {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut options = SupervisorOptions {
            log_dir: dir.path().join("logs"),
            state_file: Some(dir.path().join("state.json")),
            ..SupervisorOptions::default()
        };
        adjust(&mut options);
        let stack = Stack::new(services).expect("a valid stack");
        let started = Instant::now();
        let handle = Supervisor::start(stack, options).expect("the supervisor starts");
        let events = handle.events();
        Run {
            handle,
            events,
            seen: Vec::new(),
            consumed: Vec::new(),
            dir,
            started,
        }
    }

    pub fn log_path(&self, service: &str) -> PathBuf {
        self.dir.path().join("logs").join(format!("{service}.log"))
    }

    /// The first event matching `what` that no earlier call returned: one already read (events
    /// from different sources, such as output lines and exits, may arrive in either order), or
    /// the next to arrive. Fails with everything seen after `timeout`.
    pub fn wait_for(&mut self, timeout: Duration, what: impl Fn(&Event) -> bool) -> Event {
        if let Some(i) = (0..self.seen.len()).find(|&i| !self.consumed[i] && what(&self.seen[i].1))
        {
            self.consumed[i] = true;
            return self.seen[i].1.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => {
                    let matched = what(&event);
                    self.record(event.clone());
                    if matched {
                        *self.consumed.last_mut().expect("just recorded") = true;
                        return event;
                    }
                }
                Err(_) => panic!(
                    "no matching event within {timeout:?}; seen:\n{}\nprocesses:\n{}",
                    self.describe(),
                    processes()
                ),
            }
        }
    }

    fn record(&mut self, event: Event) {
        self.seen.push((Instant::now(), event));
        self.consumed.push(false);
    }

    /// Reads events for `period`, returning whether any matched.
    pub fn watch(&mut self, period: Duration, what: impl Fn(&Event) -> bool) -> bool {
        let deadline = Instant::now() + period;
        let mut found = false;
        while let Ok(event) = self
            .events
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            found |= what(&event);
            self.record(event);
        }
        found
    }

    /// Where (index in `seen`) the first event matching `what` is.
    pub fn position(&self, what: impl Fn(&Event) -> bool) -> Option<usize> {
        self.seen.iter().position(|(_, e)| what(e))
    }

    /// When the first event matching `what` arrived.
    pub fn time_of(&self, what: impl Fn(&Event) -> bool) -> Option<Instant> {
        self.seen.iter().find(|(_, e)| what(e)).map(|(t, _)| *t)
    }

    pub fn describe(&self) -> String {
        self.seen
            .iter()
            .filter(|(_, e)| !matches!(e, Event::Output { .. }))
            .map(|(t, e)| format!("  {:>6} ms {e:?}", (*t - self.started).as_millis()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Shuts down and waits (bounded), returning the outcome.
    pub fn shutdown(&mut self) -> Result<(), supervisor::Error> {
        self.handle.shutdown();
        let outcome = self.handle.wait_timeout(LONG);
        while let Some(event) = self.events.try_recv() {
            self.record(event);
        }
        outcome
    }
}

pub fn spawned(name: &str) -> impl Fn(&Event) -> bool + '_ {
    move |e| matches!(e, Event::Spawned { service, .. } if service == name)
}

pub fn healthy(name: &str) -> impl Fn(&Event) -> bool + '_ {
    move |e| matches!(e, Event::Healthy { service, .. } if service == name)
}

pub fn stopped(name: &str) -> impl Fn(&Event) -> bool + '_ {
    move |e| matches!(e, Event::Stopped { service } if service == name)
}

pub fn failed(name: &str) -> impl Fn(&Event) -> bool + '_ {
    move |e| matches!(e, Event::Failed { service, .. } if service == name)
}

pub fn output_of<'a>(name: &'a str, contains: &'a str) -> impl Fn(&Event) -> bool + 'a {
    move |e| matches!(e, Event::Output { service, line, .. } if service == name && line.contains(contains))
}

/// The pid in a `spawned` event.
pub fn pid_of(event: &Event) -> u32 {
    match event {
        Event::Spawned { pid, .. } => *pid,
        other => panic!("not a spawn: {other:?}"),
    }
}

/// The port in a `spawned` event.
pub fn port_of(event: &Event) -> u16 {
    match event {
        Event::Spawned {
            port: Some(port), ..
        } => *port,
        other => panic!("no port: {other:?}"),
    }
}

/// A value `key=VALUE` from a fixture's READY line.
pub fn ready_field(line: &str, key: &str) -> Option<String> {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(key)?.strip_prefix('=').map(str::to_owned))
}

/// The text of an output event.
pub fn line_of(event: &Event) -> &str {
    match event {
        Event::Output { line, .. } => line,
        other => panic!("not output: {other:?}"),
    }
}

/// A free loopback TCP port (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `ps` of the processes in this test's sessions, for failure messages.
pub fn processes() -> String {
    std::process::Command::new("ps")
        .args(["-eo", "pid,ppid,pgid,sid,stat,wchan:24,args"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.contains("pw-fixture") || l.contains("demo-") || l.contains(" PID "))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}
