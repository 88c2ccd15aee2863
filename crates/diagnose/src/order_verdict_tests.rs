use super::*;
use crate::order::{order_only_report, SharedState};
use crate::report::{Effect, StopReason};

fn order_test(name: &str, effect: OrderEffect, in_suite: Tally, alone: Tally) -> OrderTest {
    OrderTest {
        name: name.into(),
        effect,
        in_suite,
        shuffled: Vec::new(),
        alone,
        p_victim: 1.0,
        p_brittle: 1.0,
        p_value: if effect == OrderEffect::None { 0.6 } else { 0.002 },
        p_unadjusted: if effect == OrderEffect::None { 0.6 } else { 0.001 },
        polluters: if effect == OrderEffect::None { Vec::new() } else { vec!["a".into()] },
        cleaner: None,
        state: (effect != OrderEffect::None).then(|| SharedState {
            in_process: true,
            summary: "in-process".into(),
            ..Default::default()
        }),
        replay: (effect == OrderEffect::Victim).then(|| "flakebox run -- pytest a v".to_string()),
        search_runs: 7,
        search: None,
        cleaner_search: None,
        summary: format!("{} summary", effect.name()),
    }
}

fn order(tests: Vec<OrderTest>, suite_runs_failed: usize) -> OrderReport {
    OrderReport {
        tests,
        runs: 40,
        alpha: 0.05,
        seed: 3,
        incomplete: false,
        suite_runs: 3,
        suite_runs_failed,
        isolate: FactorSet::only(Factor::Fs),
    }
}

#[test]
fn weights_and_holm_reproduce_the_order_thresholds() {
    // Alone, the family is the order hypothesis: claimed when the victim's
    // look p is below alpha / 2 * 2/3, the brittle one's below alpha / 2 / 3.
    assert!(holm_in_family(weighted(0.0166, true), &[]) <= 0.05);
    assert!(holm_in_family(weighted(0.0167, true), &[]) > 0.05);
    assert!(holm_in_family(weighted(0.0083, false), &[]) <= 0.05);
    assert!(holm_in_family(weighted(0.0084, false), &[]) > 0.05);
    // In a family: sorted 0.001·3, 0.02·2, 0.5 → 0.04.
    assert!((holm_in_family(0.02, &[0.5, 0.001]) - 0.04).abs() < 1e-12);
    // Smallest first: the full multiplier.
    assert!((holm_in_family(0.01, &[0.5, 0.9]) - 0.03).abs() < 1e-12);
}

#[test]
fn each_order_outcome_maps_to_an_effect() {
    let t = |e, s: (u64, u64), a: (u64, u64)| {
        status(&order_test("t", e, Tally::new(s.0, s.1), Tally::new(a.0, a.1)))
    };
    assert_eq!(t(OrderEffect::Victim, (3, 3), (6, 0)), Status::Fixes);
    // Flaky alone too: removes some failures, not all.
    assert_eq!(t(OrderEffect::Victim, (9, 9), (30, 6)), Status::Reduces);
    assert_eq!(t(OrderEffect::Brittle, (3, 0), (6, 5)), Status::Breaks);
    assert_eq!(t(OrderEffect::Brittle, (9, 2), (30, 30)), Status::Stabilizes);
    assert_eq!(t(OrderEffect::None, (3, 1), (6, 1)), Status::None);
    let v = order_test("v", OrderEffect::Victim, Tally::new(3, 3), Tally::new(6, 0));
    let a = analysis(&v);
    assert_eq!((a.factor, a.p_value, a.p_unadjusted), (Factor::Order, 0.002, 0.001));
    assert_eq!((a.baseline.failed, a.baseline.runs, a.isolated.failed, a.isolated.runs), (3, 3, 0, 6));
    assert_eq!(
        a.evidence,
        [
            "polluter: a",
            "state: in-process",
            "replay: flakebox run -- pytest a v",
            "failed 3/3 in the suite's order, 0/6 alone; the search took 7 runs"
        ]
    );
}

