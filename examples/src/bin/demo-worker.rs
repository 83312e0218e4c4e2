//! `demo-worker`: a background worker without a port.
//!
//! Logs a line every `DEMO_INTERVAL_MS` (default 1000). With `API_URL` set, it fetches that
//! URL each time and prints what it got, so it shows which port its upstream is on now.
#![allow(clippy::print_stdout)]

#[path = "../demo.rs"]
mod demo;

use std::io::Write;
use std::time::Duration;

fn main() {
    let interval = Duration::from_millis(demo::env_or("DEMO_INTERVAL_MS", 1000u64));
    let upstream = std::env::var("API_URL").ok();
    let mut tick: u64 = 0;
    loop {
        tick += 1;
        match &upstream {
            Some(url) => match demo::get(url, Duration::from_secs(2)) {
                Ok((status, body)) => {
                    println!("tick {tick}: {url} answered {status}: {}", body.trim())
                }
                Err(e) => println!("tick {tick}: {url} failed: {e}"),
            },
            None => println!("tick {tick}: working"),
        }
        // Exit quietly when the supervisor has gone away (stdout closed).
        if std::io::stdout().flush().is_err() {
            return;
        }
        std::thread::sleep(interval);
    }
}
