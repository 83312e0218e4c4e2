use super::*;
use portcore::Protocol;

#[test]
fn yaml_syntax_errors_give_line_and_column() {
    let text = "services:\n  backend:\n    port: 8000\n   bad indent: [\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(matches!(errs[0].kind, IssueKind::Syntax { .. }));
    let Some(Origin::File {
        line: Some(line),
        column: Some(column),
        ..
    }) = errs[0].origin
    else {
        panic!("no line and column: {errs:#?}");
    };
    assert!((3..=5).contains(&line), "line {line}");
    assert!(column >= 1);
}

#[test]
fn unknown_keys_suggest_the_closest_known_key() {
    let f = fixture(
        // `bogus` holds a map: still one problem, not one per entry.
        "services:\n  backend:\n    prot: 8000\nmonitoring:\n  intervall: 5\nbogus: {a: 1, b: 2}\n",
    );
    let Err(err) = config::load_with_env(&f.path, NO_ENV) else {
        panic!("loaded")
    };
    let errs = err.issues();
    let prot = at(errs, "services.backend.prot");
    assert_eq!(
        prot.to_string(),
        format!(
            "{}:3: services.backend.prot: unknown key; did you mean `port`?",
            f.path.display()
        )
    );
    assert_eq!(
        at(errs, "monitoring.intervall").kind,
        IssueKind::UnknownKey {
            key: "intervall".into(),
            suggestion: Some("interval".into())
        }
    );
    let bogus = at(errs, "bogus");
    assert_eq!(
        bogus.kind,
        IssueKind::UnknownKey {
            key: "bogus".into(),
            suggestion: None
        }
    );
    assert_eq!(bogus.line(), Some(6));
    // The whole message lists each problem on its own line.
    let message = err.to_string();
    assert!(
        message.contains("3 error(s)") && message.lines().count() == 4,
        "{message}"
    );
}

#[test]
fn wrong_types_name_what_was_expected_and_found() {
    let text =
        "services:\n  a:\n    critical: \"yes please\"\n    alternative_ports: 8001\n  b: 5\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    let critical = at(&errs, "services.a.critical");
    assert!(
        matches!(&critical.kind, IssueKind::WrongType { expected, found }
            if expected.contains("bool") && found.contains("yes please"))
    );
    assert_eq!(critical.line(), Some(3));
    assert!(matches!(
        at(&errs, "services.a.alternative_ports").kind,
        IssueKind::WrongType { .. }
    ));
    assert_eq!(at(&errs, "services.b").line(), Some(5));
    // Number types read as ranges, not as Rust's type names.
    let errs = errors("services:\n  a:\n    max_restart_attempts: -1\n");
    assert_eq!(
        at(&errs, "services.a.max_restart_attempts").kind,
        IssueKind::InvalidValue {
            value: "-1".into(),
            expected: "a whole number from 0 to 4294967295".into(),
        }
    );
}

#[test]
fn ports_out_of_range_are_each_reported() {
    let text = "services:\n  zero:\n    port: 0\n  big:\n    port: 70000\n  negative:\n    \
                    port: -1\n  alts:\n    port: 8000\n    alternative_ports: [8001, 70000, 0]\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 5, "{errs:#?}");
    for (field, value, line) in [
        ("services.zero.port", 0, 3),
        ("services.big.port", 70000, 5),
        ("services.negative.port", -1, 7),
        ("services.alts.alternative_ports.1", 70000, 10),
        ("services.alts.alternative_ports.2", 0, 10),
    ] {
        let issue = at(&errs, field);
        assert_eq!(issue.kind, IssueKind::PortOutOfRange { value }, "{field}");
        assert_eq!(issue.line(), Some(line), "{field}");
    }
}

#[test]
fn primary_port_in_the_reserved_set_is_an_error() {
    let errs = errors("services:\n  db:\n    port: 5432\n");
    assert_eq!(
        at(&errs, "services.db.port").kind,
        IssueKind::ReservedPort { port: 5432 }
    );
    // The file's own reserved list replaces the default.
    load_ok("services:\n  db:\n    port: 5432\nreserved_ports: [\"1-1023\"]\n");
    let errs = errors("services:\n  a:\n    port: 8005\nreserved_ports: [\"8000-8010\", 22]\n");
    assert_eq!(at(&errs, "services.a.port").line(), Some(3));
}

#[test]
fn one_primary_port_claimed_twice_is_an_error_per_protocol() {
    let text = "services:\n  a:\n    port: 9000\n  b:\n    port: 9000\n  c:\n    port: 9000\n    \
                    protocol: udp\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let issue = at(&errs, "services.b.port");
    assert_eq!(
        issue.kind,
        IssueKind::DuplicatePort {
            port: 9000,
            protocol: Protocol::Tcp,
            other: "a".into()
        }
    );
    assert_eq!(issue.line(), Some(5));
}

#[test]
fn bad_process_patterns_are_named_with_their_line() {
    let text = "services:\n  a:\n    process_patterns:\n      - \"ok.*\"\n      - \"python.*(\"\n";
    let errs = errors(text);
    let issue = at(&errs, "services.a.process_patterns.1");
    assert!(matches!(&issue.kind, IssueKind::BadPattern { pattern, .. } if pattern == "python.*("));
    assert_eq!(issue.line(), Some(5));
}

#[test]
fn unknown_dependencies_in_both_forms() {
    let text = "services:\n  frontend:\n    depends_on:\n      - backnd\n  api:\n    depends_on:\n      \
                    nope: {condition: healthy}\n  backend:\n    port: 8000\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    let issue = at(&errs, "services.frontend.depends_on.backnd");
    assert_eq!(
        issue.kind,
        IssueKind::UnknownDependency {
            name: "backnd".into(),
            suggestion: Some("backend".into())
        }
    );
    assert_eq!(issue.line(), Some(4));
    assert_eq!(at(&errs, "services.api.depends_on.nope").line(), Some(7));
}

#[test]
fn dependency_cycles_and_unobservable_health_are_errors() {
    let text = "services:\n  a:\n    depends_on: [b]\n  b:\n    depends_on: [a]\n  c:\n    \
                    depends_on: {worker: {condition: healthy}}\n  worker:\n    startup_command: w\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_eq!(
        at(&errs, "services.a.depends_on").kind,
        IssueKind::DependencyCycle {
            cycle: vec!["a".into(), "b".into(), "a".into()]
        }
    );
    assert_eq!(
        at(&errs, "services.c.depends_on.worker").kind,
        IssueKind::ConditionNeedsHealthCheck {
            dependency: "worker".into()
        }
    );
}

