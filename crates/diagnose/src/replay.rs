//! Each test's replay: the command that reproduces its failure ("every
//! failure comes with a replay line"), and, when that is not the test run
//! alone, the alone run as the passing control.
//!
//! A test that fails only after other tests passes alone, so its replay
//! runs what it needs before it: an order victim's polluters then it (the
//! order factor's confirmed order), or else the whole suite in its own
//! order. Every other test fails alone, and its replay is the alone run.

use crate::order::OrderEffect;
use crate::report::Report;

/// Sets `replay` (and `replay_alone`) of every test worth a look; `alone`
/// renders the command running one test alone, in its runner's syntax.
pub fn assign(report: &mut Report, alone: &dyn Fn(&str) -> Option<String>) {
    let order = &report.order;
    let suite = || {
        let mut line = vec!["flakebox".to_string(), "run".into(), "--".into()];
        line.extend(report.command.iter().cloned());
        render::shell_line(&line)
    };
    for t in report.tests.iter_mut().filter(|t| t.needs_a_look()) {
        let solo = alone(&t.name);
        let victim = order
            .as_ref()
            .and_then(|o| o.tests.iter().find(|o| o.name == t.name && o.effect == OrderEffect::Victim));
        let after_others = match victim {
            Some(v) => Some(v.replay.clone().unwrap_or_else(suite)),
            None if t.fails_only_in_suite => Some(suite()),
            None => None,
        };
        (t.replay, t.replay_alone) = match after_others {
            Some(r) => (Some(r), solo),
            None => (solo, None),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{OrderReport, OrderTest};
    use crate::polluter::Tally;
    use crate::report::{StableOutcome, TestReport, Verdict};

    fn test(name: &str, verdict: Verdict, outcome: Option<StableOutcome>) -> TestReport {
        TestReport {
            name: name.into(),
            verdict,
            outcome,
            factors: Vec::new(),
            conditions: Vec::new(),
            analysis: Vec::new(),
            flaky_reruns: 0,
            summary: String::new(),
            screening: None,
            fails_only_in_suite: false,
            max_failure_rate_95: None,
            replay: None,
            replay_alone: None,
            interaction: None,
        }
    }

    fn order_test(name: &str, effect: OrderEffect, replay: Option<&str>) -> OrderTest {
        OrderTest {
            name: name.into(),
            effect,
            in_suite: Tally::new(3, 3),
            shuffled: Vec::new(),
            alone: Tally::new(6, 0),
            p_victim: 0.01,
            p_brittle: 1.0,
            p_value: 0.02,
            p_unadjusted: 0.01,
            polluters: vec!["p".into()],
            cleaner: None,
            state: None,
            replay: replay.map(String::from),
            search_runs: 5,
            search: None,
            cleaner_search: None,
            summary: String::new(),
        }
    }

    fn report(tests: Vec<TestReport>, order: Vec<OrderTest>) -> Report {
        let mut r = crate::order::order_only_report(
            vec!["pytest".into(), "-q".into()],
            OrderReport {
                tests: Vec::new(),
                runs: 0,
                alpha: 0.05,
                seed: 1,
                incomplete: false,
                suite_runs: 0,
                suite_runs_failed: 0,
                isolate: Default::default(),
            },
            0.05,
            0.0,
        );
        r.tests = tests;
        if let Some(o) = r.order.as_mut() {
            o.tests = order;
        }
        r
    }

    fn alone(name: &str) -> Option<String> {
        Some(format!("flakebox run -- pytest {name}"))
    }

    #[test]
    fn a_victims_replay_runs_its_polluter_first_and_alone_is_the_control() {
        let mut r = report(
            vec![
                test("v", Verdict::Environment, None),
                test("w", Verdict::Environment, None),
                test("i", Verdict::Intrinsic, None),
                test("ok", Verdict::Stable, Some(StableOutcome::Pass)),
            ],
            vec![
                order_test("v", OrderEffect::Victim, Some("flakebox run -- pytest p v")),
                // A victim whose polluter the search did not confirm.
                order_test("w", OrderEffect::Victim, None),
            ],
        );
        assign(&mut r, &alone);
        let t = |n: &str| r.tests.iter().find(|t| t.name == n).expect("test");
        assert_eq!(t("v").replay.as_deref(), Some("flakebox run -- pytest p v"));
        assert_eq!(t("v").replay_alone.as_deref(), Some("flakebox run -- pytest v"));
        // Without a polluter: the suite in its own order, where it failed.
        assert_eq!(t("w").replay.as_deref(), Some("flakebox run -- pytest -q"));
        assert_eq!(t("w").replay_alone.as_deref(), Some("flakebox run -- pytest w"));
        // A test failing alone replays alone, with no control.
        assert_eq!(t("i").replay.as_deref(), Some("flakebox run -- pytest i"));
        assert_eq!(t("i").replay_alone, None);
        assert_eq!((t("ok").replay.as_ref(), t("ok").replay_alone.as_ref()), (None, None));
    }

    #[test]
    fn a_test_failing_only_in_the_whole_suite_replays_the_suite() {
        let mut only = test("s", Verdict::Stable, Some(StableOutcome::Pass));
        only.fails_only_in_suite = true;
        let mut r = report(vec![only], Vec::new());
        r.order = None;
        assign(&mut r, &alone);
        assert_eq!(r.tests[0].replay.as_deref(), Some("flakebox run -- pytest -q"));
        assert_eq!(r.tests[0].replay_alone.as_deref(), Some("flakebox run -- pytest s"));
    }
}
