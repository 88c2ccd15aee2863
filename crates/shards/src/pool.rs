//! Check that parts belong to one plan, and pool their rounds.

use crate::part::{Part, PartPlan};
use crate::plan::plan_seed;
use crate::ShardError;
use diagnose::{MissingShard, RunOutcome};
use factors::FactorSet;
use std::collections::BTreeSet;

/// Parts of one plan, checked: every part's plan the same, each shard at
/// most once, each part with exactly its rounds.
#[derive(Debug, Clone)]
pub struct Pooled {
    pub plan: PartPlan,
    /// In shard order.
    pub parts: Vec<Part>,
    /// The shards with no part, with the rounds they own.
    pub missing: Vec<MissingShard>,
}

/// `(name, part)` pairs, the name (its path) for messages. Refuses a part
/// of another plan (naming the field that differs), a shard given twice,
/// and a part that does not hold exactly the runs its shard owns; a shard
/// without a part is listed in [`Pooled::missing`].
pub fn pool(parts: Vec<(String, Part)>) -> Result<Pooled, ShardError> {
    let Some((first_name, first)) = parts.first() else {
        return Err(ShardError::NoParts);
    };
    let (first_name, plan) = (first_name.clone(), first.plan.clone());
    let mut seen: Vec<(usize, String)> = Vec::new();
    let mut kept = Vec::with_capacity(parts.len());
    for (name, part) in parts {
        if let Some((field, want, got)) = plan.first_difference(&part.plan) {
            return Err(ShardError::OtherPlan {
                part: name,
                field,
                value: got,
                first: first_name.clone(),
                first_value: want,
            });
        }
        check_part(&name, &part)?;
        if let Some((_, earlier)) = seen.iter().find(|(k, _)| *k == part.shard) {
            return Err(ShardError::Duplicate {
                shard: part.shard,
                shards: plan.shards,
                first: earlier.clone(),
                second: name,
            });
        }
        seen.push((part.shard, name));
        kept.push(part);
    }
    kept.sort_by_key(|p| p.shard);
    let p = plan.plan();
    let missing = (1..=plan.shards)
        .filter(|k| !kept.iter().any(|part| part.shard == *k))
        .map(|k| {
            let r = p.owned(k - 1);
            MissingShard { shard: k, first_round: r.start, rounds: r.len() }
        })
        .collect();
    Ok(Pooled { plan, parts: kept, missing })
}

/// One part on its own: a real shard of its plan, with exactly the runs of
/// the rounds its shard owns.
fn check_part(name: &str, part: &Part) -> Result<(), ShardError> {
    let bad = |reason: String| ShardError::BadPart { part: name.to_string(), reason };
    let plan = &part.plan;
    if plan.shards == 0 || part.shard == 0 || part.shard > plan.shards {
        return Err(bad(format!("it says shard {} of {}, which does not exist", part.shard, plan.shards)));
    }
    if plan.seed != plan_seed(&plan.plan_id) {
        return Err(bad(format!("its seed {} is not the one plan id `{}` gives", plan.seed, plan.plan_id)));
    }
    if plan.rounds < plan.shards {
        return Err(bad(format!("its plan has {} rounds for {} shards", plan.rounds, plan.shards)));
    }
    let owned = plan.plan().owned(part.shard - 1);
    if part.rounds() != owned {
        return Err(bad(format!(
            "shard {}/{} owns rounds {}..{} of the plan, but the part says {}..{}",
            part.shard,
            plan.shards,
            owned.start,
            owned.end,
            part.first_round,
            part.first_round + part.round_count
        )));
    }
    let conds: Vec<FactorSet> = diagnose::plan(plan.factors).iter().map(|c| c.isolate).collect();
    let mut have = BTreeSet::new();
    for r in &part.runs {
        let cond = conds.iter().position(|c| *c == r.isolate);
        let Some(ci) = cond.filter(|_| owned.contains(&r.round)) else {
            return Err(bad(format!(
                "it has a run (round {}, {} isolated) outside its plan",
                r.round, r.isolate
            )));
        };
        if !have.insert((r.round, ci)) {
            return Err(bad(format!("it has round {} with {} isolated twice", r.round, r.isolate)));
        }
    }
    for round in owned {
        for (ci, c) in conds.iter().enumerate() {
            if !have.contains(&(round, ci)) {
                return Err(bad(format!(
                    "it lacks round {round} with {c} isolated: the shard did not finish (merge only complete parts)"
                )));
            }
        }
    }
    Ok(())
}

impl Pooled {
    /// Every pooled run as `(condition, pooled round, outcome)`: the present
    /// rounds numbered afresh from 0 in plan order (a missing shard leaves
    /// no gap), so the engine sees complete rounds.
    pub fn runs(&self) -> Vec<(FactorSet, usize, RunOutcome)> {
        let mut out = Vec::new();
        let mut base = 0;
        for part in &self.parts {
            for r in &part.runs {
                out.push((r.isolate, base + (r.round - part.first_round), r.outcome.clone()));
            }
            base += part.round_count;
        }
        out
    }

    /// Rounds pooled (the present shards').
    pub fn rounds(&self) -> usize {
        self.parts.iter().map(|p| p.round_count).sum()
    }
}
