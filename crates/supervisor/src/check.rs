//! Pre-start checks: what would make a start fail, found before anything runs.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::StackError;
use crate::health::{is_local_host, url_host};
use crate::spec::{HealthSpec, ServiceSpec};
use crate::stack::Stack;
use crate::template::{self, Reference, TemplateError};

/// A problem found by [`Stack::check`] or [`check_services`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckIssue {
    /// The services do not form a stack (cycle, unknown dependency, duplicate name ...).
    Stack {
        /// What is wrong, naming the services.
        message: String,
    },
    /// The command's program is neither a shell builtin nor found on `PATH` (or at its path).
    CommandNotFound {
        /// The service.
        service: String,
        /// Which command (`command` or `setup_command`).
        field: &'static str,
        /// The program looked for.
        program: String,
    },
    /// The working folder does not exist.
    WorkingDirMissing {
        /// The service.
        service: String,
        /// The folder.
        path: PathBuf,
    },
    /// A health URL that is not on this machine, without permission for remote checks.
    RemoteHealthUrl {
        /// The service.
        service: String,
        /// The URL.
        url: String,
    },
    /// A health URL that is not `http://`.
    UnsupportedHealthUrl {
        /// The service.
        service: String,
        /// The URL.
        url: String,
    },
    /// A template that cannot be expanded.
    Template {
        /// The service.
        service: String,
        /// Where (`command`, `env.NAME`, `health`).
        field: String,
        /// What is wrong.
        error: TemplateError,
    },
}

impl fmt::Display for CheckIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckIssue::Stack { message } => f.write_str(message),
            CheckIssue::CommandNotFound {
                service,
                field,
                program,
            } => write!(f, "{service}: {field}: `{program}` not found on PATH"),
            CheckIssue::WorkingDirMissing { service, path } => {
                write!(
                    f,
                    "{service}: working folder {} does not exist",
                    path.display()
                )
            }
            CheckIssue::RemoteHealthUrl { service, url } => write!(
                f,
                "{service}: health URL {url} is not local (allow remote checks to use it)"
            ),
            CheckIssue::UnsupportedHealthUrl { service, url } => {
                write!(f, "{service}: health URL {url} is not an http:// URL")
            }
            CheckIssue::Template {
                service,
                field,
                error,
            } => write!(f, "{service}: {field}: {error}"),
        }
    }
}

impl Stack {
    /// Checks what can be checked before starting: programs on `PATH`, working folders,
    /// health URLs and templates. (Structural problems cannot exist in a built stack; see
    /// [`check_services`] for a list of services that may not form one.)
    pub fn check(&self) -> Vec<CheckIssue> {
        check_environment(self.services())
    }
}

/// Checks services that may not form a stack: every structural problem ([`StackError`]) is
/// reported along with the environment checks of [`Stack::check`].
pub fn check_services(services: &[ServiceSpec]) -> Vec<CheckIssue> {
    let mut issues = Vec::new();
    // Report each structural problem: drop offending dependencies one by one.
    let mut trial: Vec<ServiceSpec> = services.to_vec();
    for _ in 0..services.len() * 4 + 1 {
        match Stack::new(trial.clone()) {
            Ok(_) => break,
            Err(error) => {
                issues.push(CheckIssue::Stack {
                    message: error.to_string(),
                });
                match error {
                    StackError::UnknownDependency {
                        service,
                        dependency,
                    } => trial
                        .iter_mut()
                        .filter(|s| s.name == service)
                        .for_each(|s| s.depends_on.retain(|d| d.name != dependency)),
                    StackError::Cycle { cycle } => {
                        let (from, to) = (&cycle[cycle.len() - 2], &cycle[cycle.len() - 1]);
                        trial
                            .iter_mut()
                            .filter(|s| &s.name == from)
                            .for_each(|s| s.depends_on.retain(|d| &d.name != to));
                    }
                    StackError::DuplicateService { name } | StackError::InvalidName { name } => {
                        if let Some(i) = trial.iter().rposition(|s| s.name == name) {
                            trial.remove(i);
                        }
                    }
                    StackError::UnknownService { .. } => break,
                }
            }
        }
    }
    issues.extend(check_environment(services));
    issues
}

