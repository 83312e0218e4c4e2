//! Finding the tools portwarden is compared with, and saying how to install a missing one.

use std::path::{Path, PathBuf};

/// A peer tool and the Debian package that provides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    /// The executable's name.
    pub name: &'static str,
    /// The Debian package that installs it.
    pub package: &'static str,
}

/// `ss`, from iproute2.
pub const SS: Tool = Tool {
    name: "ss",
    package: "iproute2",
};
/// `lsof`.
pub const LSOF: Tool = Tool {
    name: "lsof",
    package: "lsof",
};
/// `fuser`, from psmisc.
pub const FUSER: Tool = Tool {
    name: "fuser",
    package: "psmisc",
};

/// One command that installs every peer the scan suite uses.
pub const INSTALL_ALL: &str = "apt-get install -y iproute2 lsof psmisc";

impl Tool {
    /// Where the tool is: the first match on `PATH`, then the sbin folders a non-root `PATH`
    /// often lacks.
    pub fn find(self) -> Option<PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
            .map(|dir| dir.join(self.name))
            .find(|candidate| is_executable(candidate))
    }

    /// Why it is skipped, with the command that fixes that.
    pub fn missing(self) -> String {
        format!(
            "{} is not installed: `{}` (or `apt-get install -y {}`, or benches/setup-peers.sh)",
            self.name, INSTALL_ALL, self.package
        )
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
            package: "pw-pkg",
        };
        assert_eq!(tool.find(), None);
        assert!(tool.missing().contains("apt-get install -y pw-pkg"));
    }

    #[test]
    fn finds_a_tool_on_path() {
        let sh = Tool {
            name: "sh",
            package: "dash",
        };
        assert!(sh.find().is_some());
    }
}
