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
