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
