use super::*;
use crate::junit::{Outcome, TestCase};

/// A fake suite: `v` fails after `a` unless `c` ran between them; `w` fails
/// unless `b` ran before it; `a` writes a file, `b` leaves a row; `e` is
/// stable. Every run is recorded.
struct Suite {
    order: Vec<&'static str>,
    runs: Vec<RunSpec>,
}

impl Suite {
    fn new() -> Self {
        Suite { order: vec!["a", "b", "v", "c", "w", "e"], runs: Vec::new() }
    }
}

impl Runner for Suite {
    fn run(&mut self, spec: &RunSpec) -> Result<RunOutcome, RunnerError> {
        self.runs.push(spec.clone());
        let order: Vec<String> = match &spec.tests {
            Some(t) => t.clone(),
            None => self.order.iter().map(|s| s.to_string()).collect(),
        };
        let mut out = RunOutcome::new(true);
        let (mut polluted, mut set_up) = (false, false);
        for t in &order {
            let failed = match t.as_str() {
                "a" => {
                    polluted = true;
                    out.evidence.files_written.push("/work/.cache/flag".into());
                    false
                }
                "b" => {
                    set_up = true;
                    out.evidence.db_tables.push(("users".into(), 1));
                    false
                }
                "c" => {
                    polluted = false;
                    false
                }
                "v" => polluted,
                "w" => !set_up,
                _ => false,
            };
            out.passed &= !failed;
            let outcome = if failed { Outcome::Failed } else { Outcome::Passed };
            out.tests.push(TestCase { name: t.clone(), outcome, flaky_reruns: 0 });
        }
        Ok(out)
    }
}

fn replay(tests: &[String]) -> Option<String> {
    Some(format!("flakebox run -- runner {}", tests.join(" ")))
}

fn text_of(r: &OrderReport) -> String {
    render(r, false, &[])
}

fn opts() -> OrderOptions {
    OrderOptions { isolate: FactorSet::all(), seed: 7, shuffles: 6, ..OrderOptions::default() }
}

#[test]
fn victim_polluter_cleaner_state_and_replay() {
    let mut suite = Suite::new();
    let r = diagnose_order(&mut suite, &opts(), &replay).unwrap();
    assert_eq!(r.runs, suite.runs.len());
    assert!(suite.runs.iter().all(|s| s.isolate == FactorSet::all() && s.run_no == 0));
    let v = r.tests.iter().find(|t| t.name == "v").expect("v examined");
    assert_eq!(v.effect, OrderEffect::Victim, "{v:?}");
    assert_eq!(v.polluters, ["a"]);
    assert_eq!(v.replay.as_deref(), Some("flakebox run -- runner a v"));
    let st = v.state.as_ref().expect("state");
    assert_eq!(st.files, ["/work/.cache/flag"]);
    assert!(!st.in_process);
    assert!(v.search_runs > 0);
    // One of the shuffles (seed 7) ran `c` between `a` and `v`, and `v` passed: `c`
    // is the cleaner.
    assert!(v.cleaner_search.is_some(), "{v:?}");
    assert_eq!(v.cleaner.as_deref(), Some("c"), "{v:?}");
    assert!(text_of(&r).contains("cleaner: c"));
    let text = render(&r, false, &[]);
    assert!(text.contains("v: victim") && text.contains("polluter: a"), "{text}");
    assert!(text.contains("replay: flakebox run -- runner a v"), "{text}");
}

#[test]
fn brittle_test_and_its_state_setter() {
    let mut suite = Suite::new();
    // `w` passes in the suite order (after `b`); a shuffle or the named test
    // makes it a candidate.
    let o = OrderOptions { tests: vec!["w".into()], ..opts() };
    let r = diagnose_order(&mut suite, &o, &replay).unwrap();
    let w = r.tests.iter().find(|t| t.name == "w").expect("w examined");
    assert_eq!(w.effect, OrderEffect::Brittle, "{w:?}");
    assert_eq!(w.polluters, ["b"]);
    assert_eq!(w.replay.as_deref(), Some("flakebox run -- runner w"));
    let st = w.state.as_ref().expect("state");
    assert_eq!(st.db_tables, [("users".to_string(), 1)]);
}

#[test]
fn a_stable_test_named_has_no_order_effect_and_no_search() {
    let mut suite = Suite::new();
    let o = OrderOptions { tests: vec!["e".into()], shuffles: 0, ..opts() };
    let r = diagnose_order(&mut suite, &o, &replay).unwrap();
    let e = r.tests.iter().find(|t| t.name == "e").expect("e examined");
    assert_eq!(e.effect, OrderEffect::None);
    assert!(e.search.is_none() && e.polluters.is_empty() && e.replay.is_none());
    assert_eq!(e.alone, Tally::new(6, 0));
}

