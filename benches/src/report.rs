//! What a suite found: per-command figures, checks against targets, and their rendering as a
//! table or as JSON.

use std::io::{self, Write};

use serde::Serialize;

use crate::measure::Measured;
use crate::stats::{self, Summary};

/// Everything one invocation measured, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct Report {
    /// pw-bench's version.
    pub pw_bench: &'static str,
    /// One entry per suite run.
    pub suites: Vec<SuiteReport>,
}

/// One suite's results.
#[derive(Debug, Serialize)]
pub struct SuiteReport {
    /// The suite's name (`scan`).
    pub suite: &'static str,
    /// Lines describing the setup: fixtures, network, runs.
    pub setup: Vec<String>,
    /// Whether the run had a private network namespace (`private`) or used the host's (`host`).
    pub network: &'static str,
    /// Warm-up rounds.
    pub warmup: usize,
    /// Timed rounds.
    pub runs: usize,
    /// Each command, measured or skipped.
    pub commands: Vec<CommandResult>,
    /// The targets and how each came out.
    pub checks: Vec<Check>,
    /// Anything else the reader should know (skipped peers, caveats).
    pub notes: Vec<String>,
}

impl SuiteReport {
    /// Whether any check failed or could not be judged (what `--strict` turns into exit 1).
    pub fn missed(&self) -> bool {
        self.checks
            .iter()
            .any(|c| matches!(c.verdict, Verdict::Fail | Verdict::Error))
    }
}

/// Whether a command is what we build or what we compare against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// portwarden itself.
    Candidate,
    /// A tool portwarden is compared with.
    Peer,
}

/// One command's figures over the timed runs.
#[derive(Debug, Clone, Serialize)]
pub struct CommandResult {
    /// Its label (`ss -tulpn`).
    pub label: String,
    /// Its full command line.
    pub command: String,
    /// Candidate or peer.
    pub role: Role,
    /// Why it was not run, when it was not.
    pub skipped: Option<String>,
    /// Wall-time statistics, milliseconds.
    pub wall_ms: Option<Summary>,
    /// Every timed run's wall time, milliseconds, in run order.
    pub samples_ms: Vec<f64>,
    /// The largest `ru_maxrss` over the timed runs, KiB.
    pub peak_rss_kib: Option<u64>,
    /// Timed runs that did not exit 0.
    pub failed_runs: usize,
    /// The first failure: its exit status and the first line of stderr.
    pub failure: Option<String>,
    /// Bytes on stdout in the first run.
    pub stdout_bytes: Option<u64>,
    /// Whether its output mentions every number of the suite's probe (a fixture port and the
    /// pids holding it), showing it saw the fixtures; `None` when the suite has no probe.
    pub saw_fixtures: Option<bool>,
    /// For a command asked for `--json`: why its stdout is not one JSON document (`None` when
    /// it is, or when no JSON was asked for).
    pub json_error: Option<String>,
    /// For a long-running process sampled over a window (a supervisor at rest): its CPU time
    /// and memory. Such a row has no wall times; its `peak_rss_kib` is `VmHWM`.
    pub usage: Option<Usage>,
}

/// What a long-running process used over a sampling window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Usage {
    /// The window's length, seconds.
    pub window_s: f64,
    /// User plus system CPU time over the window, all threads (exited ones too), ms.
    pub cpu_ms: f64,
    /// That as a share of one core, percent.
    pub cpu_percent: f64,
    /// Resident set size at the end of the window (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// The largest resident set size so far (`VmHWM`), KiB.
    pub hwm_kib: u64,
    /// Threads at the end of the window.
    pub threads: usize,
}

