//! The pytest adapter against the real pytest, on examples/runners/pytest.

mod common;

use common::{adapter, example, ids, require, run};
use flakebox_runners as runners;
use runners::{Order, Outcome};

fn pytest() -> runners::Adapter {
    require("python3", &["-m", "pytest", "--version"], "python3 -m pip install pytest");
    adapter(&["python3", "-m", "pytest", "-q"], &example("pytest"))
}

#[test]
fn whole_suite_then_the_marker_test_fails_from_the_second_run() {
    let a = pytest();
    let state = tempfile::tempdir().unwrap();
    let env = [("FLAKEBOX_EXAMPLE_STATE", state.path().to_str().unwrap()), ("PYTHONDONTWRITEBYTECODE", "1")];
    let first = run(&a, None, Order::AsCommand, &env);
    assert_eq!(
        first.outcomes(),
        vec![
            ("test_suite.py::test_stable".into(), Outcome::Passed),
            ("test_suite.py::test_leaves_marker".into(), Outcome::Passed),
            ("test_suite.py::test_plain_fails".into(), Outcome::Failed),
            ("test_suite.py::test_plain_passes".into(), Outcome::Passed),
        ],
        "{}",
        first.output
    );
    assert!(!first.exit_ok);
    let fails = first.results.iter().find(|r| r.id.0 == "test_suite.py::test_plain_fails").unwrap();
    assert!(fails.message.as_deref().is_some_and(|m| m.contains("assert")), "{fails:?}");
    let second = run(&a, None, Order::AsCommand, &env);
    assert_eq!(second.outcome("test_suite.py::test_leaves_marker"), Some(Outcome::Failed));
    assert_eq!(second.outcome("test_suite.py::test_stable"), Some(Outcome::Passed));
    // -p no:cacheprovider: nothing written into the project.
    assert!(!example("pytest").join(".pytest_cache").exists());
}

#[test]
fn selection_runs_only_the_chosen_tests_in_the_order_listed() {
    let a = pytest();
    let state = tempfile::tempdir().unwrap();
    let env = [("FLAKEBOX_EXAMPLE_STATE", state.path().to_str().unwrap()), ("PYTHONDONTWRITEBYTECODE", "1")];
    let one = run(&a, ids(&["test_suite.py::test_plain_passes"]), Order::AsCommand, &env);
    assert_eq!(one.outcomes(), vec![("test_suite.py::test_plain_passes".into(), Outcome::Passed)]);
    assert!(one.exit_ok);
    let listed =
        ["test_suite.py::test_plain_passes", "test_suite.py::test_plain_fails", "test_suite.py::test_stable"];
    let ran = run(&a, ids(&listed), Order::AsListed, &env);
    let got: Vec<String> = ran.results.iter().map(|r| r.id.0.clone()).collect();
    assert_eq!(got, listed, "{}", ran.output);
    let reversed: Vec<&str> = listed.iter().rev().copied().collect();
    let ran = run(&a, ids(&reversed), Order::AsListed, &env);
    let got: Vec<String> = ran.results.iter().map(|r| r.id.0.clone()).collect();
    assert_eq!(got, reversed, "{}", ran.output);
}

/// examples/runners/pytest_subdir run from its top directory: pytest's
/// rootdir is tests/ (its ini file), its ids are relative to it, and the
/// ids it reported select those tests again from the working directory,
/// with Debian's pytest and pip's alike (whichever `python3` is first).
#[test]
fn ids_reported_under_a_rootdir_below_the_working_directory_select_those_tests() {
    require("python3", &["-m", "pytest", "--version"], "python3 -m pip install pytest");
    let a = adapter(&["python3", "-m", "pytest", "-q", "tests"], &example("pytest_subdir"));
    let state = tempfile::tempdir().unwrap();
    let env = [("FLAKEBOX_EXAMPLE_STATE", state.path().to_str().unwrap()), ("PYTHONDONTWRITEBYTECODE", "1")];
    let all = run(&a, None, Order::AsCommand, &env);
    let reported: Vec<String> = all.results.iter().map(|r| r.id.0.clone()).collect();
    assert_eq!(
        reported,
        [
            "test_suite.py::test_stable",
            "test_suite.py::test_leaves_marker",
            "test_suite.py::test_plain_fails",
            "test_suite.py::test_plain_passes"
        ],
        "relative to the rootdir: {}",
        all.output
    );
    let listed = ["test_suite.py::test_plain_fails", "test_suite.py::test_stable"];
    let ran = run(&a, ids(&listed), Order::AsListed, &env);
    let got: Vec<String> = ran.results.iter().map(|r| r.id.0.clone()).collect();
    assert_eq!(got, listed, "{}", ran.output);
}
