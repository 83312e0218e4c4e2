//! pw-bench: times portwarden against the tools it replaces, in the same run.
#![deny(missing_docs)]

mod error;
#[allow(dead_code)] // used by the modules that follow
mod guard;
pub mod measure;
pub mod stats;
#[allow(dead_code, unused_imports)] // used by the modules that follow
mod sys;

pub use error::BenchError;
