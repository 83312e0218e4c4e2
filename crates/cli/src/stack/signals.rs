//! Signals as ordinary events: the handler only writes the signal's number into a pipe
//! (see [`crate::sys::signal_pipe`]); a thread reads it and calls back, where anything may
//! be done. Handlers are reset by `exec`, so the services never inherit them.

use std::io::{self, Read};

use crate::sys;

/// SIGINT (Ctrl-C).
pub const SIGINT: i32 = libc::SIGINT;
/// SIGTERM.
pub const SIGTERM: i32 = libc::SIGTERM;
/// SIGHUP (the terminal went away).
pub const SIGHUP: i32 = libc::SIGHUP;

/// Calls `on_signal` (on a thread of its own) for each of `signals` received from now on.
pub fn watch(signals: &[i32], mut on_signal: impl FnMut(i32) + Send + 'static) -> io::Result<()> {
    let mut pipe = sys::signal_pipe(signals)?;
    std::thread::Builder::new()
        .name("portwarden-signals".into())
        .spawn(move || {
            let mut buffer = [0u8; 16];
            loop {
                match pipe.read(&mut buffer) {
                    Ok(0) => return,
                    Ok(n) => buffer[..n].iter().for_each(|&s| on_signal(i32::from(s))),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        log::warn!("signal pipe: {e}");
                        return;
                    }
                }
            }
        })?;
    Ok(())
}
