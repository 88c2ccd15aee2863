//! The report (JSON schema 1 of DESIGN.md plus additive fields) and its
//! text and markdown renderings.

use factors::{Factor, FactorSet};
use render::md_escape;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Some factor has a significant effect (see `factors`).
    Environment,
    /// Flaky even with every chosen factor isolated: races, timing (and
    /// randomness, unless rand was among them).
    Intrinsic,
    /// Same outcome under every condition (see `outcome`).
    Stable,
    /// Not enough runs to tell (max runs reached); see `analysis`.
    Undecided,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Environment => "environment",
            Verdict::Intrinsic => "intrinsic",
            Verdict::Stable => "stable",
            Verdict::Undecided => "undecided",
        }
    }
}

/// Which way a `stable` command is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StableOutcome {
    Pass,
    Fail,
    /// A test that was skipped in every run (per-test verdicts only).
    Skipped,
}

/// A claimed effect of isolating one factor (the schema's three).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Isolated runs all pass where baseline failed some or all.
    Fixes,
    /// Baseline flaky, isolated runs all fail: the flakiness came from outside.
    Stabilizes,
    /// Isolated runs fail (more) where baseline passes: the command needs it.
    Breaks,
}

impl Effect {
    pub fn name(self) -> &'static str {
        match self {
            Effect::Fixes => "fixes",
            Effect::Stabilizes => "stabilizes",
            Effect::Breaks => "breaks",
        }
    }
}

/// What the analysis concluded about one factor (additive `analysis`
/// array: every chosen factor, whatever the verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Fixes,
    Stabilizes,
    Breaks,
    /// Significantly fewer failures isolated, but not none: the factor
    /// contributes, something else remains (not an `environment` claim).
    Reduces,
    /// No effect of the kinds above is possible any more on these counts.
    None,
    /// An effect is still possible but not yet significant.
    Undecided,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Fixes => "fixes",
            Status::Stabilizes => "stabilizes",
            Status::Breaks => "breaks",
            Status::Reduces => "reduces",
            Status::None => "none",
            Status::Undecided => "undecided",
        }
    }

    pub fn effect(self) -> Option<Effect> {
        match self {
            Status::Fixes => Some(Effect::Fixes),
            Status::Stabilizes => Some(Effect::Stabilizes),
            Status::Breaks => Some(Effect::Breaks),
            _ => None,
        }
    }
}

/// Pass/fail counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub runs: usize,
    pub passed: usize,
    pub failed: usize,
    /// Additive: of the failed runs, those stopped at their time limit.
    #[serde(default)]
    pub timed_out: usize,
}

impl Counts {
    pub fn fail_rate(&self) -> f64 {
        if self.runs == 0 {
            0.0
        } else {
            self.failed as f64 / self.runs as f64
        }
    }

    pub fn is_mixed(&self) -> bool {
        self.passed > 0 && self.failed > 0
    }
}

/// One entry of `factors` (schema 1), strongest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactorEffect {
    pub factor: Factor,
    pub effect: Effect,
    /// Adjusted for repeated looks and for the number of factors (Holm):
    /// the effect is claimed because `p_value <= alpha`.
    pub p_value: f64,
    pub evidence: Vec<String>,
    /// Additive: the counts compared.
    pub baseline: Counts,
    pub isolated: Counts,
    /// Additive, rand only: a seed under which it failed, and its replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_seed: Option<FailingSeed>,
}

/// A seed of OS randomness under which the command (or test) failed: the
/// runs of a diagnosis of rand that do not isolate it each draw from a seed
/// of their round, recorded, so a failure caused by randomness replays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailingSeed {
    /// Pass it to `flakebox run --seed` (an entropy seed, not the shuffle seed).
    pub seed: u64,
    /// Runs with this seed, and how many of them failed (all of them: a
    /// seed that also passed is not offered).
    pub runs: usize,
    pub failed: usize,
    /// The replay command: `flakebox run --seed N [--time T] -- CMD`.
    pub replay: Vec<String>,
    /// The runs selected only the suspects (focused reruns): the whole
    /// command, as the replay runs it, may draw its randomness in another
    /// order (other tests before this one), so it may not fail.
    #[serde(default)]
    pub suspects_only: bool,
    /// Additive: the tests the first run that failed under this seed
    /// selected, in its order (`None`: the whole command). The same seed
    /// draws the same values only for the same tests in the same order: a
    /// test's replay runs these (see [`crate::replay`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<Vec<String>>,
    /// Additive: that run's frozen instant (`None`: its clock was the
    /// real one), which `replay` passes as `--time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen_instant: Option<String>,
}

