//! The engine of `flakebox diagnose`: plan the conditions, schedule runs on
//! an abstract [`Runner`], read JUnit, decide with exact statistics, gather
//! evidence, and render the report. Pure library: no processes, no clocks
//! other than measuring its own wall time.
//!
//! Entry point: [`diagnose`].
//!
//! # Statistical method and guarantee
//!
//! Runs go in rounds; each round runs every condition once, in a seeded
//! random order. For each factor, the runs of `baseline` and of "this factor
//! isolated" in the same round form a pair. Under the null hypothesis that
//! isolating the factor makes no difference, in a round where exactly one of
//! the pair failed, each of the two is equally likely to be the failing one,
//! independently across rounds, even if the failure rate drifts. The engine
//! therefore uses an exact sign test on these discordant rounds:
//!
//! * while adaptive, a *sequential* version whose p-value is the exact
//!   probability that a fair random walk ever looks as extreme within
//!   `max_runs` steps ([`stats::SequentialSignTest`]), so looking after
//!   every round costs nothing in validity;
//! * with `fixed_runs`, a single look, with Fisher's exact test on the
//!   pass/fail counts instead (more powerful at one look).
//!
//! Each factor's alpha is split, in advance, 2/3 for "isolating removes
//! failures" and 1/3 for "isolating adds failures"; the factors are then
//! corrected with Holm's step-down method.
//!
//! **Guarantee**: if no chosen factor changes the command's behaviour (its
//! runs are exchangeable between conditions within a round), the probability
//! that the diagnosis claims any effect — hence an `environment` verdict — is
//! at most `alpha`, whatever the failure rate, its drift, the stopping round
//! or the number of looks. The same holds separately for each test's verdict
//! (the correction is over factors, not over tests). With `rand` among the
//! factors, the runs that do not isolate it draw from their round's entropy
//! seed ([`run_entropy_seed`]): a function of the round, not of the
//! condition, so the two runs of a pair stay exchangeable under the null. `intrinsic` needs no
//! test: it is a fact that the all-isolated condition both passed and failed.
//!
//! # Stopping
//!
//! The runs stop when every factor of the command and of every test is
//! decided. A factor stays `undecided` only while its claim (every
//! discordant round one way) can still plausibly become significant: it is
//! decided `none` when the rounds left to `max_runs` cannot reach
//! significance, or when, at the rate its favourable rounds have come since
//! the first round (each condition's first run starts from a fresh state, no
//! later one does), reaching it has less than a 10% chance — e.g. a baseline
//! that no longer passes cannot give a `breaks` claim more rounds. A `none`
//! carries the change in failure rate its paired rounds rule out at 95%
//! (`change_ruled_out`). Stopping rules only decide when to stop looking; by
//! the guarantee above they cannot raise the chance of a false claim, only
//! lower the power, which `examples/power.rs` measures.
//!
//! # Focused reruns
//!
//! With [`Options::focus`] (the runner can select tests) the diagnosis first
//! *screens*: [`Options::screen_runs`] whole-suite runs of baseline and one
//! with every factor isolated. The tests whose first attempt failed in any
//! of them are the suspects; only they are run in the rounds that follow,
//! selected through [`RunSpec::tests`]. The screening runs only select: the
//! verdicts of the suspects (and of the command) use the focused rounds
//! alone, which start every condition afresh (`run_no` 0; a screening run's
//! persistent state is apart, [`RunSpec::screening`]) and are paired and
//! shuffled as above. Given the screening, each focused round is exchangeable
//! under the null exactly as before, so the guarantee holds conditionally on
//! whichever tests were chosen, hence unconditionally, per test. The tests
//! not chosen are reported `stable (pass)` with the failure rate their
//! screening runs rule out at 95% (`1 − 0.05^(1/runs)`, per test): that
//! bound is the honest statement of what the screening can miss — a test
//! failing at rate `p` escapes `k` baseline screening runs with probability
//! `(1 − p)^k` (k = 5: 17% at 30%, 3% at 50%). A suspect that failed in the
//! whole suite but never when selected is flagged `fails_only_in_suite`: it
//! needs an earlier test. Focused rounds also leave out a factor's condition
//! once its isolated runs have had both outcomes for every test still
//! undecided (its status can no longer change); which conditions a round
//! runs depends on earlier rounds only, and those it runs are shuffled as
//! ever, so each pair stays exchangeable under the null.

