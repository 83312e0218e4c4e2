//! The supervisor at work: started with the control server, followed until it has stopped.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use supervisor::{Event, HealthSpec, PortArbiter, Stack, Supervisor, SupervisorOptions};

use super::hub::Hub;
use super::metrics::Metrics;
use super::ports::Arbiter;
use super::prepare::Prepared;
use super::progress::{Kind, Progress};
use super::signals::{self, SIGHUP, SIGINT, SIGTERM};
use super::timeline::Timeline;
use crate::commands::Context;
use crate::control::paths::remove_if_present;
use crate::control::protocol::{PROTOCOL_VERSION, StackEvent, SupervisorInfo, WireEvent};
use crate::control::server::{Bound, Phase, Served, Server};
use crate::exit::{self, CliError, CliResult};
use crate::output::{Painter, Style, rfc3339};

/// How the supervisor runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `up`: in this terminal, until Ctrl-C.
    Foreground,
    /// `up -d`'s daemon: in the background, its output going to the startup log.
    Detached,
}

/// Runs the prepared stack until it has stopped: by a signal, a `stop` from another
/// terminal, or a failed start (then with exit code 1).
pub fn run(ctx: &Context<'_>, prepared: Prepared, mode: Mode) -> CliResult {
    let Prepared {
        loaded,
        paths,
        lock,
        built,
        selection,
        selected,
        start_order,
        decisions,
    } = prepared;
    // Signals are caught from the start: one that comes before the supervisor runs stops it
    // as soon as it does, instead of killing us with services half started.
    let stopper = Arc::new(Stopper::new(ctx.out, mode));
    {
        let stopper = Arc::clone(&stopper);
        signals::watch(&[SIGINT, SIGTERM, SIGHUP], move |signal| {
            stopper.signal(signal)
        })?;
    }
    let hub = Hub::new();
    let ports: BTreeMap<String, u16> = built
        .specs
        .iter()
        .filter_map(|s| Some((s.name.clone(), s.port?)))
        .collect();
    let arbiter = Arc::new(Arbiter::new(&loaded, &paths, Arc::clone(&hub), ports));
    let current_ports = arbiter.ports();
    let stack = Stack::new(built.specs.clone()).map_err(|e| CliError::new(exit::CONFIG, e))?;
    let bound = Bound::bind(&paths).map_err(|e| {
        CliError::failure(format!(
            "cannot open the control socket in {}: {e}",
            paths.dir.display()
        ))
    })?;
    let socket = bound.path().to_path_buf();
    let me = procscan::process_identity(std::process::id()).ok();
    let (zero, started_at) = (Instant::now(), SystemTime::now());
    let checked = built
        .specs
        .iter()
        .filter(|s| !matches!(s.health, HealthSpec::None))
        .map(|s| s.name.clone())
        .collect();
    let timeline = Arc::new(Timeline::new(zero, started_at, checked));
    let info = SupervisorInfo {
        pid: std::process::id(),
        start_time: me.map(|m| m.start_time).unwrap_or(0),
        started_at: rfc3339(started_at),
        uptime_ms: 0,
        mode: match mode {
            Mode::Foreground => "foreground",
            Mode::Detached => "detached",
        }
        .into(),
        config: std::path::absolute(&loaded.path).unwrap_or_else(|_| loaded.path.clone()),
        state_dir: paths.dir.clone(),
        socket: socket.clone(),
        protocol: PROTOCOL_VERSION,
        version: env!("CARGO_PKG_VERSION").into(),
    };

    // portwarden's own events come first, before the supervisor's.
    let terminal = hub.subscribe(false);
    hub.publish(WireEvent::Portwarden(StackEvent::StackStarting {
        config: info.config.clone(),
        services: selected.clone(),
        supervisor_pid: info.pid,
        detached: mode == Mode::Detached,
    }));
    for decision in decisions {
        hub.publish(WireEvent::Portwarden(StackEvent::PortDecision(decision)));
    }

    let options = SupervisorOptions {
        log_dir: paths.logs.clone(),
        state_file: Some(paths.state_file.clone()),
        arbiter: Some(arbiter as Arc<dyn PortArbiter>),
        services: selection,
        ..SupervisorOptions::default()
    };
    let handle = match Supervisor::start(stack, options) {
        Ok(handle) => handle,
        Err(e) => {
            drop(bound);
            let _ = remove_if_present(&socket);
            let _ = remove_if_present(&paths.socket_record);
            return Err(CliError::failure(e));
        }
    };
    let events = handle.events();
    let pump = {
        let hub = Arc::clone(&hub);
        let timeline = Arc::clone(&timeline);
        std::thread::Builder::new()
            .name("portwarden-events".into())
            .spawn(move || {
                while let Some(event) = events.recv() {
                    timeline.observe(&event);
                    if let Event::Spawned {
                        service,
                        port: Some(port),
                        ..
                    }
                    | Event::PortMigrated {
                        service, to: port, ..
                    } = &event
                    {
                        current_ports
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(service.clone(), *port);
                    }
                    hub.publish(WireEvent::Supervisor(event));
                }
                hub.close();
            })?
    };
    let served = Arc::new(Served {
        handle: handle.clone(),
        hub: Arc::clone(&hub),
        metrics: Metrics::start(handle.clone()),
        paths: paths.clone(),
        info,
        started: Instant::now(),
        services: built.metas.clone(),
        start_order,
        phase: Mutex::new(Phase::Starting),
        timeline,
    });
    let mut server = match Server::start(bound, Arc::clone(&served)) {
        Ok(server) => Some(server),
        Err(e) => {
            ctx.out
                .error(format!("the control socket cannot be served: {e}"));
            handle.shutdown();
            None
        }
    };
    stopper.serve(Arc::clone(&served));

    let mut display = Display::new(ctx, &built.metas, mode, &paths.startup_log);
    let mut ready = false;
    let mut failure: Option<String> = None;
    while let Some(event) = terminal.recv() {
        match &*event {
            WireEvent::Supervisor(Event::StackReady { .. }) => {
                ready = true;
                served.set_phase(Phase::Ready);
            }
            WireEvent::Supervisor(Event::StackFailed { reason }) if !ready => {
                failure.get_or_insert_with(|| reason.clone());
                served.set_phase(Phase::Failed);
                handle.shutdown();
            }
            WireEvent::Supervisor(Event::Failed { service, reason })
                if ready && served.meta(service).is_some_and(|m| m.critical) =>
            {
                failure
                    .get_or_insert_with(|| format!("critical service {service} failed: {reason}"));
                served.set_phase(Phase::Stopping);
                handle.shutdown();
            }
            WireEvent::Supervisor(Event::Stopping { .. })
                if served.phase() == Phase::Stopping || failure.is_some() =>
            {
                display.stopping();
            }
            _ => {}
        }
        if display.show(&event).is_err() {
            // Nobody reads our output any more (`portwarden up | head`): stop, as a program
            // killed by SIGPIPE would, but cleanly.
            served.set_phase(Phase::Stopping);
            handle.shutdown();
        }
        if matches!(&*event, WireEvent::Supervisor(Event::StackReady { .. }))
            && mode == Mode::Foreground
        {
            display.hint(
                "Ctrl-C stops the stack; from another terminal: portwarden status | logs -f | stop",
            );
        }
    }
    let _ = handle.wait();
    if let Some(server) = server.as_mut() {
        server.stop();
    }
    served.metrics.stop();
    let _ = pump.join();
    drop(lock);
    match failure {
        Some(reason) if !ready => Err(CliError::failure(format!(
            "the stack did not start: {reason}; everything was stopped"
        ))),
        Some(reason) => Err(CliError::failure(format!(
            "{reason}; the stack was stopped"
        ))),
        None => Ok(()),
    }
}