/// One entry of the additive `analysis` array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactorAnalysis {
    pub factor: Factor,
    pub status: Status,
    /// Holm-adjusted (compare with `alpha`).
    pub p_value: f64,
    /// Before the correction for the number of factors.
    pub p_unadjusted: f64,
    pub baseline: Counts,
    pub isolated: Counts,
    /// Rounds where only baseline failed / only the isolated run failed:
    /// the pairs the sequential test counts.
    pub rounds_only_baseline_failed: usize,
    pub rounds_only_isolated_failed: usize,
    pub evidence: Vec<String>,
    /// Additive: a change in the failure rate (either way) that isolating
    /// this factor could make, which the paired rounds rule out at 95%:
    /// what `none` means in numbers. `None` before any paired round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_ruled_out: Option<f64>,
    /// Additive, rand only: a seed under which it failed, and its replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_seed: Option<FailingSeed>,
}

/// One entry of `conditions` (schema 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionReport {
    pub isolate: FactorSet,
    pub runs: usize,
    pub passed: usize,
    pub failed: usize,
    /// Additive: "baseline", "net", …, "all".
    pub name: String,
    /// Additive: of the failed runs, those stopped at their time limit.
    #[serde(default)]
    pub timed_out: usize,
}

/// Per-test verdict (same shape as the top level).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestReport {
    pub name: String,
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub outcome: Option<StableOutcome>,
    pub factors: Vec<FactorEffect>,
    pub conditions: Vec<ConditionReport>,
    #[serde(default)]
    pub analysis: Vec<FactorAnalysis>,
    /// Failed attempts its runner retried, over all runs.
    #[serde(default)]
    pub flaky_reruns: u64,
    #[serde(default)]
    pub summary: String,
    /// Additive (focused reruns): the test's counts over the whole-suite
    /// screening runs; the other counts are those of the focused rounds
    /// when it was a suspect, of the screening runs otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screening: Option<Counts>,
    /// Additive: it failed in whole-suite runs but never when run with only
    /// the suspects selected — it needs an earlier test to fail.
    #[serde(default)]
    pub fails_only_in_suite: bool,
    /// Additive: for a test that passed every counted run, the failure rate
    /// those runs rule out at 95% (`1 − 0.05^(1/runs)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failure_rate_95: Option<f64>,
    /// Additive: the command that replays this test's failure under
    /// flakebox, in the runner's own syntax; set for the tests that are not a
    /// stable pass, by the caller that knows the runner (see
    /// [`crate::replay`]). The test alone under the conditions it failed in
    /// (`--share` what fixes it), except for a test that fails only after
    /// others (an order victim's polluters then it, or the whole suite) and
    /// one that failed under a seed of randomness (the tests of the run
    /// that failed under it, with `--seed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// Additive: for a test that fails only after others, the command that
    /// runs it alone: the passing control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_alone: Option<String>,
    /// Additive (focused reruns): how this test's factors combine, from its
    /// own outcomes in the leave-one-out conditions, when more than one
    /// factor has an effect on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interaction: Option<crate::Interaction>,
}

/// The screening phase of focused reruns (additive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Screening {
    /// Whole-suite runs made to choose the suspects, and how many were
    /// baseline's (the rest ran with every factor isolated).
    pub runs: usize,
    pub baseline_runs: usize,
    /// Tests reported by the screening runs.
    pub tests: usize,
    /// The tests rerun alone (runner ids, in suite order).
    pub suspects: Vec<String>,
    /// The screening was cut short (interrupted): no suspects were chosen.
    #[serde(default)]
    pub incomplete: bool,
}

/// Why the runs stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Every factor (of the command and of every test) was decided.
    Decided,
    /// `max_runs` per condition reached.
    MaxRuns,
    /// `--runs N` given: exactly N per condition.
    FixedRuns,
    /// The runner reported an interruption.
    Interrupted,
}

/// The bound a run of passes puts on the failure rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NeverFailedBound {
    /// Runs, all passed.
    pub runs: usize,
    /// Failure rates at or above this would have shown a failure with 95%
    /// probability: `1 − 0.05^(1/runs)`.
    pub max_failure_rate_95: f64,
}

