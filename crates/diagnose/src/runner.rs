//! The abstract runner the engine drives, and what one run reports back.
//!
//! Everything here is owned and serde-able: the CLI may produce outcomes in
//! another process and pass them as JSON. Every field has `#[serde(default)]`
//! so either side can add fields without breaking the other.

use factors::FactorSet;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// One run the engine asks for: a condition, the run's index within it, and
/// which tests (the whole suite when `tests` is `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The factors isolated (empty = baseline).
    pub isolate: FactorSet,
    /// The 0-based index of this run within its condition (it equals the
    /// round number): `run_no == 0` is the condition's first run, when its
    /// private persistent state (copy-on-write layer) is created.
    pub run_no: usize,
    /// The tests to run, by the test runner's own ids, in this order; `None`
    /// runs the command as given (the whole suite).
    #[serde(default)]
    pub tests: Option<Vec<String>>,
    /// A screening run (focused reruns): its persistent state is its own,
    /// apart from the later runs of the same condition, which start afresh
    /// at `run_no` 0 (so every condition enters the deciding rounds with the
    /// same history).
    #[serde(default)]
    pub screening: bool,
    /// Factors of `isolate` the command provably never uses (factor
    /// pruning): the runner shares them instead (no throwaway database is
    /// started), while the condition keeps its identity (its persistent
    /// state is still that of `isolate`).
    #[serde(default)]
    pub unused: FactorSet,
}

impl RunSpec {
    /// A whole-suite run.
    pub fn suite(isolate: FactorSet, run_no: usize) -> Self {
        RunSpec { isolate, run_no, tests: None, screening: false, unused: FactorSet::EMPTY }
    }

    /// The factors the run really isolates: `isolate` but the unused ones.
    pub fn effective(&self) -> FactorSet {
        self.isolate.iter().filter(|f| !self.unused.contains(*f)).collect()
    }
}

/// Runs the command once under a condition. Implemented by the CLI (sandboxed
/// runs) and by fakes in tests.
pub trait Runner {
    /// Run the command once as `spec` says.
    fn run(&mut self, spec: &RunSpec) -> Result<RunOutcome, RunnerError>;

    /// Called before each [`Runner::run`] with the run that will follow it
    /// (the next of this round, or the first of the next round, which the
    /// engine may yet decide not to make). A runner may prepare that run
    /// while this one executes; the default does nothing.
    fn upcoming(&mut self, _spec: &RunSpec) {}
}

/// A closure over (isolated factors, run index) is a whole-suite runner: how
/// the engine's tests fake runs.
impl<F> Runner for F
where
    F: FnMut(FactorSet, usize) -> Result<RunOutcome, RunnerError>,
{
    fn run(&mut self, spec: &RunSpec) -> Result<RunOutcome, RunnerError> {
        self(spec.isolate, spec.run_no)
    }
}

/// Why a run produced no outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum RunnerError {
    /// The user interrupted (Ctrl-C): stop, and report what was gathered
    /// (the report says `stopped: "interrupted"`).
    #[error("interrupted")]
    Interrupted,
    /// The run could not take place at all (sandbox set-up failed, binary
    /// missing, …): the diagnosis is aborted with this message. A command
    /// that ran and failed is *not* an error: return an outcome with
    /// `passed: false`.
    #[error("{0}")]
    Failed(String),
}

/// What one run of the command produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    /// The command's exit code (128+N when it died of signal N).
    #[serde(default)]
    pub exit_code: i32,
    /// Whether the run counts as a pass (normally `exit_code == 0`).
    #[serde(default)]
    pub passed: bool,
    /// How long the command itself ran (not counting sandbox set-up).
    #[serde(default)]
    pub duration: Duration,
    /// Host wall clock when the run started: for time-of-day correlation.
    #[serde(default = "epoch")]
    pub started_at: SystemTime,
    /// JUnit files found after the run (empty without `--junit`).
    #[serde(default)]
    pub junit: Vec<JunitFile>,
    /// What the sandbox saw the command do.
    #[serde(default)]
    pub evidence: RunObservations,
    /// The run was stopped at its time limit (it counts as a failure, and
    /// is counted and reported as a timeout besides).
    #[serde(default)]
    pub timed_out: bool,
    /// Per-test results a test-runner adapter read from the run, named by
    /// the runner's own ids (what [`RunSpec::tests`] selects by); used
    /// besides any JUnit files.
    #[serde(default)]
    pub tests: Vec<crate::junit::TestCase>,
}

fn epoch() -> SystemTime {
    SystemTime::UNIX_EPOCH
}

impl RunOutcome {
    /// A bare outcome (no JUnit, no evidence): handy for fakes.
    pub fn new(passed: bool) -> Self {
        RunOutcome {
            exit_code: if passed { 0 } else { 1 },
            passed,
            duration: Duration::ZERO,
            started_at: SystemTime::UNIX_EPOCH,
            junit: Vec::new(),
            evidence: RunObservations::default(),
            timed_out: false,
            tests: Vec::new(),
        }
    }
}

/// One JUnit file carried out of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JunitFile {
    /// Path as the user knows it (for messages).
    #[serde(default)]
    pub path: String,
    /// The file's text, or why it could not be read.
    pub contents: Result<String, String>,
}

