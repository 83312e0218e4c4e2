//! The config file, end to end on real files: the seed's schema and the example load, every
//! bad config gives its named problem at the right line and field, environment layering,
//! discovery, path resolution, export round trips, and no input makes the loader panic.

// Helpers outside `#[test]` functions unwrap too: any failure there is the test's failure.

use std::path::{Path, PathBuf};

use portwarden::config::{
    self, Config, ConfigError, Issue, IssueKind, LoadedConfig, Origin, Severity,
};
use tempfile::TempDir;

const NO_ENV: [(&str, &str); 0] = [];

/// The seed's two YAML snippets (the backend service, then monitoring and conflict
/// resolution), exactly as the original system's description prints them.
const SEED: &str = r#"services:
  backend:
    name: "backend"
    port: 8000
    alternative_ports: [8001, 8002, 8003, 12001, 12002]
    process_patterns:
      - "python.*simple_backend_server"
      - "python.*apps/backend/main"
    health_check_url: "http://localhost:{port}/health"
    startup_command: "python simple_backend_server.py"
    working_directory: "/workspace/reVoAgent"
    critical: true
    auto_restart: true
    max_restart_attempts: 3

monitoring:
  enabled: true
  interval: 30  # seconds between checks
  auto_resolve_conflicts: true
  health_check_interval: 60

conflict_resolution:
  strategy: "intelligent"
  allow_port_migration: true
  preserve_external_processes: true
  max_alternative_ports: 10
"#;

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/revoagent.yaml")
}

/// A temp dir holding `portwarden.yaml` with `text`.
struct Fixture {
    dir: TempDir,
    path: PathBuf,
}

fn fixture(text: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portwarden.yaml");
    std::fs::write(&path, text).unwrap();
    Fixture { dir, path }
}

fn load(text: &str) -> Result<LoadedConfig, ConfigError> {
    let f = fixture(text);
    config::load_with_env(&f.path, NO_ENV)
}

fn load_ok(text: &str) -> LoadedConfig {
    load(text).unwrap_or_else(|e| panic!("should load:\n{e}"))
}

/// The errors of a config that must not load.
fn errors(text: &str) -> Vec<Issue> {
    match load(text) {
        Ok(_) => panic!("should not load:\n{text}"),
        Err(ConfigError::Invalid { errors, .. }) => errors,
        Err(other) => panic!("expected an invalid config, got: {other}"),
    }
}

/// The one issue at `field`.
fn at<'a>(issues: &'a [Issue], field: &str) -> &'a Issue {
    let found: Vec<&Issue> = issues.iter().filter(|i| i.field == field).collect();
    match found.as_slice() {
        [one] => one,
        _ => panic!(
            "expected one issue at {field}, found {}:\n{issues:#?}",
            found.len()
        ),
    }
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> u32 {
    let index = text.lines().position(|l| l.contains(needle));
    u32::try_from(index.unwrap_or_else(|| panic!("{needle:?} not in text")) + 1).unwrap()
}

mod seed {
    use super::*;
    use portwarden::config::{Duration, HealthProbe, RestartPolicy, Strategy};

    #[test]
    fn seed_config_loads_as_written() {
        let loaded = load_ok(SEED);
        assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
        let config = &loaded.config;
        let backend = config.service("backend").unwrap();
        assert_eq!(backend.name.as_deref(), Some("backend"));
        assert_eq!(backend.port, Some(8000));
        assert_eq!(backend.alternative_ports, [8001, 8002, 8003, 12001, 12002]);
        assert_eq!(
            backend.process_patterns,
            ["python.*simple_backend_server", "python.*apps/backend/main"]
        );
        assert_eq!(
            backend.health_check_url.as_deref(),
            Some("http://localhost:{port}/health")
        );
        assert_eq!(
            backend.startup_command.as_deref(),
            Some("python simple_backend_server.py")
        );
        assert_eq!(
            backend.working_directory.as_deref(),
            Some(Path::new("/workspace/reVoAgent"))
        );
        assert!(backend.critical && backend.auto_restart);
        assert_eq!(backend.max_restart_attempts, 3);
        assert_eq!(config.monitoring.interval, Duration::from_secs(30));
        assert_eq!(
            config.monitoring.health_check_interval,
            Duration::from_secs(60)
        );
        assert!(config.monitoring.enabled && config.monitoring.auto_resolve_conflicts);
        assert_eq!(config.conflict_resolution.strategy, Strategy::Intelligent);
        assert_eq!(config.conflict_resolution.max_alternative_ports, 10);
    }