impl CommandResult {
    /// Figures for a measured command; `probe` holds numbers its output (stdout or stderr) must
    /// mention, each as a whole number.
    pub fn measured(measured: &Measured, role: Role, probe: &[u64]) -> CommandResult {
        let samples_ms: Vec<f64> = measured
            .samples
            .iter()
            .map(|s| s.wall.as_secs_f64() * 1000.0)
            .collect();
        let failed: Vec<_> = measured
            .samples
            .iter()
            .filter(|s| !s.exit.success())
            .collect();
        let first_line = String::from_utf8_lossy(&measured.output.stderr)
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string();
        let failure = failed.first().map(|s| {
            if first_line.is_empty() {
                s.exit.to_string()
            } else {
                format!("{}: {first_line}", s.exit)
            }
        });
        CommandResult {
            label: measured.spec.label.clone(),
            command: measured.spec.command_line(),
            role,
            skipped: None,
            wall_ms: stats::summarize(&samples_ms),
            samples_ms,
            peak_rss_kib: measured.samples.iter().map(|s| s.max_rss_kib).max(),
            failed_runs: failed.len(),
            failure,
            stdout_bytes: Some(measured.output.stdout.len() as u64),
            saw_fixtures: (!probe.is_empty()).then(|| {
                probe.iter().all(|&n| {
                    mentions_number(&measured.output.stdout, n)
                        || mentions_number(&measured.output.stderr, n)
                })
            }),
            json_error: measured
                .spec
                .args
                .iter()
                .any(|a| a == "--json")
                .then(|| serde_json::from_slice::<serde_json::Value>(&measured.output.stdout).err())
                .flatten()
                .map(|e| e.to_string()),
            usage: None,
        }
    }

    /// Figures for a long-running process sampled over a window: CPU time and memory, no
    /// wall times. `problem` says why the figures do not count, if they do not (the process
    /// died during the window).
    pub fn resident(
        label: &str,
        command: &str,
        role: Role,
        usage: Usage,
        problem: Option<String>,
    ) -> CommandResult {
        let mut result = CommandResult::skipped(label.to_string(), role, String::new());
        result.skipped = None;
        result.command = command.to_string();
        result.peak_rss_kib = Some(usage.hwm_kib);
        result.usage = Some(usage);
        if let Some(why) = problem {
            result.failed_runs = 1;
            result.failure = Some(why);
        }
        result
    }

    /// Figures for work timed inside pw-bench (a library call, not a process): no peak RSS,
    /// no output. `problems` holds, per timed run, why that run does not count (a failed call,
    /// a wrong answer), `None` for a good one.
    pub fn in_process(
        label: &str,
        command: &str,
        role: Role,
        samples_ms: Vec<f64>,
        problems: &[Option<String>],
    ) -> CommandResult {
        let mut result = CommandResult::skipped(label.to_string(), role, String::new());
        result.skipped = None;
        result.command = command.to_string();
        result.wall_ms = stats::summarize(&samples_ms);
        result.samples_ms = samples_ms;
        result.set_run_problems(problems);
        result
    }

    /// Marks the runs that failed for reasons only the suite can see (the port stayed bound
    /// after the killer exited, a scan missed listeners): `problems` has one entry per timed
    /// run, in order, `None` for a good run, and must also mark every run that failed by its
    /// exit status, so that the count is of runs, each counted once. The first failure already
    /// recorded (with the command's stderr) stays the one shown.
    pub fn set_run_problems(&mut self, problems: &[Option<String>]) {
        let marked = problems.iter().flatten();
        if self.failure.is_none() {
            self.failure = marked.clone().next().cloned();
        }
        self.failed_runs = self.failed_runs.max(marked.count());
    }

    /// A command that was not run, and why.
    pub fn skipped(label: String, role: Role, why: String) -> CommandResult {
        CommandResult {
            command: label.clone(),
            label,
            role,
            skipped: Some(why),
            wall_ms: None,
            samples_ms: Vec::new(),
            peak_rss_kib: None,
            failed_runs: 0,
            failure: None,
            stdout_bytes: None,
            saw_fixtures: None,
            json_error: None,
            usage: None,
        }
    }

    /// Why its figures cannot be trusted, if they cannot.
    fn problem(&self) -> Option<String> {
        if let Some(why) = &self.skipped {
            return Some(format!("{} was skipped: {why}", self.label));
        }
        if self.failed_runs > 0 && self.usage.is_some() {
            return Some(format!(
                "{}: {}",
                self.label,
                self.failure.as_deref().unwrap_or("?")
            ));
        }
        if self.failed_runs > 0 {
            return Some(format!(
                "{} failed in {} of {} runs ({})",
                self.label,
                self.failed_runs,
                self.samples_ms.len(),
                self.failure.as_deref().unwrap_or("?")
            ));
        }
        if let Some(err) = &self.json_error {
            return Some(format!(
                "{} was asked for --json but its stdout is not one JSON document ({err})",
                self.label
            ));
        }
        if self.saw_fixtures == Some(false) {
            return Some(format!(
                "{}'s output does not name every number the suite probes for (a fixture's port and pids), so it did not see the fixtures",
                self.label
            ));
        }
        None
    }
}

