//! Focused reruns, interruption, timeouts and a missing results file,
//! against fake runners that honour `RunSpec` (deterministic by seed).

use factors::{Factor, FactorSet};
use flakebox_diagnose::*;
use std::collections::HashMap;

const SUITE: usize = 2000;
const CLOCK: &str = "tests/test_time.py::test_second_ticks";
const SCRATCH: &str = "tests/test_files.py::test_scratch";
const ORDER: &str = "tests/test_cache.py::test_warm";
const SCREEN_ONLY: &str = "tests/test_flake.py::test_screening_only";

fn name(k: usize) -> String {
    format!("tests/test_m{:02}.py::test_{k:04}", k % 50)
}

fn case(name: &str, failed: bool) -> junit::TestCase {
    junit::TestCase {
        name: name.to_string(),
        outcome: if failed { Outcome::Failed } else { Outcome::Passed },
        flaky_reruns: 0,
    }
}

/// A 2,000-test suite with four tests that fail: one on the wall-clock
/// second (40%, unless time is isolated), one on a scratch file its previous
/// run left (unless fs is isolated), one only after the tests that run
/// before it in the whole suite, and one only in screening runs (a stand-in
/// for anything the screening saw and the focused rounds do not). It
/// honours `RunSpec::tests` and keys its state by (condition, screening).
struct Suite {
    rng: fastrand::Rng,
    state: HashMap<(FactorSet, bool), usize>,
    specs: Vec<RunSpec>,
    /// Tests run, over all runs (the cost in test executions).
    executed: usize,
}

impl Suite {
    fn new(seed: u64) -> Self {
        Suite { rng: fastrand::Rng::with_seed(seed), state: HashMap::new(), specs: Vec::new(), executed: 0 }
    }
}

impl Runner for Suite {
    fn run(&mut self, spec: &RunSpec) -> Result<RunOutcome, RunnerError> {
        self.specs.push(spec.clone());
        let iso = spec.isolate;
        let prior = self.state.entry((iso, spec.screening)).or_insert(0);
        let scratch_left = !iso.contains(Factor::Fs) && *prior > 0;
        *prior += 1;
        let mut order: Vec<String> = vec![ORDER.into(), CLOCK.into(), SCRATCH.into(), SCREEN_ONLY.into()];
        order.extend((0..SUITE).map(name));
        let chosen: Vec<String> = match &spec.tests {
            None => order,
            Some(t) => t.clone(),
        };
        let mut tests = Vec::new();
        for t in &chosen {
            let failed = match t.as_str() {
                CLOCK => !iso.contains(Factor::Time) && self.rng.f64() < 0.4,
                SCRATCH => scratch_left,
                ORDER => spec.tests.is_none() && spec.run_no.is_multiple_of(2),
                SCREEN_ONLY => spec.screening && iso.is_empty(),
                _ => false,
            };
            tests.push(case(t, failed));
        }
        self.executed += tests.len();
        let passed = tests.iter().all(|t| t.outcome == Outcome::Passed);
        Ok(RunOutcome { tests, ..RunOutcome::new(passed) })
    }
}

fn focus_opts(seed: u64) -> Options {
    Options {
        factors: FactorSet::only(Factor::Net).with(Factor::Fs).with(Factor::Time),
        seed,
        focus: true,
        ..Options::default()
    }
}

fn test<'a>(r: &'a Report, name: &str) -> &'a TestReport {
    r.tests.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no test {name}"))
}

