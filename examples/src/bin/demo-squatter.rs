//! `demo-squatter PORT [ADDRESS]`: "another process" that takes a port and holds it.
//!
//! Binds `ADDRESS:PORT` (default `127.0.0.1`), listens, prints what it holds and waits to
//! be killed. Start it on a service's port to watch portwarden move the service elsewhere.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::TcpListener;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(port) = args.next().and_then(|p| p.parse::<u16>().ok()) else {
        eprintln!("usage: demo-squatter PORT [ADDRESS]");
        std::process::exit(64);
    };
    let address = args.next().unwrap_or_else(|| "127.0.0.1".into());
    let listener = match TcpListener::bind((address.as_str(), port)) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("demo-squatter: cannot take {address}:{port}: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "demo-squatter holding {address}:{port} (pid {})",
        std::process::id()
    );
    let _held = listener;
    loop {
        std::thread::park();
    }
}
