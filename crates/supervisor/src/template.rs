//! The small template language of commands, environment values and health URLs.
//!
//! `{port}` is the service's own port, `{services.NAME.port}` another service's; `{{` and `}}`
//! stand for literal braces. Anything else between braces is [`Reference::Unknown`]: parsing
//! keeps it (so a validator can report every one), expanding fails naming it, so a typo never
//! reaches a running command. The module is pure (no I/O), for other crates to reuse; the
//! config file's validation uses it too.
//!
//! ```
//! use supervisor::template::{self, Reference, Values};
//!
//! let text = "api={services.api.port} me={port} json={{}}";
//! assert_eq!(
//!     template::references(text).unwrap(),
//!     vec![Reference::ServicePort("api".into()), Reference::Port]
//! );
//! let mut values = Values::default();
//! values.port = Some(3000);
//! values.services.insert("api".into(), 8001);
//! assert_eq!(template::expand(text, &values).unwrap(), "api=8001 me=3000 json={}");
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A reference between braces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Reference {
    /// `{port}`: the service's own port.
    Port,
    /// `{services.NAME.port}`: the port of service `NAME`.
    ServicePort(String),
    /// Anything else between braces (the text, trimmed): an error when expanded.
    Unknown(String),
}

impl Reference {
    /// The text between the braces: `port`, `services.db.port`, or the unknown text.
    pub fn name(&self) -> String {
        match self {
            Reference::Port => "port".to_owned(),
            Reference::ServicePort(name) => format!("services.{name}.port"),
            Reference::Unknown(name) => name.clone(),
        }
    }
}

impl fmt::Display for Reference {
    /// The reference as written: `{port}`, `{services.db.port}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", self.name())
    }
}

/// A piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text copied as is (escapes already resolved).
    Literal(String),
    /// A reference to expand.
    Reference(Reference),
}

/// A parsed template: literal text and references, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The pieces, in order.
    pub parts: Vec<Part>,
}

/// Why a template could not be parsed or expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TemplateError {
    /// A `{` without its `}`.
    #[error("`{{` at byte {offset} is never closed (write `{{{{` for a literal brace)")]
    Unclosed {
        /// Byte offset of the `{`.
        offset: usize,
    },
    /// A `}` without a `{`.
    #[error("`}}` at byte {offset} closes nothing (write `}}}}` for a literal brace)")]
    UnmatchedClose {
        /// Byte offset of the `}`.
        offset: usize,
    },
    /// Something between braces that is not a known reference.
    #[error("unknown reference `{{{name}}}`: expected `{{port}}` or `{{services.NAME.port}}`")]
    UnknownReference {
        /// The text between the braces.
        name: String,
    },
    /// A known form whose value is missing: `{port}` for a service without a port, or a
    /// service that does not exist or has no port.
    #[error("`{reference}` has no value: {why}")]
    NoValue {
        /// The reference, as written.
        reference: String,
        /// Why it has none.
        why: String,
    },
}

/// Parses `text`.
pub fn parse(text: &str) -> Result<Template, TemplateError> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((offset, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek().map(|&(_, c)| c) == Some('}') => {
                chars.next();
                literal.push('}');
            }
            '}' => return Err(TemplateError::UnmatchedClose { offset }),
            '{' => {
                let rest = &text[offset + 1..];
                let end = rest.find('}').ok_or(TemplateError::Unclosed { offset })?;
                let inner = &rest[..end];
                if inner.contains('{') {
                    return Err(TemplateError::Unclosed { offset });
                }
                let reference = parse_reference(inner);
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                parts.push(Part::Reference(reference));
                // Skip the reference and its closing brace.
                let stop = offset + 1 + end;
                while chars.next_if(|&(i, _)| i <= stop).is_some() {}
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        parts.push(Part::Literal(literal));
    }
    Ok(Template { parts })
}

fn parse_reference(inner: &str) -> Reference {
    let trimmed = inner.trim();
    if trimmed == "port" {
        return Reference::Port;
    }
    match trimmed
        .strip_prefix("services.")
        .and_then(|rest| rest.strip_suffix(".port"))
    {
        Some(name) if !name.is_empty() && !name.contains('.') => {
            Reference::ServicePort(name.to_owned())
        }
        _ => Reference::Unknown(trimmed.to_owned()),
    }
}

/// The references of `text`, in order of appearance, without repeats; unknown ones included
/// (fails only when the braces do not pair up).
pub fn references(text: &str) -> Result<Vec<Reference>, TemplateError> {
    let mut found = Vec::new();
    for part in parse(text)?.parts {
        if let Part::Reference(r) = part
            && !found.contains(&r)
        {
            found.push(r);
        }
    }
    Ok(found)
}

/// The values references expand to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values {
    /// The service's own port, for `{port}`.
    pub port: Option<u16>,
    /// Ports by service name, for `{services.NAME.port}`.
    pub services: BTreeMap<String, u16>,
}

