//! ANSI colours, on only when stdout is a terminal and neither `--no-color` nor `NO_COLOR` says
//! otherwise.

/// A colour or style for a span of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Bold.
    Bold,
    /// Dim grey.
    Dim,
    /// Red: failures, conflicts.
    Red,
    /// Green: healthy, free, ours.
    Green,
    /// Yellow: warnings, migrations.
    Yellow,
    /// Blue.
    Blue,
    /// Magenta.
    Magenta,
    /// Cyan.
    Cyan,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Bold => "1",
            Style::Dim => "2",
            Style::Red => "31",
            Style::Green => "32",
            Style::Yellow => "33",
            Style::Blue => "34",
            Style::Magenta => "35",
            Style::Cyan => "36",
        }
    }

    /// The colours given to service name prefixes, in turn.
    pub const ROTATION: [Style; 5] = [
        Style::Cyan,
        Style::Magenta,
        Style::Blue,
        Style::Yellow,
        Style::Green,
    ];
}

/// Paints text when colour is on.
#[derive(Debug, Clone, Copy)]
pub struct Painter {
    enabled: bool,
}

impl Painter {
    /// Decides from the flag, the environment and whether stdout is a terminal.
    pub fn detect(no_color_flag: bool) -> Self {
        use std::io::IsTerminal;
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            enabled: !no_color_flag && !no_color_env && std::io::stdout().is_terminal(),
        }
    }

    /// A painter that never colours (tests, JSON).
    pub fn plain() -> Self {
        Self { enabled: false }
    }

    /// Whether colour is on.
    #[expect(dead_code, reason = "for commands that render differently with colour")]
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// `text` in `style`.
    pub fn paint(&self, style: Style, text: impl std::fmt::Display) -> String {
        if self.enabled {
            format!("\x1b[{}m{text}\x1b[0m", style.code())
        } else {
            text.to_string()
        }
    }
}
