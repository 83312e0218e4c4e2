//! The default check: the service's own port is in use.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use portcore::{BindOutcome, ConnectOutcome, Protocol, probe_bind, probe_connect};

use super::{HealthCheck, HealthContext, HealthResult};

/// Healthy when the service's port accepts a TCP connection on its bind address (a wildcard
/// address is reached through loopback), or, for UDP, when binding the port fails because
/// something holds it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListeningCheck;

impl HealthCheck for ListeningCheck {
    fn check(&self, ctx: &HealthContext) -> HealthResult {
        let Some(port) = ctx.port else {
            return HealthResult::unhealthy("the service has no port to check");
        };
        let address = match ctx.bind_address {
            IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            other => other,
        };
        match ctx.protocol {
            Protocol::Tcp => match probe_connect(SocketAddr::new(address, port), ctx.timeout) {
                ConnectOutcome::Accepted => HealthResult::Healthy,
                ConnectOutcome::Refused => {
                    HealthResult::unhealthy(format!("nothing listens on {address}:{port}"))
                }
                ConnectOutcome::TimedOut => HealthResult::unhealthy(format!(
                    "connecting to {address}:{port} timed out after {:?}",
                    ctx.timeout
                )),
                other => {
                    HealthResult::unhealthy(format!("connecting to {address}:{port}: {other:?}"))
                }
            },
            Protocol::Udp => match probe_bind(address, port, Protocol::Udp, false) {
                BindOutcome::InUse => HealthResult::Healthy,
                BindOutcome::Free => {
                    HealthResult::unhealthy(format!("nothing is bound to udp {address}:{port}"))
                }
                other => HealthResult::unhealthy(format!(
                    "probing udp {address}:{port}: {}",
                    other.describe()
                )),
            },
        }
    }

    fn describe(&self) -> String {
        "port is listening".to_owned()
    }
}
