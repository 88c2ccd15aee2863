//! The text report as a reader meets it, on constructed reports: the lead
//! first, each finding once, a replay that reproduces.

use super::*;
use crate::order::{order_only_report, OrderEffect, OrderReport, OrderTest, SharedState};
use crate::polluter::Tally;

const VICTIM_REPLAY: &str = "flakebox run -- pytest tests/a.py::pollute tests/v.py::victim";

fn order_test(name: &str, effect: OrderEffect) -> OrderTest {
    let found = effect != OrderEffect::None;
    OrderTest {
        name: name.into(),
        effect,
        in_suite: Tally::new(3, if found { 3 } else { 0 }),
        shuffled: Vec::new(),
        alone: Tally::new(6, 0),
        p_victim: 0.01,
        p_brittle: 1.0,
        p_value: if found { 0.0357 } else { 1.0 },
        p_unadjusted: if found { 0.0119 } else { 1.0 },
        polluters: if found { vec!["tests/a.py::pollute".into()] } else { Vec::new() },
        cleaner: None,
        state: found.then(|| SharedState {
            in_process: true,
            summary: "in-process: a global".into(),
            ..Default::default()
        }),
        replay: found.then(|| VICTIM_REPLAY.to_string()),
        search_runs: 8,
        search: None,
        cleaner_search: None,
        summary: if found { "fails after tests/a.py::pollute".into() } else { "no order effect".into() },
    }
}

/// `--factors order` on a suite with one victim, its replays set as
/// `flakebox diagnose` sets them.
fn victim_report() -> Report {
    let order = OrderReport {
        tests: vec![
            order_test("tests/v.py::victim", OrderEffect::Victim),
            order_test("tests/s.py::ok", OrderEffect::None),
        ],
        runs: 40,
        alpha: 0.05,
        seed: 11,
        incomplete: false,
        suite_runs: 3,
        suite_runs_failed: 3,
        isolate: FactorSet::all(),
    };
    let mut r = order_only_report(vec!["pytest".into(), "-q".into()], order, 0.05, 1.0);
    crate::replay::assign(&mut r, &|tests| Some([&["pytest".to_string()], tests].concat()));
    r
}

#[test]
fn an_order_finding_is_said_once_with_the_replay_that_fails() {
    let r = victim_report();
    let text = render_text(&r, false);
    // The polluter, the state and the failing replay: once each, under the test.
    assert_eq!(text.matches("polluter: tests/a.py::pollute").count(), 1, "{text}");
    assert_eq!(text.matches("in-process: a global").count(), 1, "{text}");
    assert_eq!(text.matches(VICTIM_REPLAY).count(), 1, "{text}");
    assert!(text.contains(&format!("      replay: {VICTIM_REPLAY}\n")), "{text}");
    // Alone it passes: the control, said as such.
    assert!(text.contains("      passes alone: flakebox run -- pytest tests/v.py::victim\n"), "{text}");
    // The category is on the test's line, not in a section of its own.
    assert!(text.contains("tests/v.py::victim  environment  (inter-test: order)"), "{text}");
    assert!(!text.contains("categories:"), "{text}");
    // The command's entry and the order section point to the test.
    assert!(text.contains("- test: tests/v.py::victim\n"), "{text}");
    assert!(text.contains("under the tests above"), "{text}");
    assert!(text.contains("1 order-dependent test, above with its evidence and replay"), "{text}");
    // The lead first: the verdict, then the test, then the counts.
    let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("no {s:?} in\n{text}"));
    assert!(at("verdict: environment") < at("tests/v.py::victim  environment"), "{text}");
    assert!(at("tests/v.py::victim  environment") < at("condition "), "{text}");
    assert!(at("condition ") < at("order factor ("), "{text}");

    // Markdown: the replay with the test, the order section not repeating it.
    let md = render_markdown(&r);
    assert_eq!(md.matches(VICTIM_REPLAY).count(), 1, "{md}");
    assert!(md.contains("passes alone: flakebox run -- pytest tests/v.py::victim"), "{md}");
    // JUnit: the message's replay is the failing one; the body has the control.
    let xml = crate::render_junit(&r).unwrap_or_default();
    assert!(xml.contains(&format!("; replay: {VICTIM_REPLAY}")), "{xml}");
    assert!(xml.contains("passes alone: flakebox run -- pytest tests/v.py::victim"), "{xml}");
    // JSON: the failing replay, and the control beside it.
    let json: serde_json::Value =
        serde_json::from_str(&render_json(&r).unwrap_or_default()).unwrap_or_default();
    let v = json["tests"].as_array().and_then(|ts| ts.iter().find(|t| t["name"] == "tests/v.py::victim"));
    let v = v.expect("the victim in the JSON");
    assert_eq!(v["replay"], VICTIM_REPLAY);
    assert_eq!(v["replay_alone"], "flakebox run -- pytest tests/v.py::victim");
}

fn counts(runs: usize, failed: usize) -> Counts {
    Counts { runs, passed: runs - failed, failed, timed_out: 0 }
}

fn analysis(
    factor: Factor,
    status: Status,
    baseline: Counts,
    isolated: Counts,
    evidence: &[&str],
) -> FactorAnalysis {
    FactorAnalysis {
        factor,
        status,
        p_value: if status == Status::None { 1.0 } else { 0.03 },
        p_unadjusted: 0.01,
        baseline,
        isolated,
        rounds_only_baseline_failed: 0,
        rounds_only_isolated_failed: 0,
        evidence: evidence.iter().map(|e| e.to_string()).collect(),
        change_ruled_out: None,
        failing_seed: None,
    }
}

