//! From runs to counts, tests, statuses and verdicts, for the command and for
//! each JUnit test case alike (a "unit").

use crate::evidence;
use crate::report::*;
use crate::stats::{self, Alternative};
use crate::{Engine, Options, RunRecord};
use factors::{Factor, FactorSet};
use std::time::Duration;

/// Per run: `Some(true)` failed, `Some(false)` passed, `None` not counted.
pub(crate) type Fails = Vec<Option<bool>>;

pub(crate) fn command_fails(engine: &Engine) -> Fails {
    engine.records.iter().map(|r| Some(!r.passed)).collect()
}

/// A test's outcome per run. Missing from a failed run's JUnit (the run
/// crashed before writing it) counts as a failure; missing from a passing
/// run, or skipped, does not count; nor does a run of a condition that did
/// not select it (another test's leave-one-out condition).
pub(crate) fn test_fails(engine: &Engine, name: &str) -> Fails {
    engine
        .records
        .iter()
        .map(|r| match r.tests.get(name) {
            Some((f, _)) => *f,
            None if engine.loo_select.get(&r.cond).is_some_and(|only| !only.iter().any(|t| t == name)) => {
                None
            }
            None if r.passed => None,
            None => Some(true),
        })
        .collect()
}

pub(crate) struct UnitAnalysis {
    pub counts: Vec<Counts>,
    pub factors: Vec<FactorAnalysis>,
    pub verdict: Verdict,
    pub outcome: Option<StableOutcome>,
    pub decided: bool,
}

impl Engine {
    pub(crate) fn cond_index(&self, isolate: FactorSet) -> Option<usize> {
        self.conds.iter().position(|c| c.isolate == isolate)
    }

    /// The condition with every chosen factor isolated (leave-one-out
    /// conditions may come after it).
    pub(crate) fn all_index(&self) -> usize {
        let all: FactorSet = self.factors.iter().copied().collect();
        self.cond_index(all).unwrap_or(self.conds.len() - 1)
    }
}

pub(crate) fn analyse(engine: &mut Engine, fails: &[Option<bool>]) -> UnitAnalysis {
    let ncond = engine.conds.len();
    let mut counts = vec![Counts::default(); ncond];
    let rounds = engine.records.iter().map(|r| r.round + 1).max().unwrap_or(0);
    let mut grid = vec![vec![None; ncond]; rounds];
    for (r, f) in engine.records.iter().zip(fails) {
        if let Some(failed) = *f {
            let c = &mut counts[r.cond];
            c.runs += 1;
            if failed {
                c.failed += 1;
                if r.timed_out {
                    c.timed_out += 1;
                }
            } else {
                c.passed += 1;
            }
            grid[r.round][r.cond] = Some(failed);
        }
    }

    let factors = engine.factors.clone();
    let mut raw = Vec::with_capacity(factors.len());
    let mut dirs = Vec::with_capacity(factors.len());
    let mut pairs = Vec::with_capacity(factors.len());
    for f in &factors {
        let ci = engine.cond_index(FactorSet::only(*f)).unwrap_or(0);
        let (mut only_base, mut only_iso) = (0usize, 0usize);
        for row in &grid {
            match (row[0], row[ci]) {
                (Some(true), Some(false)) => only_base += 1,
                (Some(false), Some(true)) => only_iso += 1,
                _ => {}
            }
        }
        let (b, i) = (counts[0], counts[ci]);
        let (p_fix, p_worse) = if engine.fixed {
            let t = |alt| {
                stats::fisher_exact(b.failed as u64, b.passed as u64, i.failed as u64, i.passed as u64, alt)
            };
            (t(Alternative::Greater), t(Alternative::Less))
        } else {
            let d = only_base + only_iso;
            (engine.seq.p_value(d, only_base), engine.seq.p_value(d, only_iso))
        };
        let p_fix = (p_fix / stats::WEIGHT_FIXES).min(1.0);
        let p_worse = (p_worse / stats::WEIGHT_WORSE).min(1.0);
        // The direction is the one with the stronger evidence; the union
        // bound over both (weights summing to 1) keeps min() a valid p-value.
        dirs.push(p_fix <= p_worse);
        raw.push(p_fix.min(p_worse));
        pairs.push((ci, only_base, only_iso));
    }
    // The order factor's hypothesis, tested later in the same family, as
    // p = 1: Holm-adjusted p-values only fall as another p-value falls, so
    // the claims made now hold whatever it turns out to be.
    let mut family = raw.clone();
    family.extend(std::iter::repeat_n(1.0, engine.extra_hypotheses));
    let adjusted = stats::holm_adjust(&family);

    let mut out = Vec::with_capacity(factors.len());
    for (k, f) in factors.iter().enumerate() {
        let (ci, only_base, only_iso) = pairs[k];
        let (b, i) = (counts[0], counts[ci]);
        let significant = adjusted[k] <= engine.alpha && raw[k] < 1.0;
        let status = if significant {
            if dirs[k] {
                if i.failed == 0 {
                    Status::Fixes
                } else {
                    Status::Reduces
                }
            } else if i.passed == 0 && b.is_mixed() {
                Status::Stabilizes
            } else {
                Status::Breaks
            }
        } else if i.runs > 0 && ((i.failed == 0 && b.failed > 0) || (i.passed == 0 && b.passed > 0)) {
            // An all-one-way isolated condition against a baseline that had
            // the other outcome: more rounds can still make it significant.
            Status::Undecided
        } else {
            Status::None
        };
        out.push(FactorAnalysis {
            factor: *f,
            status,
            p_value: adjusted[k],
            p_unadjusted: raw[k],
            baseline: b,
            isolated: i,
            rounds_only_baseline_failed: only_base,
            rounds_only_isolated_failed: only_iso,
            evidence: Vec::new(),
            change_ruled_out: None,
            failing_seed: None,
        });
    }

    // A factor the command provably never used claims nothing (its runs
    // stopped after the first round).
    for a in out.iter_mut().filter(|a| engine.pruned.iter().any(|p| p.factor == a.factor)) {
        a.status = Status::None;
    }
    let all = counts[engine.all_index()];
    if engine.factors.len() > 1 {
        drop_futile(&mut out, all);
        consistency_with_all(&mut out, all);
    }
    if !engine.fixed {
        beyond_reach(engine, &grid, &mut out);
    }
    for a in out.iter_mut() {
        let ci = engine.cond_index(FactorSet::only(a.factor)).unwrap_or(0);
        a.change_ruled_out = change_ruled_out(&grid, ci);
    }
    let counted: Vec<&Counts> = counts.iter().filter(|c| c.runs > 0).collect();
    let (verdict, outcome) = if out.iter().any(|a| a.status.effect().is_some()) {
        (Verdict::Environment, None)
    } else if all.is_mixed() {
        (Verdict::Intrinsic, None)
    } else if !counted.is_empty() && counted.iter().all(|c| c.failed == 0) {
        (Verdict::Stable, Some(StableOutcome::Pass))
    } else if !counted.is_empty() && counted.iter().all(|c| c.passed == 0) {
        (Verdict::Stable, Some(StableOutcome::Fail))
    } else {
        (Verdict::Undecided, None)
    };
    // Stop only when every factor is decided and, if the verdict is still
    // undecided, more runs could not change it. The case that needs more
    // runs: baseline has not shown both outcomes yet while other conditions
    // differ (it just has not failed yet). Not worth more runs: isolating
    // everything together is established to fix a baseline that fails
    // (flaky or always) while no factor alone does (only isolating several
    // together helps), or a unit with no runs counted under all-isolated (a
    // test skipped there).
    let all_idx = engine.all_index();
    let more_runs_help = verdict == Verdict::Undecided
        && counts[all_idx].runs > 0
        && !all_together_fixes(engine, &grid, all_idx);
    let decided = !out.iter().any(|a| a.status == Status::Undecided) && !more_runs_help;
    UnitAnalysis { counts, factors: out, verdict, outcome, decided }
}

