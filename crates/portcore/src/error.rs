//! Errors of this crate.

use std::path::PathBuf;

/// A port, range or set given as text that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The text is not a number between 1 and 65535.
    #[error("`{text}` is not a port: expected a number from 1 to 65535")]
    InvalidPort {
        /// The text as given.
        text: String,
    },
    /// A range whose start is above its end, such as `9000-8000`.
    #[error("`{text}` is not a port range: the start {start} is above the end {end}")]
    ReversedRange {
        /// The text as given.
        text: String,
        /// The parsed start.
        start: u16,
        /// The parsed end.
        end: u16,
    },
    /// A protocol other than `tcp` or `udp`.
    #[error("`{text}` is not a protocol: expected tcp or udp")]
    InvalidProtocol {
        /// The text as given.
        text: String,
    },
}

/// Failures of the probing and choosing functions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No port among the preferred port, its alternatives and the fallback range is free.
    #[error(
        "no free port: tried {tried} candidate(s) ({first_tried}), all taken, reserved or excluded"
    )]
    NoFreePort {
        /// How many candidates were considered.
        tried: usize,
        /// The first few candidates, for the message.
        first_tried: String,
    },
    /// A kernel setting could not be read.
    #[error("cannot read {path}: {source}")]
    ReadSetting {
        /// The file that was read.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A kernel setting had an unexpected format.
    #[error("cannot parse {path}: {content:?}")]
    ParseSetting {
        /// The file that was read.
        path: PathBuf,
        /// What it held.
        content: String,
    },
}