#[test]
fn focused_reruns_find_the_suspects_and_decide_on_fresh_runs() {
    for seed in 0..4 {
        let mut suite = Suite::new(seed);
        let o = focus_opts(seed);
        let rep = diagnose(&["pytest".into()], &o, &mut suite, &mut |_| {}).expect("diagnosis");
        let ctx = format!("seed {seed}: {}", render_text(&rep, false));

        // Screening: whole-suite runs, baseline's and one all-isolated,
        // marked as such and numbered apart.
        let screening: Vec<&RunSpec> = suite.specs.iter().filter(|s| s.screening).collect();
        assert_eq!(screening.len(), DEFAULT_SCREEN_RUNS + 1, "{ctx}");
        assert!(screening.iter().all(|s| s.tests.is_none()));
        assert_eq!(screening.iter().filter(|s| s.isolate.is_empty()).count(), DEFAULT_SCREEN_RUNS);
        assert!(suite.specs[..screening.len()].iter().all(|s| s.screening), "screening comes first");
        let scr = rep.screening.as_ref().expect("screening reported");
        assert_eq!((scr.runs, scr.baseline_runs, scr.tests), (6, 5, SUITE + 4));

        // The suspects, in suite order; the focused rounds select exactly
        // them and start every condition afresh at run 0.
        let mut want = vec![ORDER, CLOCK, SCRATCH, SCREEN_ONLY];
        if !scr.suspects.iter().any(|s| s == CLOCK) {
            // A 40% flake escapes 5 baseline runs with probability 0.6⁵ = 8%.
            want.retain(|t| *t != CLOCK);
        }
        assert_eq!(scr.suspects, want, "{ctx}");
        let focused: Vec<&RunSpec> = suite.specs.iter().filter(|s| !s.screening).collect();
        assert!(focused.iter().all(|s| s.tests.as_deref() == Some(&scr.suspects[..])), "{ctx}");
        assert_eq!(focused.iter().filter(|s| s.run_no == 0).count(), 5, "each condition's first focused run");
        // Every focused round pairs the conditions it runs: shuffled, each
        // at most once.
        for r in 0..rep.rounds {
            let mut conds: Vec<String> =
                focused.iter().filter(|s| s.run_no == r).map(|s| s.isolate.to_string()).collect();
            let n = conds.len();
            conds.sort();
            conds.dedup();
            assert_eq!(conds.len(), n, "round {r}");
        }

        // The decision uses only the focused rounds: baseline and all ran
        // once a round there, the screening runs are not among them; a
        // factor whose runs can no longer change a decision is left out of
        // later rounds (net here: both outcomes for every test early on).
        let runs = |name: &str| rep.conditions.iter().find(|c| c.name == name).map_or(0, |c| c.runs);
        assert_eq!((runs("baseline"), runs("all")), (rep.rounds, rep.rounds), "{ctx}");
        assert!(runs("net") < rep.rounds, "{ctx}");
        assert_eq!(rep.runs_total, 6 + rep.conditions.iter().map(|c| c.runs).sum::<usize>());
        assert_eq!(focused.len(), rep.runs_total - 6);
        assert_eq!(rep.stopped, StopReason::Decided, "{ctx}");

        let scratch = test(&rep, SCRATCH);
        assert_eq!(scratch.verdict, Verdict::Environment, "{ctx}");
        // The runs are of the suspects together: the verdict is the tests'.
        assert_eq!(rep.verdict, Verdict::Environment, "{ctx}: {}", rep.summary);
        assert!(rep.summary.starts_with("per test: "), "{ctx}: {}", rep.summary);
        assert!(rep.factors.iter().any(|f| f.factor == Factor::Fs && f.effect == Effect::Fixes), "{ctx}");
        assert!(rep.analysis.iter().all(|a| a.factor != Factor::Fs), "{ctx}: fs is reported by its effect");
        assert_eq!((scratch.factors[0].factor, scratch.factors[0].effect), (Factor::Fs, Effect::Fixes));
        if want.contains(&CLOCK) {
            let clock = test(&rep, CLOCK);
            assert_eq!(clock.verdict, Verdict::Environment, "{ctx}");
            assert_eq!((clock.factors[0].factor, clock.factors[0].effect), (Factor::Time, Effect::Fixes));
            assert!(clock.screening.is_some_and(|s| s.runs == 6 && s.failed > 0));
        }
        // Fails in the whole suite, never selected: said so, no claim.
        let order = test(&rep, ORDER);
        assert!(order.fails_only_in_suite, "{ctx}");
        assert!(order.factors.is_empty());
        assert!(order.summary.contains("needs an earlier test"), "{}", order.summary);
        // What chose it (its screening failures in baseline only) would
        // have made a claim if reused: the fresh rounds make none.
        let screen_only = test(&rep, SCREEN_ONLY);
        assert!(screen_only.factors.is_empty(), "{ctx}");
        assert_eq!(screen_only.conditions.iter().map(|c| c.failed).sum::<usize>(), 0);

        // Everything else: stable, with the bound its screening runs give,
        // not rerun, and in the JSON.
        assert_eq!(rep.tests.len(), SUITE + 4);
        let other = test(&rep, &name(17));
        assert_eq!((other.verdict, other.outcome), (Verdict::Stable, Some(StableOutcome::Pass)));
        assert_eq!(other.conditions.iter().map(|c| c.runs).sum::<usize>(), 6);
        let bound = other.max_failure_rate_95.expect("bound");
        assert!((bound - stats::never_failed_bound(6).unwrap_or(0.0)).abs() < 1e-12);

        // The text shows the few, then one line for the 2,000.
        let text = render_text(&rep, false);
        assert!(
            text.contains("2,000 tests stable: passed all 6 runs; a failure rate of 39% or more ruled out"),
            "{text}"
        );
        assert!(!text.contains(&name(17)));
        let shown = text.find(SCRATCH).expect("scratch test shown");
        assert!(shown < text.find("2,000 tests stable").unwrap_or(0));
        assert!(text.contains("fails only in the whole suite"), "{text}");
        assert!(text.contains("6 whole-suite screening runs (5 baseline, the rest with everything isolated) chose 4 of 2,004 tests") || !want.contains(&CLOCK), "{text}");
        assert!(render_markdown(&rep).contains("whole-suite screening runs"));

        // Cost in test executions, in units of one whole-suite run.
        let suite_runs = suite.executed as f64 / (SUITE + 4) as f64;
        eprintln!(
            "seed {seed}: {} runs ({} rounds), {suite_runs:.2} suites' worth of tests",
            rep.runs_total, rep.rounds
        );
        assert!(suite_runs < 6.5, "{suite_runs}");
    }
}

