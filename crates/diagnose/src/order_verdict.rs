//! The order factor in the verdict: each examined test's order effect as
//! an entry of its `factors` (and `analysis`), tested in one Holm family
//! with its environment factors, feeding its verdict and the suite's as
//! theirs do.
//!
//! "Isolated" for `order` means the test run alone; "baseline" is the
//! suite's own order. So, with DESIGN's effects:
//! - a *victim* that passes every run alone: `fixes` (running it alone,
//!   without its polluter, fixes it);
//! - a victim that also fails alone (intrinsically flaky too): `reduces`,
//!   in `analysis` only, as for an environment factor that removes some
//!   failures but not all: no `environment` claim, the test stays flaky;
//! - a *brittle* test: `breaks` (alone it fails: it needs the state an
//!   earlier test sets up), or `stabilizes` when it fails every run alone
//!   and is flaky in the suite's order.
//!
//! # The family-wise guarantee
//!
//! A test's order hypothesis has one p-value: its four Fisher tests (two
//! looks, two directions) at fixed shares of it ([`weighted`]), Bonferroni.
//! With the environment factors of the same test, it forms one Holm family
//! of k + 1 hypotheses. The environment engine runs first and counts the
//! order hypothesis as p = 1 (`Options::extra_hypotheses`): Holm-adjusted
//! p-values only fall when another p-value falls, so its claims are a
//! subset of the joint procedure's. The order claim is the joint
//! procedure's own ([`holm_in_family`], with the environment factors' p
//! before correction). Every claim about a test is thus one of Holm's over
//! all k + 1, and the family-wise error is at most `alpha`.

use crate::order::{OrderEffect, OrderReport, OrderTest};
use crate::polluter::Tally;
use crate::report::{
    ConditionReport, Counts, FactorAnalysis, FactorEffect, Report, StableOutcome, Status, TestReport, Verdict,
};
use factors::{Factor, FactorSet};
use std::collections::BTreeMap;

/// A look's one-sided p-value over its share of the test's alpha: half per
/// look; of a look's half, 2/3 for victim, 1/3 for brittle (victims are
/// the common case; split before any data, so legitimate).
pub fn weighted(p: f64, victim: bool) -> f64 {
    let share = if victim { 1.0 / 3.0 } else { 1.0 / 6.0 };
    (p / share).min(1.0)
}

/// `p`'s Holm-adjusted p-value in a family with `others` (raw p-values).
pub fn holm_in_family(p: f64, others: &[f64]) -> f64 {
    let mut all = others.to_vec();
    all.push(p);
    crate::stats::holm_adjust(&all).last().copied().unwrap_or(1.0)
}

/// Per test of a finished environment diagnosis, the raw p-values of its
/// environment factors: the rest of its order hypothesis's family.
pub fn family(report: &Report) -> BTreeMap<String, Vec<f64>> {
    report
        .tests
        .iter()
        .map(|t| {
            let p = t.analysis.iter().filter(|a| a.factor != Factor::Order).map(|a| a.p_unadjusted).collect();
            (t.name.clone(), p)
        })
        .collect()
}

fn counts(t: Tally) -> Counts {
    let (runs, failed) = (t.runs as usize, t.fails as usize);
    Counts { runs, passed: runs - failed, failed, timed_out: 0 }
}

/// The order factor's status for one test (see the module's mapping).
pub fn status(t: &OrderTest) -> Status {
    match t.effect {
        OrderEffect::None => Status::None,
        OrderEffect::Victim if t.alone.fails == 0 => Status::Fixes,
        OrderEffect::Victim => Status::Reduces,
        OrderEffect::Brittle => {
            let suite = counts(t.in_suite);
            match t.alone.runs > 0 && t.alone.fails == t.alone.runs && suite.is_mixed() {
                true => Status::Stabilizes,
                false => Status::Breaks,
            }
        }
    }
}