fn check_environment(services: &[ServiceSpec]) -> Vec<CheckIssue> {
    let mut issues = Vec::new();
    let with_port: Vec<&str> = services
        .iter()
        .filter(|s| s.port.is_some() || s.socket_activation)
        .map(|s| s.name.as_str())
        .collect();
    for spec in services {
        let dir = spec.working_dir.as_deref();
        if let Some(dir) = dir
            && !dir.is_dir()
        {
            issues.push(CheckIssue::WorkingDirMissing {
                service: spec.name.clone(),
                path: dir.to_owned(),
            });
        }
        let commands = [
            ("command", Some(&spec.command)),
            ("setup_command", spec.setup_command.as_ref()),
        ];
        for (field, command) in commands {
            if let Some(program) = command.and_then(|c| program_of(c))
                && !program_exists(&program, dir)
            {
                issues.push(CheckIssue::CommandNotFound {
                    service: spec.name.clone(),
                    field,
                    program,
                });
            }
        }
        let has_port = spec.port.is_some() || spec.socket_activation;
        let mut templates: Vec<(String, &str)> = vec![("command".into(), &spec.command)];
        templates.extend(
            spec.env
                .iter()
                .map(|(k, v)| (format!("env.{k}"), v.as_str())),
        );
        match &spec.health {
            HealthSpec::Http {
                url, allow_remote, ..
            } => {
                templates.push(("health".into(), url));
                match url_host(url) {
                    Some(_) if url.starts_with("https://") => {
                        issues.push(CheckIssue::UnsupportedHealthUrl {
                            service: spec.name.clone(),
                            url: url.clone(),
                        })
                    }
                    Some(host) if !allow_remote && !is_local_host(host) => {
                        issues.push(CheckIssue::RemoteHealthUrl {
                            service: spec.name.clone(),
                            url: url.clone(),
                        })
                    }
                    Some(_) => {}
                    None => issues.push(CheckIssue::UnsupportedHealthUrl {
                        service: spec.name.clone(),
                        url: url.clone(),
                    }),
                }
            }
            HealthSpec::Tcp { address } => templates.push(("health".into(), address)),
            HealthSpec::Exec { command } => templates.push(("health".into(), command)),
            _ => {}
        }
        for (field, text) in templates {
            let error = match template::references(text) {
                Err(error) => Some(error),
                Ok(references) => references.into_iter().find_map(|r| match &r {
                    Reference::Unknown(name) => {
                        Some(TemplateError::UnknownReference { name: name.clone() })
                    }
                    Reference::Port if !has_port => Some(TemplateError::NoValue {
                        reference: r.to_string(),
                        why: "the service has no port".into(),
                    }),
                    Reference::ServicePort(name) if !with_port.contains(&name.as_str()) => {
                        Some(TemplateError::NoValue {
                            reference: r.to_string(),
                            why: format!("no service `{name}` with a port"),
                        })
                    }
                    _ => None,
                }),
            };
            if let Some(error) = error {
                issues.push(CheckIssue::Template {
                    service: spec.name.clone(),
                    field,
                    error,
                });
            }
        }
    }
    issues
}

/// Words the shell runs itself: nothing to find on `PATH`.
const SHELL_WORDS: &[&str] = &[
    ".", ":", "[", "alias", "break", "case", "cd", "command", "continue", "echo", "eval", "exit",
    "export", "false", "for", "getopts", "if", "kill", "printf", "pwd", "read", "readonly",
    "return", "set", "shift", "source", "test", "times", "trap", "true", "type", "ulimit", "umask",
    "unset", "until", "wait", "while", "{", "(", "!",
];

