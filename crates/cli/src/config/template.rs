//! `{port}` templates in commands, URLs and environment values.
//!
//! A template names ports by reference so that a service migrated to an alternative port keeps
//! working: `{port}` is the service's own resolved port, `{services.NAME.port}` another
//! service's. `{{` and `}}` stand for literal braces (write `awk '{{print $1}}'`); any other
//! reference is an error that names it.

use std::collections::BTreeMap;
use std::fmt;

/// One `{...}` reference found in a template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reference {
    /// `{port}`: the service's own port.
    Port,
    /// `{services.NAME.port}`: the port of the service named `service`.
    ServicePort {
        /// The referenced service.
        service: String,
    },
    /// Anything else between braces, such as `{whatever}`: an error wherever it appears.
    Unknown {
        /// The text between the braces, trimmed.
        name: String,
    },
}

impl fmt::Display for Reference {
    /// The text between the braces: `port`, `services.db.port`, or the unknown name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Port => f.write_str("port"),
            Reference::ServicePort { service } => write!(f, "services.{service}.port"),
            Reference::Unknown { name } => f.write_str(name),
        }
    }
}

/// A template that cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A `{` without its closing `}`.
    #[error("`{{` at byte {offset} is not closed; write `{{{{` for a literal brace")]
    UnclosedBrace {
        /// Byte offset of the brace in the template.
        offset: usize,
    },
    /// A `}` without an opening `{`.
    #[error("`}}` at byte {offset} closes nothing; write `}}}}` for a literal brace")]
    UnmatchedClose {
        /// Byte offset of the brace in the template.
        offset: usize,
    },
    /// A reference that is not `{port}` or `{services.NAME.port}`, or names an unknown service.
    #[error(
        "unknown template reference `{{{reference}}}`: use {{port}} or {{services.NAME.port}}, \
         and {{{{ }}}} for literal braces"
    )]
    UnknownReference {
        /// The text between the braces.
        reference: String,
    },
    /// A port reference to a service that has no port.
    #[error("template reference `{{{reference}}}` names a service without a port")]
    MissingPort {
        /// The text between the braces.
        reference: String,
    },
}

/// The ports a template may refer to.
///
/// ```
/// use portwarden::config::{TemplateContext, expand};
///
/// let ctx = TemplateContext::new(Some(8000)).with_service("db", 5433);
/// let url = expand("http://localhost:{port}/health?db={services.db.port}", &ctx).unwrap();
/// assert_eq!(url, "http://localhost:8000/health?db=5433");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateContext {
    port: Option<u16>,
    services: BTreeMap<String, u16>,
}

impl TemplateContext {
    /// A context where `{port}` is `port` and no other service is known.
    pub fn new(port: Option<u16>) -> Self {
        Self {
            port,
            services: BTreeMap::new(),
        }
    }

    /// Adds a service whose port `{services.NAME.port}` expands to.
    #[must_use]
    pub fn with_service(mut self, name: impl Into<String>, port: u16) -> Self {
        self.services.insert(name.into(), port);
        self
    }

    /// The port `{port}` expands to.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The port `{services.NAME.port}` expands to.
    pub fn service_port(&self, name: &str) -> Option<u16> {
        self.services.get(name).copied()
    }
}

enum Piece<'a> {
    Literal(&'a str),
    Ref(Reference),
}

fn classify(inner: &str) -> Reference {
    let name = inner.trim();
    if name == "port" {
        return Reference::Port;
    }
    let service = name
        .strip_prefix("services.")
        .and_then(|rest| rest.strip_suffix(".port"))
        .filter(|service| !service.is_empty() && !service.contains('.'));
    match service {
        Some(service) => Reference::ServicePort {
            service: service.to_owned(),
        },
        None => Reference::Unknown {
            name: name.to_owned(),
        },
    }
}

fn parse(text: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut pieces = Vec::new();
    let mut literal_start = 0;
    let mut i = 0;
    let bytes = text.as_bytes();
    // Braces are ASCII, so byte positions next to them are char boundaries.
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'}' if bytes.get(i + 1) == Some(&bytes[i]) => {
                pieces.push(Piece::Literal(&text[literal_start..=i]));
                i += 2;
                literal_start = i;
            }
            b'{' => {
                let close = text[i + 1..].find(['{', '}']).map(|at| at + i + 1);
                let Some(close) = close.filter(|&at| bytes[at] == b'}') else {
                    return Err(TemplateError::UnclosedBrace { offset: i });
                };
                pieces.push(Piece::Literal(&text[literal_start..i]));
                pieces.push(Piece::Ref(classify(&text[i + 1..close])));
                i = close + 1;
                literal_start = i;
            }
            b'}' => return Err(TemplateError::UnmatchedClose { offset: i }),
            _ => i += 1,
        }
    }
    pieces.push(Piece::Literal(&text[literal_start..]));
    Ok(pieces)
}