#[test]
fn an_order_only_diagnosis_with_a_victim_is_environment() {
    let o = order(
        vec![
            order_test("v", OrderEffect::Victim, Tally::new(3, 3), Tally::new(6, 0)),
            order_test("e", OrderEffect::None, Tally::new(3, 0), Tally::new(6, 0)),
        ],
        3,
    );
    let r = order_only_report(vec!["pytest".into()], o, 0.05, 1.0);
    assert_eq!((r.verdict, r.outcome), (Verdict::Environment, None));
    assert_eq!(r.exit_code(), crate::exit::ENVIRONMENT);
    let f = &r.factors[0];
    assert_eq!((f.factor, f.effect, f.p_value), (Factor::Order, Effect::Fixes, 0.002));
    assert_eq!(f.evidence[..2], ["test: v".to_string(), "polluter: a".to_string()]);
    assert!(r.summary.starts_with("order-dependent tests: v (victim of a)"), "{}", r.summary);
    let v = r.tests.iter().find(|t| t.name == "v").expect("v");
    assert_eq!((v.verdict, v.factors[0].factor), (Verdict::Environment, Factor::Order));
    let e = r.tests.iter().find(|t| t.name == "e").expect("e");
    assert_eq!((e.verdict, e.outcome), (Verdict::Stable, Some(StableOutcome::Pass)));
    assert_eq!(e.analysis[0].status, Status::None);
    assert_eq!(r.conditions[0].name, "suite order");
    assert_eq!(r.categories[0].name, "v");
    assert!(r.order.is_some());
    // Every rendering names the factor, its test and its polluter.
    let text = crate::render_text(&r, false);
    assert!(text.contains("order fixes") && text.contains("polluter: a"), "{text}");
    assert!(text.contains("in the suite's order failed 3/3, alone failed 0/6"), "{text}");
    let md = crate::render_markdown(&r);
    assert!(md.contains("| order | fixes |") && md.contains("polluter: a"), "{md}");
    let html = crate::render_html(&r);
    assert!(html.contains(">order<") && html.contains("polluter: a"), "{html}");
    let xml = crate::render_junit(&r).unwrap_or_default();
    assert!(
        xml.contains("type=\"flakebox.order\"")
            && xml.contains("depends on the order of the tests: order fixes"),
        "{xml}"
    );
    assert!(xml.contains("polluter: a"), "{xml}");
    let json: serde_json::Value =
        serde_json::from_str(&crate::render_json(&r).unwrap_or_default()).unwrap_or_default();
    assert_eq!(json["verdict"], "environment");
    assert_eq!(json["factors"][0]["factor"], "order");
    assert_eq!(json["factors"][0]["effect"], "fixes");
    assert_eq!(json["order"]["tests"][0]["polluters"][0], "a");
}

#[test]
fn without_an_effect_the_suites_outcome_decides() {
    let r = order_only_report(
        vec!["pytest".into()],
        order(vec![order_test("e", OrderEffect::None, Tally::new(3, 3), Tally::new(6, 6))], 3),
        0.05,
        1.0,
    );
    assert_eq!((r.verdict, r.outcome), (Verdict::Stable, Some(StableOutcome::Fail)));
    assert!(r.factors.is_empty() && r.summary.starts_with("no test depends on the order"), "{}", r.summary);
    let flaky = order_test("f", OrderEffect::None, Tally::new(3, 1), Tally::new(6, 2));
    let r = order_only_report(vec!["pytest".into()], order(vec![flaky.clone()], 1), 0.05, 1.0);
    assert_eq!(r.verdict, Verdict::Intrinsic);
    // A flaky victim: order reduces its failures, it stays flaky.
    let fv = order_test("fv", OrderEffect::Victim, Tally::new(9, 9), Tally::new(30, 6));
    let r = order_only_report(vec!["pytest".into()], order(vec![fv], 3), 0.05, 1.0);
    assert_eq!(r.verdict, Verdict::Intrinsic);
    assert_eq!(r.tests[0].analysis[0].status, Status::Reduces);
    let mut o = order(vec![order_test("v", OrderEffect::Victim, Tally::new(3, 3), Tally::new(6, 0))], 3);
    o.incomplete = true;
    let r = order_only_report(vec!["pytest".into()], o, 0.05, 1.0);
    assert_eq!((r.verdict, r.stopped), (Verdict::Undecided, StopReason::Interrupted));
    assert!(r.factors.is_empty());
}

#[test]
fn an_order_effect_joins_a_tests_environment_findings() {
    let base = order_only_report(
        vec!["pytest".into()],
        order(
            vec![
                order_test("v", OrderEffect::None, Tally::new(3, 1), Tally::new(6, 2)),
                order_test("w", OrderEffect::None, Tally::new(3, 0), Tally::new(6, 0)),
            ],
            1,
        ),
        0.05,
        1.0,
    );
    // As an environment diagnosis would have left it: `v` intrinsic, `w`
    // stable, no order yet.
    let mut r = base.clone();
    r.order = None;
    r.factors.clear();
    r.analysis.clear();
    r.summary = "per test: 1 intrinsically flaky".into();
    for t in &mut r.tests {
        t.analysis.clear();
    }
    let fam = family(&r);
    assert_eq!(fam.get("v"), Some(&Vec::new()));
    fold(
        &mut r,
        order(
            vec![
                order_test("v", OrderEffect::Victim, Tally::new(3, 3), Tally::new(6, 0)),
                order_test("w", OrderEffect::Brittle, Tally::new(3, 0), Tally::new(6, 4)),
            ],
            3,
        ),
    );
    assert_eq!(r.verdict, Verdict::Environment);
    let got: Vec<(Factor, Effect)> = r.factors.iter().map(|f| (f.factor, f.effect)).collect();
    assert_eq!(got, [(Factor::Order, Effect::Fixes)]);
    let w = r.tests.iter().find(|t| t.name == "w").expect("w");
    assert_eq!((w.verdict, w.factors[0].effect), (Verdict::Environment, Effect::Breaks));
    assert!(w.summary.starts_with("order: brittle summary; other factors:"), "{}", w.summary);
    assert!(
        r.summary.contains("w (brittle: needs a)") && r.summary.ends_with("1 intrinsically flaky"),
        "{}",
        r.summary
    );
}