impl Template {
    /// Expands the template with `values`.
    pub fn expand(&self, values: &Values) -> Result<String, TemplateError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Reference(Reference::Port) => match values.port {
                    Some(port) => out.push_str(&port.to_string()),
                    None => {
                        return Err(TemplateError::NoValue {
                            reference: Reference::Port.to_string(),
                            why: "the service has no port".into(),
                        });
                    }
                },
                Part::Reference(Reference::Unknown(name)) => {
                    return Err(TemplateError::UnknownReference { name: name.clone() });
                }
                Part::Reference(r @ Reference::ServicePort(name)) => {
                    match values.services.get(name) {
                        Some(port) => out.push_str(&port.to_string()),
                        None => {
                            return Err(TemplateError::NoValue {
                                reference: r.to_string(),
                                why: format!("no service `{name}` with a port"),
                            });
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Parses and expands `text` with `values`.
pub fn expand(text: &str, values: &Values) -> Result<String, TemplateError> {
    parse(text)?.expand(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values {
        Values {
            port: Some(8000),
            services: [("api".to_owned(), 9000), ("my-db".to_owned(), 5433)].into(),
        }
    }

    #[test]
    fn expands_own_and_other_ports() {
        assert_eq!(
            expand(
                "serve --port {port} --api http://127.0.0.1:{services.api.port}",
                &values()
            )
            .unwrap(),
            "serve --port 8000 --api http://127.0.0.1:9000"
        );
        assert_eq!(expand("{services.my-db.port}", &values()).unwrap(), "5433");
    }

    #[test]
    fn doubled_braces_are_literal() {
        assert_eq!(
            expand("awk '{{print $1}}' {port}", &values()).unwrap(),
            "awk '{print $1}' 8000"
        );
        assert_eq!(expand("{{port}}", &values()).unwrap(), "{port}");
    }

    #[test]
    fn text_without_braces_is_unchanged() {
        assert_eq!(
            expand("plain text", &Values::default()).unwrap(),
            "plain text"
        );
        assert_eq!(expand("", &Values::default()).unwrap(), "");
    }

    #[test]
    fn unknown_references_are_named() {
        let err = expand("x {prot} y", &values()).unwrap_err();
        assert_eq!(
            err,
            TemplateError::UnknownReference {
                name: "prot".into()
            }
        );
        assert!(err.to_string().contains("{prot}"), "{err}");
        assert_eq!(
            references("{services..port} { whatever }").unwrap(),
            vec![
                Reference::Unknown("services..port".into()),
                Reference::Unknown("whatever".into())
            ]
        );
        assert!(expand("{services.a.b.port}", &values()).is_err());
    }

    #[test]
    fn missing_values_name_the_reference() {
        let err = expand("{services.web.port}", &values()).unwrap_err();
        assert!(err.to_string().contains("{services.web.port}"), "{err}");
        let err = expand("{port}", &Values::default()).unwrap_err();
        assert!(err.to_string().contains("{port}"), "{err}");
    }

    #[test]
    fn unbalanced_braces_are_errors_with_offsets() {
        assert_eq!(parse("ab{port"), Err(TemplateError::Unclosed { offset: 2 }));
        assert_eq!(
            parse("a}b"),
            Err(TemplateError::UnmatchedClose { offset: 1 })
        );
        assert_eq!(
            parse("{a{port}"),
            Err(TemplateError::Unclosed { offset: 0 })
        );
    }

    #[test]
    fn references_are_listed_once_in_order() {
        assert_eq!(
            references("{services.b.port} {port} {services.a.port} {port}").unwrap(),
            vec![
                Reference::ServicePort("b".into()),
                Reference::Port,
                Reference::ServicePort("a".into())
            ]
        );
    }

    #[test]
    fn non_ascii_text_survives() {
        assert_eq!(expand("é{port}ü", &values()).unwrap(), "é8000ü");
    }
}
