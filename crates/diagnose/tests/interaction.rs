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

const BOTH: &str = "tests/test_cache.py::test_fresh_entry";
const FS_ONLY: &str = "tests/test_export.py::test_new_file";
const TIME_ONLY: &str = "tests/test_clock.py::test_ticks";
const FINE: &str = "tests/test_math.py::test_add";

/// A suite run with focused reruns: `BOTH` fails when the state file an
/// earlier run of its condition left is there and the clock moves, `FS_ONLY`
/// whenever the file is there, `TIME_ONLY` whenever the clock moves. It
/// honours `RunSpec::tests` and keys its state by (condition, screening).
struct Suite {
    written: HashMap<(FactorSet, bool), bool>,
    specs: Vec<RunSpec>,
}

impl Runner for Suite {
    fn run(&mut self, spec: &RunSpec) -> Result<RunOutcome, RunnerError> {
        self.specs.push(spec.clone());
        let fs_shared = !spec.isolate.contains(Factor::Fs);
        let time_shared = !spec.isolate.contains(Factor::Time);
        let key = (spec.isolate, spec.screening);
        let present = fs_shared && *self.written.get(&key).unwrap_or(&false);
        if fs_shared {
            self.written.insert(key, true);
        }
        let all = [FINE, BOTH, FS_ONLY, TIME_ONLY].map(String::from).to_vec();
        let chosen = spec.tests.clone().unwrap_or(all);
        let tests: Vec<junit::TestCase> = chosen
            .iter()
            .map(|t| {
                let failed = match t.as_str() {
                    BOTH => present && time_shared,
                    FS_ONLY => present,
                    TIME_ONLY => time_shared,
                    _ => false,
                };
                junit::TestCase {
                    name: t.clone(),
                    outcome: if failed { Outcome::Failed } else { Outcome::Passed },
                    flaky_reruns: 0,
                }
            })
            .collect();
        let passed = tests.iter().all(|t| t.outcome == Outcome::Passed);
        let mut evidence = RunObservations::default();
        if fs_shared {
            evidence.file_changes.push(FileChanged::written("/home/u/.cache/app/state.csv"));
        }
        Ok(RunOutcome { tests, evidence, ..RunOutcome::new(passed) })
    }
}

#[test]
fn focused_reruns_judge_each_test_s_interaction_from_its_own_outcomes() {
    for seed in [1, 2] {
        let mut suite = Suite { written: HashMap::new(), specs: Vec::new() };
        let o = Options { factors: nft(), seed, focus: true, ..Options::default() };
        let rep = diagnose(&["pytest".into()], &o, &mut suite, &mut |_| {}).expect("runs");
        let ctx = format!("seed {seed}: {}", render_text(&rep, false));
        let test = |n: &str| rep.tests.iter().find(|t| t.name == n).unwrap_or_else(|| panic!("{n}: {ctx}"));
        // Two tests each fixed by another factor: two findings, no
        // interaction, neither the command's nor theirs.
        assert!(rep.interaction.is_none(), "{ctx}");
        for (name, factor) in [(FS_ONLY, Factor::Fs), (TIME_ONLY, Factor::Time)] {
            let t = test(name);
            assert_eq!(t.verdict, Verdict::Environment, "{name}: {ctx}");
            let claimed: Vec<Factor> = t.factors.iter().map(|f| f.factor).collect();
            assert_eq!(claimed, [factor], "{name}: {ctx}");
            assert!(t.interaction.is_none(), "{name}: {ctx}");
        }
        // The test needing both: its own leave-one-out outcomes say so.
        let both = test(BOTH);
        let i = both.interaction.as_ref().unwrap_or_else(|| panic!("no interaction for {BOTH}: {ctx}"));
        assert_eq!(i.combination, Combination::AllNeeded, "{ctx}");
        let role = |f: Factor| i.factors.iter().find(|x| x.factor == f).map(|x| x.role);
        assert_eq!(role(Factor::Fs), Some(Role::Cause), "{ctx}");
        assert_eq!(role(Factor::Time), Some(Role::Masks), "{ctx}");
        assert!(ctx.contains("interaction: the failure needs fs and time together"), "{ctx}");
        // The leave-one-out conditions ran only the test that needed them.
        let loo: Vec<&RunSpec> = suite
            .specs
            .iter()
            .filter(|s| s.isolate == nft().without(Factor::Fs) || s.isolate == nft().without(Factor::Time))
            .collect();
        assert!(!loo.is_empty(), "{ctx}");
        assert!(loo.iter().all(|s| s.tests.as_deref() == Some(&[BOTH.to_string()][..])), "{ctx}");
        assert!(test(FINE).interaction.is_none());
        assert_eq!(rep.stopped, StopReason::Decided, "{ctx}");
    }
}
