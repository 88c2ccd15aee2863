//! The cargo test and libtest adapters against real cargo, on
//! examples/runners/cargo (two test binaries: the lib's and tests/leaves_marker.rs).

mod common;

use common::{adapter, example, ids, require, run};
use flakebox_runners as runners;
use runners::{Order, Outcome};
use std::process::Command;

const LIB: &str = "lib:flakebox_runners_cargo_example";

fn cargo_test() -> runners::Adapter {
    require("cargo", &["--version"], "rustup");
    adapter(&["cargo", "test", "-q"], &example("cargo"))
}

#[test]
fn whole_suite_ids_name_the_binary_and_the_marker_test_fails_from_the_second_run() {
    let a = cargo_test();
    let state = tempfile::tempdir().unwrap();
    let env = [("FLAKEBOX_EXAMPLE_STATE", state.path().to_str().unwrap())];
    let first = run(&a, None, Order::AsCommand, &env);
    let got = first.sorted_outcomes();
    assert_eq!(
        got,
        vec![
            (format!("{LIB}::tests::plain_fails"), Outcome::Failed),
            (format!("{LIB}::tests::plain_passes"), Outcome::Passed),
            (format!("{LIB}::tests::stable"), Outcome::Passed),
            ("test:leaves_marker::leaves_marker".to_string(), Outcome::Passed),
        ],
        "{}",
        first.output
    );
    let fails = first.results.iter().find(|r| r.outcome == Outcome::Failed).unwrap();
    assert!(fails.message.as_deref().is_some_and(|m| m.contains("deterministic failure")), "{fails:?}");
    let second = run(&a, None, Order::AsCommand, &env);
    assert_eq!(
        second.outcome("test:leaves_marker::leaves_marker"),
        Some(Outcome::Failed),
        "{}",
        second.output
    );
}

#[test]
fn selection_across_binaries_runs_only_the_chosen_tests() {
    let a = cargo_test();
    let state = tempfile::tempdir().unwrap();
    let env = [("FLAKEBOX_EXAMPLE_STATE", state.path().to_str().unwrap())];
    let one = run(&a, ids(&["test:leaves_marker::leaves_marker"]), Order::AsCommand, &env);
    assert_eq!(
        one.outcomes(),
        vec![("test:leaves_marker::leaves_marker".into(), Outcome::Passed)],
        "{}",
        one.output
    );
    let pass = format!("{LIB}::tests::plain_passes");
    let two = run(&a, ids(&[&pass, "test:leaves_marker::leaves_marker"]), Order::AsCommand, &env);
    assert_eq!(
        two.outcomes(),
        vec![(pass, Outcome::Passed), ("test:leaves_marker::leaves_marker".into(), Outcome::Failed)],
        "{}",
        two.output
    );
}

#[test]
fn a_libtest_binary_run_directly() {
    require("cargo", &["--version"], "rustup");
    let dir = example("cargo");
    let out = Command::new("cargo").args(["test", "--no-run", "--lib"]).current_dir(&dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let binary = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Executable unittests src/lib.rs (")?.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no lib test binary in:\n{stderr}"));
    let a = adapter(&[binary], &dir);
    assert_eq!(a.kind, runners::RunnerKind::Libtest);
    let whole = run(&a, None, Order::AsCommand, &[]);
    let got = whole.sorted_outcomes();
    assert_eq!(
        got,
        vec![
            ("tests::plain_fails".into(), Outcome::Failed),
            ("tests::plain_passes".into(), Outcome::Passed),
            ("tests::stable".into(), Outcome::Passed),
        ]
    );
    let one = run(&a, ids(&["tests::stable"]), Order::AsCommand, &[]);
    assert_eq!(one.outcomes(), vec![("tests::stable".into(), Outcome::Passed)]);
}