/// The references of a template, in order, repeats included.
///
/// Fails only when the braces do not pair up; unknown names come back as
/// [`Reference::Unknown`] so that a validator can report all of them.
///
/// ```
/// use portwarden::config::{Reference, references};
///
/// let refs = references("--port {port} --db {services.db.port} {{literal}}").unwrap();
/// assert_eq!(refs, [Reference::Port, Reference::ServicePort { service: "db".into() }]);
/// ```
pub fn references(text: &str) -> Result<Vec<Reference>, TemplateError> {
    Ok(parse(text)?
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Ref(reference) => Some(reference),
            Piece::Literal(_) => None,
        })
        .collect())
}

/// Expands a template's references from `ctx`.
///
/// Errors name the first reference that cannot be expanded: an unknown name, an unknown
/// service, or a port that the context does not have.
pub fn expand(text: &str, ctx: &TemplateContext) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    for piece in parse(text)? {
        match piece {
            Piece::Literal(literal) => out.push_str(literal),
            Piece::Ref(reference) => {
                let port = match &reference {
                    Reference::Port => ctx.port,
                    Reference::ServicePort { service } => match ctx.service_port(service) {
                        Some(port) => Some(port),
                        None => {
                            return Err(TemplateError::UnknownReference {
                                reference: reference.to_string(),
                            });
                        }
                    },
                    Reference::Unknown { .. } => {
                        return Err(TemplateError::UnknownReference {
                            reference: reference.to_string(),
                        });
                    }
                };
                let port = port.ok_or(TemplateError::MissingPort {
                    reference: reference.to_string(),
                })?;
                out.push_str(&port.to_string());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ctx() -> TemplateContext {
        TemplateContext::new(Some(8000)).with_service("db", 5433)
    }

    #[test]
    fn expands_own_and_other_ports() {
        assert_eq!(expand("{port}", &ctx()).unwrap(), "8000");
        assert_eq!(
            expand("a{ port }b{services.db.port}c", &ctx()).unwrap(),
            "a8000b5433c"
        );
        assert_eq!(expand("no refs at all", &ctx()).unwrap(), "no refs at all");
        assert_eq!(expand("", &ctx()).unwrap(), "");
    }

    #[test]
    fn doubled_braces_are_literal() {
        assert_eq!(
            expand("awk '{{print $1}}' {port}", &ctx()).unwrap(),
            "awk '{print $1}' 8000"
        );
        assert_eq!(expand("{{{port}}}", &ctx()).unwrap(), "{8000}");
        assert_eq!(references("{{port}}").unwrap(), []);
    }

    #[test]
    fn unknown_references_are_named() {
        assert_eq!(
            expand("{whatever}", &ctx()),
            Err(TemplateError::UnknownReference {
                reference: "whatever".into()
            })
        );
        assert_eq!(
            expand("{services.nope.port}", &ctx()),
            Err(TemplateError::UnknownReference {
                reference: "services.nope.port".into()
            })
        );
        assert_eq!(
            expand("{port}", &TemplateContext::new(None)),
            Err(TemplateError::MissingPort {
                reference: "port".into()
            })
        );
        assert_eq!(
            references("{services.a.b.port} {services..port}").unwrap(),
            [
                Reference::Unknown {
                    name: "services.a.b.port".into()
                },
                Reference::Unknown {
                    name: "services..port".into()
                }
            ]
        );
    }

    #[test]
    fn unpaired_braces_are_errors_with_offsets() {
        assert_eq!(
            expand("ab{port", &ctx()),
            Err(TemplateError::UnclosedBrace { offset: 2 })
        );
        assert_eq!(
            expand("{a{port}", &ctx()),
            Err(TemplateError::UnclosedBrace { offset: 0 })
        );
        assert_eq!(
            expand("x}", &ctx()),
            Err(TemplateError::UnmatchedClose { offset: 1 })
        );
    }

    proptest! {
        #[test]
        fn never_panics_and_agrees_with_references(text in "[{}a-z. é]{0,24}") {
            let refs = references(&text);
            let expanded = expand(&text, &ctx());
            // Expansion fails on syntax exactly when listing references does.
            prop_assert_eq!(refs.is_err(), matches!(
                expanded,
                Err(TemplateError::UnclosedBrace { .. } | TemplateError::UnmatchedClose { .. })
            ));
        }

        #[test]
        fn escaped_text_expands_to_itself(text in "\\PC{0,24}") {
            let escaped = text.replace('{', "{{").replace('}', "}}");
            prop_assert_eq!(expand(&escaped, &ctx()), Ok(text));
        }
    }
}
