//! Choosing a free port from a preferred port, alternatives and exclusions.

use serde::{Deserialize, Serialize};

use crate::{Error, PortRange, PortSet, Protocol, probe_port};

/// What a caller wants: a preferred port, alternatives in order, ports never to use, and
/// optionally a range to search when every named port is taken.
///
/// ```
/// use portcore::{PortRequest, PortSet, ChoiceReason, choose_port};
/// let request = PortRequest {
///     preferred: Some(8000),
///     alternatives: vec![8001, 8002],
///     exclude: "8001".parse::<PortSet>().unwrap(),
///     ..PortRequest::default()
/// };
/// // 8000 is taken, 8001 is excluded: 8002 is chosen.
/// let choice = choose_port(&request, |port| port != 8000).unwrap();
/// assert_eq!(choice.port, 8002);
/// assert_eq!(choice.reason, ChoiceReason::Alternative { index: 1 });
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRequest {
    /// The port wanted first.
    pub preferred: Option<u16>,
    /// Ports to try next, in order.
    pub alternatives: Vec<u16>,
    /// Ports never chosen (reserved ports, ports claimed by other services).
    pub exclude: PortSet,
    /// Try at most this many alternatives (`None`: all of them).
    pub max_alternatives: Option<usize>,
    /// Searched in ascending order once the preferred port and alternatives are exhausted.
    pub fallback: Option<PortRange>,
}

/// Why a port was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChoiceReason {
    /// The preferred port was free.
    Preferred,
    /// The alternative at this index (0-based) was the first free one.
    Alternative {
        /// Index into [`PortRequest::alternatives`].
        index: usize,
    },
    /// Found in the fallback range.
    Fallback,
}

/// A chosen port, why, and what was passed over on the way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortChoice {
    /// The port to use.
    pub port: u16,
    /// Why this one.
    pub reason: ChoiceReason,
    /// Candidates passed over because the predicate said they were taken.
    pub taken: Vec<u16>,
    /// Candidates passed over because they are excluded.
    pub excluded: Vec<u16>,
}

/// Picks the first usable port of `request`, asking `is_free` about each candidate that is not
/// excluded. The predicate lets planning work from a socket snapshot (pure, no side effects);
/// [`choose_port_probed`] uses real bind probes instead.
pub fn choose_port(
    request: &PortRequest,
    mut is_free: impl FnMut(u16) -> bool,
) -> Result<PortChoice, Error> {
    let alternatives = request
        .alternatives
        .iter()
        .take(request.max_alternatives.unwrap_or(usize::MAX))
        .enumerate()
        .map(|(index, &port)| (port, ChoiceReason::Alternative { index }));
    let fallback = request
        .fallback
        .into_iter()
        .flat_map(|range| range.iter())
        .map(|port| (port, ChoiceReason::Fallback));
    let candidates = request
        .preferred
        .map(|port| (port, ChoiceReason::Preferred))
        .into_iter()
        .chain(alternatives)
        .chain(fallback);

    let mut taken = Vec::new();
    let mut excluded = Vec::new();
    let mut seen = PortSet::new();
    let mut tried = 0usize;
    for (port, reason) in candidates {
        if port == 0 || seen.contains(port) {
            continue;
        }
        seen.insert(port);
        tried += 1;
        if request.exclude.contains(port) {
            excluded.push(port);
        } else if is_free(port) {
            return Ok(PortChoice {
                port,
                reason,
                taken,
                excluded,
            });
        } else {
            taken.push(port);
        }
    }
    let first_tried = seen
        .ranges()
        .iter()
        .take(6)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    Err(Error::NoFreePort { tried, first_tried })
}

/// Like [`choose_port`], deciding with real bind probes ([`crate::PortProbe::is_free`]).
pub fn choose_port_probed(request: &PortRequest, protocol: Protocol) -> Result<PortChoice, Error> {
    choose_port(request, |port| probe_port(port, protocol).is_free())
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn preferred_wins_when_free() {
        let req = PortRequest {
            preferred: Some(8000),
            alternatives: vec![8001],
            ..Default::default()
        };
        let choice = choose_port(&req, |_| true).unwrap();
        assert_eq!(
            (choice.port, choice.reason),
            (8000, ChoiceReason::Preferred)
        );
    }

    #[test]
    fn max_alternatives_bounds_the_search_then_fallback_is_used() {
        let req = PortRequest {
            preferred: Some(8000),
            alternatives: vec![8001, 8002, 8003],
            max_alternatives: Some(1),
            fallback: PortRange::new(9000, 9005),
            exclude: [9000].into_iter().collect(),
        };
        let choice = choose_port(&req, |p| p == 8003 || p == 9001).unwrap();
        assert_eq!(choice.port, 9001);
        assert_eq!(choice.reason, ChoiceReason::Fallback);
        assert_eq!(choice.taken, vec![8000, 8001]);
        assert_eq!(choice.excluded, vec![9000]);
    }

    #[test]
    fn nothing_free_is_an_error_naming_the_candidates() {
        let req = PortRequest {
            preferred: Some(8000),
            alternatives: vec![8001],
            ..Default::default()
        };
        let err = choose_port(&req, |_| false).unwrap_err();
        assert!(err.to_string().contains("8000-8001"), "{err}");
    }

    #[test]
    fn probed_choice_skips_a_really_held_port() {
        let holder = TcpListener::bind("0.0.0.0:0").unwrap();
        let held = holder.local_addr().unwrap().port();
        let free = {
            let l = TcpListener::bind("0.0.0.0:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let req = PortRequest {
            preferred: Some(held),
            alternatives: vec![free],
            ..Default::default()
        };
        let choice = choose_port_probed(&req, Protocol::Tcp).unwrap();
        assert_eq!(choice.port, free);
        assert_eq!(choice.taken, vec![held]);
    }
}
