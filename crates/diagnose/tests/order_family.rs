//! The environment factors' claims when the order factor joins their Holm
//! family (`Options::extra_hypotheses`): its hypothesis counts as p = 1, so
//! each factor's adjusted p-value is that of the larger family.

use factors::{Factor, FactorSet};
use flakebox_diagnose::*;

/// Fails every run but those isolating fs.
fn fs_fixes(iso: FactorSet, _: usize) -> Result<RunOutcome, RunnerError> {
    Ok(RunOutcome::new(iso.contains(Factor::Fs)))
}

fn diagnose_with(extra: usize) -> Report {
    let o = Options {
        factors: FactorSet::only(Factor::Fs).with(Factor::Net),
        fixed_runs: Some(12),
        seed: 5,
        extra_hypotheses: extra,
        ..Options::default()
    };
    let mut runner = fs_fixes;
    diagnose(&["make".to_string()], &o, &mut runner, &mut |_| {}).expect("diagnosis runs")
}

#[test]
fn the_order_hypothesis_counts_in_the_factors_holm_family() {
    let (alone, joint) = (diagnose_with(0), diagnose_with(1));
    let p = |r: &Report, f: Factor| {
        r.analysis.iter().find(|a| a.factor == f).map(|a| (a.p_value, a.p_unadjusted))
    };
    let (Some((fs0, raw0)), Some((fs1, raw1))) = (p(&alone, Factor::Fs), p(&joint, Factor::Fs)) else {
        panic!("fs analysed: {:?} {:?}", alone.analysis, joint.analysis)
    };
    // Same runs, same raw p-value; smallest of 2, then of 3 hypotheses.
    assert_eq!(raw0, raw1);
    assert!((fs0 - 2.0 * raw0).abs() < 1e-12 && (fs1 - 3.0 * raw1).abs() < 1e-12, "{fs0} {fs1} {raw0}");
    // net (p = 1) keeps 1.
    assert_eq!(p(&joint, Factor::Net).map(|x| x.0), Some(1.0));
    assert_eq!((joint.verdict, joint.factors[0].factor), (Verdict::Environment, Factor::Fs));
}
