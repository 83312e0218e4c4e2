//! Hand-built snapshots, claims and contexts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use portcore::{Family, Protocol};
use procscan::{ProcessIdentity, ProcessInfo, ScanSource, Snapshot, Socket, SocketState};
use resolver::{ClassifyContext, DEFAULT_PROTECTED_NAMES, DetectOptions, PlanOptions};

/// Our uid in hand-built scenarios.
pub const ME: u32 = 1000;
/// Our pid, group and parent in hand-built scenarios.
pub const OUR_PID: u32 = 90_000;
pub const OUR_PARENT: u32 = 89_999;

/// A context that says we are uid 1000, pid 90000.
pub fn context() -> ClassifyContext {
    ClassifyContext {
        our_uid: ME,
        our_pid: OUR_PID,
        our_pgid: OUR_PID,
        ancestors: vec![OUR_PARENT],
        protected_names: DEFAULT_PROTECTED_NAMES
            .iter()
            .map(|&n| n.to_owned())
            .collect(),
    }
}

pub fn detect_options() -> DetectOptions {
    DetectOptions {
        context: context(),
        ..DetectOptions::default()
    }
}

pub fn plan_options() -> PlanOptions {
    PlanOptions {
        detect: detect_options(),
        ..PlanOptions::default()
    }
}

/// A snapshot under construction.
#[derive(Debug, Default)]
pub struct Snap {
    sockets: Vec<Socket>,
    processes: BTreeMap<u32, ProcessInfo>,
}

pub fn process(pid: u32, name: &str, cmdline: &str, uid: u32) -> ProcessInfo {
    ProcessInfo {
        pid,
        ppid: 1,
        pgid: pid,
        sid: pid,
        uid,
        user: None,
        name: name.to_owned(),
        exe: None,
        cmdline: cmdline.split_whitespace().map(str::to_owned).collect(),
        cwd: None,
        start_time: u64::from(pid) * 10,
        started_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000)),
        kernel_thread: false,
    }
}

pub fn identity(pid: u32) -> ProcessIdentity {
    ProcessIdentity {
        pid,
        start_time: u64::from(pid) * 10,
    }
}

fn socket(port: u16, state: SocketState, uid: u32, holders: Vec<u32>) -> Socket {
    let local: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    Socket {
        protocol: Protocol::Tcp,
        family: Family::V4,
        local,
        remote: None,
        state,
        inode: if holders.is_empty() {
            0
        } else {
            u64::from(port) + 1
        },
        uid,
        holders,
    }
}

impl Snap {
    pub fn new() -> Snap {
        Snap::default()
    }

    /// A process listening on `port` (TCP, loopback).
    pub fn listener(mut self, port: u16, process: ProcessInfo) -> Snap {
        self.sockets.push(socket(
            port,
            SocketState::Listen,
            process.uid,
            vec![process.pid],
        ));
        self.processes.insert(process.pid, process);
        self
    }

    /// Several processes sharing one listening socket.
    pub fn shared(mut self, port: u16, processes: Vec<ProcessInfo>) -> Snap {
        let uid = processes[0].uid;
        let pids = processes.iter().map(|p| p.pid).collect();
        self.sockets
            .push(socket(port, SocketState::Listen, uid, pids));
        for p in processes {
            self.processes.insert(p.pid, p);
        }
        self
    }

    /// A listening socket whose holder cannot be seen.
    pub fn unseen(mut self, port: u16, uid: u32) -> Snap {
        self.sockets
            .push(socket(port, SocketState::Listen, uid, Vec::new()));
        self
    }

    /// A TIME_WAIT entry on `port`.
    pub fn time_wait(mut self, port: u16) -> Snap {
        let mut s = socket(port, SocketState::TimeWait, 0, Vec::new());
        s.remote = Some("127.0.0.1:50000".parse().unwrap());
        self.sockets.push(s);
        self
    }

    /// An established connection with local port `port` held by `pid` (a client).
    pub fn client(mut self, port: u16, remote_port: u16, process: ProcessInfo) -> Snap {
        let mut s = socket(
            port,
            SocketState::Established,
            process.uid,
            vec![process.pid],
        );
        s.remote = Some(format!("127.0.0.1:{remote_port}").parse().unwrap());
        self.sockets.push(s);
        self.processes.insert(process.pid, process);
        self
    }

    pub fn build(self) -> Snapshot {
        Snapshot {
            sockets: self.sockets,
            processes: self.processes,
            source: ScanSource::ProcNet,
            taken_at: SystemTime::UNIX_EPOCH + Duration::from_secs(10_000),
            unreadable_pids: Vec::new(),
        }
    }
}

/// The kernel's start time of a live process (field 22 of /proc/PID/stat), for identities of
/// fixtures in tests that run before or without procscan's scan.
pub fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(')').unwrap();
    rest.split_whitespace().nth(19).unwrap().parse().unwrap()
}

/// The identity of a live process.
pub fn live_identity(pid: u32) -> ProcessIdentity {
    ProcessIdentity {
        pid,
        start_time: start_time(pid),
    }
}

/// Tests that bind real ports or signal real processes hold this lock, so that one test's
/// "free port" is not another's fixture port. A file lock, because nextest runs each test in
/// its own process; released when the guard drops (the file is closed).
pub fn serial() -> Serial {
    use std::os::fd::AsRawFd;
    let path = std::env::temp_dir().join("portwarden-resolver-live-tests.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap();
    // SAFETY: flock on a descriptor we own; it blocks until the other test releases it.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock {}", path.display());
    Serial(file)
}

/// Holds [`serial`]'s lock until dropped.
#[derive(Debug)]
pub struct Serial(#[allow(dead_code)] std::fs::File);

/// A child forked by `parent` (same process group, as `fork` leaves it).
pub fn child_of(pid: u32, parent: u32, name: &str, cmdline: &str) -> ProcessInfo {
    ProcessInfo {
        ppid: parent,
        pgid: parent,
        ..process(pid, name, cmdline, ME)
    }
}
