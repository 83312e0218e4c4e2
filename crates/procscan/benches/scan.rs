//! Scan benchmarks on whatever this machine holds, plus ~50 listeners in 10 `pw-fixture`
//! processes started here (build them first: `cargo build --release -p portwarden-testkit
//! --bins`; without them the listeners are opened in this process instead).
//!
//! `cargo bench -p procscan --bench scan`. Ratios against `ss -tulpn` and `fuser` are measured
//! by the workspace's peer-comparison bench command, not here.
#![allow(clippy::print_stderr, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::TcpListener;

use criterion::{Criterion, criterion_group, criterion_main};
use portcore::Protocol;
use procscan::{ProcessDetail, ScanOptions, Scanner, StateFilter, lookup_port, snapshot};
use testkit::Fixture;

/// What keeps the benchmark's listeners open until it ends.
enum Listeners {
    Fixtures(Vec<Fixture>),
    InProcess(Vec<TcpListener>),
}

impl Listeners {
    fn start() -> Listeners {
        let built = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.parent()?.join("pw-fixture")))
            .is_some_and(|path| path.exists());
        if built {
            let args: Vec<&str> = ["--tcp", "127.0.0.1:0"].repeat(5);
            Listeners::Fixtures((0..10).map(|_| Fixture::spawn(&args)).collect())
        } else {
            eprintln!("pw-fixture is not built for this profile: listening in-process instead");
            Listeners::InProcess(
                (0..50)
                    .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
                    .collect(),
            )
        }
    }

    fn a_port(&self) -> u16 {
        match self {
            Listeners::Fixtures(f) => f[0].ready.tcp_port(),
            Listeners::InProcess(l) => l[0].local_addr().unwrap().port(),
        }
    }
}

fn scans(c: &mut Criterion) {
    let listeners = Listeners::start();
    let port = listeners.a_port();
    let options = ScanOptions::default();

    c.bench_function("snapshot listening basic", |b| {
        b.iter(|| black_box(snapshot(&options).unwrap()))
    });
    c.bench_function("lookup_port held tcp", |b| {
        b.iter(|| {
            black_box(
                lookup_port(
                    port,
                    Some(Protocol::Tcp),
                    StateFilter::Listening,
                    ProcessDetail::Basic,
                )
                .unwrap(),
            )
        })
    });
    c.bench_function("scanner cold", |b| {
        b.iter(|| black_box(Scanner::new().scan(&options).unwrap()))
    });
    // Steady state: nothing of ours changes between scans, and no scheduled full pass.
    let mut scanner = Scanner::with_full_pass_every(u32::MAX);
    scanner.scan(&options).unwrap();
    c.bench_function("scanner steady", |b| {
        b.iter(|| black_box(scanner.scan(&options).unwrap()))
    });
    drop(listeners);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = scans
}
criterion_main!(benches);