/// Is "isolating everything together fixes it" established, with the same
/// exact sequential test as a factor's `fixes`? Used only to decide when
/// more runs are pointless (stopping never affects the error guarantee):
/// without it, a random command whose all-isolated runs happened to pass so
/// far would be left undecided instead of being run until it fails there.
fn all_together_fixes(engine: &mut Engine, grid: &[Vec<Option<bool>>], all_idx: usize) -> bool {
    let (mut only_base, mut only_all) = (0usize, 0usize);
    for row in grid {
        match (row[0], row[all_idx]) {
            (Some(true), Some(false)) => only_base += 1,
            (Some(false), Some(true)) => only_all += 1,
            _ => {}
        }
    }
    let k = engine.factors.len() as f64;
    only_all == 0 && engine.seq.p_value(only_base, only_base) / stats::WEIGHT_FIXES * k <= engine.alpha
}

/// An undecided factor waits for a claim that `consistency_with_all` would
/// withdraw anyway: the all-isolated runs already contradict it and no other
/// factor is in play (claimed or undecided) to explain the difference. More
/// runs cannot help it, so it is `none`. Stopping earlier and removing claims
/// leave the error guarantee as it is.
fn drop_futile(out: &mut [FactorAnalysis], all: Counts) {
    // What each factor has claimed or may still claim, as consistency_with_all
    // counts it: fixes, or the other way (stabilizes/breaks).
    let could_fix = |a: &FactorAnalysis| {
        a.status == Status::Fixes
            || (a.status == Status::Undecided && a.isolated.failed == 0 && a.baseline.failed > 0)
    };
    let could_other = |a: &FactorAnalysis| {
        matches!(a.status, Status::Stabilizes | Status::Breaks)
            || (a.status == Status::Undecided && a.isolated.passed == 0 && a.baseline.passed > 0)
    };
    let fixers: Vec<Factor> = out.iter().filter(|a| could_fix(a)).map(|a| a.factor).collect();
    let others: Vec<Factor> = out.iter().filter(|a| could_other(a)).map(|a| a.factor).collect();
    for a in out.iter_mut().filter(|a| a.status == Status::Undecided) {
        let other_fixes = fixers.iter().any(|f| *f != a.factor);
        let other_breaks = others.iter().any(|f| *f != a.factor);
        let (b, i) = (a.baseline, a.isolated);
        // Fixes needs "all" never failing (or another factor breaking);
        // stabilizes needs "all" never passing and breaks "all" failing
        // (or another factor fixing).
        let may_fix = i.failed == 0 && b.failed > 0 && (all.failed == 0 || other_breaks);
        let may_other = i.passed == 0
            && b.passed > 0
            && (other_fixes || if b.is_mixed() { all.passed == 0 } else { all.failed > 0 || all.runs == 0 });
        if !may_fix && !may_other {
            a.status = Status::None;
        }
    }
}

/// Below this chance of reaching significance within `max_runs`, an
/// undecided factor is decided `none` (see [`beyond_reach`]).
pub(crate) const FUTILITY: f64 = 0.1;

/// Is a round (baseline failed, isolated failed) favourable to a claim?
type Favourable = fn(bool, bool) -> bool;

