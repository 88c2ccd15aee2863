//! Running one shard (recording its runs into a part) and merging parts
//! (replaying the pooled runs through the same engine, so the merged report
//! is computed exactly as one diagnosis of those rounds would be).

use crate::part::{Part, PartPlan, PartRun, PART_FORMAT, PART_VERSION};
use crate::pool::Pooled;
use diagnose::{
    DiagnoseError, Options, Progress, Report, RunOutcome, RunSpec, Runner, RunnerError, ShardEvidence,
    ShardLine, ShardsSection,
};
use factors::FactorSet;
use std::collections::HashMap;

/// The engine's options for shard `index` (0-based) of `plan`, from the
/// diagnosis' own (`base`): the plan's factors and alpha, exactly the rounds
/// it owns (no adaptive stopping: a shard cannot see the others' rounds, so
/// only a fixed number of rounds pools validly), whole-suite runs (no
/// focused reruns: each shard's screening would pick its own suspects, and
/// the rounds would not pool), and its own shuffle seed.
pub fn shard_options(base: &Options, plan: &PartPlan, index: usize) -> Options {
    let p = plan.plan();
    Options {
        factors: plan.factors,
        fixed_runs: Some(p.owned(index).len()),
        alpha: plan.alpha,
        seed: p.shard_seed(index),
        focus: false,
        ..base.clone()
    }
}

/// Passes runs to the real runner and keeps each outcome at its place in
/// the plan: the engine numbers a shard's rounds from 0 (its first run of
/// a condition starts from a fresh state, as any diagnosis' does), the part
/// numbers them as the plan does.
struct Recorder<'a> {
    inner: &'a mut dyn Runner,
    first_round: usize,
    runs: Vec<PartRun>,
}

impl Runner for Recorder<'_> {
    fn run(&mut self, spec: &RunSpec) -> Result<RunOutcome, RunnerError> {
        let out = self.inner.run(spec)?;
        self.runs.push(PartRun {
            round: self.first_round + spec.run_no,
            isolate: spec.isolate,
            outcome: out.clone(),
        });
        Ok(out)
    }

    fn upcoming(&mut self, spec: &RunSpec) {
        self.inner.upcoming(spec);
    }
}

/// Run shard `index` (0-based) of `plan` through `runner`, with the
/// diagnosis' options `base` made a shard's ([`shard_options`]): the
/// shard's own report (of its rounds alone) and its part. The part's `host`
/// and `flakebox_version` are left empty for the caller, which knows them.
/// An interrupted shard's report says `stopped: interrupted`; its part is
/// incomplete and should not be written.
pub fn run_shard(
    base: &Options,
    plan: &PartPlan,
    index: usize,
    runner: &mut dyn Runner,
    progress: &mut dyn FnMut(&Progress),
) -> Result<(Report, Part), DiagnoseError> {
    let opts = shard_options(base, plan, index);
    let owned = plan.plan().owned(index);
    let mut rec = Recorder { inner: runner, first_round: owned.start, runs: Vec::new() };
    let report = diagnose::diagnose(&plan.command, &opts, &mut rec, progress)?;
    let part = Part {
        format: PART_FORMAT.into(),
        version: PART_VERSION,
        plan: plan.clone(),
        shard: index + 1,
        first_round: owned.start,
        round_count: owned.len(),
        host: String::new(),
        flakebox_version: String::new(),
        shard_seed: opts.seed,
        wall_seconds: report.wall_seconds,
        runs: rec.runs,
    };
    Ok((report, part))
}

/// Hands the engine recorded outcomes instead of making runs.
struct Replay {
    runs: HashMap<(FactorSet, usize), RunOutcome>,
}

impl Runner for Replay {
    fn run(&mut self, spec: &RunSpec) -> Result<RunOutcome, RunnerError> {
        // Parts are checked complete before replay, so a miss is a bug in
        // the pooling, reported as such rather than a panic.
        self.runs.get(&(spec.isolate, spec.run_no)).cloned().ok_or_else(|| {
            RunnerError::Failed(format!(
                "no recorded run for round {} with {} isolated",
                spec.run_no, spec.isolate
            ))
        })
    }
}

