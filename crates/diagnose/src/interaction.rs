//! Interactions: when isolating any of several factors removes failures,
//! is each of them enough to fail, or does the failure need them all
//! together? The leave-one-out condition of a factor isolates everything
//! but it; if it still fails, the factor suffices alone; if it is
//! established to fail less than baseline, the factor needs the others. When
//! every such factor needs the others, the factor whose evidence found state
//! (a file left behind that later failures go with, rows left in the
//! database) points at the cause and the others only mask it: isolating them
//! hides the symptom while the state stays. Pure: planning and judging here,
//! unit-tested; the engine runs the conditions.

use factors::{Factor, FactorSet};
use serde::{Deserialize, Serialize};

/// The leave-one-out conditions for `effects` (factors that remove
/// failures, or every active factor when only isolating them all together
/// does) among the `active` factors: `(factor, everything isolated but
/// it)`. Empty unless there are at least two.
pub(crate) fn plan(active: FactorSet, effects: &[Factor]) -> Vec<(Factor, FactorSet)> {
    if effects.len() < 2 {
        return Vec::new();
    }
    effects.iter().map(|&f| (f, active.without(f))).collect()
}

/// One factor's leave-one-out evidence.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Alone {
    pub factor: Factor,
    /// Runs of "everything isolated but this factor", and how many failed.
    pub runs: usize,
    pub failed: usize,
    /// Holm-adjusted p-value (over the factors of the interaction) of "it
    /// fails less than baseline".
    pub p_value: f64,
    /// State its evidence found (a file, a table), if any.
    pub state: Option<String>,
}

/// How the factors with an effect combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combination {
    /// The failure needs every one of them: isolating any one removes it.
    AllNeeded,
    /// Each of them is enough to fail with the others isolated.
    EachSuffices,
    /// Some suffice alone, some need the others.
    Mixed,
    /// Not established yet (more runs could decide).
    Undecided,
}

/// What one factor does in the interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Its evidence found the state that makes the command fail.
    Cause,
    /// Isolating it hides the symptom; the cause is another factor's state.
    Masks,
    /// With everything else isolated it still fails.
    Suffices,
    /// Needs the others (and no factor's evidence found state).
    NeedsOthers,
    Undecided,
}

