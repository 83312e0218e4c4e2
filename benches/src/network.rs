//! Where the fixtures' sockets live: a private network namespace when pw-bench may create one,
//! otherwise the host's loopback.
//!
//! In a private namespace the socket tables hold only the fixtures, so the machine's own
//! listeners neither skew the figures nor vary between runs, and nothing bound there can leak:
//! the namespace disappears with the last process in it.

use crate::sys;

/// Which network the suites run in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// A fresh namespace of our own with only `lo` up.
    Private,
    /// The host's network, and why.
    Host(String),
}

impl Network {
    /// `private` or `host`, for the JSON report.
    pub fn name(&self) -> &'static str {
        match self {
            Network::Private => "private",
            Network::Host(_) => "host",
        }
    }

    /// A line for the report's setup.
    pub fn describe(&self) -> String {
        match self {
            Network::Private => {
                "network: a private network namespace (only the fixtures' sockets)".to_string()
            }
            Network::Host(why) => format!(
                "network: the host's loopback ({why}); the machine's own sockets are counted too"
            ),
        }
    }
}

/// Enters a private network namespace unless `host` asks not to. Must run before any thread or
/// child is started; on failure it says why and falls back to the host.
pub fn choose(host: bool) -> Network {
    if host {
        return Network::Host("--host-net".to_string());
    }
    match sys::enter_private_netns() {
        Ok(()) => Network::Private,
        Err(err) => {
            let why = format!("no private network namespace: {err}; run as root to get one");
            crate::note(&format!("note: {why}; using the host's loopback"));
            Network::Host(why)
        }
    }
}

/// Whether `::1` can be bound (IPv6 may be disabled on the host or in the namespace).
pub fn ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}