/// The engine's report on `runs` (`(condition, round, outcome)`, rounds
/// numbered from 0), as `diagnose --runs R` computes it.
fn replay(
    plan: &PartPlan,
    rounds: usize,
    runs: Vec<(FactorSet, usize, RunOutcome)>,
) -> Result<Report, DiagnoseError> {
    let opts = Options {
        factors: plan.factors,
        fixed_runs: Some(rounds),
        alpha: plan.alpha,
        seed: plan.seed,
        focus: false,
        ..Options::default()
    };
    let mut r = Replay { runs: runs.into_iter().map(|(c, k, o)| ((c, k), o)).collect() };
    diagnose::diagnose(&plan.command, &opts, &mut r, &mut |_| {})
}

/// The merged report: verdicts, per-test verdicts and evidence computed on
/// the pooled rounds by the engine itself (as `diagnose --runs R` with R
/// the pooled rounds), with a shards section (each shard's own counts and
/// evidence) and a warning per missing shard. Its wall time is the longest
/// shard's (they run side by side).
pub fn merged_report(pooled: &Pooled) -> Result<Report, DiagnoseError> {
    let plan = &pooled.plan;
    let mut report = replay(plan, pooled.rounds(), pooled.runs())?;
    report.wall_seconds = pooled.parts.iter().map(|p| p.wall_seconds).fold(0.0, f64::max);
    let claimed: Vec<_> = report.factors.iter().map(|f| f.factor).collect();
    let mut present = Vec::with_capacity(pooled.parts.len());
    for part in &pooled.parts {
        let runs =
            part.runs.iter().map(|r| (r.isolate, r.round - part.first_round, r.outcome.clone())).collect();
        let own = replay(plan, part.round_count, runs)?;
        let evidence = own
            .analysis
            .iter()
            .filter(|a| claimed.contains(&a.factor) && !a.evidence.is_empty())
            .map(|a| ShardEvidence { factor: a.factor, lines: a.evidence.clone() })
            .collect();
        present.push(ShardLine {
            shard: part.shard,
            first_round: part.first_round,
            rounds: part.round_count,
            host: part.host.clone(),
            wall_seconds: part.wall_seconds,
            conditions: own.conditions,
            evidence,
        });
    }
    for m in &pooled.missing {
        report.warnings.push(format!(
            "shard {}/{} is missing: its {} rounds are not counted (the verdicts are those of the {} rounds merged)",
            m.shard,
            plan.shards,
            m.rounds,
            pooled.rounds()
        ));
    }
    report.shards = Some(ShardsSection {
        plan_id: plan.plan_id.clone(),
        shards: plan.shards,
        rounds_planned: plan.rounds,
        present,
        missing: pooled.missing.clone(),
    });
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use factors::Factor;

    #[test]
    fn a_shard_runs_its_own_fixed_rounds_without_focus_and_keeps_the_rest() {
        let p = crate::Plan::derive("id", 3, 10).unwrap();
        let plan = PartPlan {
            plan_id: p.plan_id.clone(),
            shards: 3,
            rounds: 10,
            seed: p.seed,
            command: vec!["t".into()],
            factors: FactorSet::only(Factor::Time),
            alpha: 0.01,
            time: "2026-01-01T12:00:00Z".into(),
        };
        let base = Options { focus: true, max_runs: 50, min_runs: 7, fixed_runs: None, ..Options::default() };
        let o = shard_options(&base, &plan, 2);
        assert_eq!(o.fixed_runs, Some(4));
        assert!(!o.focus);
        assert_eq!((o.factors, o.alpha, o.seed), (plan.factors, 0.01, p.shard_seed(2)));
        assert_eq!((o.max_runs, o.min_runs), (50, 7));
    }
}
