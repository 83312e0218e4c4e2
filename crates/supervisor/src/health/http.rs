//! An HTTP GET must answer an expected status.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{HealthCheck, HealthContext, HealthResult};

/// Healthy when `GET url` answers one of the expected status codes (default: any 2xx or
/// 3xx). Plain `http://` only; proxies are never used (a `$http_proxy` meant for the outside
/// world must not swallow local checks); redirects are not followed (a 3xx counts as
/// healthy). Hosts other than localhost, 127.0.0.0/8 and ::1 are refused unless allowed.
#[derive(Debug, Clone)]
pub struct HttpCheck {
    url: String,
    expected: Vec<u16>,
    allow_remote: bool,
    /// The HTTP agent, built once per timeout and reused: an idle supervisor runs many
    /// checks, and building an agent for each one cost more than the request.
    agent: Arc<Mutex<Option<(Duration, ureq::Agent)>>>,
}

impl PartialEq for HttpCheck {
    fn eq(&self, other: &Self) -> bool {
        (&self.url, &self.expected, self.allow_remote)
            == (&other.url, &other.expected, other.allow_remote)
    }
}

impl Eq for HttpCheck {}

impl HttpCheck {
    /// A check of `url`, expecting 2xx or 3xx, local hosts only.
    pub fn new(url: impl Into<String>) -> Self {
        HttpCheck {
            url: url.into(),
            expected: Vec::new(),
            allow_remote: false,
            agent: Arc::default(),
        }
    }

    /// Accepts exactly these status codes (empty: any 2xx or 3xx).
    pub fn expect(mut self, codes: Vec<u16>) -> Self {
        self.expected = codes;
        self
    }

    /// Allows hosts that are not local.
    pub fn allow_remote(mut self, allow: bool) -> Self {
        self.allow_remote = allow;
        self
    }

    /// The agent for requests bounded by `timeout` (built on first use, kept while the
    /// timeout stays the same).
    fn agent(&self, timeout: Duration) -> ureq::Agent {
        let mut cached = self.agent.lock().unwrap_or_else(|p| p.into_inner());
        match cached.as_ref() {
            Some((t, agent)) if *t == timeout => agent.clone(),
            _ => {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .proxy(None)
                    .timeout_connect(Some(timeout))
                    .timeout_global(Some(timeout))
                    .http_status_as_error(false)
                    .max_redirects(0)
                    .build()
                    .into();
                *cached = Some((timeout, agent.clone()));
                agent
            }
        }
    }

    fn accepts(&self, status: u16) -> bool {
        if self.expected.is_empty() {
            (200..400).contains(&status)
        } else {
            self.expected.contains(&status)
        }
    }
}

/// The host part of an `http://` or `https://` URL (brackets of an IPv6 literal removed).
///
/// ```
/// use supervisor::url_host;
/// assert_eq!(url_host("http://localhost:8000/health"), Some("localhost"));
/// assert_eq!(url_host("http://[::1]:80/"), Some("::1"));
/// assert_eq!(url_host("ftp://x"), None);
/// ```
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split_once(']').map(|(host, _)| host);
    }
    let host = authority.split(':').next()?;
    (!host.is_empty()).then_some(host)
}

/// Whether `host` names this machine: `localhost` (and `*.localhost`), 127.0.0.0/8 or ::1.
pub fn is_local_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}

impl HealthCheck for HttpCheck {
    fn check(&self, ctx: &HealthContext) -> HealthResult {
        if self.url.starts_with("https://") {
            return HealthResult::unhealthy(format!(
                "{}: https is not supported by health checks (no TLS); use http://",
                self.url
            ));
        }
        let Some(host) = url_host(&self.url) else {
            return HealthResult::unhealthy(format!("{} is not an http:// URL", self.url));
        };
        if !self.allow_remote && !is_local_host(host) {
            return HealthResult::unhealthy(format!(
                "{}: host {host} is not local and remote checks are not allowed",
                self.url
            ));
        }
        match self.agent(ctx.timeout).get(&self.url).call() {
            Ok(response) => {
                let status = response.status().as_u16();
                if self.accepts(status) {
                    HealthResult::Healthy
                } else {
                    HealthResult::unhealthy(format!("GET {} answered {status}", self.url))
                }
            }
            Err(e) => HealthResult::unhealthy(format!("GET {}: {e}", self.url)),
        }
    }

    fn describe(&self) -> String {
        format!("GET {}", self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts() {
        for host in [
            "localhost",
            "LOCALHOST",
            "api.localhost",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
        ] {
            assert!(is_local_host(host), "{host}");
        }
        for host in [
            "example.com",
            "10.0.0.1",
            "0.0.0.0",
            "192.168.1.1",
            "localhost.evil.com",
        ] {
            assert!(!is_local_host(host), "{host}");
        }
    }

    #[test]
    fn hosts_are_read_from_urls() {
        assert_eq!(url_host("http://127.0.0.1:8000/health"), Some("127.0.0.1"));
        assert_eq!(url_host("http://user:pw@localhost/"), Some("localhost"));
        assert_eq!(url_host("https://example.com"), Some("example.com"));
        assert_eq!(url_host("http://[::1]/x"), Some("::1"));
        assert_eq!(url_host("localhost:80"), None);
    }

    #[test]
    fn remote_urls_are_refused_without_a_request() {
        let ctx = HealthContext {
            service: "s".into(),
            port: None,
            bind_address: "127.0.0.1".parse().unwrap(),
            protocol: portcore::Protocol::Tcp,
            timeout: Duration::from_millis(100),
            pid: None,
            working_dir: None,
        };
        let result = HttpCheck::new("http://192.0.2.1/health").check(&ctx);
        assert!(
            matches!(&result, HealthResult::Unhealthy { reason } if reason.contains("not local")),
            "{result:?}"
        );
    }
}
