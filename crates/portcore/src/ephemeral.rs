//! The kernel's ephemeral (local, automatically assigned) port range.
//!
//! A service configured on a port inside this range can collide at random with the outgoing
//! connections of any program on the machine: the kernel hands such ports out as source ports.

use serde::{Deserialize, Serialize};

use crate::{Error, PortRange, PortSet};

/// The ephemeral range and the ports the administrator excluded from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EphemeralRange {
    /// Ports the kernel assigns to unbound sockets that connect or bind port 0.
    pub range: PortRange,
    /// Ports inside `range` that the kernel never assigns (`ip_local_reserved_ports`).
    pub excluded: PortSet,
    /// Where the figures came from (a file path, or "default" when read from nowhere).
    pub source: String,
}

impl EphemeralRange {
    /// Whether the kernel may hand `port` out as an ephemeral port.
    pub fn may_assign(&self, port: u16) -> bool {
        self.range.contains(port) && !self.excluded.contains(port)
    }
}

/// Reads the ephemeral range of this machine.
///
/// On Linux this is `/proc/sys/net/ipv4/ip_local_port_range` (shared by IPv6) with the
/// exclusions of `ip_local_reserved_ports`; elsewhere the IANA range 49152-65535.
pub fn ephemeral_range() -> Result<EphemeralRange, Error> {
    sys::read()
}

#[cfg(target_os = "linux")]
mod sys {
    use std::path::Path;

    use super::*;

    const RANGE: &str = "/proc/sys/net/ipv4/ip_local_port_range";
    const RESERVED: &str = "/proc/sys/net/ipv4/ip_local_reserved_ports";

    fn read_file(path: &str) -> Result<String, Error> {
        std::fs::read_to_string(path).map_err(|source| Error::ReadSetting {
            path: Path::new(path).to_path_buf(),
            source,
        })
    }

    pub(super) fn parse_range(content: &str) -> Option<PortRange> {
        let mut parts = content.split_whitespace().map(str::parse::<u16>);
        let start = parts.next()?.ok()?;
        let end = parts.next()?.ok()?;
        PortRange::new(start, end)
    }

    pub(super) fn read() -> Result<EphemeralRange, Error> {
        let content = read_file(RANGE)?;
        let range = parse_range(&content).ok_or_else(|| Error::ParseSetting {
            path: Path::new(RANGE).to_path_buf(),
            content: content.clone(),
        })?;
        // The reserved list is optional (absent in some containers); an unreadable one means none.
        let excluded = std::fs::read_to_string(RESERVED)
            .ok()
            .and_then(|text| text.trim().parse::<PortSet>().ok())
            .unwrap_or_default();
        Ok(EphemeralRange {
            range,
            excluded,
            source: RANGE.to_owned(),
        })
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use super::*;

    pub(super) fn read() -> Result<EphemeralRange, Error> {
        let range = PortRange::new(49152, 65535).expect("static range is valid");
        Ok(EphemeralRange {
            range,
            excluded: PortSet::new(),
            source: "default".to_owned(),
        })
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernel_format() {
        assert_eq!(
            sys::parse_range("32768\t60999\n"),
            PortRange::new(32768, 60999)
        );
        assert_eq!(sys::parse_range("garbage"), None);
    }

    #[test]
    fn reads_this_machine() {
        let eph = ephemeral_range().unwrap();
        assert!(eph.range.len() > 1);
        assert!(eph.may_assign(eph.range.start()) || eph.excluded.contains(eph.range.start()));
    }
}