#[test]
fn focus_with_nothing_failing_stops_after_screening() {
    let mut runs = 0;
    let mut r = |_: FactorSet, _| {
        runs += 1;
        Ok(RunOutcome { tests: vec![case("t::a", false), case("t::b", false)], ..RunOutcome::new(true) })
    };
    let rep = diagnose(&["cargo".into(), "test".into()], &focus_opts(1), &mut r, &mut |_| {}).expect("runs");
    assert_eq!(runs, DEFAULT_SCREEN_RUNS + 1);
    assert_eq!((rep.verdict, rep.outcome), (Verdict::Stable, Some(StableOutcome::Pass)), "{}", rep.summary);
    assert!(rep.summary.contains("nothing to rerun"), "{}", rep.summary);
    assert_eq!(rep.exit_code(), exit::STABLE_PASS);
    assert!(rep.tests.iter().all(|t| t.verdict == Verdict::Stable));
}

#[test]
fn focus_without_per_test_results_falls_back_to_whole_suite_rounds() {
    let mut specs = Vec::new();
    let mut rng = fastrand::Rng::with_seed(5);
    let mut r = |spec: &RunSpec| {
        specs.push(spec.clone());
        RunOutcome::new(spec.isolate.contains(Factor::Net) || rng.f64() < 0.5)
    };
    struct F<'a>(&'a mut dyn FnMut(&RunSpec) -> RunOutcome);
    impl Runner for F<'_> {
        fn run(&mut self, spec: &RunSpec) -> Result<RunOutcome, RunnerError> {
            Ok((self.0)(spec))
        }
    }
    let rep = diagnose(&["make".into()], &focus_opts(5), &mut F(&mut r), &mut |_| {}).expect("runs");
    assert_eq!((rep.factors[0].factor, rep.factors[0].effect), (Factor::Net, Effect::Fixes));
    assert!(specs.iter().all(|s| s.tests.is_none()));
}

