//! Planning must be cheap next to the scan it works from.
//!
//! Run with `cargo bench -p portwarden-resolver --bench resolve`. The bench holds 900 loopback
//! listeners itself (so the real socket table has at least that many), then measures:
//!
//! - `scan`: a bare `procscan::snapshot` (listening sockets, basic detail);
//! - `scan+detect+plan`: the same scan, then detection and planning of 30 services, a third of
//!   whose ports are held (target: at most 1.5x `scan`);
//! - `detect+plan/synthetic`: planning alone against a synthetic 900-listener snapshot;
//! - `migration end to end`: plan a migration from a snapshot, execute it (the new port is
//!   probed) and append it to a history file (target: median under 50 ms).
//!
//! After the criterion groups it prints the measured ratio of `scan+detect+plan` to `scan`.
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use portcore::{Family, Protocol};
use procscan::{ProcessInfo, ScanOptions, ScanSource, Snapshot, Socket, SocketState, snapshot};
use resolver::{
    Claim, Conservative, ExecuteOptions, History, Intelligent, PlanOptions, execute, plan,
};

const LISTENERS: usize = 900;
const SERVICES: usize = 30;

fn hold_listeners() -> Vec<TcpListener> {
    (0..LISTENERS)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect()
}

/// 30 services: every third one's port is one of the held ports, the others are free ports
/// (just released); each has five alternatives.
fn claims(held: &[TcpListener]) -> Vec<Claim> {
    (0..SERVICES)
        .map(|i| {
            let port = if i % 3 == 0 {
                held[i].local_addr().unwrap().port()
            } else {
                TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            };
            let base = 20_000 + (i as u16) * 10;
            Claim::new(format!("svc{i}"), port)
                .with_alternatives(base..base + 5)
                .with_patterns([format!("svc{i}-server")])
                .unwrap()
        })
        .collect()
}

fn synthetic_snapshot(claims: &[Claim]) -> Snapshot {
    let mut processes = BTreeMap::new();
    let mut sockets = Vec::with_capacity(LISTENERS);
    for i in 0..LISTENERS {
        let pid = 10_000 + i as u32;
        let port = match claims.get(i) {
            Some(claim) if i % 3 == 0 => claim.port,
            _ => 30_000 + i as u16,
        };
        sockets.push(Socket {
            protocol: Protocol::Tcp,
            family: Family::V4,
            local: SocketAddr::from(([127, 0, 0, 1], port)),
            remote: None,
            state: SocketState::Listen,
            inode: pid.into(),
            uid: 1000,
            holders: vec![pid],
        });
        processes.insert(
            pid,
            ProcessInfo {
                pid,
                ppid: 1,
                pgid: pid,
                sid: pid,
                uid: 1000,
                user: None,
                name: "node".into(),
                exe: None,
                cmdline: vec!["node".into(), format!("server{i}.js")],
                cwd: None,
                start_time: pid.into(),
                started_at: None,
                kernel_thread: false,
            },
        );
    }
    Snapshot {
        sockets,
        processes,
        source: ScanSource::Netlink,
        taken_at: SystemTime::now(),
        unreadable_pids: Vec::new(),
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn benches(c: &mut Criterion) {
    let held = hold_listeners();
    let claims = claims(&held);
    let options = PlanOptions::default();
    let scan_options = ScanOptions::default();
    let listeners = snapshot(&scan_options).unwrap().listeners().count();
    println!("socket table: {listeners} listening sockets");

    let mut group = c.benchmark_group("plan vs scan");
    group.sample_size(30);
    group.bench_function("scan", |b| {
        b.iter(|| black_box(snapshot(&scan_options).unwrap()))
    });
    group.bench_function("scan+detect+plan", |b| {
        b.iter(|| {
            let snap = snapshot(&scan_options).unwrap();
            black_box(plan(&claims, &snap, &Intelligent, &options))
        })
    });
    let synthetic = synthetic_snapshot(&claims);
    group.bench_function("detect+plan/synthetic", |b| {
        b.iter(|| black_box(plan(&claims, &synthetic, &Intelligent, &options)))
    });
    group.finish();

    let dir = tempfile::tempdir().unwrap();
    let history = History::new(dir.path().join(".portwarden/history.jsonl"));
    let migrating = [claims[0].clone()];
    let execute_options = ExecuteOptions::default();
    let end_to_end = || {
        let snap = snapshot(&scan_options).unwrap();
        let plan = plan(&migrating, &snap, &Conservative, &options);
        let report = execute(&plan, &execute_options);
        assert_eq!(report.migrations.len(), 1, "{report:#?}");
        history.record(&plan, &report).unwrap();
    };
    c.bench_function("migration decided and recorded end to end", |b| {
        b.iter(end_to_end)
    });

    // The ratio the target is about, measured in this run.
    let time = |f: &dyn Fn()| {
        median(
            (0..30)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed()
                })
                .collect(),
        )
    };
    let scan_only = time(&|| {
        black_box(snapshot(&scan_options).unwrap());
    });
    let scan_plan = time(&|| {
        let snap = snapshot(&scan_options).unwrap();
        black_box(plan(&claims, &snap, &Intelligent, &options));
    });
    let plan_only = time(&|| {
        black_box(plan(&claims, &synthetic, &Intelligent, &options));
    });
    let e2e = time(&end_to_end);
    println!(
        "median: scan {scan_only:?}, scan+detect+plan {scan_plan:?} (ratio {:.2}, target <= 1.5), \
         detect+plan alone {plan_only:?}, migration end to end {e2e:?} (target < 50 ms)",
        scan_plan.as_secs_f64() / scan_only.as_secs_f64()
    );
    drop(held);
}

criterion_group!(resolve, benches);
criterion_main!(resolve);
