//! Stacks that are not graphs are refused with the whole story.

use supervisor::{Condition, ServiceSpec, Stack, StackError, Supervisor, SupervisorOptions};

#[test]
fn a_cycle_is_refused_naming_every_service_on_it() {
    let err = Stack::new(vec![
        ServiceSpec::new("db", "true"),
        ServiceSpec::new("api", "true").depends_on("worker", Condition::Started),
        ServiceSpec::new("worker", "true").depends_on("web", Condition::Healthy),
        ServiceSpec::new("web", "true").depends_on("api", Condition::Healthy),
    ])
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "dependency cycle: api -> worker -> web -> api"
    );
}

#[test]
fn an_unknown_dependency_is_refused() {
    let err = Stack::new(vec![
        ServiceSpec::new("api", "true").depends_on("db", Condition::Healthy),
    ])
    .unwrap_err();
    assert_eq!(
        err,
        StackError::UnknownDependency {
            service: "api".into(),
            dependency: "db".into()
        }
    );
}

#[test]
fn an_unknown_service_cannot_be_selected() {
    let stack = Stack::new(vec![ServiceSpec::new("api", "true")]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = Supervisor::start(
        stack,
        SupervisorOptions {
            log_dir: dir.path().into(),
            services: Some(vec!["nope".into()]),
            ..SupervisorOptions::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}
