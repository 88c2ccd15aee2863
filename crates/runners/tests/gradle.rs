//! The Gradle adapter against real Gradle, on examples/runners/gradle
//! (Debian's gradle 4.4.1 on Java 17, JUnit 4 from Debian's junit4 package:
//! no repository, no network).

mod common;

use common::{adapter, example, ids, require, run};
use flakebox_runners as runners;
use runners::{Order, Outcome};

const STABLE: &str = "example.SuiteTest#stable";
const MARKER: &str = "example.SuiteTest#leavesMarker";
const FAILS: &str = "example.SuiteTest#plainFails";
const PASSES: &str = "example.SuiteTest#plainPasses";
const OTHER: &str = "example.OtherTest#otherFile";

fn gradle() -> runners::Adapter {
    require("gradle", &["--version"], "apt-get install gradle junit4");
    let junit = "/usr/share/java/junit4.jar";
    assert!(
        std::path::Path::new(junit).exists(),
        "{junit} is missing: apt-get install junit4 (.ci/run does)"
    );
    adapter(&["gradle", "-q", "test"], &example("gradle"))
}

/// One test at a time: each run rewrites build/test-results/test.
#[test]
fn whole_suite_marker_test_on_the_second_run_and_selection() {
    let a = gradle();
    let state = tempfile::tempdir().unwrap();
    let env = [("FLAKEBOX_EXAMPLE_STATE", state.path().to_str().unwrap())];
    let first = run(&a, None, Order::AsCommand, &env);
    assert_eq!(
        first.sorted_outcomes(),
        vec![
            (OTHER.into(), Outcome::Passed),
            (MARKER.into(), Outcome::Passed),
            (FAILS.into(), Outcome::Failed),
            (PASSES.into(), Outcome::Passed),
            (STABLE.into(), Outcome::Passed),
        ],
        "{}",
        first.output
    );
    let fails = first.results.iter().find(|r| r.outcome == Outcome::Failed).unwrap();
    assert!(fails.message.as_deref().is_some_and(|m| m.contains("deterministic failure")), "{fails:?}");
    // Selection by method and by class; cleanTest makes the task rerun
    // although nothing was recompiled.
    let second = run(&a, ids(&[MARKER, "example.OtherTest"]), Order::AsCommand, &env);
    assert_eq!(
        second.sorted_outcomes(),
        vec![(OTHER.into(), Outcome::Passed), (MARKER.into(), Outcome::Failed)],
        "{}",
        second.output
    );
}