/// Whether `number` appears in `text` as a whole number (not inside a longer one: pid 4070 is
/// not found in port 44070).
pub fn mentions_number(text: &[u8], number: u64) -> bool {
    let needle = number.to_string();
    let needle = needle.as_bytes();
    let mut from = 0;
    while let Some(at) = text[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| from + i)
    {
        let before = at.checked_sub(1).map(|i| text[i]);
        let after = text.get(at + needle.len()).copied();
        if !before.is_some_and(|b| b.is_ascii_digit()) && !after.is_some_and(|b| b.is_ascii_digit())
        {
            return true;
        }
        from = at + 1;
    }
    false
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Target met.
    Pass,
    /// Target missed, or the candidate failed.
    Fail,
    /// A figure shown for information; no target.
    Info,
    /// The peer is not installed.
    Skip,
    /// The peer failed, so the comparison means nothing.
    Error,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Info => "info",
            Verdict::Skip => "SKIP",
            Verdict::Error => "ERROR",
        }
    }
}

/// What a check compares.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Target {
    /// Ratio of median wall times, candidate over peer, at most `max` (no target when `None`).
    MedianRatio {
        /// The peer's label.
        peer: String,
        /// The largest passing ratio.
        max: Option<f64>,
    },
    /// Ratio of mean wall times, candidate over peer, at most `max` (no target when `None`):
    /// for figures whose cost comes in rare large lumps (a scanner's scheduled full pass),
    /// which a median hides.
    MeanRatio {
        /// The peer's label.
        peer: String,
        /// The largest passing ratio.
        max: Option<f64>,
    },
    /// The candidate's median wall time strictly below `max_ms` milliseconds.
    MedianBelow {
        /// The limit, ms.
        max_ms: f64,
    },
    /// The candidate's peak RSS strictly below `max_mib` MiB.
    PeakRss {
        /// The limit, MiB.
        max_mib: f64,
    },
    /// A figure the suite derives for the candidate (an overhead over a baseline, a share of a
    /// core) strictly below `max`, in `unit`.
    FigureBelow {
        /// What the figure is (`overhead per level`).
        figure: String,
        /// Its unit (`ms`, `%`).
        unit: String,
        /// The limit.
        max: f64,
    },
}

/// One target, evaluated.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// The candidate's label.
    pub command: String,
    /// What is compared, and the target.
    pub target: Target,
    /// The ratio, or the peak RSS in MiB.
    pub value: Option<f64>,
    /// How it came out.
    pub verdict: Verdict,
    /// Why, when it is not a plain pass or fail.
    pub reason: Option<String>,
}

impl Check {
    /// Candidate's median over peer's, against `max` (or for information when `None`).
    pub fn median_ratio(
        candidate: &CommandResult,
        peer: &CommandResult,
        max: Option<f64>,
    ) -> Check {
        let target = Target::MedianRatio {
            peer: peer.label.clone(),
            max,
        };
        Check::ratio(candidate, peer, target, max, |s| s.median)
    }

    /// Candidate's mean over peer's, against `max` (or for information when `None`).
    pub fn mean_ratio(candidate: &CommandResult, peer: &CommandResult, max: Option<f64>) -> Check {
        let target = Target::MeanRatio {
            peer: peer.label.clone(),
            max,
        };
        Check::ratio(candidate, peer, target, max, |s| s.mean)
    }