#[test]
fn interrupted_diagnosis_is_undecided_with_the_real_counts() {
    // Passes everywhere; interrupted at the third run, before at least two
    // conditions ran.
    let o =
        Options { factors: FactorSet::only(Factor::Net).with(Factor::Time), seed: 3, ..Options::default() };
    let mut n = 0;
    let mut r = |_: FactorSet, _| {
        n += 1;
        if n == 3 {
            return Err(RunnerError::Interrupted);
        }
        Ok(RunOutcome::new(true))
    };
    let rep = diagnose(&["sleep".into()], &o, &mut r, &mut |_| {}).expect("report");
    assert_eq!(rep.stopped, StopReason::Interrupted);
    assert_eq!(rep.verdict, Verdict::Undecided);
    assert_eq!(rep.outcome, None);
    assert_eq!(rep.exit_code(), exit::INTERRUPTED);
    assert_eq!(rep.runs_total, 2);
    assert_eq!(rep.conditions.iter().map(|c| c.runs).sum::<usize>(), 2, "the real counts");
    let idle: Vec<&str> = rep.conditions.iter().filter(|c| c.runs == 0).map(|c| c.name.as_str()).collect();
    assert_eq!(idle.len(), 2);
    assert!(rep.summary.contains(&format!("no run under {}", idle.join(", "))), "{}", rep.summary);
    assert!(!rep.summary.contains("every condition"), "{}", rep.summary);
    assert!(rep.never_failed_bound.is_none());
    let text = render_text(&rep, false);
    assert!(text.contains("verdict: undecided (interrupted)"), "{text}");
    assert!(!text.contains("stable (pass)"), "{text}");
    assert!(render_markdown(&rep).contains("**undecided (interrupted)**"));

    // Per-test verdicts too; interrupted during a focused screening, every
    // test is undecided.
    let mut k = 0;
    let mut r = |_: FactorSet, _| {
        k += 1;
        if k > 2 {
            return Err(RunnerError::Interrupted);
        }
        Ok(RunOutcome { tests: vec![case("t::a", false)], ..RunOutcome::new(true) })
    };
    let rep = diagnose(&["x".into()], &focus_opts(2), &mut r, &mut |_| {}).expect("report");
    assert_eq!(rep.verdict, Verdict::Undecided);
    assert!(rep.screening.as_ref().is_some_and(|s| s.incomplete && s.runs == 2));
    assert!(rep.tests.iter().all(|t| t.verdict == Verdict::Undecided), "{:?}", rep.tests);
}

#[test]
fn timeouts_are_counted_and_explained() {
    // Polls the wall clock until it moves: hangs (times out) under a
    // frozen clock, passes otherwise.
    let o =
        Options { factors: FactorSet::only(Factor::Net).with(Factor::Time), seed: 4, ..Options::default() };
    let mut r = |iso: FactorSet, _| {
        let hang = iso.contains(Factor::Time);
        Ok(RunOutcome { timed_out: hang, exit_code: if hang { 124 } else { 0 }, ..RunOutcome::new(!hang) })
    };
    let rep = diagnose(&["pytest".into()], &o, &mut r, &mut |_| {}).expect("report");
    assert_eq!((rep.factors[0].factor, rep.factors[0].effect), (Factor::Time, Effect::Breaks));
    let time = rep.conditions.iter().find(|c| c.name == "time").expect("time");
    assert_eq!((time.failed, time.timed_out), (rep.rounds, rep.rounds));
    assert_eq!(rep.conditions[0].timed_out, 0);
    assert_eq!(rep.factors[0].isolated.timed_out, rep.rounds);
    assert!(rep.summary.contains(&format!("({} timed out)", rep.rounds)), "{}", rep.summary);
    let ev = rep.factors[0].evidence.join("\n");
    assert!(ev.contains(&format!("time isolated: {0} of {0} runs timed out", rep.rounds)), "{ev}");
    assert!(ev.contains("--time now~tick"), "{ev}");
    let text = render_text(&rep, false);
    assert!(text.contains("timed out"), "{text}");
    let v = serde_json::to_value(&rep).expect("json");
    assert_eq!(v["conditions"][2]["timed_out"], rep.rounds);
}

