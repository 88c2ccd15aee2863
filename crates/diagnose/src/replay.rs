//! Each test's replay: the command that reproduces its failure ("every
//! failure comes with a replay line"), and, when it runs more than the test
//! because the test fails only after others, the alone run as the passing
//! control.
//!
//! A test that fails only after other tests passes alone, so its replay
//! runs what it needs before it: an order victim's polluters then it (the
//! order factor's confirmed order), or else the whole suite in its own
//! order. Every other test fails alone, and its replay is the alone run
//! under the conditions it failed in: a factor whose isolation fixes it is
//! shared (`--share`), and one whose isolation breaks it keeps the
//! diagnosis's frozen instant or entropy seed. A seed of randomness it
//! failed under replays only with the tests that run drew from it before
//! this one: its replay runs that run's tests, in its order, under the seed
//! and that run's clock. Failing from randomness with no seed that always
//! failed, it replays with the real randomness (`--share rand`), which
//! fails only as often as it did.

use crate::order::OrderEffect;
use crate::report::{Effect, FailingSeed, Report, TestReport};
use factors::Factor;

/// Sets `replay` (and `replay_alone`) of every test worth a look; `select`
/// gives the command running these tests in this order, in their runner's
/// syntax.
pub fn assign(report: &mut Report, select: &dyn Fn(&[String]) -> Option<Vec<String>>) {
    let order = &report.order;
    let (frozen, entropy) = (report.frozen_instant.as_deref(), report.entropy_seed);
    let suite = run_line(&[], &report.command);
    for t in report.tests.iter_mut().filter(|t| t.needs_a_look()) {
        let solo = select(std::slice::from_ref(&t.name));
        let victim = order
            .as_ref()
            .and_then(|o| o.tests.iter().find(|o| o.name == t.name && o.effect == OrderEffect::Victim));
        let after_others = match victim {
            Some(v) => Some(v.replay.clone().unwrap_or_else(|| suite.clone())),
            None if t.fails_only_in_suite => Some(suite.clone()),
            None => None,
        };
        (t.replay, t.replay_alone) = match after_others {
            Some(r) => (Some(r), solo.map(|cmd| run_line(&[], &cmd))),
            None => {
                // Under a failing seed: the tests of the run that failed.
                let cmd = match failing_seed(t).map(|s| &s.tests) {
                    Some(Some(tests)) => select(tests),
                    Some(None) => Some(report.command.clone()),
                    None => solo,
                };
                (cmd.map(|cmd| run_line(&failing_options(t, frozen, entropy), &cmd)), None)
            }
        };
    }
}

/// The seed of randomness `t` failed under in every run that used it, when
/// randomness has an effect on it.
fn failing_seed(t: &TestReport) -> Option<&FailingSeed> {
    t.factors.iter().find(|f| f.factor == Factor::Rand).and_then(|f| f.failing_seed.as_ref())
}

/// `t`'s replay draws real randomness (`--share rand`): isolating
/// randomness fixes it and no seed failed in every run that used it, so
/// the replay fails only as often as the test did.
pub(crate) fn real_randomness(t: &TestReport) -> bool {
    t.factors
        .iter()
        .any(|f| f.factor == Factor::Rand && f.effect == Effect::Fixes && f.failing_seed.is_none())
}

/// The `flakebox run` options under which `t` failed where everything
/// isolated passes (or, for a factor that breaks it, fails as isolated).
fn failing_options(t: &TestReport, frozen: Option<&str>, entropy: Option<u64>) -> Vec<String> {
    let mut share: Vec<&str> = Vec::new();
    let mut opts: Vec<String> = Vec::new();
    let mut time: Option<&str> = None;
    for f in &t.factors {
        match (f.factor, f.effect) {
            // Order has its own replay; db is the environment's unless
            // `--postgres` asks for a throwaway one.
            (Factor::Order | Factor::Db, _) => {}
            // A seed it failed under, with its run's clock; else, fixed by
            // isolation, real entropy; else the seed every rand-isolated
            // run had.
            (Factor::Rand, effect) => match (&f.failing_seed, effect, entropy) {
                (Some(s), _, _) => {
                    opts.extend(["--seed".to_string(), s.seed.to_string()]);
                    time = time.or(s.frozen_instant.as_deref());
                }
                (None, Effect::Fixes, _) => share.push("rand"),
                (None, _, Some(s)) => opts.extend(["--seed".to_string(), s.to_string()]),
                (None, _, None) => {}
            },
            (factor, Effect::Fixes) => share.push(factor.name()),
            (Factor::Time, _) => time = frozen.or(time),
            _ => {}
        }
    }
    // The clock it failed with, unless the replay shares the real one.
    if let Some(t) = time.filter(|_| !share.contains(&"time")) {
        opts.extend(["--time".to_string(), t.to_string()]);
    }
    if !share.is_empty() {
        opts.splice(0..0, ["--share".to_string(), share.join(",")]);
    }
    opts
}

/// The words of `flakebox run OPTS -- CMD`: every replay of a diagnosis.
pub fn run_words(opts: &[String], cmd: &[String]) -> Vec<String> {
    let mut line = vec!["flakebox".to_string(), "run".into()];
    line.extend(opts.iter().cloned());
    line.push("--".into());
    line.extend(cmd.iter().cloned());
    line
}

