//! The conflict history report: totals, outcomes per strategy, counts per service and the last
//! few conflicts, from `history.jsonl`, a cut-off last line and bad lines tolerated and said.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use resolver::{ConflictLevel, Decision, EntryOutcome, History, HistoryRecord};
use serde::Serialize;

/// One service's conflicts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceHistory {
    /// Records (a port decision each, ours-only ones included).
    pub records: usize,
    /// Of which were conflicts: someone else held the port (level medium or above).
    pub conflicts: usize,
    /// Of which ended with the service moved.
    pub migrations: usize,
    /// Of which ended with the holders stopped.
    pub terminations: usize,
    /// Of which were not resolved (refused, skipped, failed, unresolvable ...).
    pub unresolved: usize,
    /// The last one's time.
    pub last_at: String,
}

/// The history section of the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HistorySummary {
    /// The file.
    pub path: PathBuf,
    /// Whether it exists.
    pub exists: bool,
    /// Why it could not be read, when it could not.
    pub error: Option<String>,
    /// Records read.
    pub records: usize,
    /// Of which were conflicts (level medium or above; a record of level low says the port
    /// was held by the service's own live instance, and was kept).
    pub conflicts: usize,
    /// Whether the last line was cut off (a writer stopped mid-line): ignored.
    pub truncated_tail: bool,
    /// Lines (1-based) that are not records: skipped.
    pub bad_lines: Vec<usize>,
    /// The first and the last record's time.
    pub first_at: Option<String>,
    /// See `first_at`.
    pub last_at: Option<String>,
    /// Records per outcome (`done`, `skipped`, `refused`, `unresolvable` ...).
    pub outcomes: BTreeMap<String, usize>,
    /// Records per decision (`migrate`, `terminate`, `restart_ours`, ...).
    pub decisions: BTreeMap<String, usize>,
    /// Records per conflict level.
    pub levels: BTreeMap<String, usize>,
    /// Per strategy (`intelligent`, `kill-port` ...), records per outcome.
    pub strategies: BTreeMap<String, BTreeMap<String, usize>>,
    /// Per service.
    pub services: BTreeMap<String, ServiceHistory>,
    /// The last records, oldest first.
    pub last: Vec<HistoryRecord>,
}

fn name_of(outcome: EntryOutcome) -> String {
    serde_json::to_value(outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{outcome:?}").to_lowercase())
}

impl HistorySummary {
    /// Reads the history at `path` and sums it up, keeping the `last` most recent records.
    pub fn read(path: &Path, last: usize) -> HistorySummary {
        let mut summary = HistorySummary {
            path: path.to_path_buf(),
            exists: path.exists(),
            ..HistorySummary::default()
        };
        let log = match History::new(path).read() {
            Ok(log) => log,
            Err(e) => {
                summary.error = Some(e.to_string());
                return summary;
            }
        };
        summary.records = log.records.len();
        summary.truncated_tail = log.truncated_tail;
        summary.bad_lines = log.bad_lines;
        summary.first_at = log.records.first().map(|r| r.timestamp.clone());
        summary.last_at = log.records.last().map(|r| r.timestamp.clone());
        for record in &log.records {
            let conflict = record.level > ConflictLevel::Low;
            summary.conflicts += usize::from(conflict);
            let outcome = name_of(record.outcome);
            *summary.outcomes.entry(outcome.clone()).or_default() += 1;
            *summary
                .decisions
                .entry(record.decision.name().to_owned())
                .or_default() += 1;
            *summary
                .levels
                .entry(record.level.as_str().to_owned())
                .or_default() += 1;
            *summary
                .strategies
                .entry(record.strategy.clone())
                .or_default()
                .entry(outcome)
                .or_default() += 1;
            let Some(service) = &record.service else {
                continue;
            };
            let entry = summary.services.entry(service.clone()).or_default();
            entry.records += 1;
            entry.conflicts += usize::from(conflict);
            entry.last_at.clone_from(&record.timestamp);
            match (&record.decision, record.outcome) {
                (Decision::Migrate { .. }, EntryOutcome::Done) => entry.migrations += 1,
                (Decision::Terminate { .. } | Decision::RestartOurs { .. }, EntryOutcome::Done) => {
                    entry.terminations += 1
                }
                (_, EntryOutcome::Done | EntryOutcome::Kept) => {}
                _ => entry.unresolved += 1,
            }
        }
        let skip = log.records.len().saturating_sub(last);
        summary.last = log.records.into_iter().skip(skip).collect();
        summary
    }

    /// What was wrong with the file, in a sentence; `None` when nothing was.
    pub fn damage(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.truncated_tail {
            parts.push(
                "its last line was cut off (a writer stopped mid-line) and is ignored".into(),
            );
        }
        if !self.bad_lines.is_empty() {
            let lines: Vec<String> = self.bad_lines.iter().map(ToString::to_string).collect();
            parts.push(format!(
                "line{} {} {} not a record and {} skipped",
                if lines.len() == 1 { "" } else { "s" },
                lines.join(", "),
                if lines.len() == 1 { "is" } else { "are" },
                if lines.len() == 1 { "is" } else { "are" },
            ));
        }
        if let Some(error) = &self.error {
            parts.push(format!("it could not be read: {error}"));
        }
        (!parts.is_empty()).then(|| format!("{}: {}", self.path.display(), parts.join("; ")))
    }
}