/// Observations the sandbox made during one run. Strings are shown to the
/// user as they are, so they should be self-explanatory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunObservations {
    /// Files written outside the tmp directories (paths, as shown).
    #[serde(default)]
    pub files_written: Vec<String>,
    /// The same changes, typed: what the fs evidence decides by (a
    /// directory is never pollution). The state of the run's persistent
    /// layer after the run, so earlier runs' files that remain are listed.
    #[serde(default)]
    pub file_changes: Vec<FileChanged>,
    /// Processes still running when the command exited (e.g. "1234 sleep 100").
    #[serde(default)]
    pub leftover_processes: Vec<String>,
    /// Network activity from the shim, e.g.
    /// "connect 93.184.216.34:443 failed ENETUNREACH", "resolve example.com failed",
    /// "connect 127.0.0.1:5432 ok".
    #[serde(default)]
    pub net_events: Vec<String>,
    /// Tables with rows left behind in the throwaway database: (table, rows).
    #[serde(default)]
    pub db_tables: Vec<(String, u64)>,
    /// Client sessions the command opened on the throwaway database, as the
    /// server counted them (`None`: no throwaway database, or not counted).
    #[serde(default)]
    pub db_sessions: Option<u64>,
    /// The shim traced every program of the run, so `net_events` is every
    /// connect and name lookup (false: not traced, or a program out of the
    /// shim's reach, such as a static binary).
    #[serde(default)]
    pub trace_complete: bool,
    /// The instant the clock was frozen at (ISO 8601), under time isolation.
    #[serde(default)]
    pub frozen_instant: Option<String>,
    /// The seed of the run's OS randomness, under rand isolation (`run --seed`).
    #[serde(default)]
    pub entropy_seed: Option<u64>,
    /// How many times the command read the (frozen) wall clock.
    #[serde(default)]
    pub clock_reads: Option<u64>,
    /// Attempts to set the system clock, e.g. "clock_settime failed EPERM".
    #[serde(default)]
    pub clock_set_attempts: Vec<String>,
    /// Anything the sandbox could not do or vouch for (e.g. "static binary:
    /// clock not frozen").
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Files the command opened, or found there when an open failed,
    /// outside the system's directories (the shim's trace), each once.
    #[serde(default)]
    pub files_opened: Vec<FileOpen>,
}

/// A file a run opened (see [`RunObservations::files_opened`]), and how.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileOpen {
    /// Its absolute path in the sandbox (the host's path).
    pub path: String,
    /// Opened for reading only, at least once.
    #[serde(default)]
    pub read: bool,
    /// Written without truncating it (appended, updated in place, created
    /// exclusively), or found there by a write that failed: what was there
    /// mattered.
    #[serde(default)]
    pub updated: bool,
    /// Opened with truncation: what was there was thrown away.
    #[serde(default)]
    pub replaced: bool,
}

impl FileOpen {
    /// The run kept state in it: updated it, or read it and wrote it anew
    /// (an output it only overwrote, or a file it only read, is not state).
    pub fn keeps_state(&self) -> bool {
        self.updated || (self.read && self.replaced)
    }
}

impl RunObservations {
    /// What the run left or touched, one line each, for a reader of one
    /// run (the HTML report's grid cell): a few of each kind, with counts.
    pub fn summary_lines(&self) -> Vec<String> {
        const SHOWN: usize = 3;
        fn some(what: &str, items: &[String]) -> Option<String> {
            if items.is_empty() {
                return None;
            }
            let shown = items.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
            let more = items.len().saturating_sub(SHOWN);
            Some(if more > 0 {
                format!("{what}: {shown} (+{more} more)")
            } else {
                format!("{what}: {shown}")
            })
        }
        let tables: Vec<String> = self.db_tables.iter().map(|(t, n)| format!("{t} ({n} rows)")).collect();
        [
            some("wrote", &self.files_written),
            some("left running", &self.leftover_processes),
            some("network", &self.net_events),
            some("rows left in", &tables),
            some("warning", &self.warnings),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

#[cfg(test)]
mod summary_tests {
    use super::RunObservations;

    #[test]
    fn summary_lines_name_a_few_of_each_kind_with_the_rest_counted() {
        let o = RunObservations {
            files_written: (1..=5).map(|i| format!("/home/u/f{i}")).collect(),
            db_tables: vec![("users".into(), 2)],
            ..RunObservations::default()
        };
        assert_eq!(
            o.summary_lines(),
            ["wrote: /home/u/f1, /home/u/f2, /home/u/f3 (+2 more)", "rows left in: users (2 rows)"]
        );
        assert!(RunObservations::default().summary_lines().is_empty());
    }
}

/// One change in a run's copy-on-write layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChanged {
    pub path: String,
    pub kind: FileChangeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileChangeKind {
    /// Created or changed.
    Written,
    /// A file that existed before was deleted.
    Deleted,
    /// An empty directory (created, or emptied of what the run removed).
    Dir,
}

impl FileChanged {
    pub fn written(path: &str) -> Self {
        FileChanged { path: path.to_string(), kind: FileChangeKind::Written }
    }
}
