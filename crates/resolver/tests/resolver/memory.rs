//! Port memory: sticky assignments saved atomically and applied to claims.

use resolver::{Claim, Conservative, ExecuteOptions, MemoryError, PortMemory, execute, plan};

use crate::support::{ME, Snap, plan_options, process, serial};

#[test]
fn a_migration_is_remembered_and_preferred_next_time() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".portwarden/ports.json");
    let claims = vec![Claim::new("api", 8000).with_alternatives([1, 2])];
    // 8000 held by someone else; alternatives 1 and 2 are reserved: use the fallback range.
    // Pick a really free high port for it so that the migration's own check passes.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut options = plan_options();
    options.fallback = portcore::PortRange::single(free);
    let snapshot = Snap::new()
        .listener(8000, process(200, "node", "node x.js", ME))
        .build();
    let plan = plan(&claims, &snapshot, &Conservative, &options);
    let report = execute(&plan, &ExecuteOptions::default());
    assert_eq!(report.migrations.len(), 1, "{report:#?}");
    assert_eq!(report.migrations[0].to, free);

    let mut memory = PortMemory::load(&path).unwrap();
    assert!(memory.record(&report));
    memory.save().unwrap();
    let mut next = claims.clone();
    PortMemory::load(&path).unwrap().apply(&mut next);
    assert_eq!(next[0].sticky, Some(free));
    // No temporary file is left beside it.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["ports.json"]);
}

#[test]
fn a_corrupt_file_is_an_error_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ports.json");
    std::fs::write(
        &path,
        "{\n  \"version\": 1,\n  \"ports\": {\"api\": \"eighty\"}\n}\n",
    )
    .unwrap();
    let err = PortMemory::load(&path).unwrap_err();
    assert!(matches!(err, MemoryError::Parse { line: 3, .. }), "{err}");
    assert!(err.to_string().contains("ports.json"));
}