fn test_report(name: &str, verdict: Verdict) -> TestReport {
    let stable = verdict == Verdict::Stable;
    TestReport {
        conditions: vec![ConditionReport::new("baseline", FactorSet::default(), counts(6, 0))],
        ..TestReport::new(name, verdict, stable.then_some(StableOutcome::Pass))
    }
}

/// 500 passing tests and one that fails under real randomness, diagnosed
/// per test: the command's rand entry repeats the test's.
fn big_suite() -> Report {
    let ev = ["randomness from seed 7 in every rand-isolated run: 14 of 14 failed"];
    let rand = analysis(Factor::Rand, Status::Stabilizes, counts(14, 5), counts(14, 14), &ev);
    let effect = FactorEffect {
        factor: Factor::Rand,
        effect: Effect::Stabilizes,
        p_value: 0.03,
        evidence: rand.evidence.clone(),
        baseline: rand.baseline,
        isolated: rand.isolated,
        failing_seed: None,
    };
    let mut flaky = test_report("test_big.py::test_flaky", Verdict::Environment);
    flaky.factors = vec![effect.clone()];
    flaky.analysis = vec![rand.clone()];
    flaky.replay = Some("flakebox run -- pytest test_big.py::test_flaky".into());
    let mut tests: Vec<TestReport> =
        (0..500).map(|i| test_report(&format!("test_big.py::test_ok_{i:03}"), Verdict::Stable)).collect();
    tests.push(flaky);
    let mut r =
        order_only_report(vec!["pytest".into()], OrderReport::empty(0.05, 1, FactorSet::all()), 0.05, 1.0);
    r.order = None;
    r.verdict = Verdict::Environment;
    r.outcome = None;
    r.summary = "per test: 1 from the environment".into();
    r.factors = vec![effect];
    r.conditions = vec![
        ConditionReport::new("baseline", FactorSet::default(), counts(14, 5)),
        ConditionReport::new("rand", FactorSet::only(Factor::Rand), counts(14, 14)),
        ConditionReport::new("net", FactorSet::only(Factor::Net), counts(0, 0)),
    ];
    r.analysis = vec![rand, analysis(Factor::Net, Status::None, counts(0, 0), counts(0, 0), &[])];
    r.tests = tests;
    r.categories = crate::category::categorize(&r);
    r
}

#[test]
fn a_big_suite_leads_with_its_flaky_test_and_lists_no_stable_one() {
    let r = big_suite();
    let text = render_text(&r, false);
    let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("no {s:?} in\n{text}"));
    // The verdict, then the flaky test with its cause, evidence and replay,
    // then the one line for the 500, and only then the counts.
    assert!(at("verdict: environment") < at("test_big.py::test_flaky  environment"), "{text}");
    assert!(at("test_big.py::test_flaky  environment") < at("rand stabilizes (p = "), "{text}");
    assert!(
        at("rand stabilizes (p = ") < at("replay: flakebox run -- pytest test_big.py::test_flaky"),
        "{text}"
    );
    assert!(at("replay: flakebox run -- pytest test_big.py::test_flaky") < at("500 tests stable"), "{text}");
    assert!(at("500 tests stable") < at("condition "), "{text}");
    assert!(!text.contains("test_ok_"), "{text}");
    // Its evidence once: the command's entry points to it.
    assert_eq!(text.matches("randomness from seed 7").count(), 1, "{text}");
    assert!(text.contains("the command as a whole:"), "{text}");
    // A factor never compared (no run on either side) says nothing.
    assert!(!text.contains("net   none"), "{text}");
}

/// Randomness fixes it and no seed failed in every run: the replay draws the
/// real randomness, and every report says it fails only sometimes.
#[test]
fn a_replay_with_real_randomness_says_it_fails_only_sometimes() {
    let mut r = big_suite();
    let flaky = r.tests.iter_mut().find(|t| t.name == "test_big.py::test_flaky").expect("the flaky test");
    for f in flaky.factors.iter_mut() {
        f.effect = Effect::Fixes;
    }
    crate::replay::assign(&mut r, &|tests| Some([&["pytest".to_string()], tests].concat()));
    let note = "fails only sometimes";
    let text = render_text(&r, false);
    assert!(text.contains("replay: flakebox run --share rand -- pytest test_big.py::test_flaky\n"), "{text}");
    assert_eq!(text.matches(note).count(), 1, "{text}");
    assert!(render_markdown(&r).contains(note));
    assert!(crate::render_html(&r).contains(note));
    // The others keep no such note.
    assert!(!render_text(&victim_report(), false).contains(note));
}

/// A victim that also fails alone: its alone run is no passing control, in
/// the text as in the HTML page.
#[test]
fn a_flaky_victims_alone_run_is_not_called_passing() {
    let mut r = victim_report();
    let v = r.tests.iter_mut().find(|t| t.name == "tests/v.py::victim").expect("the victim");
    v.analysis = vec![analysis(
        Factor::Order,
        Status::Reduces,
        counts(3, 3),
        counts(30, 6),
        &["polluter: tests/a.py::pollute"],
    )];
    let text = render_text(&r, false);
    assert!(text.contains("alone (fails less often): flakebox run -- pytest tests/v.py::victim"), "{text}");
    assert!(!text.contains("passes alone"), "{text}");
    let html = crate::render_html(&r);
    assert!(html.contains("alone (fails less often):") && !html.contains("passes alone"), "{html}");
}
