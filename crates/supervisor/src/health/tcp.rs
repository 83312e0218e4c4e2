//! A TCP connection must be accepted.

use std::net::ToSocketAddrs;

use portcore::{ConnectOutcome, probe_connect};

use super::{HealthCheck, HealthContext, HealthResult};

/// Healthy when a TCP connection to `host:port` is accepted (each resolved address is tried).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpCheck {
    address: String,
}

impl TcpCheck {
    /// A check of `host:port`, such as `127.0.0.1:5432` or `localhost:8000`.
    pub fn new(address: impl Into<String>) -> Self {
        TcpCheck {
            address: address.into(),
        }
    }
}

impl HealthCheck for TcpCheck {
    fn check(&self, ctx: &HealthContext) -> HealthResult {
        let addrs = match self.address.to_socket_addrs() {
            Ok(addrs) => addrs.collect::<Vec<_>>(),
            Err(e) => return HealthResult::unhealthy(format!("{}: {e}", self.address)),
        };
        let mut last = format!("{} resolves to no address", self.address);
        for addr in addrs {
            match probe_connect(addr, ctx.timeout) {
                ConnectOutcome::Accepted => return HealthResult::Healthy,
                ConnectOutcome::Refused => last = format!("{addr} refused the connection"),
                ConnectOutcome::TimedOut => {
                    last = format!("{addr} did not answer within {:?}", ctx.timeout)
                }
                other => last = format!("{addr}: {other:?}"),
            }
        }
        HealthResult::unhealthy(last)
    }

    fn describe(&self) -> String {
        format!("tcp connect {}", self.address)
    }
}
