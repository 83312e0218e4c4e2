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
    let loaded =
        load_ok("services:\n  a:\n    port: 8000\n    health_check_url: http://example.com/h\n");
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