/// The report of one diagnosis. Fields up to `tests` are schema 1 of
/// DESIGN.md; the rest are additive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: u32,
    pub command: Vec<String>,
    pub verdict: Verdict,
    pub factors: Vec<FactorEffect>,
    pub conditions: Vec<ConditionReport>,
    pub tests: Vec<TestReport>,
    /// `pass`/`fail` when the verdict is `stable`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub outcome: Option<StableOutcome>,
    /// One sentence a person can read.
    pub summary: String,
    /// Every chosen factor's status, p-values and counts.
    pub analysis: Vec<FactorAnalysis>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub never_failed_bound: Option<NeverFailedBound>,
    pub alpha: f64,
    /// "sequential-sign" (adaptive) or "fisher" (`--runs N`).
    pub method: String,
    /// Orders the runs (the shuffle); not the entropy seed.
    pub seed: u64,
    /// The seed of OS randomness every rand-isolated run used (`flakebox
    /// run --seed`), derived from `seed` but not the same number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub entropy_seed: Option<u64>,
    pub stopped: StopReason,
    /// Completed rounds (each round runs every condition once).
    pub rounds: usize,
    pub runs_total: usize,
    /// Wall time of the whole diagnosis, and the part the command itself
    /// ran (the rest is flakebox's own: sandbox set-up, database start).
    pub wall_seconds: f64,
    pub command_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub frozen_instant: Option<String>,
    pub warnings: Vec<String>,
    /// Additive: focused reruns' screening (absent without focus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screening: Option<Screening>,
    /// Additive: every run, in the order it ran (screening runs first):
    /// what the HTML report's run grid draws.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<RunSummary>,
    /// Additive: a merged report's shards (`flakebox merge`; absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<crate::report_shards::ShardsSection>,
    /// Additive: the order factor (`--factors order`), absent without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<crate::order::OrderReport>,
    /// Additive: each test with a finding in the usual taxonomy of flaky
    /// tests (intra-test, inter-test, external), see [`crate::category`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<crate::category::TestCategory>,
    /// Additive: state left on the machine, tested by hiding it (absent when
    /// no failing run opened such a file). See [`crate::stale`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_state: Option<crate::stale::StaleState>,
    /// Factors left out after the first round: the command provably never
    /// used them (factor pruning), with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pruned: Vec<crate::Pruned>,
    /// How the factors with an effect combine (leave-one-out conditions),
    /// when two or more have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interaction: Option<crate::Interaction>,
}

/// One run of a diagnosis (additive `runs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Its round (screening runs count their own, from 0).
    pub round: usize,
    /// The condition's name ("baseline", "net", ..., "all") and factors.
    pub condition: String,
    pub isolate: FactorSet,
    /// A whole-suite run of the screening of focused reruns (it only chose
    /// the suspects).
    #[serde(default)]
    pub screening: bool,
    pub passed: bool,
    #[serde(default)]
    pub timed_out: bool,
    pub seconds: f64,
    /// The tests whose first attempt failed (at most [`RUN_FAILED_TESTS_SHOWN`]),
    /// and how many failed in all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_tests: Vec<String>,
    #[serde(default)]
    pub failed_tests_total: usize,
    /// What the run left or touched, one line each (files written, processes
    /// left running, network and database events, sandbox warnings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

/// Failing tests named per run in `runs` (a run of a broken suite can fail
/// thousands).
pub const RUN_FAILED_TESTS_SHOWN: usize = 20;

impl Report {
    /// The exit code for this report (see [`crate::exit`]).
    pub fn exit_code(&self) -> i32 {
        crate::exit::for_report(self)
    }
}

/// What a factor's two counts are: baseline and isolated, or for `order`
/// the suite's own order and the test alone.
pub(crate) fn sides(f: Factor) -> (&'static str, &'static str) {
    match f {
        Factor::Order => ("in the suite's order", "alone"),
        _ => ("baseline", "isolated"),
    }
}

/// "net fixes (p = 0.004)" for each claimed effect, strongest first.
fn effect_list(factors: &[FactorEffect]) -> Vec<String> {
    factors.iter().map(|f| format!("{} {} (p = {})", f.factor, f.effect.name(), fmt_p(f.p_value))).collect()
}