#[test]
fn a_results_file_the_first_run_does_not_write_stops_the_diagnosis() {
    let mut runs = 0;
    let mut r = |_: FactorSet, _| {
        runs += 1;
        Ok(RunOutcome {
            junit: vec![JunitFile {
                path: "build/junit.xml".into(),
                contents: Err("build/junit.xml was not written by this run: No such file or directory".into()),
            }],
            ..RunOutcome::new(true)
        })
    };
    let e = diagnose(&["pytest".into()], &Options::default(), &mut r, &mut |_| {}).unwrap_err();
    assert_eq!(runs, 1, "stopped at the first run");
    assert_eq!(exit::for_error(&e), exit::RUNNER_FAILED);
    let DiagnoseError::ResultsMissing { path, hint, .. } = &e else { panic!("{e:?}") };
    assert_eq!((path.as_str(), hint), ("build/junit.xml", &None));
    assert!(e.to_string().contains("build/junit.xml"), "{e}");
    // The caller names the runner option that writes it.
    let e = DiagnoseError::ResultsMissing {
        path: "r.xml".into(),
        reason: "missing".into(),
        hint: Some("--junitxml=r.xml".into()),
    };
    assert!(e.to_string().contains("with --junitxml=r.xml"), "{e}");
}

/// The HTML page and the JUnit XML of a focused diagnosis: one grid cell a
/// run, the verdict and the factors at the top, the injected tests first;
/// in JUnit (read back by the project's own reader) the environment-caused
/// tests fail with the cause and a stable test passes.
#[test]
fn html_and_junit_renderings_of_a_focused_diagnosis() {
    let mut suite = Suite::new(1);
    let rep = diagnose(&["pytest".into()], &focus_opts(1), &mut suite, &mut |_| {}).expect("diagnosis");
    assert_eq!(rep.runs.len(), rep.runs_total);
    assert_eq!(rep.runs.iter().filter(|r| r.screening).count(), DEFAULT_SCREEN_RUNS + 1);

    let html = render_html(&rep);
    assert_eq!(html.matches("<td class=\"run ").count(), rep.runs_total, "one cell a run");
    assert!(
        html.contains(&format!("<span id=\"verdict\"><span class=\"badge {}\">", rep.verdict.name())),
        "{html}"
    );
    let scratch = html.find(SCRATCH).expect("the scratch test is shown");
    let stable = html.find("<details>").expect("stable tests collapsed");
    assert!(scratch < stable, "not-stable tests come before the stable ones");
    assert!(html.contains(&format!("<li>{}</li>", name(0))), "a stable test is listed in the collapsed part");
    for fetch in ["<script", "<link", "src=", "url("] {
        assert!(!html.contains(fetch), "{fetch} fetches something");
    }

    let xml = render_junit(&rep).expect("junit");
    let cases = junit::parse_cases(&xml).expect("our own reader parses it");
    assert_eq!(cases.len(), rep.tests.len());
    let case = |n: &str| cases.iter().find(|c| c.name == n).unwrap_or_else(|| panic!("no case {n}"));
    assert_eq!(case(SCRATCH).outcome, Outcome::Failed);
    assert!(case(SCRATCH).message.as_deref().is_some_and(|m| m.contains("fs fixes (p = ")), "{xml}");
    assert_eq!(case(&name(7)).outcome, Outcome::Passed);
}

/// The clock test under a frozen instant that always fails it (time
/// stabilizes it) beside a scratch test that fails after the first run: the
/// suspects run together pass only in round 0, which would keep that unit
/// undecided forever; each test is decided, so the diagnosis stops long
/// before max runs.
#[test]
fn focused_diagnosis_stops_when_every_test_is_decided() {
    struct Frozen(Suite);
    impl Runner for Frozen {
        fn run(&mut self, spec: &RunSpec) -> Result<RunOutcome, RunnerError> {
            let mut out = self.0.run(spec)?;
            if spec.isolate.contains(Factor::Time) {
                for t in out.tests.iter_mut().filter(|t| t.name == CLOCK) {
                    t.outcome = Outcome::Failed;
                }
                out.passed = false;
            }
            Ok(out)
        }
    }
    for seed in 0..3 {
        let mut suite = Frozen(Suite::new(seed));
        let o = Options { max_runs: 100, ..focus_opts(seed) };
        let rep = diagnose(&["pytest".into()], &o, &mut suite, &mut |_| {}).expect("diagnosis");
        let ctx = format!("seed {seed}: {}", render_text(&rep, false));
        assert_eq!(rep.stopped, StopReason::Decided, "{ctx}");
        assert!(rep.rounds < 40, "{ctx}");
        assert_eq!(test(&rep, SCRATCH).verdict, Verdict::Environment, "{ctx}");
    }
}

