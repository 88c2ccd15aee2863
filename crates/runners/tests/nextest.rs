//! The nextest adapter against real cargo-nextest, on the crate in
//! examples/runners/cargo (two test binaries).

mod common;

use common::{adapter, example, ids, require, run};
use flakebox_runners as runners;
use runners::{Order, Outcome};

const LIB: &str = "flakebox-runners-cargo-example";
const MARKER: &str = "flakebox-runners-cargo-example::leaves_marker leaves_marker";

fn nextest() -> runners::Adapter {
    require("cargo", &["nextest", "--version"], "cargo install cargo-nextest --locked");
    adapter(&["cargo", "nextest", "run"], &example("cargo"))
}

#[test]
fn whole_suite_then_the_marker_test_fails_from_the_second_run() {
    let a = nextest();
    let state = tempfile::tempdir().unwrap();
    let env = [("FLAKEBOX_EXAMPLE_STATE", state.path().to_str().unwrap())];
    let first = run(&a, None, Order::AsCommand, &env);
    assert_eq!(
        first.sorted_outcomes(),
        vec![
            (format!("{LIB} tests::plain_fails"), Outcome::Failed),
            (format!("{LIB} tests::plain_passes"), Outcome::Passed),
            (format!("{LIB} tests::stable"), Outcome::Passed),
            (MARKER.to_string(), Outcome::Passed),
        ],
        "{}",
        first.output
    );
    let second = run(&a, None, Order::AsCommand, &env);
    assert_eq!(second.outcome(MARKER), Some(Outcome::Failed), "{}", second.output);
}

#[test]
fn selection_by_filterset_runs_only_the_chosen_tests() {
    let a = nextest();
    let state = tempfile::tempdir().unwrap();
    let env = [("FLAKEBOX_EXAMPLE_STATE", state.path().to_str().unwrap())];
    let passes = format!("{LIB} tests::plain_passes");
    let ran = run(&a, ids(&[&passes, MARKER]), Order::AsCommand, &env);
    assert_eq!(
        ran.sorted_outcomes(),
        vec![(passes, Outcome::Passed), (MARKER.into(), Outcome::Passed)],
        "{}",
        ran.output
    );
}
