//! Which configured service claims which port.

use portcore::Protocol;
use serde::Serialize;

use crate::config::Config;

/// A service's claim on a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceClaim {
    /// The service.
    pub service: String,
    /// "primary" or "alternative".
    pub role: &'static str,
    /// The service's protocol.
    pub protocol: Protocol,
}

/// Every service that names `port`, as its port or as an alternative.
pub fn claims_on_port(config: &Config, port: u16) -> Vec<ServiceClaim> {
    let mut claims = Vec::new();
    for (name, service) in &config.services {
        if service.port == Some(port) {
            claims.push(ServiceClaim {
                service: name.clone(),
                role: "primary",
                protocol: service.protocol,
            });
        } else if service.alternative_ports.contains(&port) {
            claims.push(ServiceClaim {
                service: name.clone(),
                role: "alternative",
                protocol: service.protocol,
            });
        }
    }
    claims
}

/// The service whose primary port is `port` for `protocol`, if any.
pub fn primary_owner(config: &Config, port: u16, protocol: Protocol) -> Option<&str> {
    config
        .services
        .iter()
        .find(|(_, s)| s.port == Some(port) && s.protocol == protocol)
        .map(|(name, _)| name.as_str())
}
