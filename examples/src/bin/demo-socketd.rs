//! `demo-socketd`: an HTTP service that only runs socket-activated.
//!
//! It takes fd 3 when `LISTEN_PID` is its own pid and `LISTEN_FDS` is at least 1 (systemd's
//! protocol, which portwarden speaks with `socket_activation: true`), serves `GET /health`
//! and `GET /` on it, and refuses to start otherwise (exit 2).
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "../demo.rs"]
mod demo;

fn main() {
    let names = std::env::var("LISTEN_FDNAMES").unwrap_or_default();
    let Some(listener) = demo::activated_listener() else {
        eprintln!(
            "demo-socketd: not socket-activated (LISTEN_PID must be this pid and LISTEN_FDS >= 1); \
             run it under portwarden with `socket_activation: true`"
        );
        std::process::exit(2);
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    println!("demo-socketd serving fd 3 ({names}) on http://{addr}");
    let pid = std::process::id();
    demo::serve(listener, move |path| match path {
        "/health" => demo::Response::ok("ok\n"),
        "/" => demo::Response::ok(format!("demo-socketd pid {pid} on {addr}\n")),
        _ => demo::Response {
            status: 404,
            body: "not found\n".into(),
        },
    });
}
