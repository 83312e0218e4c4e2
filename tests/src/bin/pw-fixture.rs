//! `pw-fixture`: a small process for portwarden's tests.
//!
//! It binds what it is told to, optionally forks a child that inherits its sockets, prints one
//! `READY` line describing what it holds, then waits to be signalled. Options:
//!
//! ```text
//! --tcp ADDR:PORT         bind and listen (port 0 picks one)      (repeatable)
//! --udp ADDR:PORT         bind a UDP socket                         (repeatable)
//! --bound ADDR:PORT       bind a TCP socket without listening       (repeatable)
//! --connect ADDR:PORT     open a client connection to ADDR:PORT     (repeatable)
//! --fork-child            fork a child that inherits every socket; both stay alive
//! --ignore-term           ignore SIGTERM (and SIGINT)
//! --http ADDR:PORT        serve HTTP: /health (200, or 503 until --healthy-after),
//!                         /hang (never answers), anything else 404
//! --healthy-after MS      /health answers 503 for the first MS milliseconds
//! --flood                 write numbered lines to stdout as fast as it can
//! --grandchild            fork a grandchild (new session) that sleeps, print its pid, then exit 0
//! --exit-after MS         exit after MS milliseconds ...
//! --exit-code N           ... with this code (default 0)
//! --stderr-lines N        print N lines on stderr at start
//! ```
//!
//! READY line: `READY pid=P tcp=A,B udp=C bound=D http=E child=Q grandchild=R` (empty lists
//! are omitted).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::exit;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Options {
    tcp: Vec<SocketAddr>,
    udp: Vec<SocketAddr>,
    bound: Vec<SocketAddr>,
    connect: Vec<SocketAddr>,
    fork_child: bool,
    ignore_term: bool,
    http: Option<SocketAddr>,
    healthy_after: Duration,
    flood: bool,
    grandchild: bool,
    exit_after: Option<Duration>,
    exit_code: i32,
    stderr_lines: usize,
}

fn fail(message: &str) -> ! {
    eprintln!("pw-fixture: {message}");
    exit(64)
}

fn parse() -> Options {
    let mut opts = Options::default();
    let mut args = std::env::args().skip(1);
    let addr = |v: Option<String>, flag: &str| -> SocketAddr {
        v.and_then(|v| v.parse().ok())
            .unwrap_or_else(|| fail(&format!("{flag} needs ADDR:PORT")))
    };
    let num = |v: Option<String>, flag: &str| -> u64 {
        v.and_then(|v| v.parse().ok())
            .unwrap_or_else(|| fail(&format!("{flag} needs a number")))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tcp" => opts.tcp.push(addr(args.next(), &arg)),
            "--udp" => opts.udp.push(addr(args.next(), &arg)),
            "--bound" => opts.bound.push(addr(args.next(), &arg)),
            "--connect" => opts.connect.push(addr(args.next(), &arg)),
            "--fork-child" => opts.fork_child = true,
            "--ignore-term" => opts.ignore_term = true,
            "--http" => opts.http = Some(addr(args.next(), &arg)),
            "--healthy-after" => opts.healthy_after = Duration::from_millis(num(args.next(), &arg)),
            "--flood" => opts.flood = true,
            "--grandchild" => opts.grandchild = true,
            "--exit-after" => opts.exit_after = Some(Duration::from_millis(num(args.next(), &arg))),
            "--exit-code" => opts.exit_code = num(args.next(), &arg) as i32,
            "--stderr-lines" => opts.stderr_lines = num(args.next(), &arg) as usize,
            other => fail(&format!("unknown option {other}")),
        }
    }
    opts
}

fn join(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn serve_http(listener: TcpListener, started: Instant, healthy_after: Duration) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        std::thread::spawn(move || handle(stream, started, healthy_after));
    }
}