/// What the order factor found for one test, one line each: the polluter
/// (or state setter), the state, the replay, the cleaner, the counts.
pub fn evidence(t: &OrderTest) -> Vec<String> {
    let mut v = Vec::new();
    let role = match t.effect {
        OrderEffect::Victim => "polluter",
        OrderEffect::Brittle => "state setter",
        OrderEffect::None => return v,
    };
    match t.polluters.is_empty() {
        true => v.push(format!("no {role} confirmed by the search")),
        false => v.push(format!("{role}: {}", t.polluters.join(" + "))),
    }
    if let Some(s) = &t.state {
        v.push(format!("state: {}", s.summary));
    }
    if let Some(r) = &t.replay {
        v.push(format!("replay: {r}"));
    }
    if let Some(c) = &t.cleaner {
        v.push(format!("cleaner: {c}"));
    }
    let shuffled = t.shuffled.iter().filter(|s| s.failed == Some(true)).count();
    let mut line = format!(
        "failed {}/{} in the suite's order, {}/{} alone",
        t.in_suite.fails, t.in_suite.runs, t.alone.fails, t.alone.runs
    );
    if !t.shuffled.is_empty() {
        line.push_str(&format!(", {shuffled}/{} in shuffled orders", t.shuffled.len()));
    }
    line.push_str(&format!("; the search took {} runs", t.search_runs));
    v.push(line);
    v
}

/// The order factor's `analysis` entry for one test.
pub fn analysis(t: &OrderTest) -> FactorAnalysis {
    FactorAnalysis {
        factor: Factor::Order,
        status: status(t),
        p_value: t.p_value,
        p_unadjusted: t.p_unadjusted,
        baseline: counts(t.in_suite),
        isolated: counts(t.alone),
        rounds_only_baseline_failed: 0,
        rounds_only_isolated_failed: 0,
        evidence: evidence(t),
        change_ruled_out: None,
        failing_seed: None,
    }
}

/// The `factors` entry of an analysis with an effect.
fn effect_of(a: &FactorAnalysis) -> Option<FactorEffect> {
    Some(FactorEffect {
        factor: a.factor,
        effect: a.status.effect()?,
        p_value: a.p_value,
        evidence: a.evidence.clone(),
        baseline: a.baseline,
        isolated: a.isolated,
        failing_seed: None,
    })
}

/// Strongest first: fixes, stabilizes, breaks; then the smaller p-value.
fn sort_effects(v: &mut [FactorEffect]) {
    v.sort_by(|a, b| {
        a.effect.cmp(&b.effect).then(a.p_value.total_cmp(&b.p_value)).then(a.factor.cmp(&b.factor))
    });
}

/// A test the environment diagnosis did not report (the order factor
/// alone): its verdict from the order runs, where "everything isolated" is
/// the test alone: `environment` with an effect; `intrinsic` when it is
/// flaky alone; `stable` when every run had the same outcome; else
/// `undecided`.
fn order_only_test(t: &OrderTest, a: &FactorAnalysis, isolate: FactorSet) -> TestReport {
    let (suite, alone) = (counts(t.in_suite), counts(t.alone));
    let all = [suite, alone];
    let (verdict, outcome) = if a.status.effect().is_some() {
        (Verdict::Environment, None)
    } else if alone.is_mixed() {
        (Verdict::Intrinsic, None)
    } else if all.iter().all(|c| c.failed == 0) {
        (Verdict::Stable, Some(StableOutcome::Pass))
    } else if all.iter().all(|c| c.passed == 0) {
        (Verdict::Stable, Some(StableOutcome::Fail))
    } else {
        (Verdict::Undecided, None)
    };
    TestReport {
        factors: effect_of(a).into_iter().collect(),
        conditions: vec![
            ConditionReport::new("suite order", isolate, suite),
            ConditionReport::new("alone", isolate, alone),
        ],
        analysis: vec![a.clone()],
        summary: format!("order: {}", t.summary),
        // Leave-one-out conditions judge environment factors only: no
        // interaction.
        ..TestReport::new(&t.name, verdict, outcome)
    }
}

/// "a (victim of p)" for each test with an order effect.
fn found(order: &OrderReport) -> Vec<String> {
    order
        .tests
        .iter()
        .filter(|t| status(t).effect().is_some())
        .map(|t| match (t.effect, t.polluters.is_empty()) {
            (OrderEffect::Victim, false) => format!("{} (victim of {})", t.name, t.polluters.join(" + ")),
            (OrderEffect::Brittle, false) => {
                format!("{} (brittle: needs {})", t.name, t.polluters.join(" + "))
            }
            (e, _) => format!("{} ({})", t.name, e.name()),
        })
        .collect()
}

