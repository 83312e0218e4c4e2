//! Serde helpers for port numbers and the reserved-port list.
//!
//! Port fields are plain `u16` in the model; these helpers make a number outside 1..=65535 an
//! `invalid_value` error carrying [`PORT_EXPECTED`], which the checker turns into
//! [`IssueKind::PortOutOfRange`](super::IssueKind::PortOutOfRange).

use std::fmt;

use portcore::{PortRange, PortSet};
use serde::de::{self, SeqAccess, Unexpected, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serializer};

/// What a port field accepts, as serde's "expected" text.
pub(crate) const PORT_EXPECTED: &str = "a port number from 1 to 65535";

/// What a reserved-ports entry accepts.
const RANGE_EXPECTED: &str = "a port, or a range of ports such as \"1-1023\"";

/// A port as deserialized from the file.
struct Port(u16);

fn port_from_u128<E: de::Error>(v: u128) -> Result<u16, E> {
    match u16::try_from(v) {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(E::invalid_value(
            Unexpected::Unsigned(u64::try_from(v).unwrap_or(u64::MAX)),
            &PORT_EXPECTED,
        )),
    }
}

struct PortVisitor;

impl Visitor<'_> for PortVisitor {
    type Value = Port;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PORT_EXPECTED)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Port, E> {
        port_from_u128(u128::from(v)).map(Port)
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Port, E> {
        port_from_u128(v).map(Port)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Port, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &PORT_EXPECTED)),
        }
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Port, E> {
        match u128::try_from(v) {
            Ok(v) => self.visit_u128(v),
            Err(_) => Err(E::invalid_value(
                Unexpected::Signed(i64::try_from(v).unwrap_or(i64::MIN)),
                &PORT_EXPECTED,
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PortVisitor)
    }
}

/// `Option<u16>` port fields.
pub(crate) mod optional {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
        Ok(Option::<Port>::deserialize(d)?.map(|p| p.0))
    }

    pub(crate) fn serialize<S: Serializer>(port: &Option<u16>, s: S) -> Result<S::Ok, S::Error> {
        match port {
            Some(port) => s.serialize_u16(*port),
            None => s.serialize_none(),
        }
    }
}

/// `Vec<u16>` port lists.
pub(crate) mod list {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u16>, D::Error> {
        Ok(Vec::<Port>::deserialize(d)?
            .into_iter()
            .map(|p| p.0)
            .collect())
    }

    pub(crate) fn serialize<S: Serializer>(ports: &[u16], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(ports)
    }
}

/// One entry of `reserved_ports`: a number or an `"a-b"` string.
struct RangeEntry(PortSet);

impl<'de> Deserialize<'de> for RangeEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(ReservedVisitor)
            .map(RangeEntry)
    }
}

/// Accepts a list of entries, or one entry (a number, or a comma-separated string such as
/// `"1-1023,5432"`, the natural form in an environment variable).
struct ReservedVisitor;

impl<'de> Visitor<'de> for ReservedVisitor {
    type Value = PortSet;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of ports and ranges, each {RANGE_EXPECTED}")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortSet, E> {
        PortVisitor
            .visit_u64(v)
            .map(|p| std::iter::once(p.0).collect())
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<PortSet, E> {
        PortVisitor
            .visit_u128(v)
            .map(|p| std::iter::once(p.0).collect())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortSet, E> {
        PortVisitor
            .visit_i64(v)
            .map(|p| std::iter::once(p.0).collect())
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<PortSet, E> {
        PortVisitor
            .visit_i128(v)
            .map(|p| std::iter::once(p.0).collect())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<PortSet, E> {
        if v.trim().is_empty() {
            return Err(E::invalid_value(Unexpected::Str(v), &RANGE_EXPECTED));
        }
        v.parse::<PortSet>()
            .map_err(|_| E::invalid_value(Unexpected::Str(v), &RANGE_EXPECTED))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PortSet, A::Error> {
        let mut set = PortSet::new();
        while let Some(RangeEntry(entry)) = seq.next_element()? {
            set.extend_from(&entry);
        }
        Ok(set)
    }
}

/// The `reserved_ports` field: a [`PortSet`] written as a list of numbers and range strings.
pub(crate) mod reserved {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PortSet, D::Error> {
        d.deserialize_any(ReservedVisitor)
    }

    pub(crate) fn serialize<S: Serializer>(set: &PortSet, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(set.ranges().len()))?;
        for range in set.ranges() {
            if range.start() == range.end() {
                seq.serialize_element(&range.start())?;
            } else {
                seq.serialize_element(&range_text(range))?;
            }
        }
        seq.end()
    }

    fn range_text(range: &PortRange) -> String {
        format!("{}-{}", range.start(), range.end())
    }
}