/// `flakebox run OPTS -- CMD`, as a shell line.
pub fn run_line(opts: &[String], cmd: &[String]) -> String {
    render::shell_line(&run_words(opts, cmd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{OrderReport, OrderTest};
    use crate::polluter::Tally;
    use crate::report::{StableOutcome, Verdict};

    fn test(name: &str, verdict: Verdict, outcome: Option<StableOutcome>) -> TestReport {
        TestReport::new(name, verdict, outcome)
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
            OrderReport::empty(0.05, 1, Default::default()),
            0.05,
            0.0,
        );
        r.tests = tests;
        if let Some(o) = r.order.as_mut() {
            o.tests = order;
        }
        r
    }

    fn alone(tests: &[String]) -> Option<Vec<String>> {
        Some([&["pytest".to_string()], tests].concat())
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

    fn effect(factor: Factor, effect: Effect, seed: Option<u64>) -> crate::report::FactorEffect {
        crate::report::FactorEffect {
            factor,
            effect,
            p_value: 0.01,
            evidence: Vec::new(),
            baseline: Default::default(),
            isolated: Default::default(),
            failing_seed: seed.map(|seed| crate::report::FailingSeed {
                seed,
                runs: 3,
                failed: 3,
                replay: Vec::new(),
                suspects_only: true,
                tests: None,
                frozen_instant: None,
            }),
        }
    }

    /// Alone with everything isolated, a test whose failure the isolation
    /// fixes passes: its replay shares what it failed with.
    #[test]
    fn an_environment_failure_replays_with_what_it_failed_under() {
        let with = |factors: Vec<crate::report::FactorEffect>| {
            let mut t = test("t", Verdict::Environment, None);
            t.factors = factors;
            let mut r = report(vec![t], Vec::new());
            r.frozen_instant = Some("2024-02-29T23:59:58Z".into());
            r.entropy_seed = Some(42);
            assign(&mut r, &alone);
            (r.tests[0].replay.clone().unwrap_or_default(), r.tests[0].replay_alone.clone())
        };
        let fs_time =
            with(vec![effect(Factor::Fs, Effect::Fixes, None), effect(Factor::Time, Effect::Fixes, None)]);
        assert_eq!(fs_time, ("flakebox run --share fs,time -- pytest t".to_string(), None));
        // A seed seen failing with the whole command: the whole command.
        let seeded = with(vec![
            effect(Factor::Rand, Effect::Fixes, Some(7)),
            effect(Factor::Net, Effect::Fixes, None),
        ]);
        assert_eq!(seeded.0, "flakebox run --share net --seed 7 -- pytest -q");
        assert_eq!(
            with(vec![effect(Factor::Rand, Effect::Fixes, None)]).0,
            "flakebox run --share rand -- pytest t"
        );
        // Isolated it fails: the diagnosis's own seed and instant.
        let broken = with(vec![
            effect(Factor::Rand, Effect::Stabilizes, None),
            effect(Factor::Time, Effect::Breaks, None),
        ]);
        assert_eq!(broken.0, "flakebox run --seed 42 --time 2024-02-29T23:59:58Z -- pytest t");
        // Db is the environment's already without --postgres.
        assert_eq!(with(vec![effect(Factor::Db, Effect::Fixes, None)]).0, "flakebox run -- pytest t");
    }

    /// The same seed draws the same values only for the same tests in the
    /// same order: the replay runs the failing run's selection, with its
    /// clock; the test alone under that seed drew other values.
    #[test]
    fn a_seeded_failure_replays_the_tests_of_the_run_that_failed() {
        let seeded = |tests: Option<Vec<String>>, instant: Option<&str>, time: Option<Effect>| {
            let mut t = test("y", Verdict::Environment, None);
            let mut rand = effect(Factor::Rand, Effect::Fixes, Some(7));
            if let Some(s) = rand.failing_seed.as_mut() {
                s.tests = tests;
                s.frozen_instant = instant.map(String::from);
            }
            t.factors = vec![rand];
            t.factors.extend(time.map(|e| effect(Factor::Time, e, None)));
            let mut r = report(vec![t], Vec::new());
            r.frozen_instant = Some("2024-02-29T23:59:58Z".into());
            assign(&mut r, &alone);
            (r.tests[0].replay.clone().unwrap_or_default(), r.tests[0].replay_alone.clone())
        };
        let xy = Some(vec!["x".to_string(), "y".to_string()]);
        assert_eq!(
            seeded(xy.clone(), Some("2024-02-29T23:59:58Z"), None),
            ("flakebox run --seed 7 --time 2024-02-29T23:59:58Z -- pytest x y".to_string(), None)
        );
        // Its run had the real clock: no instant to give.
        assert_eq!(seeded(xy.clone(), None, None).0, "flakebox run --seed 7 -- pytest x y");
        // The real clock fixes it too: shared, and no --time beside it.
        assert_eq!(
            seeded(xy, Some("2024-02-29T23:59:58Z"), Some(Effect::Fixes)).0,
            "flakebox run --share time --seed 7 -- pytest x y"
        );
        // Isolating time breaks it: the one frozen instant, once.
        assert_eq!(
            seeded(None, Some("2024-02-29T23:59:58Z"), Some(Effect::Breaks)).0,
            "flakebox run --seed 7 --time 2024-02-29T23:59:58Z -- pytest -q"
        );
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