    fn ratio(
        candidate: &CommandResult,
        peer: &CommandResult,
        target: Target,
        max: Option<f64>,
        statistic: fn(&Summary) -> f64,
    ) -> Check {
        let mut check = Check {
            command: candidate.label.clone(),
            target,
            value: None,
            verdict: Verdict::Info,
            reason: None,
        };
        // The ratio is shown even when a problem decides the verdict: a stand-in's figure still
        // tells whether the harness works.
        if let (Some(c), Some(p)) = (&candidate.wall_ms, &peer.wall_ms) {
            check.value = stats::ratio(statistic(c), statistic(p));
        }
        (check.verdict, check.reason) = if let Some(why) = candidate.problem() {
            (Verdict::Fail, Some(why))
        } else if let Some(why) = &peer.skipped {
            (Verdict::Skip, Some(why.clone()))
        } else if let Some(why) = peer.problem() {
            (Verdict::Error, Some(why))
        } else {
            match (check.value, max) {
                (Some(v), Some(max)) if v <= max => (Verdict::Pass, None),
                (Some(_), Some(_)) => (Verdict::Fail, None),
                (Some(_), None) => (Verdict::Info, None),
                (None, _) => (Verdict::Error, Some("no timed runs to compare".to_string())),
            }
        };
        check
    }

    /// Candidate's median wall time below `max_ms`: an absolute target, for what a user waits
    /// for whatever the peers do.
    pub fn median_below(candidate: &CommandResult, max_ms: f64) -> Check {
        let value = candidate.wall_ms.as_ref().map(|w| w.median);
        let (verdict, reason) = match (candidate.problem(), value) {
            (Some(why), _) => (Verdict::Fail, Some(why)),
            (None, Some(v)) if v < max_ms => (Verdict::Pass, None),
            (None, Some(_)) => (Verdict::Fail, None),
            (None, None) => (Verdict::Error, Some("no timed runs".to_string())),
        };
        Check {
            command: candidate.label.clone(),
            target: Target::MedianBelow { max_ms },
            value,
            verdict,
            reason,
        }
    }

    /// Candidate's peak RSS below `max_mib`.
    pub fn peak_rss(candidate: &CommandResult, max_mib: f64) -> Check {
        let value = candidate.peak_rss_kib.map(|k| k as f64 / 1024.0);
        let (verdict, reason) = match (candidate.problem(), value) {
            (Some(why), _) => (Verdict::Fail, Some(why)),
            (None, Some(v)) if v < max_mib => (Verdict::Pass, None),
            (None, Some(_)) => (Verdict::Fail, None),
            (None, None) => (Verdict::Error, Some("no timed runs".to_string())),
        };
        Check {
            command: candidate.label.clone(),
            target: Target::PeakRss { max_mib },
            value,
            verdict,
            reason,
        }
    }

    /// A figure the suite computed for `candidate` (`value`, in `unit`) strictly below `max`;
    /// `None` when it could not be computed (a missing baseline).
    pub fn figure_below(
        candidate: &CommandResult,
        figure: &str,
        unit: &str,
        value: Option<f64>,
        max: f64,
    ) -> Check {
        let (verdict, reason) = match (candidate.problem(), value) {
            (Some(why), _) => (Verdict::Fail, Some(why)),
            (None, Some(v)) if v < max => (Verdict::Pass, None),
            (None, Some(_)) => (Verdict::Fail, None),
            (None, None) => (
                Verdict::Error,
                Some(format!(
                    "no {figure}: a figure it is computed from is missing"
                )),
            ),
        };
        Check {
            command: candidate.label.clone(),
            target: Target::FigureBelow {
                figure: figure.to_string(),
                unit: unit.to_string(),
                max,
            },
            value,
            verdict,
            reason,
        }
    }

    fn describe(&self) -> (String, String) {
        match &self.target {
            Target::MedianRatio { peer, max } => (
                match self.value {
                    Some(v) => format!("{v:.2}x {peer}"),
                    None => format!("- vs {peer}"),
                },
                max.map_or("-".to_string(), |m| format!("<= {m:.2}x")),
            ),
            Target::MeanRatio { peer, max } => (
                match self.value {
                    Some(v) => format!("mean {v:.2}x {peer}"),
                    None => format!("mean - vs {peer}"),
                },
                max.map_or("-".to_string(), |m| format!("<= {m:.2}x")),
            ),
            Target::MedianBelow { max_ms } => (
                match self.value {
                    Some(v) => format!("median {}", ms(v)),
                    None => "median -".to_string(),
                },
                format!("< {max_ms:.0} ms"),
            ),
            Target::PeakRss { max_mib } => (
                match self.value {
                    Some(v) => format!("peak RSS {v:.1} MiB"),
                    None => "peak RSS -".to_string(),
                },
                format!("< {max_mib:.0} MiB"),
            ),
            Target::FigureBelow { figure, unit, max } => (
                match self.value {
                    Some(v) => format!("{figure} {}", with_unit(v, unit)),
                    None => format!("{figure} -"),
                },
                format!("< {}", with_unit(*max, unit)),
            ),
        }
    }
}

