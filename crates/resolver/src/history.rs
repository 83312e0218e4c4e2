//! The audit trail: one JSON line per conflict, with its decision and outcome.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portcore::Protocol;
use serde::{Deserialize, Serialize};

use crate::{ConflictLevel, Decision, EntryOutcome, HistoryError, Plan, Report};

/// One line of the history file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRecord {
    /// When it was recorded, RFC 3339 in UTC (`2025-01-31T12:00:00.123Z`).
    pub timestamp: String,
    /// The service (`None` for kill-port).
    pub service: Option<String>,
    /// The port in conflict.
    pub port: u16,
    /// Its protocol.
    pub protocol: Protocol,
    /// The conflict's level.
    pub level: ConflictLevel,
    /// The strategy (or `kill-port`, `cleanup`).
    pub strategy: String,
    /// The decision.
    pub decision: Decision,
    /// How it went.
    pub outcome: EntryOutcome,
    /// The port the service uses afterwards.
    pub resolved_port: Option<u16>,
    /// How long it took.
    #[serde(with = "crate::serde_ms", rename = "duration_ms")]
    pub duration: Duration,
    /// Whether this was a dry run (nothing was done).
    pub dry_run: bool,
    /// The conflict's explanation and the outcomes' reasons.
    pub detail: String,
}

/// The history file (`.portwarden/history.jsonl`; the caller gives the path).
///
/// Appends are made with `O_APPEND`, one `write` per line, so concurrent writers (two
/// portwarden runs) never interleave within a line.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// use resolver::History;
/// let history = History::new(dir.path().join(".portwarden/history.jsonl"));
/// let log = history.read()?; // a missing file is an empty history
/// assert!(log.records.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    path: PathBuf,
}

/// What [`History::read`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryLog {
    /// The records, oldest first.
    pub records: Vec<HistoryRecord>,
    /// Whether the last line was cut off (a writer stopped mid-line): it is ignored.
    pub truncated_tail: bool,
    /// Lines (1-based) that are not valid records, other than a truncated last line.
    pub bad_lines: Vec<usize>,
}

impl History {
    /// The history kept at `path`.
    pub fn new(path: impl Into<PathBuf>) -> History {
        History { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record, creating the folder and the file when needed.
    pub fn append(&self, record: &HistoryRecord) -> Result<(), HistoryError> {
        self.append_all(std::slice::from_ref(record))
    }

    /// Appends records, one line (and one `write`) each.
    pub fn append_all(&self, records: &[HistoryRecord]) -> Result<(), HistoryError> {
        if records.is_empty() {
            return Ok(());
        }
        let io = |source| HistoryError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|source| HistoryError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        for record in records {
            let mut line = serde_json::to_vec(record).map_err(|source| HistoryError::Encode {
                path: self.path.clone(),
                source,
            })?;
            line.push(b'\n');
            file.write_all(&line).map_err(io)?;
        }
        Ok(())
    }

    /// Records every entry of `report` that had a conflict or did something (a free port
    /// kept as it is is not recorded). Returns how many records were written.
    pub fn record(&self, plan: &Plan, report: &Report) -> Result<usize, HistoryError> {
        let records = records_of(plan, report, SystemTime::now());
        self.append_all(&records)?;
        Ok(records.len())
    }

    /// Reads every record. A missing file is an empty history; a cut-off last line is
    /// ignored ([`HistoryLog::truncated_tail`]); other bad lines are skipped and listed.
    pub fn read(&self) -> Result<HistoryLog, HistoryError> {
        let file = match fs::File::open(&self.path) {
            Ok(file) => file,
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(HistoryLog::default()),
            Err(source) => {
                return Err(HistoryError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let mut log = HistoryLog::default();
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        let mut number = 0;
        loop {
            line.clear();
            let read = reader
                .read_until(b'\n', &mut line)
                .map_err(|source| HistoryError::Io {
                    path: self.path.clone(),
                    source,
                })?;
            if read == 0 {
                break;
            }
            number += 1;
            let complete = line.last() == Some(&b'\n');
            let text = line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            match serde_json::from_slice::<HistoryRecord>(text) {
                Ok(record) => log.records.push(record),
                Err(_) if !complete => log.truncated_tail = true,
                Err(err) => {
                    log::warn!(
                        "{}:{number}: not a history record: {err}",
                        self.path.display()
                    );
                    log.bad_lines.push(number);
                }
            }
        }
        Ok(log)
    }
}

/// The records for a report: one per entry with work, or with a conflict above `low` (a port
/// held by our own live instance is the normal state of a running stack, not history).
pub fn records_of(plan: &Plan, report: &Report, now: SystemTime) -> Vec<HistoryRecord> {
    let timestamp = rfc3339(now);
    plan.entries
        .iter()
        .zip(&report.entries)
        .filter(|(entry, _)| {
            entry.has_work()
                || entry
                    .conflict
                    .as_ref()
                    .is_some_and(|c| c.level > ConflictLevel::Low)
        })
        .map(|(entry, done)| {
            let mut detail = entry
                .conflict
                .as_ref()
                .map(|c| c.explanation.clone())
                .unwrap_or_default();
            for action in &done.actions {
                let reason = match &action.outcome {
                    crate::Outcome::Done { detail, .. } => detail.clone(),
                    crate::Outcome::Refused { refusal } => format!("refused: {refusal}"),
                    crate::Outcome::Failed { message } => format!("failed: {message}"),
                    crate::Outcome::Skipped { reason } => format!("skipped: {reason}"),
                };
                if !detail.is_empty() {
                    detail.push_str(" | ");
                }
                detail.push_str(&reason);
            }
            HistoryRecord {
                timestamp: timestamp.clone(),
                service: entry.service.clone(),
                port: entry.port,
                protocol: entry.protocol,
                level: entry.level,
                strategy: plan.strategy.clone(),
                decision: done.decision.clone(),
                outcome: done.outcome(),
                resolved_port: done.resolved_port,
                duration: done.duration,
                dry_run: report.dry_run,
                detail,
            }
        })
        .collect()
}

/// `time` as RFC 3339 in UTC with milliseconds, e.g. `2026-11-29T05:44:58.123Z`: the format
/// of history timestamps, exported so that programs rendering the history write times alike.
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789); // a leap year's Feb 29
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.789Z");
    }
}