    #[test]
    fn seed_config_gets_the_documented_defaults_for_the_additions() {
        let config = load_ok(SEED).config;
        let backend = config.service("backend").unwrap();
        assert_eq!(backend.effective_restart(), RestartPolicy::OnFailure);
        assert_eq!(config.reserved(), &portcore::PortSet::default_reserved());
        let check = config.health_check("backend").unwrap();
        assert_eq!(
            check.interval,
            Duration::from_secs(60),
            "global interval is the default"
        );
        assert!(
            matches!(check.probe, HealthProbe::Http { ref url, .. } if url.ends_with("/health"))
        );
        assert_eq!(config.template_context("backend").port, Some(8000));
    }

    #[test]
    fn example_loads_in_file_order_with_the_overlap_warnings() {
        let text = std::fs::read_to_string(example_path()).unwrap();
        let loaded = config::load_with_env(&example_path(), NO_ENV).unwrap();
        let names: Vec<&str> = loaded.config.services.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "backend",
                "frontend",
                "memory_api",
                "three_engine",
                "websocket"
            ]
        );
        let ports: Vec<Option<u16>> = loaded.config.services.values().map(|s| s.port).collect();
        assert_eq!(
            ports,
            [Some(8000), Some(12000), Some(8001), Some(8002), Some(8080)]
        );

        let w = &loaded.warnings;
        assert_eq!(w.len(), 4, "{w:#?}");
        let backend_alts = line_of(&text, "alternative_ports: [8001, 8002, 8003, 12001");
        let issue = at(w, "services.backend.alternative_ports.0");
        assert_eq!(
            issue.kind,
            IssueKind::AlternativeIsPrimary {
                port: 8001,
                service: "memory_api".into()
            }
        );
        assert_eq!(issue.line(), Some(backend_alts));
        assert_eq!(
            at(w, "services.backend.alternative_ports.1").kind,
            IssueKind::AlternativeIsPrimary {
                port: 8002,
                service: "three_engine".into()
            }
        );
        let issue = at(w, "services.frontend.alternative_ports.1");
        assert_eq!(issue.kind, IssueKind::AlternativeReserved { port: 3001 });
        assert_eq!(
            issue.line(),
            Some(line_of(&text, "alternative_ports: [3000, 3001"))
        );
        assert_eq!(
            at(w, "services.memory_api.alternative_ports.0").kind,
            IssueKind::AlternativeIsPrimary {
                port: 8002,
                service: "three_engine".into()
            }
        );
        assert!(w.iter().all(|i| i.severity() == Severity::Warning));
    }

    #[test]
    fn services_keep_file_order() {
        let text = "services:\n  zeta: {port: 8100}\n  alpha: {port: 8200}\n  mid: {port: 8300}\n";
        let names: Vec<String> = load_ok(text).config.services.keys().cloned().collect();
        assert_eq!(names, ["zeta", "alpha", "mid"]);
    }

    #[test]
    fn load_reads_the_process_environment() {
        let f = fixture(SEED);
        let from_process = config::load(&f.path).unwrap();
        let listed = config::load_with_env(&f.path, std::env::vars_os()).unwrap();
        assert_eq!(from_process, listed);
        assert_eq!(from_process.path, f.path);
    }

    #[test]
    fn example_holds_the_seed_sections_verbatim() {
        let text = std::fs::read_to_string(example_path()).unwrap();
        let (services, rest) = SEED.split_once("\nmonitoring:").unwrap();
        let backend_block = services.strip_prefix("services:\n").unwrap();
        assert!(
            text.contains(backend_block),
            "backend block differs from the seed"
        );
        assert!(
            text.contains(&format!("monitoring:{rest}")),
            "sections differ from the seed"
        );
        let reserved = config::load_with_env(&example_path(), NO_ENV)
            .unwrap()
            .config
            .reserved_ports;
        assert_eq!(reserved, portcore::PortSet::default_reserved());
    }
}