/// A figure with its unit: milliseconds as [`ms`] shows them, percentages to two decimals.
fn with_unit(value: f64, unit: &str) -> String {
    match unit {
        "ms" => ms(value),
        "%" => format!("{value:.2}%"),
        other => format!("{value:.2} {other}"),
    }
}

/// Milliseconds, with precision to suit the size.
fn ms(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2} ms")
    } else if value < 1000.0 {
        format!("{value:.1} ms")
    } else {
        format!("{:.2} s", value / 1000.0)
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Writes `suite` as a table: one row per command, its checks beside it. Rows are wall times
/// (median, p90, min, peak RSS), or for a suite that sampled long-running processes, their
/// usage (CPU share, CPU time, VmRSS, VmHWM).
pub fn write_table(out: &mut dyn Write, suite: &SuiteReport) -> io::Result<()> {
    writeln!(out, "pw-bench {}", suite.suite)?;
    for line in &suite.setup {
        writeln!(out, "  {line}")?;
    }
    writeln!(out)?;
    let usage = suite.commands.iter().any(|c| c.usage.is_some());
    let width = suite
        .commands
        .iter()
        .map(|c| c.label.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let check_width = suite
        .checks
        .iter()
        .map(|c| c.describe().0.len())
        .max()
        .unwrap_or(10)
        .max(10);
    let header = if usage {
        ["CPU/core", "CPU time", "VmRSS", "VmHWM"]
    } else {
        ["median", "p90", "min", "peak RSS"]
    };
    writeln!(
        out,
        "{:<width$}  {:>9}  {:>9}  {:>9}  {:>9}  {:<check_width$}  {:<9}  result",
        "command", header[0], header[1], header[2], header[3], "ratio / check", "target"
    )?;
    let blank = format!("{:<width$}  {:>9}  {:>9}  {:>9}  {:>9}", "", "", "", "", "");
    for command in &suite.commands {
        let figures = match (&command.skipped, &command.wall_ms, &command.usage) {
            (Some(why), _, _) => format!("skipped: {why}"),
            (None, _, Some(u)) => format!(
                "{:>9}  {:>9}  {:>9}  {:>9}",
                format!("{:.2}%", u.cpu_percent),
                ms(u.cpu_ms),
                mib(u.rss_kib),
                mib(u.hwm_kib)
            ),
            (None, Some(w), None) => format!(
                "{:>9}  {:>9}  {:>9}  {:>9}",
                ms(w.median),
                ms(w.p90),
                ms(w.min),
                command.peak_rss_kib.map_or("-".to_string(), mib)
            ),
            (None, None, None) => "no timed runs".to_string(),
        };
        let row = format!("{:<width$}  {figures}", command.label);
        let checks: Vec<&Check> = suite
            .checks
            .iter()
            .filter(|c| c.command == command.label)
            .collect();
        if checks.is_empty() {
            writeln!(out, "{}", row.trim_end())?;
        }
        for (i, check) in checks.iter().enumerate() {
            let (what, target) = check.describe();
            let lead = if i == 0 { &row } else { &blank };
            writeln!(
                out,
                "{lead:<lead_width$}  {what:<check_width$}  {target:<9}  {}",
                check.verdict.word(),
                lead_width = blank.len()
            )?;
        }
    }
    // One line per distinct reason: a failing candidate fails all its checks for one cause.
    let mut reasons: Vec<(&str, &str, &str)> = Vec::new();
    for check in &suite.checks {
        if let Some(reason) = &check.reason {
            let entry = (
                check.verdict.word(),
                check.command.as_str(),
                reason.as_str(),
            );
            if !reasons.contains(&entry) {
                reasons.push(entry);
            }
        }
    }
    if !reasons.is_empty() || !suite.notes.is_empty() {
        writeln!(out)?;
    }
    for (verdict, command, reason) in reasons {
        writeln!(out, "{verdict} {command}: {reason}")?;
    }
    for note in &suite.notes {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}

/// Writes the whole report as one JSON document.
pub fn write_json(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(label: &str, median: f64) -> CommandResult {
        let mut r = CommandResult::skipped(label.to_string(), Role::Peer, String::new());
        r.skipped = None;
        r.samples_ms = vec![median];
        r.wall_ms = stats::summarize(&[median]);
        r.peak_rss_kib = Some(4096);
        r
    }

    #[test]
    fn ratio_within_target_passes_and_beyond_fails() {
        let candidate = result("pw", 6.0);
        let peer = result("ss", 10.0);
        let pass = Check::median_ratio(&candidate, &peer, Some(0.7));
        assert_eq!((pass.verdict, pass.value), (Verdict::Pass, Some(0.6)));
        let fail = Check::median_ratio(&candidate, &peer, Some(0.5));
        assert_eq!(fail.verdict, Verdict::Fail);
        assert_eq!(
            Check::median_ratio(&candidate, &peer, None).verdict,
            Verdict::Info
        );
    }

    #[test]
    fn skipped_peer_skips_and_failing_candidate_fails() {
        let peer = CommandResult::skipped("lsof".into(), Role::Peer, "not installed".into());
        assert_eq!(
            Check::median_ratio(&result("pw", 1.0), &peer, Some(1.0)).verdict,
            Verdict::Skip
        );
        let mut candidate = result("pw", 1.0);
        candidate.failed_runs = 1;
        assert_eq!(
            Check::median_ratio(&candidate, &result("ss", 9.0), Some(1.0)).verdict,
            Verdict::Fail
        );
        let mut not_json = result("pw", 1.0);
        not_json.json_error = Some("EOF while parsing a value".into());
        assert_eq!(
            Check::median_ratio(&not_json, &result("ss", 9.0), Some(1.0)).verdict,
            Verdict::Fail
        );
        let mut blind_peer = result("ss", 9.0);
        blind_peer.saw_fixtures = Some(false);
        assert_eq!(
            Check::median_ratio(&result("pw", 1.0), &blind_peer, Some(1.0)).verdict,
            Verdict::Error
        );
    }

    #[test]
    fn numbers_are_found_whole() {
        assert!(mentions_number(b"pid=4070,fd=3", 4070));
        assert!(mentions_number(b"4070", 4070));
        assert!(!mentions_number(b"127.0.0.1:44070 ", 4070));
        assert!(!mentions_number(b"40701", 4070));
        assert!(mentions_number(b"40701 4070", 4070));
        assert!(!mentions_number(b"", 1));
    }

    #[test]
    fn mean_ratio_compares_means_not_medians() {
        let mut candidate = result("steady", 1.0);
        candidate.samples_ms = vec![1.0, 1.0, 1.0, 1.0, 16.0];
        candidate.wall_ms = stats::summarize(&candidate.samples_ms);
        let cold = result("cold", 10.0);
        let median = Check::median_ratio(&candidate, &cold, Some(0.2));
        assert_eq!((median.verdict, median.value), (Verdict::Pass, Some(0.1)));
        let mean = Check::mean_ratio(&candidate, &cold, Some(0.2));
        assert_eq!((mean.verdict, mean.value), (Verdict::Fail, Some(0.4)));
        assert_eq!(
            mean.describe(),
            ("mean 0.40x cold".into(), "<= 0.20x".into())
        );
    }

    #[test]
    fn median_below_is_an_absolute_target() {
        let pass = Check::median_below(&result("pw", 99.0), 100.0);
        assert_eq!((pass.verdict, pass.value), (Verdict::Pass, Some(99.0)));
        assert_eq!(
            pass.describe(),
            ("median 99.0 ms".into(), "< 100 ms".into())
        );
        assert_eq!(
            Check::median_below(&result("pw", 100.0), 100.0).verdict,
            Verdict::Fail
        );
        let mut failing = result("pw", 1.0);
        failing.set_run_problems(&[None, Some("port still bound".into())]);
        let check = Check::median_below(&failing, 100.0);
        assert_eq!(check.verdict, Verdict::Fail);
        assert!(check.reason.unwrap().contains("port still bound"));
    }

    #[test]
    fn run_problems_count_runs_once_and_keep_the_first_failure() {
        let mut r = result("pw", 1.0);
        r.failed_runs = 1;
        r.failure = Some("exit 1: boom".into());
        r.set_run_problems(&[Some("exit 1".into()), None, Some("port still bound".into())]);
        assert_eq!(r.failed_runs, 2);
        assert_eq!(r.failure.as_deref(), Some("exit 1: boom"));
        let mut clean = result("pw", 1.0);
        clean.set_run_problems(&[None, Some("holder survived".into())]);
        assert_eq!(clean.failed_runs, 1);
        assert_eq!(clean.failure.as_deref(), Some("holder survived"));
    }

    #[test]
    fn in_process_figures_have_no_rss_or_output() {
        let r = CommandResult::in_process(
            "scan",
            "Scanner::scan",
            Role::Candidate,
            vec![2.0, 4.0],
            &[None, None],
        );
        assert_eq!(r.wall_ms.map(|w| w.median), Some(3.0));
        assert_eq!(
            (r.peak_rss_kib, r.stdout_bytes, r.failed_runs),
            (None, None, 0)
        );
        assert!(r.problem().is_none());
    }

    #[test]
    fn a_resident_row_shows_its_usage_and_is_judged_on_it() {
        let usage = Usage {
            window_s: 30.0,
            cpu_ms: 60.0,
            cpu_percent: 0.2,
            rss_kib: 8 * 1024,
            hwm_kib: 9 * 1024,
            threads: 12,
        };
        let row =
            CommandResult::resident("portwarden", "portwarden up", Role::Candidate, usage, None);
        assert_eq!(row.peak_rss_kib, Some(9 * 1024));
        let cpu = Check::figure_below(&row, "idle CPU", "%", Some(0.2), 0.5);
        assert_eq!(cpu.verdict, Verdict::Pass);
        assert_eq!(cpu.describe(), ("idle CPU 0.20%".into(), "< 0.50%".into()));
        assert_eq!(Check::peak_rss(&row, 20.0).verdict, Verdict::Pass);
        let died = CommandResult::resident(
            "portwarden",
            "portwarden up",
            Role::Candidate,
            usage,
            Some("the supervisor exited during the window".into()),
        );
        let check = Check::figure_below(&died, "idle CPU", "%", Some(0.2), 0.5);
        assert_eq!(check.verdict, Verdict::Fail);
        assert!(check.reason.unwrap().contains("exited during the window"));
        let suite = SuiteReport {
            suite: "supervisor/idle",
            setup: vec![],
            network: "host",
            warmup: 0,
            runs: 1,
            commands: vec![row],
            checks: vec![cpu],
            notes: vec![],
        };
        let mut table = Vec::new();
        write_table(&mut table, &suite).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(
            table.contains("CPU/core") && table.contains("0.20%"),
            "{table}"
        );
        assert!(
            table.contains("9.0 MiB") && table.contains("PASS"),
            "{table}"
        );
    }

    #[test]
    fn a_figure_that_could_not_be_computed_is_an_error() {
        let check = Check::figure_below(&result("pw", 1.0), "overhead per level", "ms", None, 30.0);
        assert_eq!(check.verdict, Verdict::Error);
        let fail = Check::figure_below(
            &result("pw", 1.0),
            "overhead per level",
            "ms",
            Some(31.0),
            30.0,
        );
        assert_eq!(fail.verdict, Verdict::Fail);
        assert_eq!(
            fail.describe(),
            ("overhead per level 31.0 ms".into(), "< 30.0 ms".into())
        );
    }

    #[test]
    fn peak_rss_is_strictly_below_the_limit() {
        let check = Check::peak_rss(&result("pw", 1.0), 4.0);
        assert_eq!((check.verdict, check.value), (Verdict::Fail, Some(4.0)));
        assert_eq!(
            Check::peak_rss(&result("pw", 1.0), 20.0).verdict,
            Verdict::Pass
        );
    }
}