//!
//! # Factor pruning
//!
//! In adaptive mode (not with `--runs N`, which runs every condition
//! exactly N times), after the first round a factor the command provably
//! never used is left out ([`Pruned`], [`Options::prune`]): its own condition runs no more, and
//! conditions that list it share it instead ([`RunSpec::unused`]; no
//! throwaway database is started). Proof is the throwaway server's own count
//! of client sessions (none in every db-isolated run of the first round), or
//! for the network a trace that saw every program (none out of the shim's
//! reach) with no name lookup and no connect in any run with the network
//! shared; and never a factor whose own condition already came out
//! differently from baseline in the first round (a use no trace shows, such
//! as reading the routing table). The decision uses earlier rounds only, like every choice of which
//! conditions a round runs, so the remaining pairs stay exchangeable under
//! the null. A pruned factor claims nothing and stays in Holm's correction
//! with the p-value of the rounds it ran (valid at any stop; keeping it can
//! only raise the others' adjusted p-values, never lower them), so the
//! guarantee above holds as stated.
//!
//! The check for state left on the machine before the diagnosis ([`stale`]:
//! runs with the suspected paths hidden) is one more hypothesis of the same
//! family: its p-value joins the factors' in Holm's correction, and theirs
//! are adjusted for it too. It runs only when no factor was claimed, and a
//! larger family only raises adjusted p-values, so no factor's decision
//! changes and the family-wise error stays at most `alpha`.
//!
//! # Interactions
//!
//! In adaptive mode, for a command without per-test results or with one
//! test, once two or more factors remove the command's failures (or only
//! isolating everything together does), each such factor's leave-one-out
//! condition — everything isolated but it — joins the rounds that follow
//! (an existing condition when it is the same set). If it still fails, the
//! factor suffices alone; if it fails less than baseline (the exact
//! sequential sign test on the paired rounds, Holm over the factors of the
//! interaction at `alpha`), the failure needs the others too. When every one
//! needs the others, the factor whose evidence found state (a file left
//! behind that later failures go with) is named the cause and the others
//! only mask it. The extra conditions never enter the factors' own pairs
//! (baseline against each single-factor condition), and they join on the
//! strength of earlier rounds only, so the factors' p-values and the
//! guarantee above are unchanged. The interaction is a second family,
//! tested only after claims in the first: with no effect at all (the
//! guarantee's null) it is tested only after a false claim, so the
//! probability of any false claim, effects and interactions together, stays
//! at most `alpha`; given the effects, its own claims are false with
//! probability at most `alpha`. The runs stop when the interaction is
//! decided or has had as many rounds as the effects took to show (at least
//! the minimum runs).
//!
//! With focused reruns the interactions are per test: for each suspect on
//! which two or more factors have an effect (its own analysis), its
//! factors' leave-one-out conditions join, a new condition running only the
//! suspects it was added for; the interaction is judged from that test's own
//! outcomes and reported on it. Two tests each fixed by another factor are
//! two findings: neither has two effects, so no interaction is ever formed
//! across tests.

pub use runners::junit;
pub mod category;
pub mod html;
pub mod junit_out;
pub mod order;
pub mod order_verdict;
pub mod polluter;
pub mod replay;
pub mod report;
pub mod report_shards;
pub mod runner;
pub mod stale;
pub mod stats;

mod analysis;
mod evidence;
mod interaction;
mod pollution;
mod prune;

pub use interaction::{Combination, Interaction, InteractionFactor, Role};

pub use prune::Pruned;

use factors::{Factor, FactorSet};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

pub use html::render_html;
pub use junit::{parse_junit, JunitError, Outcome, TestCase};
pub use junit_out::render_junit;
pub use report::{
    render_json, render_markdown, render_markdown_with, render_text, render_text_with, ConditionReport,
    Counts, Effect, FactorAnalysis, FactorEffect, NeverFailedBound, RenderOptions, Report, RunSummary,
    Screening, StableOutcome, Status, StopReason, TestReport, Verdict,
};
pub use report_shards::{MissingShard, ShardEvidence, ShardLine, ShardsSection};
pub use runner::{
    FileChangeKind, FileChanged, FileOpen, JunitFile, RunObservations, RunOutcome, RunSpec, Runner,
    RunnerError,
};

/// The per-run time limit of a diagnosis without `--timeout`, from the
/// first baseline run's duration: `10 s + 5 × that duration`. Slack for a
/// loaded machine and a slower condition (a database to reach, a sandbox to
/// build), yet a run that would never end (a wait on a frozen clock) stops
/// and is counted as timed out. The first baseline run itself has no limit;
/// the runner measures one before any other condition runs.
pub fn run_timeout(first_baseline: Duration) -> Duration {
    RUN_TIMEOUT_BASE.saturating_add(first_baseline.saturating_mul(RUN_TIMEOUT_FACTOR))
}
/// The fixed part of [`run_timeout`].
pub const RUN_TIMEOUT_BASE: Duration = Duration::from_secs(10);
/// The multiple of the first baseline run in [`run_timeout`].
pub const RUN_TIMEOUT_FACTOR: u32 = 5;

/// Default maximum runs per condition. With 4 factors a baseline failing
/// 10% of the time needs ~70 rounds to show 7 failures against a clean
/// isolated condition, so 100 leaves room.
pub const DEFAULT_MAX_RUNS: usize = 100;
/// Rounds always run before the first adaptive look: fewer would call a
/// command that fails 1 time in 10 "stable" too often.
pub const DEFAULT_MIN_RUNS: usize = 10;
/// Whole-suite baseline runs that screen for suspects before focused
/// reruns: a test failing in 30% of runs fails in at least one of them with
/// probability 1 − 0.7⁵ ≈ 83% (97% at 50%); and a test that fails in every
/// run after the first, in all but one.
pub const DEFAULT_SCREEN_RUNS: usize = 5;
/// Upper limit on `max_runs` (the exact sequential computation is quadratic
/// in it).
pub const MAX_RUNS_LIMIT: usize = 1000;