/// The interaction as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    pub combination: Combination,
    pub factors: Vec<InteractionFactor>,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InteractionFactor {
    pub factor: Factor,
    pub role: Role,
    /// Runs with everything isolated but this factor, and failures.
    pub alone_runs: usize,
    pub alone_failed: usize,
    pub p_value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// Judge the interaction from each factor's leave-one-out evidence.
pub(crate) fn judge(alone: &[Alone], alpha: f64) -> Interaction {
    let suffices = |a: &Alone| a.failed > 0;
    let needs = |a: &Alone| a.failed == 0 && a.p_value <= alpha;
    let combination = if alone.iter().all(needs) {
        Combination::AllNeeded
    } else if alone.iter().all(suffices) {
        Combination::EachSuffices
    } else if alone.iter().all(|a| suffices(a) || needs(a)) {
        Combination::Mixed
    } else {
        Combination::Undecided
    };
    let causes: Vec<&Alone> = alone.iter().filter(|a| a.state.is_some()).collect();
    let factors: Vec<InteractionFactor> = alone
        .iter()
        .map(|a| {
            let role = if suffices(a) {
                Role::Suffices
            } else if !needs(a) {
                Role::Undecided
            } else if combination == Combination::AllNeeded && !causes.is_empty() {
                if a.state.is_some() {
                    Role::Cause
                } else {
                    Role::Masks
                }
            } else {
                Role::NeedsOthers
            };
            InteractionFactor {
                factor: a.factor,
                role,
                alone_runs: a.runs,
                alone_failed: a.failed,
                p_value: a.p_value,
                state: a.state.clone(),
            }
        })
        .collect();
    let summary = summary(combination, &factors);
    Interaction { combination, factors, summary }
}

fn names(fs: &[&InteractionFactor]) -> String {
    let v: Vec<&str> = fs.iter().map(|f| f.factor.name()).collect();
    v.join(" and ")
}

fn summary(c: Combination, fs: &[InteractionFactor]) -> String {
    let with = |r: Role| -> Vec<&InteractionFactor> { fs.iter().filter(|f| f.role == r).collect() };
    let all: Vec<&InteractionFactor> = fs.iter().collect();
    let alone = |f: &InteractionFactor| {
        format!(
            "with everything but {} isolated it failed {} of {} runs",
            f.factor, f.alone_failed, f.alone_runs
        )
    };
    match c {
        Combination::AllNeeded => {
            let mut s = format!(
                "the failure needs {} together: isolating any one of them removes it ({})",
                names(&all),
                fs.iter().map(alone).collect::<Vec<_>>().join("; ")
            );
            let (cause, masks) = (with(Role::Cause), with(Role::Masks));
            if !cause.is_empty() {
                let states: Vec<String> =
                    cause.iter().map(|f| format!("{}: {}", f.factor, f.state.as_deref().unwrap_or(""))).collect();
                s.push_str(&format!(
                    ". {} points at the cause (state found — {}); {} only mask{} it: isolating {} hides the symptom while the state stays",
                    names(&cause),
                    states.join("; "),
                    names(&masks),
                    if masks.len() == 1 { "s" } else { "" },
                    if masks.len() == 1 { "it" } else { "them" }
                ));
            }
            s
        }
        Combination::EachSuffices => format!(
            "either suffices: {} each fail with everything else isolated ({})",
            names(&all),
            fs.iter().map(alone).collect::<Vec<_>>().join("; ")
        ),
        Combination::Mixed => format!(
            "{} fail{} with everything else isolated, {} not{} ({})",
            names(&with(Role::Suffices)),
            if with(Role::Suffices).len() == 1 { "s" } else { "" },
            names(&with(Role::NeedsOthers)),
            if with(Role::NeedsOthers).len() == 1 { "" } else { " alone" },
            fs.iter().map(alone).collect::<Vec<_>>().join("; ")
        ),
        Combination::Undecided => format!(
            "whether {} are each enough or all needed is not established yet ({}); more runs (--max-runs) could decide",
            names(&all),
            fs.iter().map(alone).collect::<Vec<_>>().join("; ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alone(factor: Factor, runs: usize, failed: usize, p_value: f64, state: Option<&str>) -> Alone {
        Alone { factor, runs, failed, p_value, state: state.map(str::to_string) }
    }

    #[test]
    fn leave_one_out_only_for_two_or_more_effects() {
        let active = FactorSet::only(Factor::Net).with(Factor::Fs).with(Factor::Time);
        assert!(plan(active, &[Factor::Fs]).is_empty());
        let p = plan(active, &[Factor::Fs, Factor::Time]);
        assert_eq!(
            p,
            [
                (Factor::Fs, FactorSet::only(Factor::Net).with(Factor::Time)),
                (Factor::Time, FactorSet::only(Factor::Net).with(Factor::Fs)),
            ]
        );
        // With only the two factors, leave-one-out is the other's condition.
        let two = FactorSet::only(Factor::Fs).with(Factor::Time);
        assert_eq!(plan(two, &[Factor::Fs, Factor::Time])[0].1, FactorSet::only(Factor::Time));
    }

    #[test]
    fn both_needed_with_state_found_names_the_cause_and_the_mask() {
        let i = judge(
            &[
                alone(Factor::Fs, 8, 0, 0.01, Some("/home/u/state.csv")),
                alone(Factor::Time, 8, 0, 0.01, None),
            ],
            0.05,
        );
        assert_eq!(i.combination, Combination::AllNeeded);
        assert_eq!(i.factors[0].role, Role::Cause);
        assert_eq!(i.factors[1].role, Role::Masks);
        assert!(i.summary.contains("needs fs and time together"), "{}", i.summary);
        assert!(
            i.summary.contains("fs points at the cause (state found — fs: /home/u/state.csv)"),
            "{}",
            i.summary
        );
        assert!(i.summary.contains("time only masks it"), "{}", i.summary);
    }

    #[test]
    fn both_needed_without_state_names_no_cause() {
        let i = judge(&[alone(Factor::Net, 8, 0, 0.01, None), alone(Factor::Time, 8, 0, 0.02, None)], 0.05);
        assert_eq!(i.combination, Combination::AllNeeded);
        assert!(i.factors.iter().all(|f| f.role == Role::NeedsOthers));
        assert!(!i.summary.contains("cause"), "{}", i.summary);
    }

    #[test]
    fn either_suffices_when_each_alone_still_fails() {
        let i =
            judge(&[alone(Factor::Fs, 8, 3, 0.5, Some("/x")), alone(Factor::Time, 8, 2, 0.6, None)], 0.05);
        assert_eq!(i.combination, Combination::EachSuffices);
        assert!(i.factors.iter().all(|f| f.role == Role::Suffices));
        assert!(i.summary.starts_with("either suffices"), "{}", i.summary);
    }

    #[test]
    fn not_yet_significant_is_undecided_and_mixed_is_said() {
        let i = judge(&[alone(Factor::Fs, 3, 0, 0.3, None), alone(Factor::Time, 3, 0, 0.3, None)], 0.05);
        assert_eq!(i.combination, Combination::Undecided);
        assert!(i.factors.iter().all(|f| f.role == Role::Undecided));
        let i = judge(&[alone(Factor::Fs, 8, 2, 0.9, None), alone(Factor::Time, 8, 0, 0.01, None)], 0.05);
        assert_eq!(i.combination, Combination::Mixed);
        assert!(i.summary.starts_with("fs fails with everything else isolated, time not ("), "{}", i.summary);
    }
}
