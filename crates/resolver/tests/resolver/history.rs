//! The history file: JSON lines, append-only, concurrent writers, a tolerant reader.

use std::io::Write;
use std::time::{Duration, SystemTime};

use portcore::Protocol;
use resolver::{ConflictLevel, Decision, EntryOutcome, History, HistoryRecord};

fn record(service: &str, n: u16) -> HistoryRecord {
    HistoryRecord {
        timestamp: "2025-01-01T00:00:00.000Z".into(),
        service: Some(service.to_owned()),
        port: 8000 + n,
        protocol: Protocol::Tcp,
        level: ConflictLevel::High,
        strategy: "intelligent".into(),
        decision: Decision::Migrate { to: 9000 + n },
        outcome: EntryOutcome::Done,
        resolved_port: Some(9000 + n),
        duration: Duration::from_millis(u64::from(n)),
        dry_run: false,
        // Long enough that a torn write would show.
        detail: "x".repeat(2000),
    }
}

#[test]
fn folders_are_created_and_records_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::new(dir.path().join("a/b/.portwarden/history.jsonl"));
    history.append(&record("api", 1)).unwrap();
    history.append(&record("web", 2)).unwrap();
    let log = history.read().unwrap();
    assert_eq!(log.records, [record("api", 1), record("web", 2)]);
    assert!(!log.truncated_tail);
    let text = std::fs::read_to_string(history.path()).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text.contains("\"duration_ms\":1"));
    assert!(text.contains("\"dry_run\":false"));
}

#[test]
fn concurrent_writers_never_interleave_within_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let history = History::new(path.clone());
            std::thread::spawn(move || {
                for n in 0..100 {
                    history.append(&record(&format!("w{w}"), n)).unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let log = History::new(path).read().unwrap();
    assert_eq!(log.records.len(), 800);
    assert!(log.bad_lines.is_empty());
}

#[test]
fn a_truncated_last_line_is_tolerated() {
    let dir = tempfile::tempdir().unwrap();
    let history = History::new(dir.path().join("history.jsonl"));
    history.append(&record("api", 1)).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(history.path())
        .unwrap();
    file.write_all(b"{\"timestamp\":\"2025-01-01T00:00:")
        .unwrap();
    let log = history.read().unwrap();
    assert_eq!(log.records.len(), 1);
    assert!(log.truncated_tail);
    assert!(log.bad_lines.is_empty());
    // Writing on after a torn line starts a new line only for the next complete record;
    // the torn one stays unreadable, not the new one.
    file.write_all(b"\n").unwrap();
    history.append(&record("web", 2)).unwrap();
    let log = history.read().unwrap();
    assert_eq!(log.records.len(), 2);
    assert_eq!(log.bad_lines, [2]);
}

#[test]
fn a_missing_file_is_an_empty_history() {
    let dir = tempfile::tempdir().unwrap();
    let log = History::new(dir.path().join("none.jsonl")).read().unwrap();
    assert!(log.records.is_empty());
    let _ = SystemTime::now();
}
