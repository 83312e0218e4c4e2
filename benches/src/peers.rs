//! Finding the tools portwarden is compared with, and saying how to install a missing one.

use std::path::{Path, PathBuf};

/// Where a peer tool comes from, which decides where it is looked for and how to install it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A Debian package, installed system-wide; found on `PATH` or in the sbin folders.
    Apt(&'static str),
    /// An npm package that `benches/setup-peers.sh` installs under `target/peers/npm` (never
    /// globally); found there, then on `PATH`. Run through its own bin, not `npx`, whose
    /// start-up (resolving and maybe fetching the package) would dwarf the tool's own time.
    Npm(&'static str),
    /// A Python package that `benches/setup-peers.sh` pip-installs into the venv
    /// `target/peers/venv` (never the system's Python); found there, then on `PATH`.
    Pip(&'static str),
}

/// A peer tool and where it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    /// The executable's name.
    pub name: &'static str,
    /// The package that installs it.
    pub source: Source,
}

/// `ss`, from iproute2.
pub const SS: Tool = Tool {
    name: "ss",
    source: Source::Apt("iproute2"),
};
/// `lsof`.
pub const LSOF: Tool = Tool {
    name: "lsof",
    source: Source::Apt("lsof"),
};
/// `fuser`, from psmisc.
pub const FUSER: Tool = Tool {
    name: "fuser",
    source: Source::Apt("psmisc"),
};
/// npm's `kill-port` (a node script that runs `lsof` twice and `kill -9`).
pub const KILL_PORT: Tool = Tool {
    name: "kill-port",
    source: Source::Npm("kill-port"),
};

/// `supervisord`, from pip's supervisor.
pub const SUPERVISORD: Tool = Tool {
    name: "supervisord",
    source: Source::Pip("supervisor"),
};
/// `supervisorctl`, from pip's supervisor.
pub const SUPERVISORCTL: Tool = Tool {
    name: "supervisorctl",
    source: Source::Pip("supervisor"),
};
/// npm's `pm2` (its CLI; the supervising process is the "God" daemon it starts).
pub const PM2: Tool = Tool {
    name: "pm2",
    source: Source::Npm("pm2"),
};

/// One command that installs every system peer the suites use.
pub const INSTALL_ALL: &str = "apt-get install -y iproute2 lsof psmisc";

/// `target/peers`, where `setup-peers.sh` installs the npm and pip peers: pw-bench runs from
/// `target/release`, so it is the folder beside its own.
pub fn peers_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.join("peers"))
}

impl Tool {
    /// Where the tool is: for an npm tool, `target/peers` first; then the first match on
    /// `PATH`, then the sbin folders a non-root `PATH` often lacks.
    pub fn find(self) -> Option<PathBuf> {
        self.find_in(peers_dir().as_deref())
    }

    /// [`Tool::find`] with `target/peers` at `peers`.
    fn find_in(self, peers: Option<&Path>) -> Option<PathBuf> {
        let local: Vec<PathBuf> = match (self.source, peers) {
            // The script's prefix, and a plain `npm install` run in target/peers.
            (Source::Npm(_), Some(peers)) => vec![
                peers.join("npm/node_modules/.bin"),
                peers.join("node_modules/.bin"),
            ],
            (Source::Pip(_), Some(peers)) => vec![peers.join("venv/bin")],
            _ => Vec::new(),
        };
        let path = std::env::var_os("PATH").unwrap_or_default();
        local
            .into_iter()
            .chain(std::env::split_paths(&path))
            .chain(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
            .map(|dir| dir.join(self.name))
            .find(|candidate| is_executable(candidate))
    }

    /// How the report names it: `kill-port (npm)` for an npm tool, so it is not read as
    /// portwarden's command of the same name.
    pub fn label(self) -> String {
        match self.source {
            Source::Apt(_) | Source::Pip(_) => self.name.to_string(),
            Source::Npm(_) => format!("{} (npm)", self.name),
        }
    }

    /// Why it is skipped, with the command that fixes that.
    pub fn missing(self) -> String {
        match self.source {
            Source::Apt(package) => format!(
                "{} is not installed: `{}` (or `apt-get install -y {package}`, or benches/setup-peers.sh)",
                self.name, INSTALL_ALL
            ),
            Source::Npm(package) => format!(
                "{} is not installed: `benches/setup-peers.sh --no-apt --no-pip` puts npm's {package} \
                 in target/peers/npm (it needs node and npm: `apt-get install -y nodejs npm`)",
                self.name
            ),
            Source::Pip(package) => format!(
                "{} is not installed: `benches/setup-peers.sh --no-apt --no-npm` puts pip's {package} \
                 in the venv target/peers/venv (it needs python3 and python3-venv)",
                self.name
            ),
        }
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_says_how_to_install_it() {
        let tool = Tool {
            name: "surely-not-a-real-tool-pw",
            source: Source::Apt("pw-pkg"),
        };
        assert_eq!(tool.find(), None);
        assert!(tool.missing().contains("apt-get install -y pw-pkg"));
    }

    #[test]
    fn a_missing_npm_tool_points_at_the_setup_script() {
        let tool = Tool {
            name: "surely-not-a-real-tool-pw",
            source: Source::Npm("pw-npm-pkg"),
        };
        assert_eq!(tool.find_in(None), None);
        let hint = tool.missing();
        assert!(
            hint.contains("setup-peers.sh") && hint.contains("pw-npm-pkg"),
            "{hint}"
        );
    }

    #[test]
    fn an_npm_tool_is_found_in_target_peers_first() {
        let peers = tempfile::tempdir().unwrap();
        let bin = peers.path().join("npm/node_modules/.bin");
        std::fs::create_dir_all(&bin).unwrap();
        let script = bin.join("surely-not-a-real-tool-pw");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        let tool = Tool {
            name: "surely-not-a-real-tool-pw",
            source: Source::Npm("x"),
        };
        // Not executable yet: not found.
        assert_eq!(tool.find_in(Some(peers.path())), None);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(tool.find_in(Some(peers.path())), Some(script));
    }

    #[test]
    fn a_pip_tool_is_found_in_the_venv() {
        let peers = tempfile::tempdir().unwrap();
        let bin = peers.path().join("venv/bin");
        std::fs::create_dir_all(&bin).unwrap();
        let script = bin.join("surely-not-a-real-tool-pw");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let tool = Tool {
            name: "surely-not-a-real-tool-pw",
            source: Source::Pip("x"),
        };
        assert_eq!(tool.find_in(Some(peers.path())), Some(script));
        assert_eq!(tool.label(), "surely-not-a-real-tool-pw");
        assert!(tool.missing().contains("--no-apt --no-npm"));
    }

    #[test]
    fn finds_a_tool_on_path() {
        let sh = Tool {
            name: "sh",
            source: Source::Apt("dash"),
        };
        assert!(sh.find().is_some());
    }
}