mod errors {
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
        let text =
            "services:\n  a:\n    process_patterns:\n      - \"ok.*\"\n      - \"python.*(\"\n";
        let errs = errors(text);
        let issue = at(&errs, "services.a.process_patterns.1");
        assert!(
            matches!(&issue.kind, IssueKind::BadPattern { pattern, .. } if pattern == "python.*(")
        );
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
        let errs =
            errors("services:\n  a:\n    port: 0\n    startup_command: \"run --port {port}\"\n");
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
}

mod warnings {
    use super::*;

    #[test]
    fn ports_in_the_ephemeral_range_warn() {
        let eph = portcore::ephemeral_range().unwrap();
        let port = eph.range.iter().find(|p| eph.may_assign(*p)).unwrap();
        let text = format!("services:\n  a:\n    port: {port}\n");
        let loaded = load_ok(&text);
        let issue = at(&loaded.warnings, "services.a.port");
        assert_eq!(
            issue.kind,
            IssueKind::EphemeralPort {
                port,
                range: eph.range
            }
        );
        assert_eq!(issue.line(), Some(3));
    }

    #[test]
    fn remote_health_urls_warn_unless_allowed() {
        let loaded = load_ok(
            "services:\n  a:\n    port: 8000\n    health_check_url: http://example.com/h\n",
        );
        assert_eq!(
            at(&loaded.warnings, "services.a.health_check_url").kind,
            IssueKind::RemoteHealthUrl {
                host: "example.com".into()
            }
        );
        let loaded = load_ok(
            "services:\n  a:\n    port: 8000\n    health_check:\n      url: http://example.com/h\n      \
             allow_remote: true\n",
        );
        assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
    }

    #[test]
    fn warnings_travel_with_errors() {
        let Err(ConfigError::Invalid {
            errors, warnings, ..
        }) = load("services:\n  a:\n    port: 8000\n    alternative_ports: [22]\n    prot: 1\n")
        else {
            panic!("should not load")
        };
        assert_eq!(errors.len(), 1);
        assert_eq!(
            at(&warnings, "services.a.alternative_ports.0").kind,
            IssueKind::AlternativeReserved { port: 22 }
        );
    }
}

mod env {
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
}