#[test]
fn name_must_equal_its_key() {
    let errs = errors("services:\n  backend:\n    port: 8000\n    name: \"frontend\"\n");
    let issue = at(&errs, "services.backend.name");
    assert_eq!(
        issue.kind,
        IssueKind::NameMismatch {
            name: "frontend".into(),
            key: "backend".into()
        }
    );
    assert_eq!(issue.line(), Some(4));
}

#[test]
fn unknown_template_references_are_named() {
    let text = "services:\n  a:\n    port: 8000\n    startup_command: \"run {services.nope.port} \
                    {whatever}\"\n  worker:\n    startup_command: \"w --port {port}\"\n    env:\n      \
                    A_URL: \"http://x:{services.worker.port}\"\n      BAD: \"{port\"\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 5, "{errs:#?}");
    let on_a: Vec<&IssueKind> = errs
        .iter()
        .filter(|i| i.field == "services.a.startup_command")
        .map(|i| &i.kind)
        .collect();
    assert_eq!(
        on_a,
        [
            &IssueKind::UnknownTemplateRef {
                reference: "services.nope.port".into(),
                suggestion: None
            },
            &IssueKind::UnknownTemplateRef {
                reference: "whatever".into(),
                suggestion: None
            },
        ]
    );
    assert!(
        errs.iter()
            .filter(|i| i.field == "services.a.startup_command")
            .all(|i| i.line() == Some(4))
    );
    assert_eq!(
        at(&errs, "services.worker.startup_command").kind,
        IssueKind::TemplateNeedsPort {
            reference: "port".into(),
            service: "worker".into()
        }
    );
    assert_eq!(at(&errs, "services.worker.env.A_URL").line(), Some(8));
    assert!(matches!(
        at(&errs, "services.worker.env.BAD").kind,
        IssueKind::BadTemplate { .. }
    ));
}

#[test]
fn near_miss_template_references_suggest_the_valid_one() {
    let text = "services:\n  backend:\n    port: 8000\n  web:\n    port: 3000\n    \
                    startup_command: \"serve --port {prot} --api {services.backnd.port}\"\n";
    let errs = errors(text);
    let suggestions: Vec<Option<&str>> = errs
        .iter()
        .map(|i| match &i.kind {
            IssueKind::UnknownTemplateRef { suggestion, .. } => suggestion.as_deref(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(suggestions, [Some("port"), Some("services.backend.port")]);
    assert!(
        errs[1]
            .to_string()
            .ends_with("did you mean `{services.backend.port}`?"),
        "{}",
        errs[1]
    );
}

#[test]
fn bad_durations_signals_and_strategies() {
    let text = "services:\n  a:\n    stop_timeout: soon\n    stop_signal: SIGSEGV\n    restart_window: \
                    -5\n    restart: sometimes\nconflict_resolution:\n  strategy: smart\n  grace_period: \
                    5 parsecs\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 6, "{errs:#?}");
    assert_eq!(
        at(&errs, "services.a.stop_timeout").kind,
        IssueKind::BadDuration {
            text: "soon".into()
        }
    );
    assert_eq!(at(&errs, "services.a.stop_timeout").line(), Some(3));
    assert_eq!(
        at(&errs, "services.a.stop_signal").kind,
        IssueKind::BadSignal {
            text: "SIGSEGV".into()
        }
    );
    assert_eq!(
        at(&errs, "services.a.restart_window").kind,
        IssueKind::BadDuration { text: "-5".into() }
    );
    assert!(
        matches!(&at(&errs, "services.a.restart").kind, IssueKind::UnknownVariant { value, .. }
            if value == "sometimes")
    );
    let strategy = at(&errs, "conflict_resolution.strategy");
    assert!(
        matches!(&strategy.kind, IssueKind::UnknownVariant { value, expected, .. }
            if value == "smart" && expected.contains(&"intelligent".to_owned()))
    );
    assert_eq!(strategy.line(), Some(8));
    assert_eq!(
        at(&errs, "conflict_resolution.grace_period").kind,
        IssueKind::BadDuration {
            text: "5 parsecs".into()
        }
    );
}

#[test]
fn health_checks_need_what_their_type_needs() {
    let text = "services:\n  a:\n    health_check:\n      type: exec\n  b:\n    health_check: {type: \
                    http}\n  c:\n    socket_activation: true\n    health_check: {type: listening}\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 4, "{errs:#?}");
    assert!(matches!(
        at(&errs, "services.a.health_check").kind,
        IssueKind::HealthCheckIncomplete {
            missing: "command",
            ..
        }
    ));
    assert!(matches!(
        at(&errs, "services.b.health_check").kind,
        IssueKind::HealthCheckIncomplete { missing: "url", .. }
    ));
    assert!(matches!(
        at(&errs, "services.c.health_check").kind,
        IssueKind::HealthCheckIncomplete {
            missing: "port",
            ..
        }
    ));
    assert_eq!(
        at(&errs, "services.c.socket_activation").kind,
        IssueKind::RequiresPort {
            feature: "socket_activation"
        }
    );
}

#[test]
fn every_problem_is_reported_at_once_in_file_order() {
    let text = "services:\n  backend:\n    prot: 8000\n    port: 70000\n    process_patterns: \
                    [\"(\"]\n    depends_on: [nope]\n    name: other\n  db:\n    port: 5432\n    \
                    stop_signal: STOP\nconflict_resolution:\n  strategy: smart\n";
    let errs = errors(text);
    let lines: Vec<Option<u32>> = errs.iter().map(Issue::line).collect();
    assert_eq!(
        lines,
        [
            Some(3),
            Some(4),
            Some(5),
            Some(6),
            Some(7),
            Some(9),
            Some(10),
            Some(12)
        ]
    );
}

#[test]
fn a_removed_bad_port_does_not_cascade_into_template_errors() {
    let errs = errors("services:\n  a:\n    port: 0\n    startup_command: \"run --port {port}\"\n");
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].kind, IssueKind::PortOutOfRange { value: 0 });
}

#[test]
fn anchors_in_extension_keys_are_reused_and_bad_merged_keys_still_found() {
    let text = "x-defaults: &defaults\n  critical: true\n  stop_timeout: 3s\nservices:\n  a:\n    \
                    <<: *defaults\n    port: 8000\n  b:\n    <<: *defaults\n    port: 8001\n";
    let config = load_ok(text).config;
    assert!(config.services.values().all(|s| s.critical));
    assert_eq!(
        config.service("b").unwrap().stop_timeout,
        config::Duration::from_secs(3)
    );
    let errs = errors("x-base: &base\n  prot: 1\nservices:\n  a:\n    <<: *base\n");
    assert!(matches!(
        at(&errs, "services.a.prot").kind,
        IssueKind::UnknownKey { .. }
    ));
    // Only `x-` keys are exempt.
    let errs = errors("y-base: 1\n");
    assert!(matches!(
        at(&errs, "y-base").kind,
        IssueKind::UnknownKey { .. }
    ));
}

#[test]
fn other_failures_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yaml");
    assert!(matches!(
        config::load_with_env(&missing, NO_ENV),
        Err(ConfigError::Read { .. })
    ));
    let errs = errors("- just\n- a list\n");
    assert!(matches!(errs[0].kind, IssueKind::WrongType { .. }));
    let errs = errors("a: 1\n---\nb: 2\n");
    assert!(matches!(errs[0].kind, IssueKind::Syntax { .. }));
    // An empty file is a valid config with no services.
    assert_eq!(load_ok("").config, Config::default());
    assert_eq!(load_ok("# nothing\n").config, Config::default());
}
