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
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|entries| {
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect(),
                )
            }),
        ]
    })
}

/// A document shaped like a config: known sections and service keys, random values.
fn config_like() -> impl Strategy<Value = Value> {
    let service = prop::collection::vec((prop::sample::select(KEYS), tree()), 0..8).prop_map(|e| {
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
    (services, tree(), tree(), tree()).prop_map(|(services, monitoring, resolution, reserved)| {
        serde_json::json!({
            "services": services,
            "monitoring": monitoring,
            "conflict_resolution": resolution,
            "reserved_ports": reserved,
        })
    })
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