/// What to diagnose and how hard to try.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Factors to compare (each alone, then all together). Not empty.
    pub factors: FactorSet,
    /// Most runs per condition (adaptive mode).
    pub max_runs: usize,
    /// Runs per condition before the first adaptive stop is considered.
    pub min_runs: usize,
    /// `--runs N`: exactly N runs per condition, no adaptive stopping.
    pub fixed_runs: Option<usize>,
    /// Family-wise error rate for effect claims.
    pub alpha: f64,
    /// Seed of the within-round shuffles (printed so a diagnosis replays).
    pub seed: u64,
    /// Focused reruns: the runner can run a chosen subset of tests
    /// ([`RunSpec::tests`]). The diagnosis then screens the whole suite
    /// (`screen_runs` baseline runs and one all-isolated run), and the rounds
    /// that decide run only the suspects: the tests that failed in a
    /// screening run. Every other test is stable with the failure rate its
    /// screening runs rule out.
    pub focus: bool,
    /// Whole-suite baseline runs of the screening (focused reruns only).
    pub screen_runs: usize,
    /// Factor pruning: after the first round, leave out a factor the command
    /// provably never used ([`Pruned`]).
    pub prune: bool,
    /// Hypotheses tested beside `factors` in each unit's Holm family (1 when
    /// the order factor follows: [`order_verdict`]). Counted as p = 1 until
    /// known, so the factors' claims hold in the larger family.
    pub extra_hypotheses: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            factors: FactorSet::only(Factor::Net).with(Factor::Fs).with(Factor::Time),
            max_runs: DEFAULT_MAX_RUNS,
            min_runs: DEFAULT_MIN_RUNS,
            fixed_runs: None,
            alpha: 0.05,
            seed: 0,
            focus: false,
            screen_runs: DEFAULT_SCREEN_RUNS,
            prune: true,
            extra_hypotheses: 0,
        }
    }
}

/// Errors that stop a diagnosis.
#[derive(Debug, thiserror::Error)]
pub enum DiagnoseError {
    /// Bad options (a usage error: exit code [`exit::USAGE`]).
    #[error("invalid diagnose options: {0}")]
    InvalidOptions(String),
    /// The runner could not run the command at all.
    #[error("run {run_no} under condition `{condition}` failed: {message}")]
    Runner { condition: String, run_no: usize, message: String },
    /// The first run did not write a test results file (JUnit, or a test
    /// runner's own): no later run would either, so the diagnosis stops.
    /// `hint` is the runner option that writes the file, which the caller
    /// knows and fills in.
    #[error("the first run did not write the test results file {path} ({reason}){}", hint_text(.hint))]
    ResultsMissing { path: String, reason: String, hint: Option<String> },
    /// A focused run read its results and none of the tests it selected is
    /// among them: the runner did not find them by those ids (e.g. ids
    /// relative to another directory than the one the command runs in).
    /// Counting it would count a run of nothing; every later run would be
    /// the same, so the diagnosis stops.
    #[error(
        "run {} under condition `{condition}` selected {} (focused rerun) but the test runner ran none of them \
         (exit code {exit_code}; it reported {}): the runner did not find the tests by these ids. Try the \
         command with one id added, from the same directory, to see why; `--runs N` diagnoses whole-suite \
         runs with no selection, and `--runner none` the command as a whole",
        .run_no + 1,
        list(.selected),
        if .ran.is_empty() { "no test".to_string() } else { list(.ran) }
    )]
    SelectionRanNothing {
        condition: String,
        run_no: usize,
        selected: Vec<String>,
        ran: Vec<String>,
        exit_code: i32,
    },
}

/// A few names for a message, the rest counted.
fn list(names: &[String]) -> String {
    const SHOWN: usize = 3;
    let shown: Vec<String> = names.iter().take(SHOWN).map(|n| format!("`{n}`")).collect();
    match names.len().saturating_sub(SHOWN) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

fn hint_text(hint: &Option<String>) -> String {
    match hint {
        Some(h) => format!(": make the command write it, with {h}"),
        None => ": make the command write it there, or give the path it writes".into(),
    }
}

/// Progress after each run, for a progress bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Runs done so far.
    pub done: usize,
    /// Runs if the diagnosis goes to the maximum (it may stop earlier).
    pub planned_max: usize,
    /// 0-based round of the last run; `rounds_max` rounds at most.
    pub round: usize,
    pub rounds_max: usize,
    /// Condition and result of the run just finished (`None` at start).
    pub condition: Option<FactorSet>,
    pub last_passed: Option<bool>,
    /// Mean wall time per run so far (including sandbox set-up).
    pub mean_run: Option<Duration>,
    /// Time left if every remaining planned run happens.
    pub eta_max: Option<Duration>,
}

