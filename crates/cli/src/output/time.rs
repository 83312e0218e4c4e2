//! Times and durations as text.

use std::time::Duration;

/// `time` as an RFC 3339 UTC timestamp with milliseconds, as the conflict history writes them.
pub use resolver::rfc3339;

/// A short human duration: `850ms`, `12s`, `4m03s`, `2h15m`, `3d04h`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 => format!("{}ms", d.as_millis()),
        1..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..86_400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(format_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(format_duration(Duration::from_secs(243)), "4m03s");
        assert_eq!(
            format_duration(Duration::from_secs(3 * 86_400 + 4 * 3600)),
            "3d04h"
        );
    }
}
