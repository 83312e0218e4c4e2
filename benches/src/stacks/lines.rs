//! A child's output read line by line on a thread of its own, each line stamped with the
//! moment pw-bench read it: how the supervisor suites see portwarden's `up --json` events
//! (`stack_ready`, `exited`, `spawned`) as they happen.

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// One line and when it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// When pw-bench read it.
    pub at: Instant,
    /// The line, without its newline.
    pub text: String,
}

#[derive(Debug, Default)]
struct State {
    lines: Vec<Line>,
    closed: bool,
}

/// The lines read so far from one pipe; cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct Lines {
    shared: Arc<(Mutex<State>, Condvar)>,
}

impl Lines {
    /// Reads `pipe` on a new thread until end of file.
    pub fn follow(pipe: impl Read + Send + 'static) -> Lines {
        let lines = Lines::default();
        let writer = lines.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut buffer = Vec::new();
            loop {
                buffer.clear();
                match reader.read_until(b'\n', &mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let at = Instant::now();
                        let text = String::from_utf8_lossy(&buffer).trim_end().to_string();
                        writer.push(Line { at, text });
                    }
                }
            }
            let (state, changed) = &*writer.shared;
            lock(state).closed = true;
            changed.notify_all();
        });
        lines
    }

    fn push(&self, line: Line) {
        let (state, changed) = &*self.shared;
        lock(state).lines.push(line);
        changed.notify_all();
    }

    /// How many lines have been read.
    pub fn len(&self) -> usize {
        lock(&self.shared.0).lines.len()
    }

    /// Whether none has.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first line at index `from` or later that `matches`, without waiting.
    pub fn find(&self, from: usize, matches: impl Fn(&str) -> bool) -> Option<(usize, Line)> {
        let state = lock(&self.shared.0);
        find_in(&state.lines, from, &matches)
    }

    /// Waits until a line at index `from` or later `matches`; `None` at `deadline`, or once the
    /// pipe has closed without one.
    pub fn wait_for(
        &self,
        from: usize,
        deadline: Instant,
        matches: impl Fn(&str) -> bool,
    ) -> Option<(usize, Line)> {
        let (state, changed) = &*self.shared;
        let mut state = lock(state);
        loop {
            if let Some(found) = find_in(&state.lines, from, &matches) {
                return Some(found);
            }
            let now = Instant::now();
            if state.closed || now >= deadline {
                return None;
            }
            state = match changed.wait_timeout(state, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// The last `n` lines, for error messages.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let state = lock(&self.shared.0);
        let skip = state.lines.len().saturating_sub(n);
        state.lines[skip..].iter().map(|l| l.text.clone()).collect()
    }
}

fn find_in(lines: &[Line], from: usize, matches: &dyn Fn(&str) -> bool) -> Option<(usize, Line)> {
    lines
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, l)| matches(&l.text))
        .map(|(i, l)| (i, l.clone()))
}

/// A poisoned lock only means a reader thread panicked mid-push; the lines are still good.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether `line` is a portwarden event (`up --json`) of type `kind`, for `service` when given.
///
/// ```
/// use pwbench::stacks::is_event;
/// let line = r#"{"type":"spawned","service":"svc00","pid":703,"port":20000}"#;
/// assert!(is_event(line, "spawned", Some("svc00")));
/// assert!(!is_event(line, "spawned", Some("svc01")));
/// assert!(!is_event("READY pid=1", "spawned", None));
/// ```
pub fn is_event(line: &str, kind: &str, service: Option<&str>) -> bool {
    let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
        return false;
    };
    event.get("type").and_then(|t| t.as_str()) == Some(kind)
        && service.is_none_or(|s| event.get("service").and_then(|v| v.as_str()) == Some(s))
}

/// A number field of a portwarden event line (`pid`, `supervisor_pid`, `delay_ms`).
pub fn event_number(line: &str, field: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()?
        .get(field)?
        .as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lines_are_read_as_they_come_and_waited_for() {
        let mut child = std::process::Command::new("/bin/sh")
            .args([
                "-c",
                "echo one; sleep 0.2; echo '{\"type\":\"stack_ready\",\"after_ms\":3}'",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Lines::follow(child.stdout.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(10);
        let (index, line) = lines
            .wait_for(0, deadline, |l| is_event(l, "stack_ready", None))
            .unwrap();
        assert_eq!(index, 1);
        assert_eq!(event_number(&line.text, "after_ms"), Some(3));
        let (_, first) = lines.find(0, |l| l == "one").unwrap();
        assert!(first.at < line.at);
        child.wait().unwrap();
        // Closed without a match: no waiting until the deadline.
        let started = Instant::now();
        assert!(lines.wait_for(2, deadline, |_| true).is_none());
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(lines.tail(1).len(), 1);
    }
}