/// Fold the order factor's findings into a report: per examined test an
/// `analysis` entry, and with an effect a `factors` entry and the
/// `environment` verdict; the strongest order effect over the tests in the
/// top-level `factors`, and the `environment` verdict there too (as the
/// focused roll-up does for the other factors). Keeps `order` as it is.
pub fn fold(report: &mut Report, order: OrderReport) {
    for t in &order.tests {
        let a = analysis(t);
        match report.tests.iter_mut().find(|x| x.name == t.name) {
            Some(x) => {
                x.analysis.retain(|a| a.factor != Factor::Order);
                x.analysis.push(a.clone());
                if let Some(e) = effect_of(&a) {
                    x.factors.retain(|f| f.factor != Factor::Order);
                    x.factors.push(e);
                    sort_effects(&mut x.factors);
                    x.summary = format!("order: {}; other factors: {}", t.summary, x.summary);
                    (x.verdict, x.outcome) = (Verdict::Environment, None);
                }
            }
            None => report.tests.push(order_only_test(t, &a, order.isolate)),
        }
    }
    report.tests.sort_by(|a, b| a.name.cmp(&b.name));
    let best = report
        .tests
        .iter()
        .flat_map(|t| t.factors.iter().filter(|f| f.factor == Factor::Order).map(move |f| (t, f)))
        .min_by(|(_, a), (_, b)| a.effect.cmp(&b.effect).then(a.p_value.total_cmp(&b.p_value)));
    let names = found(&order);
    if let Some((t, f)) = best {
        let mut e = f.clone();
        e.evidence.insert(0, format!("test: {}", t.name));
        report.factors.retain(|f| f.factor != Factor::Order);
        report.factors.push(e);
        sort_effects(&mut report.factors);
        (report.verdict, report.outcome) = (Verdict::Environment, None);
    }
    // The command's analysis: the order factor as it stands for its most
    // significant test.
    let strongest = order.tests.iter().min_by(|a, b| a.p_value.total_cmp(&b.p_value));
    if let Some(t) = strongest {
        let mut a = analysis(t);
        a.evidence.insert(0, format!("test: {}", t.name));
        report.analysis.retain(|a| a.factor != Factor::Order);
        report.analysis.push(a);
    }
    if !names.is_empty() && !report.summary.is_empty() {
        report.summary = format!("order-dependent tests: {}; {}", names.join(", "), report.summary);
    } else if !names.is_empty() {
        report.summary = format!("order-dependent tests: {}", names.join(", "));
    }
    report.order = Some(order);
    report.categories = crate::category::categorize(report);
}

/// The verdict and summary of a diagnosis of the order factor alone, after
/// [`fold`]: `environment` when a test has an order effect; else
/// `intrinsic` when a test is flaky alone, `undecided` when one could not
/// be told, else `stable`, failing when a run of the suite in its own
/// order failed. One condition: the suite in its own order.
pub fn fold_order_only(report: &mut Report, order: OrderReport) {
    let (runs, failed) = (order.suite_runs, order.suite_runs_failed);
    let counts = Counts { runs, passed: runs - failed.min(runs), failed, timed_out: 0 };
    report.conditions = vec![ConditionReport::new("suite order", order.isolate, counts)];
    let examined = order.tests.len();
    fold(report, order);
    if report.stopped == crate::report::StopReason::Interrupted {
        (report.verdict, report.outcome) = (Verdict::Undecided, None);
        report.factors.clear();
        report.summary = format!("interrupted before every test was examined; so far: {}", report.summary);
        return;
    }
    if report.verdict == Verdict::Environment {
        return;
    }
    let count = |v: Verdict| report.tests.iter().filter(|t| t.verdict == v).count();
    let (intr, undec) = (count(Verdict::Intrinsic), count(Verdict::Undecided));
    (report.verdict, report.outcome) = match (intr, undec) {
        (1.., _) => (Verdict::Intrinsic, None),
        (0, 1..) => (Verdict::Undecided, None),
        _ if failed > 0 => (Verdict::Stable, Some(StableOutcome::Fail)),
        _ => (Verdict::Stable, Some(StableOutcome::Pass)),
    };
    let mut s = format!(
        "no test depends on the order of the tests ({examined} examined; the suite failed {failed} of {runs} runs in its own order)"
    );
    if intr > 0 {
        s.push_str(&format!("; {intr} flaky when run alone too"));
    }
    if undec > 0 {
        s.push_str(&format!("; {undec} undecided"));
    }
    report.summary = s;
}

#[cfg(test)]
#[path = "order_verdict_tests.rs"]
mod tests;
