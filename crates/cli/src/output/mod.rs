//! Everything the command line writes: tables and messages for people, JSON for programs.
//!
//! Commands never call `println!` themselves; they go through [`Output`], which knows whether
//! JSON was asked for, whether to colour, and whether to stay quiet.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod color;
mod table;
mod time;

use std::io::Write;

use serde::Serialize;

pub use color::{Painter, Style};
pub use table::Table;
pub use time::{format_bytes, format_duration, rfc3339};

use crate::exit::CliResult;

/// Where and how a command writes.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// JSON on stdout instead of tables.
    pub json: bool,
    /// Only errors (and JSON when asked for).
    pub quiet: bool,
    /// Colours for people.
    pub painter: Painter,
}

impl Output {
    /// An output for tests: no colour, tables.
    pub fn plain() -> Self {
        Self {
            json: false,
            quiet: false,
            painter: Painter::plain(),
        }
    }

    /// `text` in `style`, when colour is on.
    pub fn paint(&self, style: Style, text: impl std::fmt::Display) -> String {
        self.painter.paint(style, text)
    }

    /// Writes `text` to stdout as is (a closed pipe surfaces as a BrokenPipe error, which the
    /// caller treats as success).
    pub fn write(&self, text: &str) -> CliResult {
        if self.quiet && !self.json {
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
        Ok(())
    }

    /// Writes one line to stdout.
    pub fn line(&self, text: impl std::fmt::Display) -> CliResult {
        self.write(&format!("{text}\n"))
    }

    /// Writes one JSON document to stdout: indented for a terminal, compact for a pipe (where
    /// a program reads it, and a large scan serializes faster).
    pub fn json_document(&self, value: &impl Serialize) -> CliResult {
        use std::io::IsTerminal;
        // Serialize first and write once: stdout is line-buffered, and writing through it
        // directly would cost one write(2) per line of pretty JSON.
        let mut buffer = if std::io::stdout().is_terminal() {
            serde_json::to_vec_pretty(value)?
        } else {
            serde_json::to_vec(value)?
        };
        buffer.push(b'\n');
        let mut out = std::io::stdout().lock();
        out.write_all(&buffer)?;
        out.flush()?;
        Ok(())
    }

    /// Writes one compact JSON value on its own line (event streams).
    pub fn json_line(&self, value: &impl Serialize) -> CliResult {
        let mut buffer = serde_json::to_vec(value)?;
        buffer.push(b'\n');
        let mut out = std::io::stdout().lock();
        out.write_all(&buffer)?;
        out.flush()?;
        Ok(())
    }

    /// A warning on stderr (kept even with `--json`, silenced by `--quiet`).
    pub fn warn(&self, text: impl std::fmt::Display) {
        if !self.quiet {
            let _ = writeln!(
                std::io::stderr(),
                "{} {text}",
                self.paint(Style::Yellow, "warning:")
            );
        }
    }

    /// A note on stderr (progress and context that is not the command's result).
    pub fn note(&self, text: impl std::fmt::Display) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{text}");
        }
    }

    /// An error on stderr; always shown.
    pub fn error(&self, text: impl std::fmt::Display) {
        let _ = writeln!(
            std::io::stderr(),
            "{} {text}",
            self.paint(Style::Red, "error:")
        );
    }
}
