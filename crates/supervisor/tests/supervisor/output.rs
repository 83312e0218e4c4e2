//! Output: a flood or a reader that does not read never blocks anything.

use std::time::{Duration, Instant};

use supervisor::{Event, ServiceState};

use crate::common::*;

#[test]
fn a_flood_blocks_neither_the_service_nor_the_supervisor() {
    let mut run = Run::start_with(
        vec![
            fixture_service("flood", "--flood"),
            fixture_service("quiet", "--tcp 127.0.0.1:{port}").port(0),
        ],
        |options| {
            options.event_capacity = 64;
            options.log_max_bytes = 256 * 1024;
            options.log_keep = 2;
        },
    );
    // Read nothing for a while: the receiver falls behind at once.
    std::thread::sleep(Duration::from_millis(1500));
    let asked = Instant::now();
    let status = run.handle.status();
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "status took {:?}",
        asked.elapsed()
    );
    let flood = status.iter().find(|s| s.name == "flood").unwrap();
    assert_eq!(flood.state, ServiceState::Running);
    assert!(testkit::pid_alive(flood.pid().unwrap()));
    assert!(flood.dropped_lines > 0);
    // The log has every line, rotated: two old files kept, no third.
    let log = run.log_path("flood");
    let rotated = |n: u32| log.with_extension(format!("log.{n}"));
    assert!(
        testkit::wait_until(LONG, || rotated(2).exists()),
        "no rotation"
    );
    assert!(!rotated(3).exists());
    assert!(std::fs::metadata(&log).unwrap().len() <= 256 * 1024);
    // The supervisor still acts promptly: stop the quiet one.
    run.handle.stop_service("quiet").unwrap();
    let quiet_stopped = |e: &Event| matches!(e, Event::Stopped { service } if service == "quiet");
    run.wait_for(LONG, quiet_stopped);
    // Lifecycle events were kept for the slow receiver, output lines dropped.
    assert!(run.position(spawned("flood")).is_some());
    assert!(run.events.dropped() > 0);
    // The flood kept going all along: its newest line number is large.
    let last: u64 = [log.clone(), rotated(1)]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| {
                    l.strip_prefix("flood line ")?
                        .split_whitespace()
                        .next()?
                        .parse()
                        .ok()
                })
                .collect::<Vec<u64>>()
        })
        .max()
        .unwrap_or(0);
    assert!(last > 10_000, "only {last} lines written");
    run.shutdown().unwrap();
}
