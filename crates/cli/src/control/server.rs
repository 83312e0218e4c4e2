//! The control socket's server, run by every supervisor (`up` and `up -d`): it binds the
//! project's socket safely, serves each connection on its own thread, and lets only the
//! owner's uid (and root) in.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use supervisor::SupervisorHandle;

use super::handlers;
use super::paths::{StatePaths, remove_if_present};
use super::protocol::{ErrorKind, MAX_REQUEST_BYTES, Reply, Request, SupervisorInfo};
use crate::stack::hub::Hub;
use crate::stack::metrics::Metrics;
use crate::stack::specs::ServiceMeta;
use crate::stack::timeline::Timeline;
use crate::sys;

/// Connections served at once; more are turned away.
const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send its request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the stack is, as `status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Services are being started.
    Starting,
    /// Every service came up.
    Ready,
    /// The start failed.
    Failed,
    /// The stack is stopping.
    Stopping,
}

impl Phase {
    /// The name `status` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::Failed => "failed",
            Phase::Stopping => "stopping",
        }
    }
}

/// What the server serves: the running stack and what it knows about it.
#[derive(Debug)]
pub struct Served {
    /// The supervisor.
    pub handle: SupervisorHandle,
    /// Its events.
    pub hub: Arc<Hub>,
    /// CPU and memory figures.
    pub metrics: Metrics,
    /// The state folder.
    pub paths: StatePaths,
    /// Who we are (its `uptime_ms` is filled in per answer).
    pub info: SupervisorInfo,
    /// When the supervisor started.
    pub started: Instant,
    /// The services, from the config.
    pub services: Vec<ServiceMeta>,
    /// Service names, dependencies first.
    pub start_order: Vec<String>,
    /// Where the stack is.
    pub phase: Mutex<Phase>,
    /// When each service first started and became ready.
    pub timeline: Arc<Timeline>,
}

impl Served {
    /// The phase now.
    pub fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves to `phase`.
    pub fn set_phase(&self, phase: Phase) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner()) = phase;
    }

    /// The metadata of `service`.
    pub fn meta(&self, service: &str) -> Option<&ServiceMeta> {
        self.services.iter().find(|m| m.name == service)
    }
}

/// A bound control socket, not yet served.
#[derive(Debug)]
pub struct Bound {
    listener: UnixListener,
    path: PathBuf,
}

impl Bound {
    /// Binds the project's control socket. A socket file left by a supervisor that died is
    /// removed first (nobody answers on it); one that answers belongs to a running supervisor
    /// and is an error. The socket is created inside a folder only we can enter and then made
    /// 0600, so no other user can connect even for an instant.
    pub fn bind(paths: &StatePaths) -> io::Result<Bound> {
        let path = paths.socket_for_binding()?;
        if let Ok(meta) = std::fs::symlink_metadata(&path) {
            if !meta.file_type().is_socket() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a socket", path.display()),
                ));
            }
            match UnixStream::connect(&path) {
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("a supervisor already answers on {}", path.display()),
                    ));
                }
                Err(e) => {
                    log::info!("removing the stale socket {} ({e})", path.display());
                    remove_if_present(&path)?;
                }
            }
        }
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        Ok(Bound { listener, path })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A running control server; [`Server::stop`] (or dropping it) closes the socket.
#[derive(Debug)]
pub struct Server {
    path: PathBuf,
    record: PathBuf,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `served` on `bound`, one thread per connection.
    pub fn start(bound: Bound, served: Arc<Served>) -> io::Result<Server> {
        let stopping = Arc::new(AtomicBool::new(false));
        let record = served.paths.socket_record.clone();
        let path = bound.path.clone();
        let thread = {
            let stopping = Arc::clone(&stopping);
            std::thread::Builder::new()
                .name("portwarden-control".into())
                .spawn(move || accept_loop(bound.listener, served, &stopping))?
        };
        Ok(Server {
            path,
            record,
            stopping,
            thread: Some(thread),
        })
    }

    /// Stops accepting, removes the socket (and its record), and waits for the accept loop.
    /// Connections being served finish on their own.
    pub fn stop(&mut self) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the blocking accept.
        let _ = UnixStream::connect(&self.path);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = remove_if_present(&self.path);
        let _ = remove_if_present(&self.record);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: UnixListener, served: Arc<Served>, stopping: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                log::warn!("control socket: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            let _ = reply(
                &mut &stream,
                &Reply::failure(ErrorKind::Failed, "too many control connections; try again"),
            );
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let (served, active) = (Arc::clone(&served), Arc::clone(&active));
        let spawned = std::thread::Builder::new()
            .name("portwarden-client".into())
            .spawn(move || {
                serve(stream, &served);
                active.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            log::warn!("control socket: cannot serve a connection: {e}");
        }
    }
}

/// Whether a peer with `uid` may use a supervisor run by `owner`: the same user, or root.
pub fn allowed(uid: u32, owner: u32) -> bool {
    uid == owner || uid == 0
}

fn serve(stream: UnixStream, served: &Served) {
    let owner = sys::euid();
    let peer = sys::peer_cred(&stream);
    match peer {
        Ok(cred) if allowed(cred.uid, owner) => {}
        Ok(cred) => {
            record_refusal(
                served,
                &format!(
                    "control socket: refused a connection from uid {} (pid {}): only uid \
                     {owner} and root may control this stack",
                    cred.uid, cred.pid
                ),
            );
            let _ = reply(
                &mut &stream,
                &Reply::failure(
                    ErrorKind::Refused,
                    format!(
                        "uid {} may not control this stack (it belongs to uid {owner})",
                        cred.uid
                    ),
                ),
            );
            return;
        }
        Err(e) => {
            record_refusal(
                served,
                &format!("control socket: refused a connection whose peer is unknown: {e}"),
            );
            let _ = reply(
                &mut &stream,
                &Reply::failure(ErrorKind::Refused, format!("cannot identify you: {e}")),
            );
            return;
        }
    }
    let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
    let mut reader = BufReader::new(&stream);
    let mut writer = &stream;
    loop {
        let request = match read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(reply_error) => {
                let _ = reply(&mut writer, &reply_error);
                return;
            }
        };
        log::debug!("control request: {request:?}");
        if request.is_stream() {
            // A stream outlives no read: the client only listens from here on.
            let _ = stream.set_read_timeout(None);
            if let Err(e) = handlers::stream(request, served, &stream) {
                log::debug!("control stream ended: {e}");
            }
            return;
        }
        let answer = handlers::answer(request, served);
        if reply(&mut writer, &answer).is_err() {
            return;
        }
    }
}

/// Logs a refused connection, and keeps it in the startup log: the daemon's log lines go
/// there already; a foreground supervisor's go to its terminal, so it is added by hand.
fn record_refusal(served: &Served, message: &str) {
    log::warn!("{message}");
    if served.info.mode == "foreground" {
        let line = format!(
            "{} warning: {message}\n",
            crate::output::rfc3339(SystemTime::now())
        );
        let appended = std::fs::OpenOptions::new()
            .append(true)
            .open(&served.paths.startup_log)
            .and_then(|mut file| file.write_all(line.as_bytes()));
        if let Err(e) = appended {
            log::debug!("{}: {e}", served.paths.startup_log.display());
        }
    }
}

/// Reads one request line; `Ok(None)` at the end of the connection, `Err` with the reply
/// to send for a bad one.
fn read_request<R: BufRead>(reader: &mut R) -> Result<Option<Request>, Reply> {
    let mut line = Vec::new();
    let read = io::Read::take(&mut *reader, MAX_REQUEST_BYTES as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| Reply::failure(ErrorKind::BadRequest, format!("reading the request: {e}")))?;
    if read == 0 {
        return Ok(None);
    }
    if line.len() > MAX_REQUEST_BYTES {
        return Err(Reply::failure(
            ErrorKind::BadRequest,
            format!("a request line is at most {MAX_REQUEST_BYTES} bytes"),
        ));
    }
    serde_json::from_slice(line.trim_ascii())
        .map(Some)
        .map_err(|e| Reply::failure(ErrorKind::BadRequest, format!("not a request: {e}")))
}

/// Writes one JSON line.
pub fn reply(writer: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    let mut line = serde_json::to_vec(value).map_err(io::Error::other)?;
    line.push(b'\n');
    writer.write_all(&line)?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_and_root_are_allowed() {
        assert!(allowed(1000, 1000));
        assert!(allowed(0, 1000));
        assert!(!allowed(1001, 1000));
        assert!(allowed(0, 0));
        assert!(!allowed(1000, 0));
    }

    #[test]
    fn a_stale_socket_is_replaced_and_a_live_one_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = StatePaths::new(dir.path().join(".portwarden"));
        paths.ensure().expect("state folder");
        // A socket file nobody listens on: what a killed supervisor leaves.
        drop(UnixListener::bind(&paths.socket).expect("bind"));
        assert!(paths.socket.exists());
        let bound = Bound::bind(&paths).expect("the stale socket is replaced");
        let mode = std::fs::metadata(bound.path())
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let err = Bound::bind(&paths).expect_err("a live socket is not replaced");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }
}