pub(crate) fn fmt_p(p: f64) -> String {
    if p < 0.0001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

pub(crate) fn pct(x: f64) -> String {
    let v = x * 100.0;
    if v > 0.0 && v < 1.0 {
        format!("{v:.1}%")
    } else {
        format!("{v:.0}%")
    }
}

struct Palette {
    on: bool,
}

impl Palette {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    fn verdict(&self, v: Verdict, s: &str) -> String {
        let code = match v {
            Verdict::Environment => "1;33",
            Verdict::Intrinsic => "1;31",
            Verdict::Stable => "1;32",
            Verdict::Undecided => "1;35",
        };
        self.paint(code, s)
    }
    fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
}

pub(crate) fn verdict_label(v: Verdict, outcome: Option<StableOutcome>) -> String {
    match (v, outcome) {
        (Verdict::Stable, Some(StableOutcome::Pass)) => "stable (pass)".into(),
        (Verdict::Stable, Some(StableOutcome::Fail)) => "stable (fail)".into(),
        (Verdict::Stable, Some(StableOutcome::Skipped)) => "stable (skipped)".into(),
        (v, _) => v.name().into(),
    }
}

fn condition_table(conds: &[ConditionReport], indent: &str) -> String {
    let mut out = String::new();
    let w = conds.iter().map(|c| c.name.len()).max().unwrap_or(8).max(9);
    // Timeouts get a column only when there were some.
    let tmo = conds.iter().any(|c| c.timed_out > 0);
    let _ = write!(
        out,
        "{indent}{:<w$}  {:>5}  {:>6}  {:>6}  {:>9}",
        "condition", "runs", "passed", "failed", "fail rate"
    );
    let _ = writeln!(out, "{}", if tmo { "  timed out" } else { "" });
    for c in conds {
        let rate = if c.runs == 0 { 0.0 } else { c.failed as f64 / c.runs as f64 };
        let _ = write!(
            out,
            "{indent}{:<w$}  {:>5}  {:>6}  {:>6}  {:>9}",
            c.name,
            c.runs,
            c.passed,
            c.failed,
            pct(rate)
        );
        if tmo {
            let _ = write!(out, "  {:>9}", c.timed_out);
        }
        let _ = writeln!(out);
    }
    out
}

/// How to render a report as text or markdown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// ANSI colours (text only; use it only on a terminal).
    pub color: bool,
    /// List every stable test too, not only the one line that sums them up
    /// (`--all-tests`).
    pub all_tests: bool,
}

/// Human-readable report, the lead first: the verdict and its summary, the
/// findings (the tests that are not stable, each with its cause, evidence and
/// replay; the command's factors), then the counts behind them (conditions,
/// the other factors) and how the diagnosis ran. Each finding is said once.
/// `color` adds ANSI colours (use it only on a terminal).
pub fn render_text(report: &Report, color: bool) -> String {
    render_text_with(report, RenderOptions { color, all_tests: false })
}

/// [`render_text`] with every option.
pub fn render_text_with(report: &Report, opts: RenderOptions) -> String {
    let pal = Palette { on: opts.color };
    let mut out = String::new();
    let _ = writeln!(out, "{} {}", pal.bold("flakebox diagnose:"), report.command.join(" "));
    let _ = writeln!(out);
    let label = report_label(report);
    let _ = writeln!(out, "verdict: {}", pal.verdict(report.verdict, &label));
    let _ = writeln!(out, "  {}", report.summary);
    if let Some(s) = screening_line(report) {
        let _ = writeln!(out, "  {}", pal.dim(&s));
    }
    let (shown, stable) = split_tests(report);
    // Without tests the command's factors are the findings; with tests
    // those come first, and the command's factors sum them up after.
    if shown.is_empty() {
        factor_lines(&mut out, &pal, report, &[]);
    }
    if !report.tests.is_empty() {
        let _ = writeln!(out);
        if !shown.is_empty() {
            let _ = writeln!(
                out,
                "tests not stable ({} of {}):",
                thousands(shown.len()),
                thousands(report.tests.len())
            );
            for t in &shown {
                let label = test_label(t);
                let category = report
                    .categories
                    .iter()
                    .find(|c| c.name == t.name)
                    .map(|c| pal.dim(&format!("  ({}: {})", c.category.name(), c.causes.join(", "))))
                    .unwrap_or_default();
                let _ =
                    writeln!(out, "  {}  {}{category}", pal.bold(&t.name), pal.verdict(t.verdict, &label));
                for line in test_details(t) {
                    let _ = writeln!(out, "      {line}");
                }
                for line in replay_lines(t) {
                    let _ = writeln!(out, "      {line}");
                }
            }
        }
        if let Some(line) = stable_line(&stable) {
            let _ = writeln!(out, "{line}");
        }
        if opts.all_tests && !stable.is_empty() {
            let w = stable.iter().map(|t| t.name.len()).max().unwrap_or(4).min(70);
            for t in &stable {
                let label = verdict_label(t.verdict, t.outcome);
                let _ = writeln!(out, "  {:<w$}  {}", t.name, pal.verdict(t.verdict, &label));
            }
        }
    }
    if !shown.is_empty() {
        factor_lines(&mut out, &pal, report, &shown);
    }
    if let Some(i) = &report.interaction {
        let _ = writeln!(out);
        let _ = writeln!(out, "  {} {}", pal.bold("interaction:"), i.summary);
    }
    // The counts behind the findings. An order-only report compared no
    // conditions.
    if !report.conditions.is_empty() {
        let _ = writeln!(out);
        out.push_str(&condition_table(&report.conditions, "  "));
    }
    other_factor_lines(&mut out, &pal, report, &shown);
    for line in pruned_lines(report) {
        let _ = writeln!(out, "  {}", pal.dim(&line));
    }
    if let Some(o) = &report.order {
        out.push_str(&crate::order::render(o, false, &order_shown(&shown)));
    }
    let named: Vec<&str> = shown.iter().map(|t| t.name.as_str()).collect();
    let categories: Vec<crate::category::TestCategory> =
        report.categories.iter().filter(|c| !named.contains(&c.name.as_str())).cloned().collect();
    out.push_str(&crate::category::render(&categories, false));
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}",
        pal.dim(&format!(
            "{} runs in {} rounds ({}), {:.1}s wall, {:.1}s in the command; method {}, alpha {}, seed {}",
            report.runs_total,
            report.rounds,
            stop_text(report.stopped),
            report.wall_seconds,
            report.command_seconds,
            report.method,
            report.alpha,
            report.seed
        ))
    );
    if let Some(i) = &report.frozen_instant {
        let _ = writeln!(out, "{}", pal.dim(&format!("frozen instant: {i}")));
    }
    if let Some(s) = report.entropy_seed {
        let line = format!("entropy seed of rand-isolated runs: {s} (replay with `flakebox run --seed {s}`; not the shuffle seed)");
        let _ = writeln!(out, "{}", pal.dim(&line));
    }
    if let Some(s) = &report.shards {
        let _ = writeln!(out);
        out.push_str(&s.text());
    }
    for w in &report.warnings {
        let _ = writeln!(out, "{} {w}", pal.paint("33", "warning:"));
    }
    out
}

