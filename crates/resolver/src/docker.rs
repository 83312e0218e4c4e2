//! Docker's published ports: a `docker-proxy` holding a port forwards it to a container. It is
//! reported as the container's port and never stopped (stopping it breaks the container's
//! networking without freeing anything for long: dockerd restarts it).

use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use portcore::Protocol;
use serde::{Deserialize, Serialize};

/// The process name of Docker's userland proxy.
pub const DOCKER_PROXY: &str = "docker-proxy";

/// Where a `docker-proxy` forwards its port, from its command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerPort {
    /// The container's address (`-container-ip`).
    pub container_ip: Option<IpAddr>,
    /// The container's port (`-container-port`).
    pub container_port: Option<u16>,
    /// The published (host) port (`-host-port`).
    pub host_port: Option<u16>,
    /// The container's name, when Docker told us (see [`published_ports`]).
    pub container: Option<String>,
}

impl ContainerPort {
    /// "Docker container `web`'s published port (172.17.0.2:80)", or without the name when it
    /// is not known.
    pub fn describe(&self) -> String {
        let target = match (self.container_ip, self.container_port) {
            (Some(ip), Some(port)) => format!("{}", std::net::SocketAddr::new(ip, port)),
            (None, Some(port)) => format!("port {port}"),
            (Some(ip), None) => ip.to_string(),
            (None, None) => "unknown target".to_owned(),
        };
        match &self.container {
            Some(name) => format!("Docker container `{name}`'s published port ({target})"),
            None => format!("a Docker container's published port ({target})"),
        }
    }
}

/// Reads a `docker-proxy` command line (`-container-ip 172.17.0.2 -container-port 80 ...`,
/// with one or two dashes, or `-flag=value`). `None` when it names neither.
///
/// ```
/// use resolver::parse_docker_proxy;
/// let argv: Vec<String> = "/usr/bin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 \
///     -container-ip 172.17.0.2 -container-port 80".split(' ').map(String::from).collect();
/// let port = parse_docker_proxy(&argv).unwrap();
/// assert_eq!(port.container_port, Some(80));
/// assert_eq!(port.describe(), "a Docker container's published port (172.17.0.2:80)");
/// ```
pub fn parse_docker_proxy(cmdline: &[String]) -> Option<ContainerPort> {
    let mut port = ContainerPort {
        container_ip: None,
        container_port: None,
        host_port: None,
        container: None,
    };
    let mut args = cmdline.iter().skip(1);
    while let Some(arg) = args.next() {
        let flag = arg.trim_start_matches('-');
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (flag, None),
        };
        if !matches!(name, "container-ip" | "container-port" | "host-port") {
            continue;
        }
        let Some(value) = inline.or_else(|| args.next().cloned()) else {
            break;
        };
        match name {
            "container-ip" => port.container_ip = value.parse().ok(),
            "container-port" => port.container_port = value.parse().ok(),
            _ => port.host_port = value.parse().ok(),
        }
    }
    (port.container_ip.is_some() || port.container_port.is_some()).then_some(port)
}

/// One port a running container publishes on the host, as `docker ps` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    /// The container's name.
    pub container: String,
    /// The port on the host.
    pub host_port: u16,
    /// The port inside the container.
    pub container_port: u16,
    /// The protocol.
    pub protocol: Protocol,
}

/// The ports published by running containers, asking `docker ps` only when a `docker`
/// executable is on `PATH`, and giving up (with an empty list) when the engine does not answer
/// within `timeout`. Never an error: naming the container is a nicety.
pub fn published_ports(timeout: Duration) -> Vec<PublishedPort> {
    let Some(docker) = find_on_path("docker") else {
        log::debug!("docker is not on PATH: containers are not named");
        return Vec::new();
    };
    let child = Command::new(docker)
        .args(["ps", "--format", "{{.Names}}\t{{.Ports}}"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) => {
            log::debug!("cannot run docker ps: {err}");
            return Vec::new();
        }
    };
    // Read on a thread so that a large listing cannot block the child while we wait on it.
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(out) = stdout.as_mut() {
            let _ = out.read_to_string(&mut text);
        }
        text
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => break None,
        }
    };
    let Some(status) = status.filter(|s| s.success()) else {
        log::debug!("docker ps did not answer within {timeout:?} (or failed)");
        let _ = child.kill();
        let _ = child.wait();
        return Vec::new();
    };
    log::trace!("docker ps exited with {status}");
    let text = reader.join().unwrap_or_default();
    parse_docker_ps(&text)
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Parses `docker ps --format '{{.Names}}\t{{.Ports}}'` output, e.g.
/// `web\t0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 0.0.0.0:9000-9001->9000-9001/udp`.
pub(crate) fn parse_docker_ps(text: &str) -> Vec<PublishedPort> {
    let mut ports = Vec::new();
    for line in text.lines() {
        let Some((name, list)) = line.split_once('\t') else {
            continue;
        };
        for entry in list.split(',').map(str::trim) {
            let Some((host, inner)) = entry.split_once("->") else {
                continue;
            };
            let Some((inner, proto)) = inner.split_once('/') else {
                continue;
            };
            let Ok(protocol) = proto.parse::<Protocol>() else {
                continue;
            };
            let host = host.rsplit_once(':').map_or(host, |(_, port)| port);
            let (Some(host), Some(inner)) = (parse_span(host), parse_span(inner)) else {
                continue;
            };
            for (host_port, container_port) in host.zip(inner) {
                let published = PublishedPort {
                    container: name.to_owned(),
                    host_port,
                    container_port,
                    protocol,
                };
                if !ports.contains(&published) {
                    ports.push(published);
                }
            }
        }
    }
    ports
}

/// `80` or `9000-9001`.
fn parse_span(text: &str) -> Option<std::ops::RangeInclusive<u16>> {
    match text.split_once('-') {
        Some((a, b)) => Some(a.parse().ok()?..=b.parse().ok()?),
        None => {
            let port = text.parse().ok()?;
            Some(port..=port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_ps_lines_give_each_published_port_once() {
        let text = "web\t0.0.0.0:8080->80/tcp, [::]:8080->80/tcp\n\
                    dns\t127.0.0.1:5300-5301->53-54/udp\n\
                    quiet\t\n";
        let ports = parse_docker_ps(text);
        assert_eq!(ports.len(), 3);
        assert_eq!(ports[0].container, "web");
        assert_eq!((ports[0].host_port, ports[0].container_port), (8080, 80));
        assert_eq!((ports[2].host_port, ports[2].container_port), (5301, 54));
        assert_eq!(ports[2].protocol, Protocol::Udp);
    }

    #[test]
    fn proxy_flags_with_equals_and_double_dashes_parse() {
        let argv: Vec<String> = [
            "docker-proxy",
            "--container-ip=10.0.0.5",
            "--container-port",
            "5432",
        ]
        .map(String::from)
        .to_vec();
        let port = parse_docker_proxy(&argv).unwrap();
        assert_eq!(port.container_ip, Some("10.0.0.5".parse().unwrap()));
        assert_eq!(port.container_port, Some(5432));
        assert!(parse_docker_proxy(&["docker-proxy".to_owned()]).is_none());
    }
}
