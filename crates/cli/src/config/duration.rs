//! Durations as the config file writes them: plain numbers are seconds, strings carry a unit.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a duration field accepts, as serde's "expected" text.
///
/// The checker recognises errors carrying exactly this text as bad durations, so every
/// rejection in this module must use it.
pub(crate) const DURATION_EXPECTED: &str =
    "a duration: seconds as a number, or a number with a unit (500ms, 5s, 2m, 1h)";

/// A length of time in the config file.
///
/// Accepts a non-negative number of seconds (`30`, `0.5`) or a string of one or more
/// number-unit pairs (`"500ms"`, `"5s"`, `"2m"`, `"1h"`, `"1m30s"`, `"30"`), with the units
/// `ns`, `us`, `ms`, `s`, `m` and `h`. Serializes as a string in the largest unit that holds it
/// exactly (`"90s"`, `"2m"`, `"1500ms"`), which loads back to the same value.
///
/// ```
/// use portwarden::config::Duration;
///
/// let d: Duration = "1m30s".parse().unwrap();
/// assert_eq!(d.get(), std::time::Duration::from_secs(90));
/// assert_eq!(d.to_string(), "90s");
/// assert!("-1s".parse::<Duration>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(std::time::Duration);

impl Duration {
    /// A duration of whole seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(std::time::Duration::from_secs(secs))
    }

    /// A duration of whole milliseconds.
    pub const fn from_millis(millis: u64) -> Self {
        Self(std::time::Duration::from_millis(millis))
    }

    /// The standard library's duration.
    pub const fn get(self) -> std::time::Duration {
        self.0
    }

    /// Whether the duration is zero.
    pub const fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Self(d)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

/// Units from the largest down, in nanoseconds.
const UNITS: [(&str, u128); 6] = [
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        // "ns" divides everything, so the search always finds a unit.
        let (unit, size) = UNITS
            .iter()
            .find(|(_, size)| nanos.is_multiple_of(*size))
            .copied()
            .unwrap_or(("ns", 1));
        write!(f, "{}{unit}", nanos / size)
    }
}

/// A text that is not a duration; its message says what a duration looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDurationError {
    text: String,
}

impl fmt::Display for ParseDurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid duration `{}`: expected {DURATION_EXPECTED}",
            self.text
        )
    }
}

impl std::error::Error for ParseDurationError {}

impl FromStr for Duration {
    type Err = ParseDurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseDurationError { text: s.to_owned() };
        let text = s.trim();
        if text.is_empty() {
            return Err(err());
        }
        // A bare number is seconds, as in the seed's `interval: 30`.
        if let Ok(secs) = text.parse::<f64>() {
            return from_secs_f64(secs).ok_or_else(err);
        }
        let mut total: u128 = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let number_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(err)?;
            let (number, after) = rest.split_at(number_len);
            let unit_len = after
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(after.len());
            let (unit, after) = after.split_at(unit_len);
            let size = UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, size)| *size)
                .ok_or_else(err)?;
            total = total
                .checked_add(scaled(number, size).ok_or_else(err)?)
                .ok_or_else(err)?;
            rest = after.trim_start();
        }
        let secs = u64::try_from(total / 1_000_000_000).map_err(|_| err())?;
        // The remainder is below one second, so it fits in u32.
        let nanos = u32::try_from(total % 1_000_000_000).map_err(|_| err())?;
        Ok(Self(std::time::Duration::new(secs, nanos)))
    }
}

/// `number` (digits with at most one `.`) times `unit` nanoseconds, rounded down.
fn scaled(number: &str, unit: u128) -> Option<u128> {
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() || frac.contains('.') {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut value = whole.checked_mul(unit)?;
    let mut scale = unit;
    for digit in frac.chars() {
        scale /= 10;
        value = value.checked_add(u128::from(digit.to_digit(10)?) * scale)?;
    }
    Some(value)
}

fn from_secs_f64(secs: f64) -> Option<Duration> {
    if secs.is_sign_negative() {
        return None;
    }
    std::time::Duration::try_from_secs_f64(secs)
        .ok()
        .map(Duration)
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(DURATION_EXPECTED)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v)
            .map(Duration::from_secs)
            .map_err(|_| E::invalid_value(Unexpected::Signed(v), &DURATION_EXPECTED))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        from_secs_f64(v).ok_or_else(|| E::invalid_value(Unexpected::Float(v), &DURATION_EXPECTED))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        v.parse()
            .map_err(|_| E::invalid_value(Unexpected::Str(v), &DURATION_EXPECTED))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> Option<std::time::Duration> {
        s.parse::<Duration>().ok().map(Duration::get)
    }

    #[test]
    fn numbers_are_seconds_and_units_scale() {
        use std::time::Duration as D;
        assert_eq!(parse("30"), Some(D::from_secs(30)));
        assert_eq!(parse("0.5"), Some(D::from_millis(500)));
        assert_eq!(parse("500ms"), Some(D::from_millis(500)));
        assert_eq!(parse("5s"), Some(D::from_secs(5)));
        assert_eq!(parse("2m"), Some(D::from_secs(120)));
        assert_eq!(parse("1h"), Some(D::from_secs(3600)));
        assert_eq!(parse("1m30s"), Some(D::from_secs(90)));
        assert_eq!(parse("1m 30s"), Some(D::from_secs(90)));
        assert_eq!(parse("1.5s"), Some(D::from_millis(1500)));
        assert_eq!(parse("250us"), Some(D::from_micros(250)));
    }

    #[test]
    fn nonsense_is_refused() {
        for bad in [
            "",
            "s",
            "-1",
            "-1s",
            "5 parsecs",
            "5x",
            "1.2.3s",
            "ms5",
            ".s",
            "1e400",
            "NaN",
        ] {
            assert_eq!(parse(bad), None, "{bad:?} should be refused");
        }
        // Far beyond u64 seconds.
        assert_eq!(parse("99999999999999999999999h"), None);
    }

    #[test]
    fn display_picks_the_largest_exact_unit() {
        assert_eq!(Duration::from_secs(3600).to_string(), "1h");
        assert_eq!(Duration::from_secs(90).to_string(), "90s");
        assert_eq!(Duration::from_millis(1500).to_string(), "1500ms");
        assert_eq!(Duration::from_secs(0).to_string(), "0s");
    }

    proptest! {
        #[test]
        fn display_round_trips(secs in 0u64..10_000_000, nanos in 0u32..1_000_000_000) {
            let d = Duration::from(std::time::Duration::new(secs, nanos));
            prop_assert_eq!(d.to_string().parse::<Duration>(), Ok(d));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,20}") {
            let _ = text.parse::<Duration>();
        }
    }
}
