//! pw-bench: times portwarden against the tools it replaces, in the same run.
#![deny(missing_docs)]

use std::io::{self, Write};

mod error;
pub mod fleet;
#[allow(dead_code)] // install() is called by main, which follows
mod guard;
pub mod measure;
pub mod stats;
#[allow(dead_code, unused_imports)] // used by the modules that follow
mod sys;

pub use error::BenchError;

/// Writes a line on stderr; a closed stderr is not worth failing over.
pub(crate) fn note(message: &str) {
    let _ = writeln!(io::stderr(), "pw-bench: {message}");
}
