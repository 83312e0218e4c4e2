//! Running the portwarden binary.

use std::path::Path;
use std::process::{Command, Output};

/// The portwarden binary built for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_portwarden");

/// A portwarden command with a clean environment for config discovery (no inherited
/// PORTWARDEN_* variables, no colour) run in `dir`.
pub fn portwarden(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("PORTWARDEN_CONFIG");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PORTWARDEN_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs the command and returns its output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("portwarden runs")
}

/// stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// stdout parsed as one JSON document.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            stdout(out),
            stderr(out)
        )
    })
}

/// Writes a config file into `dir` and returns its path.
pub fn write_config(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("portwarden.yaml");
    std::fs::write(&path, text).unwrap();
    path
}