/// The command's claimed effects, each with its counts and evidence. After
/// the `shown` tests, an evidence line one of them already gave (for the
/// same factor) is not repeated: one line says where it is.
fn factor_lines(out: &mut String, pal: &Palette, report: &Report, shown: &[&TestReport]) {
    if report.factors.is_empty() {
        return;
    }
    let _ = writeln!(out);
    if !shown.is_empty() {
        let _ = writeln!(out, "the command as a whole:");
    }
    for f in &report.factors {
        let (base, iso) = sides(f.factor);
        let _ = writeln!(
            out,
            "  {} {}  (p = {}; {base} failed {}/{}, {iso} failed {}/{})",
            pal.bold(f.factor.name()),
            pal.bold(f.effect.name()),
            fmt_p(f.p_value),
            f.baseline.failed,
            f.baseline.runs,
            f.isolated.failed,
            f.isolated.runs
        );
        let (new, repeated) = unshown(&f.evidence, f.factor, shown);
        for e in new {
            let _ = writeln!(out, "      - {e}");
        }
        if repeated > 0 {
            let _ = writeln!(
                out,
                "      {}",
                pal.dim(&format!("- {} under the tests above", evidence_count(repeated)))
            );
        }
    }
}

/// Of a factor's `evidence`, the lines no `shown` test gives for that
/// factor, and how many it does give.
fn unshown<'a>(evidence: &'a [String], factor: Factor, shown: &[&TestReport]) -> (Vec<&'a String>, usize) {
    let said = |e: &&String| shown.iter().any(|t| shown_evidence(t, factor).contains(e));
    let (repeated, new): (Vec<&String>, Vec<&String>) = evidence.iter().partition(said);
    (new, repeated.len())
}

fn evidence_count(n: usize) -> String {
    match n {
        1 => "its evidence line is".into(),
        n => format!("its {n} evidence lines are"),
    }
}

/// The factors without a claimed effect, with their counts: what the
/// verdict rests on. Factors never compared (no run on either side) say
/// nothing and are left out.
fn other_factor_lines(out: &mut String, pal: &Palette, report: &Report, shown: &[&TestReport]) {
    let others: Vec<&FactorAnalysis> = report
        .analysis
        .iter()
        .filter(|a| a.status.effect().is_none() || report.factors.is_empty())
        .filter(|a| a.baseline.runs > 0 || a.isolated.runs > 0)
        .collect();
    if others.is_empty() {
        return;
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "  {}", pal.dim("other factors:"));
    for a in others {
        let (base, iso) = sides(a.factor);
        let _ = writeln!(
            out,
            "    {:<5} {:<10} p = {:<8} {base} failed {}/{}, {iso} failed {}/{}",
            a.factor.name(),
            a.status.name(),
            fmt_p(a.p_value),
            a.baseline.failed,
            a.baseline.runs,
            a.isolated.failed,
            a.isolated.runs
        );
        if let (Status::None, Some(c)) = (a.status, a.change_ruled_out) {
            let _ = writeln!(
                out,
                "          {}",
                pal.dim(&format!("a change of {} or more in the failure rate is ruled out (95%)", pct(c)))
            );
        }
        if report.verdict != Verdict::Stable {
            // A line a shown test gave already is not repeated.
            let (new, repeated) = unshown(&a.evidence, a.factor, shown);
            for e in new.iter().take(3) {
                let _ = writeln!(out, "          {}", pal.dim(&format!("- {e}")));
            }
            if repeated > 0 {
                let _ = writeln!(
                    out,
                    "          {}",
                    pal.dim(&format!("- {} under the tests above", evidence_count(repeated)))
                );
            }
        }
    }
}

