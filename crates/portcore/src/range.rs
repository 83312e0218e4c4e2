//! Port ranges and sets, and the default reserved set.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ParseError;

/// An inclusive range of ports, such as `8000-9000`. Parses from `"8000-9000"` or `"8080"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortRange {
    start: u16,
    end: u16,
}

impl PortRange {
    /// A range from `start` to `end`, both included; `None` when `start > end` or `start == 0`.
    pub fn new(start: u16, end: u16) -> Option<Self> {
        (start != 0 && start <= end).then_some(Self { start, end })
    }

    /// The range holding one port.
    pub fn single(port: u16) -> Option<Self> {
        Self::new(port, port)
    }

    /// First port in the range.
    pub fn start(&self) -> u16 {
        self.start
    }

    /// Last port in the range (included).
    pub fn end(&self) -> u16 {
        self.end
    }

    /// Whether `port` lies in the range.
    pub fn contains(&self, port: u16) -> bool {
        (self.start..=self.end).contains(&port)
    }

    /// Number of ports in the range.
    pub fn len(&self) -> usize {
        usize::from(self.end - self.start) + 1
    }

    /// Always false: a range holds at least one port. Present for symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The ports of the range in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + use<> {
        self.start..=self.end
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

fn parse_port(text: &str, whole: &str) -> Result<u16, ParseError> {
    match text.trim().parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(ParseError::InvalidPort {
            text: whole.to_owned(),
        }),
    }
}

impl FromStr for PortRange {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (start, end) = match s.split_once('-') {
            Some((a, b)) => (parse_port(a, s)?, parse_port(b, s)?),
            None => {
                let port = parse_port(s, s)?;
                (port, port)
            }
        };
        PortRange::new(start, end).ok_or(ParseError::ReversedRange {
            text: s.to_owned(),
            start,
            end,
        })
    }
}

/// A set of ports kept as sorted, merged, inclusive ranges.
///
/// Parses from a comma-separated list of ports and ranges: `"1-1023,5432,6379"`.
///
/// ```
/// use portcore::PortSet;
/// let set: PortSet = "8000-8002,9000".parse().unwrap();
/// assert!(set.contains(8001) && set.contains(9000) && !set.contains(8500));
/// assert_eq!(set.to_string(), "8000-8002,9000");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortSet {
    ranges: Vec<PortRange>,
}

impl PortSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The reserved ports of the original port-management system: the system ports 1-1023,
    /// PostgreSQL 5432, Redis 6379, Prometheus 9090 and Grafana 3001.
    pub fn default_reserved() -> Self {
        let mut set = PortSet::new();
        set.insert_range(PortRange {
            start: 1,
            end: 1023,
        });
        for port in [3001, 5432, 6379, 9090] {
            set.insert(port);
        }
        set
    }

    /// Adds one port (0 is ignored: it is not a port one can hold).
    pub fn insert(&mut self, port: u16) {
        if let Some(range) = PortRange::single(port) {
            self.insert_range(range);
        }
    }

    /// Adds a range, merging it with the ranges it touches.
    pub fn insert_range(&mut self, range: PortRange) {
        let mut merged = range;
        let mut kept = Vec::with_capacity(self.ranges.len() + 1);
        for r in self.ranges.drain(..) {
            let touches = u32::from(r.start) <= u32::from(merged.end) + 1
                && u32::from(merged.start) <= u32::from(r.end) + 1;
            if touches {
                merged.start = merged.start.min(r.start);
                merged.end = merged.end.max(r.end);
            } else {
                kept.push(r);
            }
        }
        kept.push(merged);
        kept.sort();
        self.ranges = kept;
    }

    /// Adds every port of `other`.
    pub fn extend_from(&mut self, other: &PortSet) {
        for r in &other.ranges {
            self.insert_range(*r);
        }
    }

    /// Whether `port` is in the set.
    pub fn contains(&self, port: u16) -> bool {
        // Ranges are sorted and disjoint: binary search on the start.
        let idx = self.ranges.partition_point(|r| r.start <= port);
        idx > 0 && self.ranges[idx - 1].contains(port)
    }

    /// Whether the set holds no port.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Number of ports in the set.
    pub fn len(&self) -> usize {
        self.ranges.iter().map(PortRange::len).sum()
    }

    /// The merged ranges in ascending order.
    pub fn ranges(&self) -> &[PortRange] {
        &self.ranges
    }

    /// Every port in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.ranges.iter().flat_map(PortRange::iter)
    }
}

impl FromIterator<u16> for PortSet {
    fn from_iter<I: IntoIterator<Item = u16>>(iter: I) -> Self {
        let mut set = PortSet::new();
        for port in iter {
            set.insert(port);
        }
        set
    }
}

impl FromIterator<PortRange> for PortSet {
    fn from_iter<I: IntoIterator<Item = PortRange>>(iter: I) -> Self {
        let mut set = PortSet::new();
        for range in iter {
            set.insert_range(range);
        }
        set
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl FromStr for PortSet {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .filter(|part| !part.trim().is_empty())
            .map(|part| part.trim().parse::<PortRange>())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn default_reserved_matches_the_seed() {
        let set = PortSet::default_reserved();
        for port in [1, 22, 80, 1023, 3001, 5432, 6379, 9090] {
            assert!(set.contains(port), "{port} should be reserved");
        }
        for port in [1024, 3000, 8000, 8080, 12000] {
            assert!(!set.contains(port), "{port} should not be reserved");
        }
    }

    #[test]
    fn ranges_parse_and_reject_nonsense() {
        assert_eq!("8000-9000".parse::<PortRange>().unwrap().len(), 1001);
        assert_eq!("8080".parse::<PortRange>().unwrap().to_string(), "8080");
        assert!(matches!(
            "9000-8000".parse::<PortRange>(),
            Err(ParseError::ReversedRange { .. })
        ));
        assert!(matches!(
            "0".parse::<PortRange>(),
            Err(ParseError::InvalidPort { .. })
        ));
        assert!(matches!(
            "70000".parse::<PortRange>(),
            Err(ParseError::InvalidPort { .. })
        ));
        assert!(matches!(
            "abc".parse::<PortRange>(),
            Err(ParseError::InvalidPort { .. })
        ));
    }

    #[test]
    fn adjacent_ranges_merge() {
        let set: PortSet = "10-20,21-30,5,6".parse().unwrap();
        assert_eq!(set.to_string(), "5-6,10-30");
        assert_eq!(set.len(), 23);
    }

    proptest! {
        #[test]
        fn set_contains_exactly_what_was_inserted(ports in proptest::collection::vec(1u16.., 0..50)) {
            let set: PortSet = ports.iter().copied().collect();
            for p in &ports {
                prop_assert!(set.contains(*p));
            }
            let listed: Vec<u16> = set.iter().collect();
            let mut expected = ports.clone();
            expected.sort_unstable();
            expected.dedup();
            prop_assert_eq!(listed, expected);
            // Display/parse round trip.
            if !set.is_empty() {
                prop_assert_eq!(set.to_string().parse::<PortSet>().unwrap(), set);
            }
        }
    }
}
