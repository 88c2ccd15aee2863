//! Shards run through a fake runner and merged give the report one
//! diagnosis of the same rounds gives; parts that do not fit are refused.

use diagnose::{Options, Outcome, RunObservations, RunOutcome, RunnerError, TestCase, Verdict};
use factors::{Factor, FactorSet};
use flakebox_shards::{merged_report, pool, run_shard, Part, PartPlan, Plan, ShardError};

/// A command whose outcome depends on the condition and the plan's round
/// only (as a real flake's would on the machine's moment): baseline fails in
/// rounds where a hash says so, net isolated never; a per-test result and a
/// net event besides.
fn outcome(isolate: FactorSet, round: usize) -> RunOutcome {
    let h = (round as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 61;
    let failed = !isolate.contains(Factor::Net) && h < 4;
    let mut o = RunOutcome::new(!failed);
    let case = |name: &str, failed: bool| TestCase {
        name: name.into(),
        outcome: if failed { Outcome::Failed } else { Outcome::Passed },
        flaky_reruns: 0,
    };
    o.tests = vec![case("t::net", failed), case("t::stable", false)];
    if !isolate.contains(Factor::Net) {
        o.evidence =
            RunObservations { net_events: vec!["connect 10.0.0.1:443 ok".into()], ..Default::default() };
    }
    o
}

fn plan_fields(shards: usize, rounds: usize) -> PartPlan {
    let p = Plan::derive("commit-abc", shards, rounds).unwrap();
    PartPlan {
        plan_id: p.plan_id,
        shards,
        rounds,
        seed: p.seed,
        command: vec!["./tests.sh".into()],
        factors: FactorSet::only(Factor::Net).with(Factor::Fs),
        alpha: 0.05,
        time: "2026-01-01T12:00:00Z".into(),
    }
}

fn shard_parts(plan: &PartPlan) -> Vec<(String, Part)> {
    (0..plan.shards)
        .map(|k| {
            let first = plan.plan().owned(k).start;
            let mut runner = |iso: FactorSet, run_no: usize| -> Result<RunOutcome, RunnerError> {
                Ok(outcome(iso, first + run_no))
            };
            let (_, mut part) = run_shard(&Options::default(), plan, k, &mut runner, &mut |_| {}).unwrap();
            // Through the file format, as merge reads it.
            part = Part::from_json("p", &part.to_json().unwrap()).unwrap();
            (format!("part-{}.json", k + 1), part)
        })
        .collect()
}

fn single(plan: &PartPlan) -> diagnose::Report {
    let opts = Options {
        factors: plan.factors,
        fixed_runs: Some(plan.rounds),
        alpha: plan.alpha,
        seed: plan.seed,
        ..Options::default()
    };
    let mut runner =
        |iso: FactorSet, round: usize| -> Result<RunOutcome, RunnerError> { Ok(outcome(iso, round)) };
    diagnose::diagnose(&plan.command, &opts, &mut runner, &mut |_| {}).unwrap()
}

#[test]
fn merged_shards_report_what_one_diagnosis_of_the_same_rounds_does() {
    for shards in [1, 3, 8] {
        let plan = plan_fields(shards, 16);
        let merged = merged_report(&pool(shard_parts(&plan)).unwrap()).unwrap();
        let one = single(&plan);
        assert_eq!(merged.verdict, Verdict::Environment, "{shards} shards");
        assert_eq!(merged.verdict, one.verdict);
        assert_eq!(merged.summary, one.summary);
        assert_eq!(merged.conditions, one.conditions);
        assert_eq!(merged.analysis, one.analysis);
        assert_eq!(merged.factors, one.factors);
        assert_eq!(merged.tests, one.tests);
        assert_eq!((merged.rounds, merged.runs_total), (one.rounds, one.runs_total));
        let s = merged.shards.as_ref().unwrap();
        assert_eq!(s.present.len(), shards);
        assert!(s.missing.is_empty());
        // Each shard's own counts add up to the pooled ones.
        let base: usize = s.present.iter().map(|p| p.conditions[0].failed).sum();
        assert_eq!(base, merged.conditions[0].failed);
        assert!(s.present.iter().all(|p| p.evidence.iter().all(|e| e.factor == Factor::Net)));
    }
}

#[test]
fn a_missing_shard_is_named_and_the_rest_reported() {
    let plan = plan_fields(3, 16);
    let mut parts = shard_parts(&plan);
    parts.remove(1);
    let pooled = pool(parts).unwrap();
    assert_eq!(pooled.missing.len(), 1);
    assert_eq!(pooled.missing[0].shard, 2);
    let r = merged_report(&pooled).unwrap();
    assert_eq!(r.rounds, 16 - plan.plan().owned(1).len());
    assert!(r.warnings.iter().any(|w| w.contains("shard 2/3 is missing")), "{:?}", r.warnings);
    let md = diagnose::render_markdown(&r);
    assert!(md.contains("| 2/3 |") && md.contains("**missing**"), "{md}");
    let text = diagnose::render_text(&r, false);
    assert!(text.contains("2 of 3 shards merged"), "{text}");
}

#[test]
fn a_duplicate_shard_is_refused_naming_both_files() {
    let plan = plan_fields(3, 9);
    let mut parts = shard_parts(&plan);
    parts.push(("again.json".into(), parts[0].1.clone()));
    let e = pool(parts).unwrap_err();
    assert!(matches!(e, ShardError::Duplicate { shard: 1, .. }));
    let msg = e.to_string();
    assert!(msg.contains("part-1.json") && msg.contains("again.json") && msg.contains("1/3"), "{msg}");
}

#[test]
fn a_part_of_another_plan_is_refused_by_the_field_that_differs() {
    let plan = plan_fields(2, 6);
    type Change = Box<dyn Fn(&mut PartPlan)>;
    let cases: Vec<(&str, Change)> = vec![
        ("plan_id", Box::new(|p| p.plan_id = "other".into())),
        ("command", Box::new(|p| p.command = vec!["make".into()])),
        ("factors", Box::new(|p| p.factors = FactorSet::only(Factor::Net))),
        ("time", Box::new(|p| p.time = "2026-01-02T12:00:00Z".into())),
        ("alpha", Box::new(|p| p.alpha = 0.01)),
    ];
    for (field, change) in cases {
        let mut parts = shard_parts(&plan);
        change(&mut parts[1].1.plan);
        let e = pool(parts).unwrap_err();
        match &e {
            ShardError::OtherPlan { field: f, part, .. } => {
                assert_eq!(*f, field);
                assert_eq!(part, "part-2.json");
            }
            other => panic!("{field}: {other}"),
        }
        assert!(e.to_string().contains(&format!("its {field} is")), "{e}");
    }
}

#[test]
fn an_incomplete_or_misplaced_part_is_refused() {
    let plan = plan_fields(2, 6);
    let mut parts = shard_parts(&plan);
    parts[0].1.runs.pop();
    let e = pool(parts).unwrap_err().to_string();
    assert!(e.contains("part-1.json") && e.contains("did not finish"), "{e}");

    let mut parts = shard_parts(&plan);
    parts[1].1.first_round = 0;
    let e = pool(parts).unwrap_err().to_string();
    assert!(e.contains("owns rounds 3..6"), "{e}");

    let mut parts = shard_parts(&plan);
    parts[1].1.shard = 3;
    let e = pool(parts).unwrap_err().to_string();
    assert!(e.contains("shard 3 of 2"), "{e}");
}

#[test]
fn a_part_of_another_format_or_version_is_named() {
    let plan = plan_fields(1, 2);
    let part = shard_parts(&plan).remove(0).1;
    let json = part.to_json().unwrap();
    let e = Part::from_json("x.json", &json.replacen("\"version\":1", "\"version\":2", 1)).unwrap_err();
    assert!(e.to_string().contains("x.json: it is version 2"), "{e}");
    let e = Part::from_json("r.json", "{\"schema\":1,\"verdict\":\"stable\"}").unwrap_err();
    assert!(e.to_string().contains("r.json: its format is ``"), "{e}");
    let e = Part::from_json("t.txt", "hello").unwrap_err();
    assert!(e.to_string().contains("t.txt: not a part file"), "{e}");
    assert!(matches!(pool(Vec::new()), Err(ShardError::NoParts)));
}