/// The tests whose order finding the tests section already gives (an
/// `order` entry among their factors, with its evidence).
fn order_shown<'a>(shown: &[&'a TestReport]) -> Vec<&'a str> {
    shown.iter().filter(|t| !shown_evidence(t, Factor::Order).is_empty()).map(|t| t.name.as_str()).collect()
}

/// A shown test's replay: the command that reproduces its failure, and the
/// control when the replay runs more than the test.
pub(crate) fn replay_lines(t: &TestReport) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(r) = &t.replay {
        v.push(format!("replay: {r}"));
        if let Some(note) = replay_note(t) {
            v.push(format!("  ({note})"));
        }
    }
    if let Some(r) = &t.replay_alone {
        v.push(format!("{}: {r}", alone_label(t)));
    }
    v
}

/// What to expect of a replay that does not fail every time.
pub(crate) fn replay_note(t: &TestReport) -> Option<&'static str> {
    crate::replay::real_randomness(t).then_some(
        "with real randomness: no seed failed in every run that used it, so it fails only sometimes",
    )
}

/// The label of `replay_alone`: the control passes, unless the test also
/// fails alone.
pub(crate) fn alone_label(t: &TestReport) -> &'static str {
    let alone = t.analysis.iter().find(|a| a.factor == Factor::Order).map(|a| a.isolated);
    match alone.is_none_or(|c| c.failed == 0) {
        true => "passes alone",
        false => "alone (fails less often)",
    }
}

/// One line per pruned factor: which, after how many rounds, and why.
fn pruned_lines(report: &Report) -> Vec<String> {
    report
        .pruned
        .iter()
        .map(|p| {
            format!("{} not used, so not isolated after round {}: {}", p.factor, p.after_rounds, p.reason)
        })
        .collect()
}

/// What the screening of focused reruns did, in one sentence.
pub(crate) fn screening_line(report: &Report) -> Option<String> {
    let s = report.screening.as_ref()?;
    Some(if s.incomplete {
        format!("focused reruns: interrupted during the screening ({} whole-suite runs)", s.runs)
    } else {
        format!(
            "focused reruns: {} whole-suite screening runs ({} baseline, the rest with everything isolated) chose {} of {} tests to rerun alone; the condition counts are theirs",
            s.runs,
            s.baseline_runs,
            thousands(s.suspects.len()),
            thousands(s.tests)
        )
    })
}

/// The top-level label: an interrupted diagnosis says so.
pub(crate) fn report_label(report: &Report) -> String {
    if report.stopped == StopReason::Interrupted {
        "undecided (interrupted)".into()
    } else {
        verdict_label(report.verdict, report.outcome)
    }
}

/// A test is shown on its own line unless it passed (or was skipped) in
/// every run it had; a test failing only in whole-suite runs is shown.
fn is_quiet(t: &TestReport) -> bool {
    !t.needs_a_look()
}

impl ConditionReport {
    /// The condition `name` (isolating `isolate`) with its run counts.
    pub fn new(name: &str, isolate: FactorSet, c: Counts) -> Self {
        ConditionReport {
            isolate,
            runs: c.runs,
            passed: c.passed,
            failed: c.failed,
            name: name.into(),
            timed_out: c.timed_out,
        }
    }
}

impl TestReport {
    /// A test's report with its verdict and nothing else yet: no factors,
    /// conditions, analysis, replay or summary.
    pub fn new(name: &str, verdict: Verdict, outcome: Option<StableOutcome>) -> Self {
        TestReport {
            name: name.into(),
            verdict,
            outcome,
            factors: Vec::new(),
            conditions: Vec::new(),
            analysis: Vec::new(),
            flaky_reruns: 0,
            summary: String::new(),
            screening: None,
            fails_only_in_suite: false,
            max_failure_rate_95: None,
            replay: None,
            replay_alone: None,
            interaction: None,
        }
    }

    /// Not a stable pass (or skip): a verdict, a failure, or a failure only
    /// in the whole suite, which the reports show one by one.
    pub fn needs_a_look(&self) -> bool {
        self.verdict != Verdict::Stable
            || self.outcome == Some(StableOutcome::Fail)
            || self.fails_only_in_suite
    }
}