#[test]
fn in_process_state_when_the_polluter_leaves_nothing_outside() {
    let nothing = RunObservations::default();
    let s = shared_state(&nothing, &nothing);
    assert!(s.in_process && s.summary.starts_with("in-process"), "{s:?}");
    // Caches are no state; a file both write comes first.
    let p = RunObservations {
        files_written: vec!["/w/x".into(), "/w/__pycache__/a.pyc".into(), "/w/app.db".into()],
        db_tables: vec![("users".into(), 2), ("log".into(), 1)],
        ..Default::default()
    };
    let v = RunObservations {
        files_written: vec!["/w/app.db".into()],
        db_tables: vec![("log".into(), 1)],
        ..Default::default()
    };
    let s = shared_state(&p, &v);
    assert_eq!(s.files, ["/w/app.db", "/w/x"]);
    assert_eq!(s.db_tables, [("users".to_string(), 2)]);
    assert!(!s.in_process);
    assert!(s.summary.contains("/w/app.db (the victim uses it too)"), "{}", s.summary);
}

#[test]
fn shuffles_are_replayable_from_their_seeds() {
    let names: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
    let s = shuffle_seed(3, 1);
    assert_eq!(shuffled(&names, s), shuffled(&names, s));
    assert_ne!(shuffled(&names, shuffle_seed(3, 0)), shuffled(&names, shuffle_seed(3, 1)));
    let mut sorted = shuffled(&names, s);
    sorted.sort();
    let mut want = names.clone();
    want.sort();
    assert_eq!(sorted, want);
}

#[test]
fn an_interruption_keeps_what_was_examined() {
    struct Stop(usize);
    impl Runner for Stop {
        fn run(&mut self, _: &RunSpec) -> Result<RunOutcome, RunnerError> {
            self.0 += 1;
            Err(RunnerError::Interrupted)
        }
    }
    let r = diagnose_order(&mut Stop(0), &opts(), &replay).unwrap();
    assert!(r.incomplete && r.tests.is_empty());
    let mut failing = |_: FactorSet, _: usize| Err(RunnerError::Failed("no sandbox".into()));
    assert!(diagnose_order(&mut failing, &opts(), &replay).is_err());
}

#[test]
fn a_named_test_is_examined_and_an_unknown_name_refused() {
    let mut suite = Suite::new();
    let o = OrderOptions { named: vec!["e".into()], shuffles: 0, ..opts() };
    let r = diagnose_order(&mut suite, &o, &replay).unwrap();
    assert!(r.tests.iter().any(|t| t.name == "e" && t.effect == OrderEffect::None), "{r:?}");
    let mut suite = Suite::new();
    let o = OrderOptions { named: vec!["e".into(), "nope".into()], ..opts() };
    let e = diagnose_order(&mut suite, &o, &replay).unwrap_err();
    assert!(
        matches!(&e, OrderError::UnknownTests { unknown, known: 6, .. } if unknown == &["nope"]),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("`nope`") && msg.contains("runner's own id") && msg.contains("`a`"), "{msg}");
    // Refused after the first suite run, before any test is examined.
    assert_eq!(suite.runs.len(), 1);
}

#[test]
fn the_order_claim_is_holms_in_the_tests_family() {
    // `v` fails in each of the suite's 3 runs and in none of 6 alone: at the
    // first look p = 1/84, weighted 3/84 (0.036), claimed on its own.
    let mut suite = Suite::new();
    let o = OrderOptions { shuffles: 0, ..opts() };
    let r = diagnose_order(&mut suite, &o, &replay).unwrap();
    let v = r.tests.iter().find(|t| t.name == "v").expect("v");
    assert_eq!((v.effect, v.alone.runs), (OrderEffect::Victim, 6), "{v:?}");
    assert!((v.p_unadjusted - 3.0 / 84.0).abs() < 1e-12 && v.p_value == v.p_unadjusted, "{v:?}");
    // With one environment factor of p = 0.5 in its family, Holm doubles
    // it past alpha: the second look decides (far more runs alone).
    let family = [("v".to_string(), vec![0.5])].into_iter().collect();
    let o = OrderOptions { shuffles: 0, family, ..opts() };
    let r = diagnose_order(&mut Suite::new(), &o, &replay).unwrap();
    let v = r.tests.iter().find(|t| t.name == "v").expect("v");
    assert_eq!((v.effect, v.alone.runs), (OrderEffect::Victim, 30), "{v:?}");
    assert!((v.p_value - 2.0 * v.p_unadjusted).abs() < 1e-15, "{v:?}");
}