/// What a signal does: the first stops the stack in order, the next ones kill it at once
/// (the supervisor escalates on a second shutdown request).
struct Stopper {
    out: crate::output::Output,
    mode: Mode,
    inner: Mutex<StopperInner>,
}

#[derive(Default)]
struct StopperInner {
    served: Option<Arc<Served>>,
    received: u32,
}

impl Stopper {
    fn new(out: crate::output::Output, mode: Mode) -> Stopper {
        Stopper {
            out,
            mode,
            inner: Mutex::new(StopperInner::default()),
        }
    }

    fn signal(&self, signal: i32) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.received += 1;
        log::info!("signal {signal} (number {} received)", inner.received);
        if let Some(served) = &inner.served {
            self.stop(served, inner.received);
        }
    }

    /// From now on signals stop `served`; signals that came earlier do so now.
    fn serve(&self, served: Arc<Served>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for n in 1..=inner.received {
            self.stop(&served, n);
        }
        inner.served = Some(served);
    }

    fn stop(&self, served: &Served, n: u32) {
        served.set_phase(Phase::Stopping);
        if n == 1 {
            if self.mode == Mode::Foreground && !self.out.json {
                self.out.note(self.out.paint(
                    Style::Yellow,
                    "stopping the stack (Ctrl-C again to kill it at once)",
                ));
            }
        } else {
            log::warn!("signal number {n}: killing the stack");
        }
        served.handle.shutdown();
    }
}