mod discovery {
    use super::*;
    use portwarden::config::{NamedBy, discover};
    use std::ffi::OsStr;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "").unwrap();
    }

    #[test]
    fn explicit_path_then_variable_then_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(&root.join("portwarden.yaml"));
        touch(&root.join("chosen.yaml"));
        touch(&root.join("from-env.yaml"));
        let env = Some(OsStr::new("from-env.yaml"));
        assert_eq!(
            discover(Some(Path::new("chosen.yaml")), root, env).unwrap(),
            root.join("chosen.yaml")
        );
        assert_eq!(
            discover(None, root, env).unwrap(),
            root.join("from-env.yaml")
        );
        assert_eq!(
            discover(None, root, Some(OsStr::new(""))).unwrap(),
            root.join("portwarden.yaml")
        );
        assert_eq!(
            discover(None, root, None).unwrap(),
            root.join("portwarden.yaml")
        );
    }

    #[test]
    fn a_named_file_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("portwarden.yaml"));
        let err = discover(Some(Path::new("nope.yaml")), dir.path(), None).unwrap_err();
        assert!(
            matches!(err, ConfigError::MissingNamed { ref path, named_by: NamedBy::Flag }
            if *path == dir.path().join("nope.yaml"))
        );
        let err = discover(None, dir.path(), Some(OsStr::new("/no/such.yaml"))).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::MissingNamed {
                named_by: NamedBy::EnvVar,
                ..
            }
        ));
    }

    #[test]
    fn own_name_before_the_seed_name_and_nearest_folder_first() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let cwd = root.join("a/b");
        std::fs::create_dir_all(&cwd).unwrap();
        touch(&root.join("portwarden.yaml"));
        assert_eq!(
            discover(None, &cwd, None).unwrap(),
            root.join("portwarden.yaml")
        );
        touch(&root.join("a/config/port_manager_config.yaml"));
        assert_eq!(
            discover(None, &cwd, None).unwrap(),
            root.join("a/config/port_manager_config.yaml")
        );
        touch(&root.join("a/portwarden.yaml"));
        assert_eq!(
            discover(None, &cwd, None).unwrap(),
            root.join("a/portwarden.yaml")
        );
        touch(&cwd.join("config/port_manager_config.yaml"));
        assert_eq!(
            discover(None, &cwd, None).unwrap(),
            cwd.join("config/port_manager_config.yaml")
        );
    }

    #[test]
    fn not_found_lists_every_place_searched() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("x/y");
        std::fs::create_dir_all(&cwd).unwrap();
        let ConfigError::NotFound { searched } = discover(None, &cwd, None).unwrap_err() else {
            panic!("expected NotFound")
        };
        assert_eq!(searched.len(), 2 * cwd.ancestors().count());
        assert_eq!(
            searched[..4],
            [
                cwd.join("portwarden.yaml"),
                cwd.join("config/port_manager_config.yaml"),
                dir.path().join("x/portwarden.yaml"),
                dir.path().join("x/config/port_manager_config.yaml"),
            ]
        );
        let message = discover(None, &cwd, None).unwrap_err().to_string();
        assert!(
            message.contains(&cwd.join("portwarden.yaml").display().to_string()),
            "{message}"
        );
    }
}

mod paths {
    use super::*;

    #[test]
    fn relative_working_directories_resolve_against_the_config_folder() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("stack");
        std::fs::create_dir_all(&sub).unwrap();
        let path = sub.join("portwarden.yaml");
        std::fs::write(
            &path,
            "services:\n  api:\n    working_directory: api\n  up:\n    working_directory: ../shared\n  \
             abs:\n    working_directory: /srv/abs\n  none:\n    startup_command: x\n",
        )
        .unwrap();
        let loaded = config::load_with_env(&path, NO_ENV).unwrap();
        let wd = |name: &str| {
            loaded
                .config
                .service(name)
                .unwrap()
                .working_directory
                .clone()
        };
        assert_eq!(loaded.base_dir, sub);
        assert_eq!(wd("api"), Some(sub.join("api")));
        assert_eq!(wd("up"), Some(sub.join("../shared")));
        assert_eq!(wd("abs"), Some(PathBuf::from("/srv/abs")));
        assert_eq!(wd("none"), None);
        assert_eq!(loaded.working_directory("none"), sub);
        assert_eq!(loaded.state_dir, sub.join(".portwarden"));
        assert!(!loaded.state_dir.exists(), "loading creates nothing");
    }
}

mod export {
    use super::*;
    use proptest::prelude::*;