/// The tests to show one by one (strongest verdicts first), and the stable
/// ones summed up in one line.
pub(crate) fn split_tests(report: &Report) -> (Vec<&TestReport>, Vec<&TestReport>) {
    let (mut shown, stable): (Vec<&TestReport>, Vec<&TestReport>) =
        report.tests.iter().partition(|t| !is_quiet(t));
    shown.sort_by_key(|t| (verdict_rank(t.verdict), t.fails_only_in_suite, t.name.clone()));
    (shown, stable)
}

pub(crate) fn test_label(t: &TestReport) -> String {
    if t.fails_only_in_suite {
        "fails only in the whole suite".into()
    } else {
        verdict_label(t.verdict, t.outcome)
    }
}

pub(crate) fn counts_text(c: &Counts) -> String {
    let t = if c.timed_out > 0 { format!(", {} timed out", c.timed_out) } else { String::new() };
    format!("{}/{}{t}", c.failed, c.runs)
}

/// A shown test's lines: each effect with its counts and evidence, or the
/// summary (with the evidence of a factor that reduces its failures).
pub(crate) fn test_details(t: &TestReport) -> Vec<String> {
    let mut v = Vec::new();
    // The test's replay has its own line.
    let replay = t.replay.as_ref().map(|r| format!("replay: {r}"));
    let evidence = |v: &mut Vec<String>, ev: &[String]| {
        for e in ev.iter().filter(|e| Some(*e) != replay.as_ref()).take(3) {
            v.push(format!("  - {e}"));
        }
    };
    if t.factors.is_empty() {
        v.push(t.summary.clone());
        for a in t.analysis.iter().filter(|a| a.status == Status::Reduces) {
            evidence(&mut v, &a.evidence);
        }
    }
    for f in &t.factors {
        let (base, iso) = match f.factor {
            Factor::Order => (sides(f.factor).0.to_string(), sides(f.factor).1.to_string()),
            _ => ("baseline".to_string(), format!("{} isolated", f.factor)),
        };
        v.push(format!(
            "{} {} (p = {}): {base} failed {}, {iso} failed {}",
            f.factor,
            f.effect.name(),
            fmt_p(f.p_value),
            counts_text(&f.baseline),
            counts_text(&f.isolated)
        ));
        evidence(&mut v, &f.evidence);
    }
    if let Some(i) = &t.interaction {
        v.push(format!("interaction: {}", i.summary));
    }
    v
}

/// The evidence a test's lines show for `factor`: its claimed effect's, or,
/// with no claim, that of a factor reducing its failures.
fn shown_evidence(t: &TestReport, factor: Factor) -> Vec<&String> {
    let claimed = t.factors.iter().filter(|f| f.factor == factor).flat_map(|f| &f.evidence);
    let reduces = t
        .analysis
        .iter()
        .filter(|a| t.factors.is_empty() && a.factor == factor && a.status == Status::Reduces)
        .flat_map(|a| &a.evidence);
    claimed.chain(reduces).collect()
}

/// "2,093 tests stable: passed all 6 runs; …" for the tests not shown.
pub(crate) fn stable_line(stable: &[&TestReport]) -> Option<String> {
    if stable.is_empty() {
        return None;
    }
    let runs = |t: &TestReport| t.conditions.iter().map(|c| c.runs).sum::<usize>();
    let passed: Vec<usize> =
        stable.iter().filter(|t| t.outcome == Some(StableOutcome::Pass)).map(|t| runs(t)).collect();
    let skipped = stable.len() - passed.len();
    let mut parts = Vec::new();
    if let (Some(&lo), Some(&hi)) = (passed.iter().min(), passed.iter().max()) {
        let all = if lo == hi { format!("all {lo} runs") } else { format!("all their runs ({lo} to {hi})") };
        let bound = crate::stats::never_failed_bound(lo).unwrap_or(1.0);
        parts.push(format!(
            "{} {} stable: passed {all}; a failure rate of {} or more ruled out (95%, each)",
            thousands(passed.len()),
            if passed.len() == 1 { "test" } else { "tests" },
            pct(bound)
        ));
    }
    if skipped > 0 {
        parts.push(format!("{} skipped in every run", thousands(skipped)));
    }
    Some(parts.join("; "))
}

/// 2093 → "2,093".
pub(crate) fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn verdict_rank(v: Verdict) -> u8 {
    match v {
        Verdict::Environment => 0,
        Verdict::Intrinsic => 1,
        Verdict::Undecided => 2,
        Verdict::Stable => 3,
    }
}

pub(crate) fn stop_text(s: StopReason) -> &'static str {
    match s {
        StopReason::Decided => "stopped: decided",
        StopReason::MaxRuns => "stopped: max runs reached",
        StopReason::FixedRuns => "fixed number of runs",
        StopReason::Interrupted => "interrupted",
    }
}