/// Stopping for futility: an undecided factor whose claim is out of reach is
/// `none`. Its claim (every discordant round one way) grows only in rounds
/// where the favourable discordance happens again — for `breaks` or
/// `stabilizes`, a round where baseline passes and the isolated run fails.
/// The rate of such rounds to come is estimated from the rounds after the
/// first (Jeffreys: `(x + ½) / (n + 1)`), because the first run of every
/// condition starts from a fresh state, which no later run does; the number
/// of such rounds needed is the fewest that would make the claim significant
/// as the next Holm rejection. If the chance of that many in the rounds left
/// is below [`FUTILITY`], more runs are not worth it. Stopping (and removing
/// a possible claim) never affects the error guarantee; the cost is power,
/// measured by `examples/power.rs`. At `max_runs` nothing is left to run and
/// the factor stays `undecided`: more runs could still decide it.
fn beyond_reach(engine: &mut Engine, grid: &[Vec<Option<bool>>], out: &mut [FactorAnalysis]) {
    let rounds = grid.len();
    let left = engine.rounds_max.saturating_sub(rounds);
    if left == 0 {
        return;
    }
    let m = engine.factors.len() + engine.extra_hypotheses;
    let claimed = out.iter().filter(|a| a.status.effect().is_some() || a.status == Status::Reduces).count();
    let holm = m.saturating_sub(claimed).max(1) as f64;
    for a in out.iter_mut().filter(|a| a.status == Status::Undecided) {
        let ci = engine.cond_index(FactorSet::only(a.factor)).unwrap_or(0);
        let (b, i) = (a.baseline, a.isolated);
        // (favourable discordance, weight of that direction)
        let mut ways: Vec<(Favourable, f64, usize)> = Vec::new();
        if i.failed == 0 && b.failed > 0 {
            ways.push((|base, iso| base && !iso, stats::WEIGHT_FIXES, a.rounds_only_baseline_failed));
        }
        if i.passed == 0 && b.passed > 0 {
            ways.push((|base, iso| !base && iso, stats::WEIGHT_WORSE, a.rounds_only_isolated_failed));
        }
        let reachable = ways.iter().any(|&(fav, weight, x)| {
            let (mut later, mut hits) = (0usize, 0usize);
            for row in grid.iter().skip(1) {
                if let (Some(base), Some(iso)) = (row[0], row[ci]) {
                    later += 1;
                    if fav(base, iso) {
                        hits += 1;
                    }
                }
            }
            let d = a.rounds_only_baseline_failed + a.rounds_only_isolated_failed;
            let needed =
                (0..=left).find(|&j| engine.seq.p_value(d + j, x + j) / weight * holm <= engine.alpha);
            let rate = (hits as f64 + 0.5) / (later as f64 + 1.0);
            needed.is_some_and(|j| stats::binom_tail(left, j, rate) >= FUTILITY)
        });
        if !reachable {
            a.status = Status::None;
        }
    }
}

/// How much isolating the factor could change the failure rate, either way,
/// at 95% confidence: with `q` the rate of rounds where only the isolated run
/// failed and `r` where only baseline's did, the change is `q − r`; each
/// side's bound is `upper(q) − lower(r)` (and the mirror), the four one-sided
/// exact bounds at 1.25% each. `None` before any paired round.
fn change_ruled_out(grid: &[Vec<Option<bool>>], ci: usize) -> Option<f64> {
    let (mut n, mut q, mut r) = (0usize, 0usize, 0usize);
    for row in grid {
        if let (Some(base), Some(iso)) = (row[0], row[ci]) {
            n += 1;
            match (base, iso) {
                (false, true) => q += 1,
                (true, false) => r += 1,
                _ => {}
            }
        }
    }
    if n == 0 {
        return None;
    }
    let e = 0.0125;
    let more = stats::rate_upper_bound(n, q, e) - stats::rate_lower_bound(n, r, e);
    let fewer = stats::rate_upper_bound(n, r, e) - stats::rate_lower_bound(n, q, e);
    Some(more.max(fewer).clamp(0.0, 1.0))
}

/// A claim must agree with the all-isolated condition, which isolates the
/// factor too: if isolating net fixes the command, isolating everything
/// must not fail — unless another factor is claimed to break it. A claim
/// the all-isolated runs contradict is withdrawn (status `none`). This only
/// removes claims, so the error guarantee is untouched, and it removes
/// exactly the false claims chance produces in intrinsically flaky
/// commands (one isolated condition happening to pass every time).
fn consistency_with_all(out: &mut [FactorAnalysis], all: Counts) {
    let claimed: Vec<(Factor, Status)> =
        out.iter().filter(|a| a.status.effect().is_some()).map(|a| (a.factor, a.status)).collect();
    let other = |f: Factor, pred: &dyn Fn(Status) -> bool| claimed.iter().any(|(g, s)| *g != f && pred(*s));
    for a in out.iter_mut() {
        let ok = match a.status {
            Status::Fixes => {
                all.failed == 0 || other(a.factor, &|s| matches!(s, Status::Breaks | Status::Stabilizes))
            }
            Status::Stabilizes => all.passed == 0 || other(a.factor, &|s| s == Status::Fixes),
            Status::Breaks => all.failed > 0 || other(a.factor, &|s| s == Status::Fixes),
            _ => true,
        };
        if !ok {
            a.status = Status::None;
        }
    }
}

/// May the runs stop? Every factor of the command and of every test decided.
pub(crate) fn all_decided(engine: &mut Engine) -> bool {
    // Focused rounds run the suspects together: the verdict is the tests'
    // own (`roll_up`), so the suspects run together need no decision of
    // their own (e.g. one test failing everywhere but once keeps that unit
    // undecided while each test is long decided).
    let focused = engine.suspects.as_ref().is_some_and(|s| !s.is_empty()) && !engine.records.is_empty();
    let fails = command_fails(engine);
    if !focused && !analyse(engine, &fails).decided {
        return false;
    }
    let names: Vec<String> = engine.test_names.keys().cloned().collect();
    for name in names {
        let fails = test_fails(engine, &name);
        if !analyse(engine, &fails).decided {
            return false;
        }
    }
    true
}

