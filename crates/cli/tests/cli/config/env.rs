use super::*;
use portwarden::config::{Duration, Strategy};

#[test]
fn variables_override_the_file() {
    let f = fixture(SEED);
    let loaded = config::load_with_env(
        &f.path,
        [
            ("PORTWARDEN_SERVICES__BACKEND__PORT", "9000"),
            ("PORTWARDEN_CONFLICT_RESOLUTION__STRATEGY", "aggressive"),
            ("PORTWARDEN_MONITORING__INTERVAL", "5s"),
            ("PORTWARDEN_RESERVED_PORTS", "1-1023,5432"),
        ],
    )
    .unwrap();
    let c = &loaded.config;
    assert_eq!(c.service("backend").unwrap().port, Some(9000));
    // Untouched keys of the same service keep the file's values.
    assert_eq!(
        c.service("backend").unwrap().alternative_ports,
        [8001, 8002, 8003, 12001, 12002]
    );
    assert_eq!(c.conflict_resolution.strategy, Strategy::Aggressive);
    assert_eq!(c.monitoring.interval, Duration::from_secs(5));
    assert!(c.reserved().contains(5432) && !c.reserved().contains(6379));
}

#[test]
fn unrelated_portwarden_variables_are_ignored() {
    let f = fixture(SEED);
    let plain = config::load_with_env(&f.path, NO_ENV).unwrap();
    let noisy = config::load_with_env(
        &f.path,
        [
            ("PORTWARDEN_BACKEND_PORT", "1"),
            ("PORTWARDEN_CONFIG", "/elsewhere.yaml"),
            ("PORTWARDEN_LOG", "debug"),
            ("PORTWARDEN_NOT_A_SECTION__PORT", "1"),
            ("PORTWARDEN_SERVICES_PORT", "1"),
            ("OTHER_SERVICES__BACKEND__PORT", "1"),
        ],
    )
    .unwrap();
    assert_eq!(noisy.config, plain.config);
}

#[test]
fn a_bad_variable_is_blamed_on_the_variable() {
    let f = fixture(SEED);
    let Err(err) =
        config::load_with_env(&f.path, [("PORTWARDEN_SERVICES__BACKEND__PORT", "99999")])
    else {
        panic!("should not load")
    };
    let issue = at(err.issues(), "services.backend.port");
    assert_eq!(issue.kind, IssueKind::PortOutOfRange { value: 99999 });
    assert_eq!(
        issue.origin,
        Some(Origin::Env {
            var: "PORTWARDEN_SERVICES__BACKEND__PORT".into()
        })
    );
    assert!(
        issue
            .to_string()
            .starts_with("$PORTWARDEN_SERVICES__BACKEND__PORT: services.backend.port")
    );
}

#[test]
fn file_order_survives_layering_and_names_match_loosely() {
    let f = fixture(
        "services:\n  zeta:\n    port: 8100\n  My-Api:\n    port: 8200\n  alpha:\n    port: 8300\n",
    );
    let loaded = config::load_with_env(
        &f.path,
        [
            ("PORTWARDEN_SERVICES__MY_API__PORT", "8201"),
            ("PORTWARDEN_SERVICES__EXTRA__PORT", "8400"),
        ],
    )
    .unwrap();
    let names: Vec<&str> = loaded.config.services.keys().map(String::as_str).collect();
    assert_eq!(names, ["zeta", "My-Api", "alpha", "extra"]);
    assert_eq!(loaded.config.service("My-Api").unwrap().port, Some(8201));
}
