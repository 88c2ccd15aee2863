//! Interactions against fake runners: leave-one-out conditions tell "both
//! are needed" from "either suffices", and name the cause and the mask.

use factors::{Factor, FactorSet};
use flakebox_diagnose::*;
use std::collections::HashMap;

fn nft() -> FactorSet {
    FactorSet::only(Factor::Net).with(Factor::Fs).with(Factor::Time)
}

/// Fails when a state file left by an earlier run of its condition is there
/// (fs shared) and the clock moves (time shared): the stored time is
/// compared with now.
struct FileAndClock {
    written: HashMap<FactorSet, bool>,
    specs: Vec<RunSpec>,
}

impl Runner for FileAndClock {
    fn run(&mut self, spec: &RunSpec) -> Result<RunOutcome, RunnerError> {
        self.specs.push(spec.clone());
        let fs_shared = !spec.isolate.contains(Factor::Fs);
        let present = fs_shared && *self.written.get(&spec.isolate).unwrap_or(&false);
        if fs_shared {
            self.written.insert(spec.isolate, true);
        }
        let passed = !present || spec.isolate.contains(Factor::Time);
        let mut evidence = RunObservations::default();
        if fs_shared {
            evidence.file_changes.push(FileChanged::written("/home/u/.cache/app/state.csv"));
        }
        Ok(RunOutcome { evidence, ..RunOutcome::new(passed) })
    }
}

#[test]
fn a_failure_needing_a_leftover_file_and_a_moving_clock_names_the_cause_and_the_mask() {
    let mut r = FileAndClock { written: HashMap::new(), specs: Vec::new() };
    let o = Options { factors: nft(), seed: 3, ..Options::default() };
    let rep = diagnose(&["t".into()], &o, &mut r, &mut |_| {}).expect("runs");
    assert_eq!(rep.verdict, Verdict::Environment, "{}", rep.summary);
    let claimed: Vec<Factor> = rep.factors.iter().map(|f| f.factor).collect();
    assert!(claimed.contains(&Factor::Fs) && claimed.contains(&Factor::Time), "{claimed:?}");
    // The leave-one-out conditions ran, from the round after the claims.
    let names: Vec<&str> = rep.conditions.iter().map(|c| c.name.as_str()).collect();
    assert!(names.contains(&"all but fs") && names.contains(&"all but time"), "{names:?}");
    let i = rep.interaction.as_ref().expect("an interaction");
    assert_eq!(i.combination, Combination::AllNeeded, "{}", i.summary);
    let role = |f: Factor| i.factors.iter().find(|x| x.factor == f).map(|x| x.role);
    assert_eq!(role(Factor::Fs), Some(Role::Cause));
    assert_eq!(role(Factor::Time), Some(Role::Masks));
    assert!(i.summary.contains("/home/u/.cache/app/state.csv"), "{}", i.summary);
    assert!(render_text(&rep, false).contains("interaction: the failure needs fs and time together"));
    assert!(rep.stopped == StopReason::Decided, "{:?}", rep.stopped);
}

#[test]
fn either_suffices_is_told_apart_when_only_isolating_everything_helps() {
    // Fails half the time from each shared factor, independently.
    let mut rng = fastrand::Rng::with_seed(11);
    let mut r = move |iso: FactorSet, _| {
        let fs = !iso.contains(Factor::Fs) && rng.bool();
        let time = !iso.contains(Factor::Time) && rng.bool();
        Ok(RunOutcome::new(!(fs || time)))
    };
    let o = Options { factors: nft(), seed: 5, ..Options::default() };
    let rep = diagnose(&["t".into()], &o, &mut r, &mut |_| {}).expect("runs");
    let i = rep
        .interaction
        .as_ref()
        .unwrap_or_else(|| panic!("no interaction: {} {:?}", rep.summary, rep.conditions));
    // Net is not involved: alone it never fails.
    assert_eq!(i.combination, Combination::Mixed, "{}", i.summary);
    let role = |f: Factor| i.factors.iter().find(|x| x.factor == f).map(|x| x.role);
    assert_eq!(role(Factor::Fs), Some(Role::Suffices), "{}", i.summary);
    assert_eq!(role(Factor::Time), Some(Role::Suffices), "{}", i.summary);
    assert_eq!(role(Factor::Net), Some(Role::NeedsOthers), "{}", i.summary);
    assert!(
        i.summary.starts_with("fs and time fail with everything else isolated, net not"),
        "{}",
        i.summary
    );
}

#[test]
fn one_factor_with_an_effect_runs_no_extra_condition() {
    let mut r = |iso: FactorSet, n: usize| Ok(RunOutcome::new(iso.contains(Factor::Fs) || n == 0));
    let o = Options { factors: nft(), seed: 1, ..Options::default() };
    let rep = diagnose(&["t".into()], &o, &mut r, &mut |_| {}).expect("runs");
    assert!(rep.interaction.is_none());
    assert_eq!(rep.conditions.len(), 5);
}
