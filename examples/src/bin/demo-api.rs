//! `demo-api`: the demo stack's HTTP API.
//!
//! Listens on `127.0.0.1:$PORT` (or `$HOST:$PORT`; default port 8000), or on the socket
//! passed as fd 3 when started with socket activation (`LISTEN_FDS`/`LISTEN_PID`).
//! `GET /health` answers 200 once `DEMO_READY_AFTER_MS` (default 0) have passed, 503
//! before; `GET /` describes the process, and with `API_URL` set also what that upstream
//! answers (a frontend in front of an API). Exits 1 with the OS's message when the port is
//! taken.
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "../demo.rs"]
mod demo;

use std::net::TcpListener;
use std::time::{Duration, Instant};

fn main() {
    let started = Instant::now();
    let ready_after = Duration::from_millis(demo::env_or("DEMO_READY_AFTER_MS", 0u64));
    let name = std::env::var("PORTWARDEN_SERVICE").unwrap_or_else(|_| "demo-api".into());
    let listener = match demo::activated_listener() {
        Some(listener) => listener,
        None => {
            let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
            let port: u16 = demo::env_or("PORT", 8000);
            match TcpListener::bind((host.as_str(), port)) {
                Ok(listener) => listener,
                Err(e) => {
                    eprintln!("demo-api: cannot listen on {host}:{port}: {e}");
                    std::process::exit(1);
                }
            }
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let upstream = std::env::var("API_URL").ok();
    println!("{name} listening on http://{addr}");
    if let Some(url) = &upstream {
        println!("{name} forwards / to {url}");
    }
    demo::serve(listener, move |path| match path {
        "/health" if started.elapsed() >= ready_after => demo::Response::ok("ok\n"),
        "/health" => demo::Response {
            status: 503,
            body: "starting\n".into(),
        },
        "/" => {
            let mut body = format!("{name} pid {} on {addr}\n", std::process::id());
            if let Some(url) = &upstream {
                match demo::get(url, Duration::from_secs(2)) {
                    Ok((status, text)) => {
                        body += &format!("upstream {url} answered {status}: {}", text.trim());
                    }
                    Err(e) => body += &format!("upstream {url} failed: {e}"),
                }
                body.push('\n');
            }
            demo::Response::ok(body)
        }
        _ => demo::Response {
            status: 404,
            body: "not found\n".into(),
        },
    });
}
