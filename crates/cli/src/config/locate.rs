//! Where each field sits in the file, from one pass over the YAML parser's events.
//!
//! Deserialization errors and validation problems name a field path such as
//! `services.backend.port`; this map turns that path into a line of the file. Map entries are
//! located at their key, sequence items at the item.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser};

/// The line and column of every key and sequence item of a YAML document.
#[derive(Debug, Default)]
pub(crate) struct SourceMap {
    /// Dotted path to (line, column), both 1-based.
    places: HashMap<String, (u32, u32)>,
    /// Dotted path of every scalar, with its text: used to find a list item by value.
    scalars: Vec<(String, String)>,
}

enum Frame {
    Map {
        path: String,
        key: Option<String>,
    },
    Seq {
        path: String,
        index: usize,
    },
    /// A complex key (a map or list used as a key): nothing inside is addressable.
    Skip {
        depth: usize,
    },
}

/// What a node event is, given the frame it appears in.
enum Step {
    /// A scalar or alias key, now recorded.
    KeyDone,
    /// A map or list used as a key.
    ComplexKey,
    /// A value at this path.
    Value(String),
}

fn join(path: &str, segment: &str) -> String {
    if path.is_empty() {
        segment.to_owned()
    } else {
        format!("{path}.{segment}")
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl SourceMap {
    /// Builds the map; a document the parser rejects maps as far as it got.
    pub(crate) fn build(text: &str) -> Self {
        let mut map = SourceMap::default();
        let mut stack: Vec<Frame> = Vec::new();
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else { break };
            let place = (to_u32(span.start.line()), to_u32(span.start.col() + 1));
            if let Some(Frame::Skip { depth }) = stack.last_mut() {
                match event {
                    Event::MappingStart(..) | Event::SequenceStart(..) => *depth += 1,
                    Event::MappingEnd | Event::SequenceEnd => {
                        *depth -= 1;
                        if *depth == 0 {
                            stack.pop();
                            // The complex key is done; its value follows under a dummy key.
                            if let Some(Frame::Map { key, .. }) = stack.last_mut() {
                                *key = Some("?".to_owned());
                            }
                        }
                    }
                    _ => {}
                }
                continue;
            }
            let is_node = matches!(
                event,
                Event::Scalar(..)
                    | Event::MappingStart(..)
                    | Event::SequenceStart(..)
                    | Event::Alias(_)
            );
            if is_node {
                // Is this node a key, or a value at some path?
                let step = match stack.last_mut() {
                    Some(Frame::Map {
                        key: key @ None,
                        path,
                    }) => match &event {
                        Event::Scalar(text, ..) => {
                            map.places.entry(join(path, text)).or_insert(place);
                            *key = Some(text.to_string());
                            Step::KeyDone
                        }
                        Event::Alias(_) => {
                            *key = Some("?".to_owned());
                            Step::KeyDone
                        }
                        _ => Step::ComplexKey,
                    },
                    Some(Frame::Map {
                        key: key @ Some(_),
                        path,
                    }) => {
                        let segment = key.take().unwrap_or_default();
                        Step::Value(join(path, &segment))
                    }
                    Some(Frame::Seq { path, index }) => {
                        let item = join(path, &index.to_string());
                        *index += 1;
                        map.places.entry(item.clone()).or_insert(place);
                        Step::Value(item)
                    }
                    Some(Frame::Skip { .. }) | None => Step::Value(String::new()),
                };
                let node_path = match step {
                    Step::KeyDone => continue,
                    Step::ComplexKey => {
                        stack.push(Frame::Skip { depth: 1 });
                        continue;
                    }
                    Step::Value(path) => path,
                };
                match event {
                    Event::Scalar(text, ..) => map.scalars.push((node_path, text.into_owned())),
                    Event::MappingStart(..) => stack.push(Frame::Map {
                        path: node_path,
                        key: None,
                    }),
                    Event::SequenceStart(..) => stack.push(Frame::Seq {
                        path: node_path,
                        index: 0,
                    }),
                    _ => {}
                }
            } else if matches!(event, Event::MappingEnd | Event::SequenceEnd) {
                stack.pop();
            }
        }
        map
    }

    /// The place of `path`: the key or item itself; else, for `list.value` (a list item named
    /// by its value, as `depends_on.db` for `depends_on: [db]`), the item with that value;
    /// else its nearest located ancestor.
    pub(crate) fn locate(&self, path: &str) -> Option<(u32, u32)> {
        if let Some(place) = self.places.get(path) {
            return Some(*place);
        }
        if let Some((list, value)) = path.rsplit_once('.')
            && let Some(item) = self.item_with_value(list, value)
        {
            return self.places.get(&item).copied();
        }
        self.place(path)
    }

    /// The place of `path`, or of its nearest located ancestor.
    pub(crate) fn place(&self, path: &str) -> Option<(u32, u32)> {
        let mut path = path;
        loop {
            if let Some(place) = self.places.get(path) {
                return Some(*place);
            }
            path = &path[..path.rfind('.')?];
        }
    }

    /// The path of the item of the list at `list_path` whose scalar text is `value`.
    pub(crate) fn item_with_value(&self, list_path: &str, value: &str) -> Option<String> {
        let prefix = format!("{list_path}.");
        self.scalars
            .iter()
            .find(|(path, text)| {
                text == value
                    && path
                        .strip_prefix(&prefix)
                        .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()))
            })
            .map(|(path, _)| path.clone())
    }

    /// The service keys under `services`, in file order.
    pub(crate) fn keys_under(&self, path: &str) -> Vec<String> {
        let prefix = format!("{path}.");
        let mut keys: Vec<(&(u32, u32), &str)> = self
            .places
            .iter()
            .filter_map(|(p, place)| {
                let rest = p.strip_prefix(&prefix)?;
                (!rest.contains('.')).then_some((place, rest))
            })
            .collect();
        keys.sort();
        keys.into_iter().map(|(_, key)| key.to_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
services:
  backend:
    port: 8000
    alternative_ports: [8001, 8002]
    env:
      A: b
  frontend: {port: 3000}
? [complex, key]
: 1
list:
  - x
  - {y: 1}
";

    #[test]
    fn keys_and_items_are_located() {
        let map = SourceMap::build(DOC);
        assert_eq!(map.place("services"), Some((1, 1)));
        assert_eq!(map.place("services.backend.port"), Some((3, 5)));
        assert_eq!(map.place("services.backend.env.A"), Some((6, 7)));
        assert_eq!(map.place("services.frontend.port"), Some((7, 14)));
        assert_eq!(
            map.place("services.backend.alternative_ports.1"),
            Some((4, 31))
        );
        assert_eq!(map.place("list.1.y"), Some((12, 6)));
        // Unknown deeper paths fall back to the nearest ancestor.
        assert_eq!(map.place("services.backend.port.deeper"), Some((3, 5)));
        assert_eq!(map.place("nothing"), None);
    }

    #[test]
    fn locate_finds_list_items_named_by_value() {
        let map = SourceMap::build("a:\n  deps:\n    - x\n    - y\n");
        assert_eq!(map.locate("a.deps.y"), Some((4, 7)));
        assert_eq!(map.locate("a.deps.z"), Some((2, 3)));
    }

    #[test]
    fn finds_list_items_by_value_and_keys_in_order() {
        let map = SourceMap::build(DOC);
        assert_eq!(
            map.item_with_value("services.backend.alternative_ports", "8002")
                .as_deref(),
            Some("services.backend.alternative_ports.1")
        );
        assert_eq!(
            map.item_with_value("services.backend.alternative_ports", "9"),
            None
        );
        assert_eq!(map.keys_under("services"), ["backend", "frontend"]);
    }

    #[test]
    fn broken_documents_map_as_far_as_they_go() {
        let map = SourceMap::build("a: 1\nb: [1, 2\nc: 3\n");
        assert_eq!(map.place("a"), Some((1, 1)));
    }
}
