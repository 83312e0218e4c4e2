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