/// What a focused run that found none of its tests gives back.
#[derive(Clone, Copy, Debug)]
enum Nothing {
    /// Results that name no test, and this exit code (pytest: 4 when a
    /// node id is not found; go, cargo: 0).
    Empty(i32),
    /// No results at all from a run that passed (Surefire when no test
    /// matches `-Dtest` and no failure is asked for).
    MissingPassed,
}

/// A runner that finds no test by the ids it is given (pytest given node
/// ids relative to its rootdir from another directory): the whole suite
/// runs, a selection runs nothing. The first focused run stops the
/// diagnosis with what was selected and what ran, never counted as a run of
/// the selected tests. A run stopped at its time limit, or a failed one
/// whose results are missing (a crash: its tests count as failed), is no
/// such evidence: when the first focused run is one, the second stops it.
#[test]
fn a_focused_run_that_runs_none_of_the_selected_tests_stops_the_diagnosis() {
    for nothing in [Nothing::Empty(4), Nothing::Empty(0), Nothing::MissingPassed] {
        for first in [None, Some("timeout"), Some("crash")] {
            let mut specs: Vec<RunSpec> = Vec::new();
            let mut runner = |spec: &RunSpec| -> RunOutcome {
                specs.push(spec.clone());
                if spec.tests.is_none() {
                    let tests = vec![case("test_a.py::test_ok", false), case("test_a.py::test_marker", true)];
                    return RunOutcome { tests, ..RunOutcome::new(false) };
                }
                let missing =
                    vec![JunitFile { path: "target/surefire-reports".into(), contents: Err("none".into()) }];
                let focused = specs.iter().filter(|s| s.tests.is_some()).count();
                match (focused, first, nothing) {
                    (1, Some("timeout"), _) => {
                        RunOutcome { timed_out: true, exit_code: 137, ..RunOutcome::new(false) }
                    }
                    (1, Some(_), _) => {
                        RunOutcome { junit: missing, exit_code: 139, ..RunOutcome::new(false) }
                    }
                    (_, _, Nothing::Empty(code)) => {
                        RunOutcome { exit_code: code, ..RunOutcome::new(code == 0) }
                    }
                    (_, _, Nothing::MissingPassed) => RunOutcome { junit: missing, ..RunOutcome::new(true) },
                }
            };
            let mut r = FnRunner(&mut runner);
            let opts = Options { factors: FactorSet::only(Factor::Fs), focus: true, ..Options::default() };
            let e = diagnose(&["pytest".into()], &opts, &mut r, &mut |_| {}).unwrap_err();
            let ctx = format!("{nothing:?}, first {first:?}: {e}");
            let focused = specs.iter().filter(|s| s.tests.is_some()).count();
            assert_eq!(focused, if first.is_some() { 2 } else { 1 }, "{ctx}");
            assert_eq!(exit::for_error(&e), exit::RUNNER_FAILED);
            let DiagnoseError::SelectionRanNothing { selected, ran, exit_code, .. } = &e else {
                panic!("{ctx}")
            };
            let want_code = match nothing {
                Nothing::Empty(c) => c,
                Nothing::MissingPassed => 0,
            };
            assert_eq!(
                (selected.as_slice(), ran.is_empty(), *exit_code),
                (&["test_a.py::test_marker".to_string()][..], true, want_code),
                "{ctx}"
            );
            let msg = e.to_string();
            assert!(
                msg.contains("selected `test_a.py::test_marker`")
                    && msg.contains("ran none of them")
                    && msg.contains(&format!("exit code {want_code}"))
                    && msg.contains("--runs N"),
                "{ctx}"
            );
        }
    }
}

/// A closure over the whole spec as a runner.
struct FnRunner<'a, F: FnMut(&RunSpec) -> RunOutcome>(&'a mut F);

impl<F: FnMut(&RunSpec) -> RunOutcome> Runner for FnRunner<'_, F> {
    fn run(&mut self, spec: &RunSpec) -> Result<RunOutcome, RunnerError> {
        Ok((self.0)(spec))
    }
}