/// Focused reruns: the single-factor conditions worth running in the next
/// round. A factor's condition can be left out once, for every unit not
/// yet decided, its isolated runs have had both outcomes: its status is
/// then `none` for good (only a one-way isolated condition can become a
/// claim or undecided), so its runs would change no decision. Which
/// conditions a round runs is chosen from earlier rounds only, and the ones
/// it runs are still shuffled, so the pairs stay exchangeable under the
/// null. Baseline and all-isolated always run.
pub(crate) fn needed_conditions(engine: &mut Engine) -> Vec<bool> {
    let n = engine.conds.len();
    let mut needed = vec![false; n];
    needed[0] = true;
    needed[engine.all_index()] = true;
    for &(_, ci) in &engine.loo {
        needed[ci] = true;
    }
    let mut units = vec![command_fails(engine)];
    for name in engine.test_names.keys().cloned().collect::<Vec<_>>() {
        units.push(test_fails(engine, &name));
    }
    for fails in units {
        let u = analyse(engine, &fails);
        if u.decided {
            continue;
        }
        for a in &u.factors {
            if !a.isolated.is_mixed() {
                if let Some(ci) = engine.cond_index(FactorSet::only(a.factor)) {
                    needed[ci] = true;
                }
            }
        }
    }
    needed
}

fn effect_rank(e: Effect) -> u8 {
    match e {
        Effect::Fixes => 0,
        Effect::Stabilizes => 1,
        Effect::Breaks => 2,
    }
}

/// The claimed effects, strongest first: fixes, stabilizes, breaks; then
/// smaller p-value; then larger difference in failure rate.
fn effects(analysis: &[FactorAnalysis]) -> Vec<FactorEffect> {
    let mut v: Vec<(&FactorAnalysis, Effect)> =
        analysis.iter().filter_map(|a| a.status.effect().map(|e| (a, e))).collect();
    v.sort_by(|(a, ea), (b, eb)| {
        let size = |x: &FactorAnalysis| (x.baseline.fail_rate() - x.isolated.fail_rate()).abs();
        effect_rank(*ea)
            .cmp(&effect_rank(*eb))
            .then(a.p_value.total_cmp(&b.p_value))
            .then(size(b).total_cmp(&size(a)))
            .then(a.factor.cmp(&b.factor))
    });
    v.into_iter()
        .map(|(a, e)| FactorEffect {
            factor: a.factor,
            effect: e,
            p_value: a.p_value,
            evidence: a.evidence.clone(),
            baseline: a.baseline,
            isolated: a.isolated,
            failing_seed: a.failing_seed.clone(),
        })
        .collect()
}

fn condition_reports(engine: &Engine, counts: &[Counts]) -> Vec<ConditionReport> {
    engine.conds.iter().zip(counts).map(|(c, n)| ConditionReport::new(&c.name, c.isolate, *n)).collect()
}

/// " (N timed out)" after a count of failures, when some did.
fn tmo(c: Counts) -> String {
    if c.timed_out == 0 {
        String::new()
    } else {
        format!(" ({} timed out)", c.timed_out)
    }
}

