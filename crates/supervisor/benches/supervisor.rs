//! Supervisor latencies, with real processes.
//!
//! - `crash_to_respawn`: SIGKILL to a service until the supervisor has spawned its
//!   replacement (exit noticed through its pidfd, restart decided, fork + exec done).
//!   Target: median under 10 ms.
//! - `chain_of_10_start_to_healthy`: `Supervisor::start` until `StackReady` for ten services
//!   that each depend on the previous one being healthy and are ready as soon as they run
//!   (they bind their port first thing). Target: under 30 ms of overhead per level.
//!
//! The services are this bench binary itself, re-executed with `PW_BENCH_ROLE` set, so the
//! bench needs nothing else built. Run: `cargo bench -p portwarden-supervisor`.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::net::TcpListener;
use std::time::{Duration, Instant};

use criterion::Criterion;
use supervisor::{
    Condition, Event, EventReceiver, RestartLimits, RestartPolicy, ServiceSpec, Stack, Supervisor,
    SupervisorHandle, SupervisorOptions,
};

const ROLE: &str = "PW_BENCH_ROLE";

/// The service side: bind `$PORT` (when asked) and wait to be killed.
fn serve(role: &str) -> ! {
    let _listener = (role == "listen").then(|| {
        let port: u16 = std::env::var("PORT").unwrap().parse().unwrap();
        TcpListener::bind(("127.0.0.1", port)).unwrap()
    });
    loop {
        std::thread::park();
    }
}

fn command() -> String {
    format!("exec {}", std::env::current_exe().unwrap().display())
}

fn options(dir: &std::path::Path) -> SupervisorOptions {
    SupervisorOptions {
        log_dir: dir.join("logs"),
        ..SupervisorOptions::default()
    }
}

fn next_spawn(events: &EventReceiver) -> u32 {
    loop {
        match events.recv_timeout(Duration::from_secs(10)) {
            Ok(Event::Spawned { pid, .. }) => return pid,
            Ok(_) => {}
            Err(e) => panic!("no spawn: {e}"),
        }
    }
}

fn crash_to_respawn(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ServiceSpec::new("victim", command())
        .env(ROLE, "park")
        .restart(RestartPolicy::Always);
    // Every crash is the first after a stable run: restarted at once, never given up on.
    spec.restart_limits = RestartLimits {
        stable_after: Duration::ZERO,
        max_attempts: u32::MAX,
        ..RestartLimits::default()
    };
    let handle = Supervisor::start(Stack::new(vec![spec]).unwrap(), options(dir.path())).unwrap();
    let events = handle.events();
    let mut pid = next_spawn(&events);
    c.bench_function("crash_to_respawn", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // Let the stable-run timer (0 ms) reset the backoff first.
                std::thread::sleep(Duration::from_millis(2));
                let killed = Instant::now();
                // SAFETY: SIGKILL to the service process this bench started.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                pid = next_spawn(&events);
                total += killed.elapsed();
            }
            total
        })
    });
    shutdown(&handle);
}

fn chain_start_to_healthy(c: &mut Criterion) {
    const LEVELS: usize = 10;
    let specs = || {
        (0..LEVELS)
            .map(|level| {
                let spec = ServiceSpec::new(format!("s{level}"), command())
                    .env(ROLE, "listen")
                    .port(0);
                if level == 0 {
                    spec
                } else {
                    spec.depends_on(format!("s{}", level - 1), Condition::Healthy)
                }
            })
            .collect::<Vec<_>>()
    };
    c.bench_function("chain_of_10_start_to_healthy", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let started = Instant::now();
                let handle =
                    Supervisor::start(Stack::new(specs()).unwrap(), options(dir.path())).unwrap();
                handle.wait_ready(Duration::from_secs(30)).unwrap();
                total += started.elapsed();
                shutdown(&handle);
            }
            total
        })
    });
}

fn shutdown(handle: &SupervisorHandle) {
    handle.shutdown();
    handle.wait_timeout(Duration::from_secs(30)).unwrap();
}

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        serve(&role);
    }
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    crash_to_respawn(&mut c);
    chain_start_to_healthy(&mut c);
    c.final_summary();
}