fn handle(mut stream: TcpStream, started: Instant, healthy_after: Duration) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Drain the headers.
    let mut line = String::new();
    while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = match path {
        "/health" if started.elapsed() >= healthy_after => ("200 OK", "ok"),
        "/health" => ("503 Service Unavailable", "starting"),
        "/hang" => {
            // Never answer; keep the connection open.
            let mut sink = [0u8; 64];
            loop {
                match stream.read(&mut sink) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        }
        _ => ("404 Not Found", "not found"),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn main() {
    let opts = parse();
    let started = Instant::now();
    if opts.ignore_term {
        // SAFETY: installing SIG_IGN has no preconditions.
        unsafe {
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
            libc::signal(libc::SIGINT, libc::SIG_IGN);
        }
    }
    for i in 0..opts.stderr_lines {
        eprintln!("stderr line {i}");
    }
    let bind = |a: &SocketAddr| {
        TcpListener::bind(a).unwrap_or_else(|e| fail(&format!("bind tcp {a}: {e}")))
    };
    let tcp: Vec<TcpListener> = opts.tcp.iter().map(bind).collect();
    let udp: Vec<UdpSocket> = opts
        .udp
        .iter()
        .map(|a| UdpSocket::bind(a).unwrap_or_else(|e| fail(&format!("bind udp {a}: {e}"))))
        .collect();
    let bound: Vec<i32> = opts.bound.iter().map(|a| bind_only(*a)).collect();
    let clients: Vec<TcpStream> = opts
        .connect
        .iter()
        .map(|a| TcpStream::connect(a).unwrap_or_else(|e| fail(&format!("connect {a}: {e}"))))
        .collect();
    let http = opts.http.map(|a| bind(&a));

    let local = |l: &TcpListener| l.local_addr().unwrap_or_else(|e| fail(&e.to_string()));
    let mut ready = format!("READY pid={}", std::process::id());
    if !tcp.is_empty() {
        ready += &format!(" tcp={}", join(&tcp.iter().map(local).collect::<Vec<_>>()));
    }
    if !udp.is_empty() {
        let addrs: Vec<SocketAddr> = udp
            .iter()
            .map(|s| s.local_addr().unwrap_or_else(|e| fail(&e.to_string())))
            .collect();
        ready += &format!(" udp={}", join(&addrs));
    }
    if !bound.is_empty() {
        ready += &format!(
            " bound={}",
            join(
                &bound
                    .iter()
                    .map(|fd| fd_local_addr(*fd))
                    .collect::<Vec<_>>()
            )
        );
    }
    if !clients.is_empty() {
        let addrs: Vec<SocketAddr> = clients
            .iter()
            .map(|s| s.local_addr().unwrap_or_else(|e| fail(&e.to_string())))
            .collect();
        ready += &format!(" client={}", join(&addrs));
    }
    if let Some(h) = &http {
        ready += &format!(" http={}", local(h));
    }

    if opts.grandchild {
        // SAFETY: single-threaded at this point; the child only calls async-signal-safe functions.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            unsafe {
                libc::setsid();
                let gc = libc::fork();
                if gc == 0 {
                    loop {
                        libc::pause();
                    }
                }
                // Report the grandchild's pid through the shared stdout, then leave.
                let line = format!("{ready} grandchild={gc}\n");
                libc::write(1, line.as_ptr().cast(), line.len());
                libc::_exit(0);
            }
        }
        let mut status = 0;
        // SAFETY: waiting for the child we just forked.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        exit(opts.exit_code);
    }

    if opts.fork_child {
        // SAFETY: single-threaded here; the child only pauses.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            loop {
                // SAFETY: pause has no preconditions.
                unsafe { libc::pause() };
            }
        }
        ready += &format!(" child={pid}");
    }

    println!("{ready}");
    let _ = std::io::stdout().flush();

    if let Some(h) = http {
        std::thread::spawn(move || serve_http(h, started, opts.healthy_after));
    }
    if let Some(after) = opts.exit_after {
        let code = opts.exit_code;
        std::thread::spawn(move || {
            std::thread::sleep(after);
            exit(code);
        });
    }
    if opts.flood {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let mut n: u64 = 0;
        loop {
            if writeln!(
                out,
                "flood line {n} xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            )
            .is_err()
            {
                exit(0);
            }
            n += 1;
        }
    }
    let _keep = (tcp, udp, bound, clients);
    loop {
        std::thread::park();
    }
}

/// A TCP socket bound without listening (std cannot make one).
fn bind_only(addr: SocketAddr) -> i32 {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket calls on a descriptor we own; the sockaddr buffers are sized for them.
    unsafe {
        let fd = libc::socket(family, libc::SOCK_STREAM, 0);
        if fd < 0 {
            fail("socket() failed");
        }
        let rc = match addr {
            SocketAddr::V4(a) => {
                let mut sin: libc::sockaddr_in = std::mem::zeroed();
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
                libc::bind(
                    fd,
                    (&sin as *const libc::sockaddr_in).cast(),
                    size_of::<libc::sockaddr_in>() as u32,
                )
            }
            SocketAddr::V6(a) => {
                let mut sin6: libc::sockaddr_in6 = std::mem::zeroed();
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_addr.s6_addr = a.ip().octets();
                libc::bind(
                    fd,
                    (&sin6 as *const libc::sockaddr_in6).cast(),
                    size_of::<libc::sockaddr_in6>() as u32,
                )
            }
        };
        if rc != 0 {
            fail(&format!("bind {addr}: {}", std::io::Error::last_os_error()));
        }
        fd
    }
}

fn fd_local_addr(fd: i32) -> SocketAddr {
    // Borrow the descriptor as a TcpListener just to read its address, without closing it.
    use std::os::fd::FromRawFd;
    // SAFETY: fd is a valid socket we own; ManuallyDrop keeps it open.
    let l = std::mem::ManuallyDrop::new(unsafe { TcpListener::from_raw_fd(fd) });
    let _ = l.as_raw_fd();
    l.local_addr().unwrap_or_else(|e| fail(&e.to_string()))
}