fn fmt_p(p: f64) -> String {
    if p < 0.0001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

fn summary(engine: &Engine, u: &UnitAnalysis, effects: &[FactorEffect]) -> String {
    let all_name = engine.conds[engine.all_index()].isolate.to_string();
    let total: usize = u.counts.iter().map(|c| c.runs).sum();
    match u.verdict {
        Verdict::Environment => {
            let mut parts = Vec::new();
            for e in effects {
                let (b, i, f) = (e.baseline, e.isolated, e.factor);
                let p = fmt_p(e.p_value);
                parts.push(match e.effect {
                    Effect::Fixes => format!(
                        "isolating {f} fixes it: baseline failed {} of {} runs, {f} isolated passed all {} (p = {p})",
                        b.failed, b.runs, i.runs
                    ),
                    Effect::Stabilizes => format!(
                        "isolating {f} makes it fail every time: baseline failed {} of {} runs{}, {f} isolated failed all {}{}; it needs {f}, and its flakiness comes through {f} (p = {p})",
                        b.failed, b.runs, tmo(b), i.runs, tmo(i)
                    ),
                    Effect::Breaks => format!(
                        "it needs {f}: baseline failed {} of {} runs{}, {f} isolated failed {} of {}{} (p = {p})",
                        b.failed, b.runs, tmo(b), i.failed, i.runs, tmo(i)
                    ),
                });
            }
            parts.join("; ")
        }
        Verdict::Intrinsic => {
            let a = u.counts[engine.all_index()];
            let mut s = format!(
                "flaky even with {all_name} isolated: failed {} of {} runs there{}, so the cause is inside the command ({})",
                a.failed,
                a.runs,
                tmo(a),
                // With rand isolated, its randomness came from one seed.
                if engine.factors.contains(&Factor::Rand) {
                    "a race, timing, ordering"
                } else {
                    "a race, randomness, ordering; --factors ...,rand tests randomness"
                }
            );
            for r in u.factors.iter().filter(|r| r.status == Status::Reduces) {
                s.push_str(&format!(
                    "; isolating {} also reduces failures ({} of {} in baseline, {} of {} isolated, p = {})",
                    r.factor,
                    r.baseline.failed,
                    r.baseline.runs,
                    r.isolated.failed,
                    r.isolated.runs,
                    fmt_p(r.p_value)
                ));
            }
            s
        }
        Verdict::Stable => match u.outcome {
            Some(StableOutcome::Fail) => {
                let t = tmo(self::total(&u.counts));
                format!("failed all {total} runs under every condition{t}")
            }
            _ => {
                let bound = stats::never_failed_bound(total).unwrap_or(1.0);
                format!(
                    "passed all {total} runs under every condition; a failure rate of {:.1}% or more is ruled out (95% confidence)",
                    bound * 100.0
                )
            }
        },
        Verdict::Undecided => {
            let mut parts = Vec::new();
            for a in u.factors.iter().filter(|a| a.status == Status::Undecided) {
                parts.push(format!(
                    "{}: baseline failed {} of {}{}, {} isolated failed {} of {}{} (p = {}, needs ≤ {})",
                    a.factor,
                    a.baseline.failed,
                    a.baseline.runs,
                    tmo(a.baseline),
                    a.factor,
                    a.isolated.failed,
                    a.isolated.runs,
                    tmo(a.isolated),
                    fmt_p(a.p_value),
                    engine.alpha
                ));
            }
            let base = u.counts[0];
            let all = u.counts[engine.all_index()];
            if parts.is_empty()
                && engine.factors.len() > 1
                && base.failed > 0
                && all.runs > 0
                && all.failed == 0
            {
                parts.push(format!(
                    "baseline failed {} of {} runs and {all_name} isolated together never failed ({} runs), but no single factor explains it: more than one factor is involved",
                    base.failed, base.runs, all.runs
                ));
            }
            if parts.is_empty() {
                parts.push("the conditions differ but not significantly".into());
            }
            format!("no decision: {}; more runs (--max-runs) could decide", parts.join("; "))
        }
    }
}

fn unit_report(
    engine: &mut Engine,
    fails: &[Option<bool>],
    evidence_for_all: bool,
) -> (UnitAnalysis, Vec<FactorEffect>, String) {
    let mut u = analyse(engine, fails);
    for a in u.factors.iter_mut() {
        if evidence_for_all || a.status.effect().is_some() {
            a.evidence = evidence::for_factor(engine, a.factor, fails);
        }
        if a.factor == Factor::Rand {
            a.failing_seed = evidence::failing_seed(engine, fails);
        }
    }
    let effects = effects(&u.factors);
    let s = summary(engine, &u, &effects);
    (u, effects, s)
}

/// Per-condition counts over the screening runs, for one test (`Some`) or
/// the command.
fn screen_counts(engine: &Engine, name: Option<&str>) -> Vec<Counts> {
    let mut counts = vec![Counts::default(); engine.conds.len()];
    for r in &engine.screen {
        let failed = match name {
            None => Some(!r.passed),
            Some(n) => match r.tests.get(n) {
                Some((f, _)) => *f,
                None if r.passed => None,
                None => Some(true),
            },
        };
        if let Some(failed) = failed {
            let c = &mut counts[r.cond];
            c.runs += 1;
            if failed {
                c.failed += 1;
                c.timed_out += usize::from(r.timed_out);
            } else {
                c.passed += 1;
            }
        }
    }
    counts
}

fn total(counts: &[Counts]) -> Counts {
    counts.iter().fold(Counts::default(), |a, c| Counts {
        runs: a.runs + c.runs,
        passed: a.passed + c.passed,
        failed: a.failed + c.failed,
        timed_out: a.timed_out + c.timed_out,
    })
}

/// Conditions that have not run yet (an interrupted diagnosis).
fn not_run(engine: &Engine, counts: &[Counts]) -> String {
    let names: Vec<&str> =
        engine.conds.iter().zip(counts).filter(|(_, c)| c.runs == 0).map(|(c, _)| c.name.as_str()).collect();
    if names.is_empty() {
        String::new()
    } else {
        format!(" (no run under {})", names.join(", "))
    }
}

/// What an interrupted unit had shown: a claim stands (the sequential test
/// is valid at any stop); "stable" would speak for conditions that did not
/// all run, so only the counts are given.
fn so_far(u: &UnitAnalysis, summary: &str) -> String {
    if u.verdict == Verdict::Stable {
        let t = total(&u.counts);
        format!("{} of {} runs passed", t.passed, t.runs)
    } else {
        summary.to_string()
    }
}

/// The screening's description of a test that was not rerun.
fn screened_test(engine: &Engine, name: &str, interrupted: bool) -> TestReport {
    let counts = screen_counts(engine, Some(name));
    let all = total(&counts);
    let (verdict, outcome, summary) = if interrupted {
        (
            Verdict::Undecided,
            None,
            format!("interrupted during the screening; passed {} of {} runs so far", all.passed, all.runs),
        )
    } else if all.runs == 0 {
        (Verdict::Stable, Some(StableOutcome::Skipped), "skipped in every run".to_string())
    } else {
        let b = stats::never_failed_bound(all.runs).unwrap_or(1.0);
        (
            Verdict::Stable,
            Some(StableOutcome::Pass),
            format!(
                "passed all {} whole-suite screening runs, so it was not rerun; a failure rate of {:.1}% or more is ruled out (95% confidence)",
                all.runs,
                b * 100.0
            ),
        )
    };
    TestReport {
        name: name.to_string(),
        verdict,
        outcome,
        factors: Vec::new(),
        conditions: condition_reports(engine, &counts),
        analysis: Vec::new(),
        flaky_reruns: engine
            .screen
            .iter()
            .filter_map(|r| r.tests.get(name))
            .map(|(_, n)| u64::from(*n))
            .sum(),
        summary,
        screening: Some(all),
        fails_only_in_suite: false,
        replay: None,
        replay_alone: None,
        interaction: None,
        max_failure_rate_95: (outcome == Some(StableOutcome::Pass))
            .then(|| stats::never_failed_bound(all.runs))
            .flatten(),
    }
}

pub(crate) fn build_report(
    engine: &mut Engine,
    command: &[String],
    opts: &Options,
    stopped: StopReason,
    rounds: usize,
    wall: Duration,
) -> Report {
    let interrupted = stopped == StopReason::Interrupted;
    let fails = command_fails(engine);
    let (mut u, mut effects, mut summary) = unit_report(engine, &fails, true);
    let mut conditions = condition_reports(engine, &u.counts);
    let screened = engine.suspects.is_some();
    if screened && engine.records.is_empty() && !interrupted {
        // Focused reruns found nothing to rerun: every screening run passed.
        let counts = screen_counts(engine, None);
        conditions = condition_reports(engine, &counts);
        let all = total(&counts);
        u.verdict = Verdict::Stable;
        u.outcome = Some(StableOutcome::Pass);
        summary = format!(
            "passed all {} whole-suite screening runs ({} baseline, the rest with {} isolated) and no test failed: nothing to rerun; a failure rate of {:.1}% or more is ruled out (95% confidence)",
            all.runs,
            counts[0].runs,
            engine.conds[engine.all_index()].isolate,
            stats::never_failed_bound(all.runs).unwrap_or(1.0) * 100.0
        );
    }
    if interrupted {
        let runs = engine.records.len() + engine.screen.len();
        summary = format!(
            "interrupted after {runs} runs, before a decision{}; so far: {}",
            not_run(engine, &u.counts),
            so_far(&u, &summary)
        );
        u.verdict = Verdict::Undecided;
        u.outcome = None;
        effects.clear();
    }

    let names: Vec<String> = engine.test_names.keys().cloned().collect();
    let mut tests = Vec::with_capacity(names.len() + engine.screen_order.len());
    for name in names {
        let fails = test_fails(engine, &name);
        let (tu, teffects, tsummary) = unit_report(engine, &fails, false);
        let reruns: u64 =
            engine.records.iter().filter_map(|r| r.tests.get(&name)).map(|(_, n)| u64::from(*n)).sum();
        let (mut verdict, mut outcome) = if tu.counts.iter().all(|c| c.runs == 0) {
            (Verdict::Stable, Some(StableOutcome::Skipped))
        } else {
            (tu.verdict, tu.outcome)
        };
        let mut tsummary = if outcome == Some(StableOutcome::Skipped) {
            "skipped in every run".to_string()
        } else {
            tsummary
        };
        let screening = screened.then(|| total(&screen_counts(engine, Some(&name))));
        let counted = total(&tu.counts);
        let fails_only_in_suite =
            screening.is_some_and(|s| s.failed > 0) && counted.runs > 0 && counted.failed == 0;
        if let (true, Some(s)) = (fails_only_in_suite, screening) {
            tsummary = format!(
                "failed in {} of {} whole-suite runs but never when run with only the suspects selected ({} runs): it needs an earlier test to fail",
                s.failed, s.runs, counted.runs
            );
        }
        if interrupted {
            tsummary = format!(
                "interrupted before a decision{}; so far: {}",
                not_run(engine, &tu.counts),
                so_far(&tu, &tsummary)
            );
            verdict = Verdict::Undecided;
            outcome = None;
        }
        let interaction = if interrupted { None } else { test_interaction(engine, &name) };
        tests.push(TestReport {
            name,
            verdict,
            outcome,
            factors: if verdict == Verdict::Environment { teffects } else { Vec::new() },
            conditions: condition_reports(engine, &tu.counts),
            analysis: tu.factors,
            flaky_reruns: reruns,
            summary: tsummary,
            screening,
            fails_only_in_suite,
            replay: None,
            replay_alone: None,
            max_failure_rate_95: (outcome == Some(StableOutcome::Pass))
                .then(|| stats::never_failed_bound(counted.runs))
                .flatten(),
            interaction,
        });
    }
    // Focused reruns: the tests that were not rerun, from the screening.
    let rest: Vec<String> =
        engine.screen_order.iter().filter(|n| !engine.test_names.contains_key(*n)).cloned().collect();
    for name in rest {
        tests.push(screened_test(engine, &name, interrupted && !screened));
    }
    tests.sort_by(|a, b| a.name.cmp(&b.name));

    // Focused reruns: the runs are of the suspects together, not of the
    // user's command, so the verdict is the tests' own, worst first.
    let focused = engine.suspects.as_ref().is_some_and(|s| !s.is_empty());
    if focused && !interrupted && !engine.records.is_empty() {
        roll_up(&tests, &mut u.verdict, &mut u.outcome, &mut effects, &mut summary);
        // A factor with an effect on some test is reported by that effect,
        // not by what it did to the suspects run together.
        u.factors.retain(|a| !effects.iter().any(|e| e.factor == a.factor));
    }

    let runs_total = engine.records.len() + engine.screen.len();
    let decided_runs: Vec<&RunRecord> = if engine.records.is_empty() {
        engine.screen.iter().collect()
    } else {
        engine.records.iter().collect()
    };
    let never_failed_bound =
        if !decided_runs.is_empty() && decided_runs.iter().all(|r| r.passed) && !interrupted {
            stats::never_failed_bound(decided_runs.len())
                .map(|b| NeverFailedBound { runs: decided_runs.len(), max_failure_rate_95: b })
        } else {
            None
        };
    let frozen_instant =
        engine.records.iter().chain(&engine.screen).find_map(|r| r.evidence.frozen_instant.clone());
    // The rand-isolated runs' seed: the other runs have seeds of their own.
    let entropy_seed = engine
        .records
        .iter()
        .chain(&engine.screen)
        .filter(|r| engine.conds[r.cond].isolate.contains(Factor::Rand))
        .find_map(|r| r.evidence.entropy_seed);
    let mut warnings: Vec<String> = engine
        .warning_order
        .iter()
        .map(|w| match engine.warnings.get(w) {
            Some(n) if *n > 1 => format!("{w} (in {n} runs)"),
            _ => w.clone(),
        })
        .collect();
    if interrupted {
        warnings.push(format!("interrupted after {runs_total} runs: no verdict"));
    }
    let command_seconds = engine.records.iter().chain(&engine.screen).map(|r| r.duration.as_secs_f64()).sum();
    let screening = opts.focus.then(|| Screening {
        runs: engine.screen.len(),
        baseline_runs: engine.screen.iter().filter(|r| r.cond == 0).count(),
        tests: engine.screen_order.len(),
        suspects: engine.suspects.clone().unwrap_or_default(),
        incomplete: engine.suspects.is_none(),
    });
    let mut report = Report {
        schema: 1,
        command: command.to_vec(),
        verdict: u.verdict,
        factors: if u.verdict == Verdict::Environment { effects } else { Vec::new() },
        conditions,
        tests,
        outcome: u.outcome,
        summary,
        analysis: u.factors,
        never_failed_bound,
        alpha: opts.alpha,
        method: if engine.fixed { "fisher".into() } else { "sequential-sign".into() },
        seed: opts.seed,
        entropy_seed,
        stopped,
        rounds,
        runs_total,
        wall_seconds: wall.as_secs_f64(),
        command_seconds,
        frozen_instant,
        warnings,
        screening,
        runs: run_summaries(engine),
        shards: None,
        order: None,
        categories: Vec::new(),
        stale_state: None,
        pruned: engine.pruned.clone(),
        interaction: if interrupted { None } else { interaction(engine, &fails) },
    };
    report.categories = crate::category::categorize(&report);
    report
}

/// Every run for the report's `runs`, screening runs first.
fn run_summaries(engine: &Engine) -> Vec<RunSummary> {
    let summary = |r: &RunRecord, screening: bool| {
        let mut failed: Vec<&String> =
            r.tests.iter().filter(|(_, (f, _))| *f == Some(true)).map(|(n, _)| n).collect();
        failed.sort();
        let cond = &engine.conds[r.cond];
        RunSummary {
            round: r.round,
            condition: cond.name.clone(),
            isolate: cond.isolate,
            screening,
            passed: r.passed,
            timed_out: r.timed_out,
            seconds: r.duration.as_secs_f64(),
            failed_tests_total: failed.len(),
            failed_tests: failed.into_iter().take(crate::report::RUN_FAILED_TESTS_SHOWN).cloned().collect(),
            evidence: r.evidence.summary_lines(),
        }
    };
    engine
        .screen
        .iter()
        .map(|r| summary(r, true))
        .chain(engine.records.iter().map(|r| summary(r, false)))
        .collect()
}

/// The verdict of a focused diagnosis from its tests' verdicts: environment
/// if any test's flakiness comes from a factor (the factors: each one's
/// strongest effect over the tests), else intrinsic, else undecided, else
/// stable (failing if any test fails everywhere).
fn roll_up(
    tests: &[TestReport],
    verdict: &mut Verdict,
    outcome: &mut Option<StableOutcome>,
    effects: &mut Vec<FactorEffect>,
    summary: &mut String,
) {
    let count = |v: Verdict| tests.iter().filter(|t| t.verdict == v).count();
    let (env, intr, undec) =
        (count(Verdict::Environment), count(Verdict::Intrinsic), count(Verdict::Undecided));
    let failing = tests.iter().filter(|t| t.outcome == Some(StableOutcome::Fail)).count();
    let mut best: Vec<FactorEffect> = Vec::new();
    for e in tests.iter().flat_map(|t| &t.factors) {
        match best.iter_mut().find(|b| b.factor == e.factor) {
            Some(b) if e.p_value < b.p_value => *b = e.clone(),
            Some(_) => {}
            None => best.push(e.clone()),
        }
    }
    best.sort_by(|a, b| a.effect.cmp(&b.effect).then(a.p_value.total_cmp(&b.p_value)));
    let parts: Vec<String> = [
        (env, "from the environment"),
        (intr, "intrinsically flaky"),
        (undec, "undecided"),
        (failing, "failing in every run"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    let together = std::mem::take(summary);
    *summary = format!(
        "per test: {}; the suspects run together: {together}",
        if parts.is_empty() { "all stable".to_string() } else { parts.join(", ") }
    );
    (*verdict, *outcome) = match (env, intr, undec) {
        (1.., _, _) => (Verdict::Environment, None),
        (0, 1.., _) => (Verdict::Intrinsic, None),
        (0, 0, 1..) => (Verdict::Undecided, None),
        _ if failing > 0 => (Verdict::Stable, Some(StableOutcome::Fail)),
        _ => (Verdict::Stable, Some(StableOutcome::Pass)),
    };
    *effects = if *verdict == Verdict::Environment { best } else { Vec::new() };
}

/// Plan the interaction conditions once two or more factors remove the
/// command's failures (fixes or reduces, not pruned): each one's
/// leave-one-out condition, an existing one when it is the same set (with two
/// factors, the other factor's own condition). Returns whether conditions
/// were added. Which conditions later rounds run is thus chosen from earlier
/// rounds only, and they are shuffled with the rest, so every pair stays
/// exchangeable under its null.
pub(crate) fn plan_interaction(engine: &mut Engine, rounds_done: usize) -> bool {
    // With per-test results for more than one test (focused reruns run the
    // suspects together), the interactions are each test's own: two factors
    // that each fix a different test are two findings, not an interaction.
    if engine.test_names.len() > 1 {
        return plan_test_interactions(engine, rounds_done);
    }
    if !engine.loo.is_empty() {
        return false;
    }
    let fails = command_fails(engine);
    let effects = removing_factors(&analyse(engine, &fails));
    let active: FactorSet =
        engine.factors.iter().copied().filter(|f| !engine.pruned.iter().any(|p| p.factor == *f)).collect();
    // No factor alone, but isolating everything together is established to
    // remove the failures: each factor's leave-one-out says which of them
    // are enough to fail on their own ("either suffices").
    let all_idx = engine.all_index();
    let effects = if effects.is_empty()
        && active.len() > 1
        && all_together_fixes(engine, &grid(engine, &fails), all_idx)
    {
        active.iter().collect()
    } else {
        effects
    };
    let plan = crate::interaction::plan(active, &effects);
    let before = engine.conds.len();
    for (f, set) in plan {
        let ci = match engine.cond_index(set) {
            Some(ci) => ci,
            None => {
                engine.conds.push(crate::Condition { isolate: set, name: format!("all but {f}") });
                engine.conds.len() - 1
            }
        };
        engine.loo.push((f, ci));
    }
    if !engine.loo.is_empty() {
        engine.loo_from = rounds_done;
    }
    engine.conds.len() > before
}

/// The factors whose isolation removes some or all of a unit's failures:
/// the candidates for a leave-one-out interaction.
fn removing_factors(u: &UnitAnalysis) -> Vec<Factor> {
    u.factors
        .iter()
        .filter(|a| matches!(a.status, Status::Fixes | Status::Reduces))
        .map(|a| a.factor)
        .collect()
}

/// Focused reruns: plan the leave-one-out conditions of each test on which
/// two or more factors have an effect (its own, from its own outcomes), not
/// planned before. A condition added for them runs only the tests it was
/// added for ([`Engine::loo_select`]); one that already exists (with two
/// factors, the other factor's own condition) runs every suspect as before.
fn plan_test_interactions(engine: &mut Engine, rounds_done: usize) -> bool {
    let active: FactorSet =
        engine.factors.iter().copied().filter(|f| !engine.pruned.iter().any(|p| p.factor == *f)).collect();
    let names: Vec<String> = engine.test_names.keys().cloned().collect();
    let before = engine.conds.len();
    for name in names {
        if engine.loo_tests.iter().any(|(n, _, _)| *n == name) {
            continue;
        }
        let fails = test_fails(engine, &name);
        let effects = removing_factors(&analyse(engine, &fails));
        let plan = crate::interaction::plan(active, &effects);
        if plan.is_empty() {
            continue;
        }
        let mut mine = Vec::new();
        for (f, set) in plan {
            let ci = match engine.cond_index(set) {
                Some(ci) => ci,
                None => {
                    engine.conds.push(crate::Condition { isolate: set, name: format!("all but {f}") });
                    engine.loo_select.insert(engine.conds.len() - 1, Vec::new());
                    engine.conds.len() - 1
                }
            };
            if let Some(only) = engine.loo_select.get_mut(&ci) {
                only.push(name.clone());
            }
            if !engine.loo.contains(&(f, ci)) {
                engine.loo.push((f, ci));
            }
            mine.push((f, ci));
        }
        engine.loo_tests.push((name, mine, rounds_done));
    }
    if engine.loo_from == 0 && !engine.loo.is_empty() {
        engine.loo_from = rounds_done;
    }
    engine.conds.len() > before
}

/// The command's interaction (`None` before it was planned, and with focused
/// reruns, whose interactions are the tests', see [`test_interaction`]).
pub(crate) fn interaction(engine: &mut Engine, fails: &[Option<bool>]) -> Option<crate::Interaction> {
    if engine.loo.is_empty() || !engine.loo_tests.is_empty() {
        return None;
    }
    let loo = engine.loo.clone();
    Some(interaction_over(engine, fails, &loo))
}

/// One test's interaction, from its own outcomes in its leave-one-out
/// conditions (`None` when no two factors had an effect on it).
pub(crate) fn test_interaction(engine: &mut Engine, name: &str) -> Option<crate::Interaction> {
    let loo = engine.loo_tests.iter().find(|(n, _, _)| n == name)?.1.clone();
    let fails = test_fails(engine, name);
    Some(interaction_over(engine, &fails, &loo))
}

/// The interaction of the factors with an effect on one unit (the command
/// or a test, by `fails`), from their leave-one-out runs (`loo`) paired
/// with baseline's. Each factor's "fails less than baseline with only it
/// shared" is the exact sequential sign test on the rounds both ran,
/// corrected with Holm over the factors of the interaction at `alpha`.
fn interaction_over(
    engine: &mut Engine,
    fails: &[Option<bool>],
    loo: &[(Factor, usize)],
) -> crate::Interaction {
    let grid = grid(engine, fails);
    let mut raw = Vec::new();
    let mut counts = Vec::new();
    for &(_, ci) in loo {
        let (mut only_base, mut only_loo, mut runs, mut failed) = (0usize, 0usize, 0usize, 0usize);
        for row in &grid {
            if let Some(l) = row[ci] {
                runs += 1;
                failed += usize::from(l);
            }
            match (row[0], row[ci]) {
                (Some(true), Some(false)) => only_base += 1,
                (Some(false), Some(true)) => only_loo += 1,
                _ => {}
            }
        }
        raw.push(engine.seq.p_value(only_base + only_loo, only_base));
        counts.push((runs, failed));
    }
    let adjusted = stats::holm_adjust(&raw);
    let alone: Vec<crate::interaction::Alone> = loo
        .iter()
        .zip(adjusted)
        .zip(counts)
        .map(|((&(factor, _), p_value), (runs, failed))| crate::interaction::Alone {
            factor,
            runs,
            failed,
            p_value,
            state: evidence::state_found(engine, factor, fails),
        })
        .collect();
    crate::interaction::judge(&alone, engine.alpha)
}

/// May the runs stop as far as the interactions go? Each decided, or given
/// as many rounds as the effects took to show (at least `min_runs`).
pub(crate) fn interaction_decided(engine: &mut Engine, rounds_done: usize, min_runs: usize) -> bool {
    let enough = |from: usize| rounds_done >= from + from.max(min_runs);
    let tests: Vec<(String, usize)> =
        engine.loo_tests.iter().map(|(n, _, from)| (n.clone(), *from)).collect();
    for (name, from) in tests {
        let decided =
            test_interaction(engine, &name).is_none_or(|i| i.combination != crate::Combination::Undecided);
        if !decided && !enough(from) {
            return false;
        }
    }
    let fails = command_fails(engine);
    match interaction(engine, &fails) {
        None => true,
        Some(i) => i.combination != crate::Combination::Undecided || enough(engine.loo_from),
    }
}

/// Per round, per condition: failed (`None`: no run counted).
fn grid(engine: &Engine, fails: &[Option<bool>]) -> Vec<Vec<Option<bool>>> {
    let rounds = engine.records.iter().map(|r| r.round + 1).max().unwrap_or(0);
    let mut grid = vec![vec![None; engine.conds.len()]; rounds];
    for (r, f) in engine.records.iter().zip(fails) {
        if let Some(failed) = *f {
            grid[r.round][r.cond] = Some(failed);
        }
    }
    grid
}
