//! Setup commands run first; their failure stops the start with the whole story.

use supervisor::{Event, ServiceSpec};

use crate::common::*;

#[test]
fn a_failed_setup_command_stops_the_start() {
    let mut spec = fixture_service("api", "--tcp 127.0.0.1:{port}").port(0);
    spec.setup_command = Some("echo installing; exit 7".into());
    let mut run = Run::start(vec![spec]);
    let failure = run.wait_for(LONG, failed("api"));
    let Event::Failed { reason, .. } = failure else {
        unreachable!()
    };
    assert!(
        reason.contains("`api`")
            && reason.contains("echo installing; exit 7")
            && reason.contains("exit status 7"),
        "{reason}"
    );
    assert!(
        run.position(|e| matches!(
            e,
            Event::SetupFinished {
                success: false,
                code: Some(7),
                ..
            }
        ))
        .is_some()
    );
    assert!(run.position(spawned("api")).is_none(), "{}", run.describe());
    assert!(run.handle.wait_ready(LONG).is_err());
    // The line reaches the log file before its event is published.
    run.wait_for(LONG, output_of("api", "installing"));
    let _ = run.shutdown();
    let log = std::fs::read_to_string(run.log_path("api")).unwrap();
    assert!(log.contains("[setup] installing"), "{log}");
}

#[test]
fn the_setup_command_runs_first_in_the_working_folder() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ServiceSpec::new(
        "app",
        format!(
            "test -f prepared && exec {} --tcp 127.0.0.1:{{port}}",
            fixture()
        ),
    )
    .port(0);
    spec.working_dir = Some(dir.path().to_owned());
    spec.setup_command = Some("touch prepared".into());
    let mut run = Run::start(vec![spec]);
    run.wait_for(LONG, healthy("app"));
    let started = run
        .position(|e| matches!(e, Event::SetupStarted { .. }))
        .unwrap();
    let finished = run
        .position(|e| matches!(e, Event::SetupFinished { success: true, .. }))
        .unwrap();
    assert!(started < finished && finished < run.position(spawned("app")).unwrap());
    run.shutdown().unwrap();
}