    const RICH: &str = r#"services:
  db:
    port: 5433
    protocol: udp
    health_check: {type: exec, command: "pg_isready -p {port}", interval: 500ms, retries: 5}
  api:
    port: 8000
    depends_on: {db: {condition: healthy}}
    env: {PORT: "{port}", DEBUG: true, RATIO: 1.5, DB: "{services.db.port}"}
    setup_command: npm ci
    restart: always
    stop_signal: SIGINT
    stop_timeout: 2m
    socket_activation: true
    bind_address: "::1"
    health_check:
      url: "http://[::1]:{port}/health"
      expected_status: [200, 204]
  worker:
    depends_on: [db, api]
    startup_command: "awk '{{print $1}}' jobs"
    auto_restart: false
monitoring:
  cpu_threshold_percent: 75.5
  memory_threshold_mb: 1024
conflict_resolution:
  protected_processes: [nginx]
  grace_period: 1h
reserved_ports: [22, "1000-1100"]
"#;

    fn round_trip(config: &Config) -> (String, LoadedConfig) {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("exported.yaml");
        config::export(config, &out).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        let back = config::load_with_env(&out, NO_ENV)
            .unwrap_or_else(|e| panic!("exported config does not load:\n{e}\n{text}"));
        (text, back)
    }

    #[test]
    fn the_example_exports_with_defaults_and_loads_back_equal() {
        let loaded = config::load_with_env(&example_path(), NO_ENV).unwrap();
        let (text, back) = round_trip(&loaded.config);
        assert_eq!(back.config, loaded.config);
        assert!(text.starts_with("# portwarden config"), "{text}");
        for default in [
            "stop_signal: TERM",
            "restart_window: 1m",
            "grace_period: 5s",
            "protocol: tcp",
        ] {
            assert!(text.contains(default), "missing {default:?} in:\n{text}");
        }
    }

    #[test]
    fn every_addition_round_trips() {
        let loaded = load_ok(RICH);
        let (_, back) = round_trip(&loaded.config);
        assert_eq!(back.config, loaded.config);
        assert_eq!(back.config.service("api").unwrap().env["DEBUG"], "true");
    }

    #[test]
    fn relative_paths_are_exported_resolved() {
        let f = fixture("services:\n  api:\n    working_directory: api\n");
        let loaded = config::load_with_env(&f.path, NO_ENV).unwrap();
        let yaml = loaded.config.to_yaml().unwrap();
        assert!(
            yaml.contains(&f.dir.path().join("api").display().to_string()),
            "{yaml}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn arbitrary_text_values_round_trip(
            command in "\\PC{0,30}",
            pattern in "\\PC{0,12}",
            value in "\\PC{0,20}",
            dir in "[a-zA-Z0-9 ._:#-]{1,12}",
            millis in 1u64..10_000_000,
        ) {
            let mut config = Config::default();
            let mut svc = config::ServiceConfig::default();
            let escape = |s: &str| s.replace('{', "{{").replace('}', "}}");
            svc.startup_command = Some(escape(&command));
            svc.process_patterns = vec![regex::escape(&pattern)];
            svc.env.insert("VALUE".into(), escape(&value));
            svc.working_directory = Some(PathBuf::from("/srv").join(&dir));
            svc.stop_timeout = config::Duration::from_millis(millis);
            config.services.insert("svc".into(), svc);
            let (_, back) = round_trip(&config);
            prop_assert_eq!(back.config, config);
        }
    }
}

mod robustness {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    /// Every key of the schema at any level, and a few that are not.
    const KEYS: &[&str] = &[
        "services",
        "monitoring",
        "conflict_resolution",
        "reserved_ports",
        "backend",
        "web",
        "name",
        "port",
        "protocol",
        "alternative_ports",
        "process_patterns",
        "health_check_url",
        "startup_command",
        "working_directory",
        "critical",
        "auto_restart",
        "max_restart_attempts",
        "depends_on",
        "env",
        "setup_command",
        "restart",
        "restart_window",
        "stop_signal",
        "stop_timeout",
        "socket_activation",
        "bind_address",
        "health_check",
        "type",
        "url",
        "expected_status",
        "command",
        "interval",
        "timeout",
        "start_period",
        "retries",
        "allow_remote",
        "enabled",
        "auto_resolve_conflicts",
        "health_check_interval",
        "cpu_threshold_percent",
        "memory_threshold_mb",
        "strategy",
        "allow_port_migration",
        "preserve_external_processes",
        "max_alternative_ports",
        "protected_processes",
        "grace_period",
        "condition",
        "prot",
        "bogus",
        "",
        "<<",
    ];

