//! The go test adapter against the real go toolchain, on examples/runners/go
//! (module example.com/flakebox/runners: packages calc and marker).

mod common;

use common::{adapter, example, ids, require, run};
use flakebox_runners as runners;
use runners::{Order, Outcome};

const CALC: &str = "example.com/flakebox/runners/calc";
const MARKER: &str = "example.com/flakebox/runners/marker";

fn go_test() -> runners::Adapter {
    require("go", &["version"], "apt-get install golang-go");
    adapter(&["go", "test", "./..."], &example("go"))
}

fn calc_order(ran: &common::Ran) -> Vec<String> {
    ran.results
        .iter()
        .filter(|r| r.id.0.split_once(' ').is_some_and(|(pkg, test)| pkg == CALC && !test.contains('/')))
        .map(|r| r.id.0.clone())
        .collect()
}

#[test]
fn whole_suite_then_the_marker_test_fails_from_the_second_run() {
    let a = go_test();
    let state = tempfile::tempdir().unwrap();
    let env = [("FLAKEBOX_EXAMPLE_STATE", state.path().to_str().unwrap())];
    let first = run(&a, None, Order::AsCommand, &env);
    assert_eq!(
        first.sorted_outcomes(),
        vec![
            (format!("{CALC} TestPlainFails"), Outcome::Failed),
            (format!("{CALC} TestPlainPasses"), Outcome::Passed),
            (format!("{CALC} TestPlainPasses/sub"), Outcome::Passed),
            (format!("{CALC} TestStable"), Outcome::Passed),
            (format!("{MARKER} TestLeavesMarker"), Outcome::Passed),
        ],
        "{}",
        first.output
    );
    let fails = first.results.iter().find(|r| r.outcome == Outcome::Failed).unwrap();
    assert!(fails.message.as_deref().is_some_and(|m| m.contains("deterministic failure")), "{fails:?}");
    let second = run(&a, None, Order::AsCommand, &env);
    assert_eq!(
        second.outcome(&format!("{MARKER} TestLeavesMarker")),
        Some(Outcome::Failed),
        "{}",
        second.output
    );
}

#[test]
fn selection_runs_only_the_chosen_tests() {
    let a = go_test();
    let state = tempfile::tempdir().unwrap();
    let env = [("FLAKEBOX_EXAMPLE_STATE", state.path().to_str().unwrap())];
    let passes = format!("{CALC} TestPlainPasses");
    let leaves = format!("{MARKER} TestLeavesMarker");
    let ran = run(&a, ids(&[&passes, &leaves]), Order::AsCommand, &env);
    assert_eq!(
        ran.sorted_outcomes(),
        vec![
            (passes.clone(), Outcome::Passed),
            (format!("{passes}/sub"), Outcome::Passed),
            (leaves, Outcome::Passed),
        ],
        "{}",
        ran.output
    );
}

#[test]
fn shuffle_seed_is_replayed_and_defined_order_is_source_order() {
    let a = go_test();
    let state = tempfile::tempdir().unwrap();
    let env = [("FLAKEBOX_EXAMPLE_STATE", state.path().to_str().unwrap())];
    let calc = ids(&[CALC]);
    let defined = run(&a, calc.clone(), Order::Defined, &env);
    let source =
        [format!("{CALC} TestStable"), format!("{CALC} TestPlainFails"), format!("{CALC} TestPlainPasses")];
    assert_eq!(calc_order(&defined), source, "{}", defined.output);
    let mut orders = Vec::new();
    for seed in 1..=6 {
        let once = run(&a, calc.clone(), Order::Shuffle { seed }, &env);
        let again = run(&a, calc.clone(), Order::Shuffle { seed }, &env);
        assert!(once.output.contains(&format!("-test.shuffle {seed}")), "{}", once.output);
        assert_eq!(calc_order(&once), calc_order(&again), "seed {seed} replays");
        orders.push(calc_order(&once));
    }
    assert!(orders.iter().any(|o| o.as_slice() != source), "no seed changed the order: {orders:?}");
}
