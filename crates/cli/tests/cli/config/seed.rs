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
    assert!(matches!(check.probe, HealthProbe::Http { ref url, .. } if url.ends_with("/health")));
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