    /// Scalars that mean something somewhere in the schema, and some that do not.
    const WORDS: &[&str] = &[
        "tcp",
        "udp",
        "5s",
        "500ms",
        "-1s",
        "TERM",
        "SIGKILL",
        "healthy",
        "started",
        "always",
        "on-failure",
        "intelligent",
        "http",
        "exec",
        "listening",
        "1-1023",
        "9000-8000",
        "{port}",
        "{services.web.port}",
        "{",
        "}",
        "{whatever}",
        "http://localhost:{port}/",
        "http://example.com/",
        "127.0.0.1",
        "::1",
        "(",
        ".*",
        "backend",
        "web",
        "~",
        "",
    ];

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            (0u64..70_000).prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            prop::sample::select(WORDS).prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
            Just(Value::Null),
        ]
    }

    fn tree() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(
                    |entries| {
                        Value::Object(
                            entries
                                .into_iter()
                                .map(|(k, v)| (k.to_owned(), v))
                                .collect(),
                        )
                    }
                ),
            ]
        })
    }

    /// A document shaped like a config: known sections and service keys, random values.
    fn config_like() -> impl Strategy<Value = Value> {
        let service =
            prop::collection::vec((prop::sample::select(KEYS), tree()), 0..8).prop_map(|e| {
                Value::Object(
                    e.into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            });
        let services = prop::collection::vec(
            (
                prop::sample::select(&["backend", "web", "db", "x.y", ""][..]),
                service,
            ),
            0..4,
        )
        .prop_map(|e| Value::Object(e.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()));
        (services, tree(), tree(), tree()).prop_map(
            |(services, monitoring, resolution, reserved)| {
                serde_json::json!({
                    "services": services,
                    "monitoring": monitoring,
                    "conflict_resolution": resolution,
                    "reserved_ports": reserved,
                })
            },
        )
    }

    /// Loads `text`, formatting every outcome; any panic fails the test.
    fn load_and_render(text: &[u8], env: &[(String, String)]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portwarden.yaml");
        std::fs::write(&path, text).unwrap();
        match config::load_with_env(&path, env.iter().cloned()) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    let _ = w.to_string();
                }
                let _ = loaded.config.to_yaml();
            }
            Err(e) => {
                let _ = e.to_string();
                if let ConfigError::Invalid { errors, .. } = &e {
                    assert!(
                        !errors.is_empty(),
                        "an invalid config names at least one error"
                    );
                }
            }
        }
    }

    fn env_vars() -> impl Strategy<Value = Vec<(String, String)>> {
        let name = prop::collection::vec(prop::sample::select(KEYS), 1..4)
            .prop_map(|parts| format!("PORTWARDEN_{}", parts.join("__").to_uppercase()));
        let value = prop_oneof![
            prop::sample::select(WORDS).prop_map(str::to_owned),
            "\\PC{0,10}"
        ];
        prop::collection::vec((name, value), 0..4)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            load_and_render(text.as_bytes(), &[]);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            load_and_render(&bytes, &[]);
        }

        #[test]
        fn arbitrary_yaml_structures_never_panic(doc in tree(), env in env_vars()) {
            let text = serde_saphyr::to_string(&doc).unwrap();
            load_and_render(text.as_bytes(), &env);
        }

        #[test]
        fn config_shaped_documents_never_panic(doc in config_like(), env in env_vars()) {
            let text = serde_saphyr::to_string(&doc).unwrap();
            load_and_render(text.as_bytes(), &env);
        }
    }
}