/// The program a command line runs, when it can be told without running a shell: the first
/// word after variable assignments and `exec`. `None` for shell builtins, templates and
/// quoting too elaborate to follow.
pub(crate) fn program_of(command: &str) -> Option<String> {
    let mut words = command.split_whitespace();
    loop {
        let word = words.next()?;
        let word = word.trim_matches(|c| c == '\'' || c == '"');
        if word.contains(['{', '}', '$', '`', '(', ')', ';', '|', '&', '<', '>']) && word.len() > 1
        {
            return None;
        }
        let is_assignment = word
            .split_once('=')
            .is_some_and(|(name, _)| !name.is_empty() && !name.contains('/'));
        if is_assignment || word == "exec" {
            continue;
        }
        if SHELL_WORDS.contains(&word) {
            return None;
        }
        return Some(word.to_owned());
    }
}

fn program_exists(program: &str, working_dir: Option<&Path>) -> bool {
    let executable = |path: &Path| {
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = Path::new(program);
        return match working_dir {
            Some(dir) if path.is_relative() => executable(&dir.join(path)),
            _ => executable(path),
        };
    }
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| executable(&dir.join(program)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Condition;

    #[test]
    fn the_program_is_the_first_real_word() {
        assert_eq!(program_of("python3 -m http.server"), Some("python3".into()));
        assert_eq!(
            program_of("FOO=1 BAR=2 exec ./serve --x"),
            Some("./serve".into())
        );
        assert_eq!(program_of("cd web && npm start"), None);
        assert_eq!(program_of("echo hi"), None);
        assert_eq!(program_of("{services.x.port}"), None);
        assert_eq!(program_of("   "), None);
    }

    #[test]
    fn missing_programs_folders_and_remote_urls_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let specs = vec![
            ServiceSpec::new("a", "definitely-not-a-program-4711 --x"),
            ServiceSpec {
                working_dir: Some(dir.path().join("nope")),
                ..ServiceSpec::new("b", "sh -c true")
            },
            ServiceSpec::new("c", "true")
                .port(1)
                .health(HealthSpec::http("http://example.com/h")),
            ServiceSpec::new("d", "true")
                .port(2)
                .health(HealthSpec::http("http://localhost:{port}/h")),
        ];
        let issues = Stack::new(specs).unwrap().check();
        assert_eq!(issues.len(), 3, "{issues:#?}");
        assert!(
            matches!(&issues[0], CheckIssue::CommandNotFound { program, .. } if program == "definitely-not-a-program-4711")
        );
        assert!(
            matches!(&issues[1], CheckIssue::WorkingDirMissing { service, .. } if service == "b")
        );
        assert!(
            matches!(&issues[2], CheckIssue::RemoteHealthUrl { service, .. } if service == "c")
        );
    }

    #[test]
    fn templates_must_name_services_with_ports() {
        let specs = vec![
            ServiceSpec::new("api", "true").port(8000),
            ServiceSpec::new(
                "web",
                "true --api {services.api.port} --db {services.db.port} {port}",
            )
            .env("X", "{servces.api.port}"),
        ];
        let issues = check_services(&specs);
        let text: Vec<String> = issues.iter().map(ToString::to_string).collect();
        assert_eq!(issues.len(), 2, "{text:#?}");
        assert!(text[0].contains("{services.db.port}"), "{}", text[0]);
        assert!(
            text[1].contains("env.X") && text[1].contains("servces.api.port"),
            "{}",
            text[1]
        );
    }

    #[test]
    fn structural_problems_are_all_listed() {
        let specs = vec![
            ServiceSpec::new("a", "true").depends_on("b", Condition::Started),
            ServiceSpec::new("b", "true").depends_on("a", Condition::Started),
            ServiceSpec::new("c", "true").depends_on("ghost", Condition::Started),
        ];
        let text: Vec<String> = check_services(&specs)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            text.iter().any(|t| t == "dependency cycle: a -> b -> a"),
            "{text:?}"
        );
        assert!(text.iter().any(|t| t.contains("ghost")), "{text:?}");
    }
}