/// The JSON report (schema 1 plus additive fields), pretty-printed, for
/// `--format json` on stdout.
pub fn render_json(report: &Report) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(report)
}

/// Markdown for a CI job summary (`$GITHUB_STEP_SUMMARY`).
pub fn render_markdown(report: &Report) -> String {
    render_markdown_with(report, false)
}

/// [`render_markdown`], listing every stable test too when `all_tests`.
pub fn render_markdown_with(report: &Report, all_tests: bool) -> String {
    let mut out = String::new();
    let label = report_label(report);
    let _ = writeln!(out, "### flakebox diagnose: **{label}**");
    let _ = writeln!(out);
    let _ = writeln!(out, "`{}`", report.command.join(" ").replace('`', "'"));
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", md_escape(&report.summary));
    if let Some(s) = screening_line(report) {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", md_escape(&s));
    }
    let _ = writeln!(out);
    let tmo = report.conditions.iter().any(|c| c.timed_out > 0);
    if tmo {
        let _ = writeln!(out, "| condition | runs | passed | failed | timed out |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    } else {
        let _ = writeln!(out, "| condition | runs | passed | failed |");
        let _ = writeln!(out, "|---|---:|---:|---:|");
    }
    for c in &report.conditions {
        let t = if tmo { format!(" {} |", c.timed_out) } else { String::new() };
        let _ = writeln!(out, "| {} | {} | {} | {} |{t}", c.name, c.runs, c.passed, c.failed);
    }
    if !report.factors.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "| factor | effect | p-value | evidence |");
        let _ = writeln!(out, "|---|---|---:|---|");
        for f in &report.factors {
            let (new, repeated) = unshown(&f.evidence, f.factor, &split_tests(report).0);
            let mut ev: Vec<String> = new.iter().map(|e| md_escape(e)).collect();
            if repeated > 0 {
                ev.push(format!("{} with the tests below", evidence_count(repeated)));
            }
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                f.factor,
                f.effect.name(),
                fmt_p(f.p_value),
                ev.join("<br>")
            );
        }
    }
    if !report.tests.is_empty() {
        let (shown, stable) = split_tests(report);
        if !shown.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(out, "| test | verdict | factors | baseline failed | evidence |");
            let _ = writeln!(out, "|---|---|---|---:|---|");
            for t in &shown {
                let effects = effect_list(&t.factors);
                let base =
                    t.conditions.first().map(|c| format!("{}/{}", c.failed, c.runs)).unwrap_or_default();
                let details: Vec<String> =
                    test_details(t).iter().chain(&replay_lines(t)).map(|d| md_escape(d)).collect();
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} | {} |",
                    md_escape(&t.name).replace('`', "'"),
                    test_label(t),
                    effects.join(", "),
                    base,
                    details.join("<br>")
                );
            }
        }
        if let Some(line) = stable_line(&stable) {
            let _ = writeln!(out);
            let _ = writeln!(out, "{}", md_escape(&line));
        }
        if all_tests && !stable.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(out, "<details><summary>{} stable tests</summary>", thousands(stable.len()));
            let _ = writeln!(out);
            for t in &stable {
                let _ = writeln!(
                    out,
                    "- `{}` {}",
                    md_escape(&t.name).replace('`', "'"),
                    verdict_label(t.verdict, t.outcome)
                );
            }
            let _ = writeln!(out);
            let _ = writeln!(out, "</details>");
        }
    }
    if let Some(s) = &report.shards {
        let _ = writeln!(out);
        out.push_str(&s.markdown());
    }
    let shown = split_tests(report).0;
    if let Some(o) = &report.order {
        out.push_str(&crate::order::render(o, true, &order_shown(&shown)));
    }
    out.push_str(&crate::category::render(&report.categories, true));
    if let Some(i) = &report.interaction {
        let _ = writeln!(out);
        let _ = writeln!(out, "**interaction:** {}", md_escape(&i.summary));
    }
    let pruned = pruned_lines(report);
    if !pruned.is_empty() {
        let _ = writeln!(out);
        for line in pruned {
            let _ = writeln!(out, "- {}", md_escape(&line));
        }
    }
    if !report.warnings.is_empty() {
        let _ = writeln!(out);
        for w in &report.warnings {
            let _ = writeln!(out, "> warning: {}", md_escape(w));
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "<sub>{} runs, {} rounds ({}), method {}, alpha {}, seed {}</sub>",
        report.runs_total,
        report.rounds,
        stop_text(report.stopped),
        report.method,
        report.alpha,
        report.seed
    );
    out
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