/// Where the lines go: the terminal (or, for the daemon, its stdout, which is the startup
/// log) and the startup log.
struct Display<'a> {
    ctx: &'a Context<'a>,
    mode: Mode,
    terminal: Progress,
    log: Option<(Progress, File)>,
    broken: bool,
}

impl<'a> Display<'a> {
    fn new(
        ctx: &'a Context<'a>,
        metas: &[super::specs::ServiceMeta],
        mode: Mode,
        startup_log: &std::path::Path,
    ) -> Display<'a> {
        let log = match mode {
            Mode::Detached => None,
            Mode::Foreground => OpenOptions::new()
                .create(true)
                .append(true)
                .open(startup_log)
                .map_err(|e| log::warn!("{}: {e}", startup_log.display()))
                .ok()
                .map(|file| (Progress::new(metas, Painter::plain()), file)),
        };
        let painter = match mode {
            Mode::Foreground => ctx.out.painter,
            Mode::Detached => Painter::plain(),
        };
        Display {
            ctx,
            mode,
            terminal: Progress::new(metas, painter),
            log,
            broken: false,
        }
    }

    fn stopping(&mut self) {
        self.terminal.set_stopping();
        if let Some((progress, _)) = self.log.as_mut() {
            progress.set_stopping();
        }
    }

    /// Shows one event; `Err` once stdout is closed.
    fn show(&mut self, event: &WireEvent) -> CliResult {
        if let Some((progress, file)) = self.log.as_mut()
            && let Some(line) = progress.render(event)
            && line.kind != Kind::Output
        {
            let _ = writeln!(file, "{} {}", rfc3339(SystemTime::now()), line.text);
        }
        if self.broken {
            return Ok(());
        }
        let out = &self.ctx.out;
        let written = if out.json {
            out.json_line(event)
        } else {
            match self.terminal.render(event) {
                None => Ok(()),
                Some(line) => match self.mode {
                    Mode::Detached if line.kind == Kind::Output => Ok(()),
                    Mode::Detached => {
                        out.line(format!("{} {}", rfc3339(SystemTime::now()), line.text))
                    }
                    Mode::Foreground => out.line(line.text),
                },
            }
        };
        if let Err(e) = written {
            self.broken = true;
            if e.is_broken_pipe() {
                return Err(e);
            }
            log::warn!("writing to stdout: {e}");
        }
        Ok(())
    }

    fn hint(&mut self, text: &str) {
        if !self.ctx.out.json && !self.broken {
            let _ = self.ctx.out.line(self.ctx.out.paint(Style::Dim, text));
        }
    }
}
