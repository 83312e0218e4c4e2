//! Service processes: spawning, output capture and reaping.

pub(crate) mod output;
pub(crate) mod reaper;
pub(crate) mod spawn;
