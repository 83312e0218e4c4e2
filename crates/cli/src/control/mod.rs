//! The running stack's state and control: the per-project state folder, the control
//! protocol, the server every supervisor runs, the client the other commands use, and the
//! background daemon of `up -d`. See `docs/control.md`.

pub mod client;
pub mod daemon;
mod handlers;
pub mod logfiles;
pub mod paths;
pub mod protocol;
pub mod server;
pub mod state;