/// Exit codes of `flakebox diagnose`, in one place.
///
/// | code | meaning |
/// |---:|---|
/// | 0 | stable: passed under every condition |
/// | 1 | stable: failed under every condition |
/// | 2 | usage error (bad options) |
/// | 3 | flakebox could not run the command (sandbox set-up, …) |
/// | 10 | environment: a factor makes it flaky / fixes / breaks it |
/// | 11 | intrinsic: flaky with everything isolated |
/// | 12 | undecided: max runs reached without a decision |
/// | 130 | interrupted (Ctrl-C) before a decision |
///
/// 10–12 are chosen above the codes test runners use for "tests failed" /
/// "usage" (1, 2, 4, 5) so a script can tell a diagnosis from a test run.
pub mod exit {
    use crate::report::{Report, StableOutcome, StopReason, Verdict};

    pub const STABLE_PASS: i32 = 0;
    pub const STABLE_FAIL: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const RUNNER_FAILED: i32 = 3;
    pub const ENVIRONMENT: i32 = 10;
    pub const INTRINSIC: i32 = 11;
    pub const UNDECIDED: i32 = 12;
    pub const INTERRUPTED: i32 = 130;

    /// The exit code for a finished report.
    pub fn for_report(r: &Report) -> i32 {
        match r.verdict {
            Verdict::Environment => ENVIRONMENT,
            Verdict::Intrinsic => INTRINSIC,
            Verdict::Stable => match r.outcome {
                Some(StableOutcome::Fail) => STABLE_FAIL,
                _ => STABLE_PASS,
            },
            Verdict::Undecided if r.stopped == StopReason::Interrupted => INTERRUPTED,
            Verdict::Undecided => UNDECIDED,
        }
    }

    /// The exit code for an error.
    pub fn for_error(e: &crate::DiagnoseError) -> i32 {
        match e {
            crate::DiagnoseError::InvalidOptions(_) => USAGE,
            crate::DiagnoseError::Runner { .. }
            | crate::DiagnoseError::ResultsMissing { .. }
            | crate::DiagnoseError::SelectionRanNothing { .. } => RUNNER_FAILED,
        }
    }
}

/// One condition of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub isolate: FactorSet,
    /// "baseline", a factor name, or "all".
    pub name: String,
}

/// The seed of OS randomness for every rand-isolated run of the diagnosis
/// whose shuffle seed is `seed`: derived from it, so one number replays the
/// diagnosis, but a different number, so the two are not confused.
pub fn entropy_seed(seed: u64) -> u64 {
    let mut z = seed ^ 0x656e_7472_6f70_7921; // "entropy!"
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of OS randomness for the run `spec` of a diagnosis of rand
/// whose shuffle seed is `seed`: [`entropy_seed`] when the run isolates
/// rand (one seed, so randomness-caused flakiness stabilizes); otherwise a
/// seed of its round, the same for every condition of the round (paired
/// runs then differ only in what they isolate) and another for each round
/// and for the screening runs, so the runs' randomness varies as it would
/// outside flakebox, but each is recorded and a failing run replays with
/// `flakebox run --seed`. A function of `seed` and `spec` alone: every
/// shard of a plan derives the same.
pub fn run_entropy_seed(seed: u64, spec: &RunSpec) -> u64 {
    if spec.isolate.contains(Factor::Rand) {
        return entropy_seed(seed);
    }
    let round = ((spec.run_no as u64) << 1) | u64::from(spec.screening);
    entropy_seed(entropy_seed(seed) ^ entropy_seed(round.wrapping_add(1)))
}

/// The conditions for these factors: baseline, each alone, then all
/// together (omitted when only one factor: it would repeat that one).
pub fn plan(factors: FactorSet) -> Vec<Condition> {
    let mut v = vec![Condition { isolate: FactorSet::EMPTY, name: "baseline".into() }];
    for f in factors.iter() {
        v.push(Condition { isolate: FactorSet::only(f), name: f.name().into() });
    }
    if factors.len() > 1 {
        v.push(Condition { isolate: factors, name: "all".into() });
    }
    v
}

fn validate(o: &Options) -> Result<(), DiagnoseError> {
    let bad = |m: String| Err(DiagnoseError::InvalidOptions(m));
    if o.factors.is_empty() {
        return bad("no factors to compare: choose at least one of net, fs, time, db, rand".into());
    }
    if !(o.alpha > 0.0 && o.alpha < 1.0) {
        return bad(format!("alpha must be between 0 and 1, got {}", o.alpha));
    }
    let n = o.fixed_runs.unwrap_or(o.max_runs);
    if n == 0 {
        return bad("the number of runs per condition must be at least 1".into());
    }
    if n > MAX_RUNS_LIMIT {
        return bad(format!("at most {MAX_RUNS_LIMIT} runs per condition, got {n}"));
    }
    if o.focus && o.screen_runs == 0 {
        return bad("focused reruns need at least one screening run".into());
    }
    if o.fixed_runs.is_none() && o.min_runs > o.max_runs {
        return bad(format!("minimum runs ({}) exceeds maximum runs ({})", o.min_runs, o.max_runs));
    }
    Ok(())
}

/// One run as the engine keeps it.
#[derive(Debug, Clone)]
pub(crate) struct RunRecord {
    pub cond: usize,
    pub round: usize,
    pub passed: bool,
    pub timed_out: bool,
    pub duration: Duration,
    pub started_at: std::time::SystemTime,
    pub evidence: RunObservations,
    /// Test name → first attempt failed (`None`: skipped); and reruns.
    pub tests: HashMap<String, (Option<bool>, u32)>,
    /// The tests the run selected, in order (`None`: the whole command),
    /// and the factors it really isolated: what a replay of it repeats.
    pub selection: Option<Vec<String>>,
    pub isolated: FactorSet,
}

/// Leave-one-out conditions: each factor with an effect and the condition
/// that isolates everything but it.
pub(crate) type LeaveOneOut = Vec<(Factor, usize)>;

/// Mutable state of a diagnosis in progress.
pub(crate) struct Engine {
    /// The command as the user gave it (for replay commands).
    pub command: Vec<String>,
    pub conds: Vec<Condition>,
    pub factors: Vec<Factor>,
    /// The runs that decide: every run without focus, the focused rounds
    /// with it.
    pub records: Vec<RunRecord>,
    pub test_names: BTreeMap<String, ()>,
    /// Focused reruns: the screening runs (they only select), the tests in
    /// the order the screening runs first reported them, and the suspects
    /// chosen (`None` until the screening is complete).
    pub screen: Vec<RunRecord>,
    pub screen_order: Vec<String>,
    pub suspects: Option<Vec<String>>,
    pub warnings: BTreeMap<String, usize>,
    pub warning_order: Vec<String>,
    pub alpha: f64,
    /// Hypotheses beside the factors in each unit's Holm family
    /// ([`Options::extra_hypotheses`]).
    pub extra_hypotheses: usize,
    pub fixed: bool,
    /// Most rounds (of the phase that decides).
    pub rounds_max: usize,
    pub seq: stats::SequentialSignTest,
    /// Factors left out after the first round (factor pruning).
    pub pruned: Vec<Pruned>,
    /// Interactions: each factor with an effect and the condition that
    /// isolates everything but it, once two or more factors have an effect;
    /// and the round those conditions joined.
    pub loo: Vec<(Factor, usize)>,
    pub loo_from: usize,
    /// Focused reruns: the interactions are per test. Each test with two or
    /// more factors having an effect on it, its factors' leave-one-out
    /// conditions, and the round they joined.
    pub loo_tests: Vec<(String, LeaveOneOut, usize)>,
    /// Leave-one-out conditions added for focused reruns run only the
    /// tests that need them (condition → those tests).
    pub loo_select: BTreeMap<usize, Vec<String>>,
}

impl Engine {
    /// Decide factor pruning from the runs so far (after the first round).
    fn prune(&mut self, rounds: usize) {
        let factors: FactorSet =
            self.factors.iter().copied().filter(|f| !self.pruned.iter().any(|p| p.factor == *f)).collect();
        let seen = |r: &RunRecord, round: usize| prune::Seen {
            isolate: self.conds[r.cond].isolate,
            round,
            net_events: r.evidence.net_events.len(),
            trace_complete: r.evidence.trace_complete,
            db_sessions: r.evidence.db_sessions,
            failed: !r.passed,
        };
        // Screening runs are not the first round.
        let seen: Vec<prune::Seen> = self
            .screen
            .iter()
            .map(|r| seen(r, usize::MAX))
            .chain(self.records.iter().map(|r| seen(r, r.round)))
            .collect();
        for (factor, reason) in prune::unused(factors, &seen) {
            self.pruned.push(Pruned { factor, after_rounds: rounds, reason });
        }
    }

    /// The tests condition `ci` runs: the suspects (`selected`), or those of
    /// them a leave-one-out condition was added for.
    fn selection(&self, ci: usize, selected: &Option<Vec<String>>) -> Option<Vec<String>> {
        match (self.loo_select.get(&ci), selected) {
            (Some(only), Some(all)) => Some(all.iter().filter(|t| only.contains(t)).cloned().collect()),
            _ => selected.clone(),
        }
    }

    /// Pruned factors among those condition `ci` isolates.
    fn unused_in(&self, ci: usize) -> FactorSet {
        self.pruned.iter().map(|p| p.factor).filter(|f| self.conds[ci].isolate.contains(*f)).collect()
    }

    /// A condition that isolates only pruned factors: nothing left to compare.
    fn pruned_away(&self, ci: usize) -> bool {
        let iso = self.conds[ci].isolate;
        !iso.is_empty() && self.unused_in(ci) == iso
    }

    fn warn(&mut self, msg: String) {
        let n = self.warnings.entry(msg.clone()).or_insert(0);
        if *n == 0 {
            self.warning_order.push(msg);
        }
        *n += 1;
    }

    /// Keep one run; a screening run goes with the screening runs. A results
    /// file the very first run did not write stops the diagnosis: every
    /// later run would miss it too.
    fn record(&mut self, spec: &RunSpec, cond: usize, out: RunOutcome) -> Result<(), DiagnoseError> {
        let first = self.records.is_empty() && self.screen.is_empty();
        let mut cases = Vec::new();
        let mut unread = false;
        let label = if spec.screening { "screening run" } else { "run" };
        let where_ = format!("{label} {} ({})", spec.run_no + 1, self.conds[cond].name);
        for f in &out.junit {
            match &f.contents {
                Err(e) if first => {
                    return Err(DiagnoseError::ResultsMissing {
                        path: f.path.clone(),
                        reason: e.clone(),
                        hint: None,
                    })
                }
                Err(e) => {
                    unread = true;
                    self.warn(format!("{where_}: could not read JUnit {}: {e}", f.path))
                }
                Ok(text) => match junit::parse_raw(text) {
                    Ok(mut c) => cases.append(&mut c),
                    Err(e) => {
                        unread = true;
                        self.warn(format!("{where_}: JUnit {}: {e}", f.path))
                    }
                },
            }
        }
        cases.extend(out.tests);
        // A selection that ran nothing: results that name none of the
        // selected tests, or none at all from a run that passed (Surefire
        // writes no report when no test matches). Not a run stopped at its
        // time limit, nor a failed one whose results are missing: there the
        // selected tests count as failed, as in any crashed run.
        if let Some(selected) = spec.tests.as_ref().filter(|s| !s.is_empty()) {
            let ran_one = cases.iter().any(|c| selected.contains(&c.name));
            if !ran_one && (!unread || out.passed) && !out.timed_out {
                return Err(DiagnoseError::SelectionRanNothing {
                    condition: self.conds[cond].name.clone(),
                    run_no: spec.run_no,
                    selected: selected.clone(),
                    ran: cases.iter().map(|c| c.name.clone()).collect(),
                    exit_code: out.exit_code,
                });
            }
        }
        let mut tests = HashMap::new();
        for c in junit::disambiguate(cases) {
            if spec.screening {
                if !tests.contains_key(&c.name) && !self.screen.iter().any(|r| r.tests.contains_key(&c.name))
                {
                    self.screen_order.push(c.name.clone());
                }
            } else {
                self.test_names.insert(c.name.clone(), ());
            }
            tests.insert(c.name.clone(), (c.first_attempt_failed(), c.flaky_reruns));
        }
        for w in &out.evidence.warnings {
            self.warn(w.clone());
        }
        let rec = RunRecord {
            cond,
            round: spec.run_no,
            passed: out.passed,
            timed_out: out.timed_out,
            duration: out.duration,
            started_at: out.started_at,
            evidence: out.evidence,
            tests,
            selection: spec.tests.clone(),
            isolated: spec.effective(),
        };
        if spec.screening {
            self.screen.push(rec);
        } else {
            self.records.push(rec);
        }
        Ok(())
    }

    /// The suspects after screening: every test whose first attempt failed
    /// in some screening run (under any condition), in the order the runs
    /// reported them.
    fn choose_suspects(&self) -> Vec<String> {
        self.screen_order
            .iter()
            .filter(|n| self.screen.iter().any(|r| r.tests.get(*n).is_some_and(|t| t.0 == Some(true))))
            .cloned()
            .collect()
    }
}

/// The screening schedule: `runs` whole-suite runs of baseline, with one
/// all-isolated run second (a test that fails only with something isolated
/// shows there). `(condition, run index within it)`.
fn screening_schedule(runs: usize, all: usize) -> Vec<(usize, usize)> {
    let mut v: Vec<(usize, usize)> = (0..runs).map(|k| (0, k)).collect();
    v.insert(v.len().min(1), (all, 0));
    v
}

/// Where a diagnosis stands, for progress reports.
struct Pace {
    start_runs: Duration,
    done: usize,
    planned_max: usize,
    rounds_max: usize,
}

enum Ran {
    Ok,
    Interrupted,
}

/// Make one run and keep it.
fn run_one(
    engine: &mut Engine,
    runner: &mut dyn Runner,
    progress: &mut dyn FnMut(&Progress),
    pace: &mut Pace,
    spec: &RunSpec,
    ci: usize,
    round: usize,
) -> Result<Ran, DiagnoseError> {
    let t0 = Instant::now();
    let out = match runner.run(spec) {
        Ok(o) => o,
        Err(RunnerError::Interrupted) => return Ok(Ran::Interrupted),
        Err(RunnerError::Failed(message)) => {
            return Err(DiagnoseError::Runner {
                condition: engine.conds[ci].name.clone(),
                run_no: spec.run_no,
                message,
            })
        }
    };
    pace.start_runs += t0.elapsed();
    let passed = out.passed;
    engine.record(spec, ci, out)?;
    pace.done += 1;
    let mean = pace.start_runs / pace.done as u32;
    progress(&Progress {
        done: pace.done,
        planned_max: pace.planned_max,
        round,
        rounds_max: pace.rounds_max,
        condition: Some(spec.isolate),
        last_passed: Some(passed),
        mean_run: Some(mean),
        eta_max: Some(mean * (pace.planned_max.saturating_sub(pace.done)) as u32),
    });
    Ok(Ran::Ok)
}

/// Run the diagnosis: schedule runs of `command` through `runner` under
/// every condition of `opts`, and return the report. `command` is only
/// recorded in the report (the runner knows how to run it). `progress` is
/// called once before the first run and after every run.
pub fn diagnose(
    command: &[String],
    opts: &Options,
    runner: &mut dyn Runner,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Report, DiagnoseError> {
    validate(opts)?;
    let conds = plan(opts.factors);
    let rounds_max = opts.fixed_runs.unwrap_or(opts.max_runs);
    let screening =
        if opts.focus { screening_schedule(opts.screen_runs, conds.len() - 1) } else { Vec::new() };
    let planned_max = screening.len() + rounds_max * conds.len();
    let mut engine = Engine {
        command: command.to_vec(),
        factors: opts.factors.iter().collect(),
        conds,
        records: Vec::new(),
        test_names: BTreeMap::new(),
        screen: Vec::new(),
        screen_order: Vec::new(),
        suspects: None,
        warnings: BTreeMap::new(),
        warning_order: Vec::new(),
        alpha: opts.alpha,
        extra_hypotheses: opts.extra_hypotheses,
        fixed: opts.fixed_runs.is_some(),
        rounds_max,
        seq: stats::SequentialSignTest::new(rounds_max),
        pruned: Vec::new(),
        loo: Vec::new(),
        loo_from: 0,
        loo_tests: Vec::new(),
        loo_select: BTreeMap::new(),
    };
    let mut rng = fastrand::Rng::with_seed(opts.seed);
    // Its own stream, so the shuffles stay those of the seed alone.
    let mut rng_swap = fastrand::Rng::with_seed(opts.seed ^ 0x9e37_79b9_7f4a_7c15);
    let start = Instant::now();
    let mut pace = Pace { start_runs: Duration::ZERO, done: 0, planned_max, rounds_max };
    let mut stopped = if opts.fixed_runs.is_some() { StopReason::FixedRuns } else { StopReason::MaxRuns };
    let mut rounds_done = 0;
    progress(&Progress {
        done: 0,
        planned_max,
        round: 0,
        rounds_max,
        condition: None,
        last_passed: None,
        mean_run: None,
        eta_max: None,
    });
    // Conditions may join later (interactions): the count is the caller's.
    let mut shuffled = |n_conds: usize| {
        let mut order: Vec<usize> = (0..n_conds).collect();
        rng.shuffle(&mut order);
        order
    };
    let mut order = shuffled(engine.conds.len());

    // Focused reruns, phase 1: whole-suite screening runs that only choose
    // the suspects; the rounds that decide then run the suspects alone.
    let mut selected: Option<Vec<String>> = None;
    let mut rounds_needed = true;
    for (k, &(ci, run_no)) in screening.iter().enumerate() {
        let spec = RunSpec { screening: true, ..RunSpec::suite(engine.conds[ci].isolate, run_no) };
        if let Some(&(n, no)) = screening.get(k + 1) {
            runner.upcoming(&RunSpec { screening: true, ..RunSpec::suite(engine.conds[n].isolate, no) });
        }
        if let Ran::Interrupted = run_one(&mut engine, runner, progress, &mut pace, &spec, ci, 0)? {
            let wall = start.elapsed();
            return Ok(analysis::build_report(&mut engine, command, opts, StopReason::Interrupted, 0, wall));
        }
    }
    if opts.focus {
        let suspects = engine.choose_suspects();
        if !suspects.is_empty() {
            selected = Some(suspects.clone());
        } else if engine.screen.iter().all(|r| r.passed) {
            // Nothing failed anywhere: nothing to rerun.
            rounds_needed = false;
            stopped = StopReason::Decided;
        }
        // Otherwise the command failed with no test to blame: whole-suite
        // rounds, as without focus.
        engine.suspects = Some(suspects);
    }

    // Only focused rounds with a fixed-length-free schedule prune
    // conditions: without focus every condition runs every round.
    let mut needed: Option<Vec<bool>> =
        (opts.focus && opts.fixed_runs.is_none()).then(|| vec![true; engine.conds.len()]);
    'rounds: for round in 0..if rounds_needed { rounds_max } else { 0 } {
        // The next round's order is drawn now, so the runner can be told
        // which run follows the last one of this round. With three or more
        // conditions it does not start with the condition this round ends
        // with: a runner prepares the next run while the current one
        // executes, which one condition cannot do with itself (its state is
        // in use). Not with two: that would fix the order (A B A B ...), and
        // every run of a condition would then start at the same phase of the
        // wall clock's second (runs of equal length, back to back), which
        // hides a flake that needs the second to tick over.
        // Focused rounds leave out the conditions no decision needs.
        if let Some(needed) = &needed {
            order.retain(|&c| needed[c]);
        }
        order.retain(|&c| !engine.pruned_away(c));
        let mut next_order = if round + 1 < rounds_max {
            let mut next = shuffled(engine.conds.len());
            if let Some(needed) = &needed {
                next.retain(|&c| needed[c]);
            }
            next.retain(|&c| !engine.pruned_away(c));
            if next.len() > 2 && next.first() == order.last() {
                let other = 1 + rng_swap.usize(..next.len() - 1);
                next.swap(0, other);
            }
            next
        } else {
            Vec::new()
        };
        for (k, &ci) in order.iter().enumerate() {
            let next = match order.get(k + 1) {
                Some(&n) => Some((n, round)),
                None => next_order.first().map(|&n| (n, round + 1)),
            };
            if let Some((n, run_no)) = next {
                runner.upcoming(&RunSpec {
                    tests: engine.selection(n, &selected),
                    unused: engine.unused_in(n),
                    ..RunSpec::suite(engine.conds[n].isolate, run_no)
                });
            }
            let spec = RunSpec {
                tests: engine.selection(ci, &selected),
                unused: engine.unused_in(ci),
                ..RunSpec::suite(engine.conds[ci].isolate, round)
            };
            if let Ran::Interrupted = run_one(&mut engine, runner, progress, &mut pace, &spec, ci, round)? {
                stopped = StopReason::Interrupted;
                break 'rounds;
            }
        }
        rounds_done = round + 1;
        // Pruning and interactions change the conditions as the runs go:
        // adaptive mode only. `--runs N` (and every shard of a plan) runs
        // each condition exactly N times.
        let adaptive = opts.fixed_runs.is_none();
        if round == 0 && opts.prune && adaptive {
            engine.prune(rounds_done);
        }
        // Two or more factors with an effect: the leave-one-out conditions
        // join from the next round (drawn again to include them).
        if adaptive && analysis::plan_interaction(&mut engine, rounds_done) && round + 1 < rounds_max {
            next_order = shuffled(engine.conds.len());
            next_order.retain(|&c| !engine.pruned_away(c));
        }
        if needed.is_some() {
            needed = Some(analysis::needed_conditions(&mut engine));
        }
        if opts.fixed_runs.is_none()
            && rounds_done >= opts.min_runs.max(1)
            && analysis::all_decided(&mut engine)
            && analysis::interaction_decided(&mut engine, rounds_done, opts.min_runs)
        {
            stopped = StopReason::Decided;
            break;
        }
        order = next_order;
    }
    let wall = start.elapsed();
    Ok(analysis::build_report(&mut engine, command, opts, stopped, rounds_done, wall))
}

#[cfg(test)]
mod tests {
    #[test]
    fn screening_is_baseline_with_one_all_isolated_run_second() {
        assert_eq!(super::screening_schedule(3, 5), [(0, 0), (5, 0), (0, 1), (0, 2)]);
        assert_eq!(super::screening_schedule(1, 2), [(0, 0), (2, 0)]);
    }

    #[test]
    fn the_derived_timeout_is_ten_seconds_plus_five_first_baseline_runs() {
        use std::time::Duration;
        assert_eq!(super::run_timeout(Duration::ZERO), Duration::from_secs(10));
        assert_eq!(super::run_timeout(Duration::from_millis(400)), Duration::from_secs(12));
        assert_eq!(super::run_timeout(Duration::from_secs(60)), Duration::from_secs(310));
        assert_eq!(super::run_timeout(Duration::MAX), Duration::MAX, "saturates");
    }

    #[test]
    fn the_entropy_seed_follows_the_shuffle_seed_but_is_another_number() {
        for seed in [0, 1, 42, u64::MAX] {
            assert_eq!(super::entropy_seed(seed), super::entropy_seed(seed));
            assert_ne!(super::entropy_seed(seed), seed);
        }
        assert_ne!(super::entropy_seed(1), super::entropy_seed(2));
    }

    #[test]
    fn runs_isolating_rand_share_one_seed_the_others_one_per_round() {
        use factors::{Factor, FactorSet};
        let spec = |isolate: FactorSet, run_no: usize, screening: bool| super::RunSpec {
            screening,
            ..super::RunSpec::suite(isolate, run_no)
        };
        let rand = FactorSet::only(Factor::Rand);
        let net = FactorSet::only(Factor::Net);
        let fixed = super::entropy_seed(9);
        for run_no in 0..50 {
            assert_eq!(super::run_entropy_seed(9, &spec(rand, run_no, false)), fixed);
            assert_eq!(super::run_entropy_seed(9, &spec(rand.with(Factor::Net), run_no, true)), fixed);
            let base = super::run_entropy_seed(9, &spec(FactorSet::EMPTY, run_no, false));
            assert_eq!(base, super::run_entropy_seed(9, &spec(net, run_no, false)), "paired runs share it");
            assert_ne!(base, fixed);
            assert_ne!(base, super::run_entropy_seed(9, &spec(FactorSet::EMPTY, run_no, true)));
            assert_ne!(base, super::run_entropy_seed(10, &spec(FactorSet::EMPTY, run_no, false)));
        }
        let rounds: std::collections::BTreeSet<u64> =
            (0..1000).map(|n| super::run_entropy_seed(9, &spec(FactorSet::EMPTY, n, false))).collect();
        assert_eq!(rounds.len(), 1000, "a seed of its own per round");
    }
}
