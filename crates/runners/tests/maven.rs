//! The Maven Surefire adapter against real Maven, on examples/runners/maven
//! (JUnit 5; every artifact from Debian's /usr/share/maven-repo, no network).

mod common;

use common::{adapter, example, ids, require, run};
use flakebox_runners as runners;
use runners::{Order, Outcome};

const STABLE: &str = "example.SuiteTest#stable";
const MARKER: &str = "example.SuiteTest#leavesMarker";
const FAILS: &str = "example.SuiteTest#plainFails";
const PASSES: &str = "example.SuiteTest#plainPasses";
const OTHER: &str = "example.OtherTest#otherFile";

fn maven() -> runners::Adapter {
    require("mvn", &["--version"], "apt-get install maven");
    let plugin = "/usr/share/maven-repo/org/apache/maven/plugins/maven-surefire-plugin/2.22.3";
    assert!(
        std::path::Path::new(plugin).exists(),
        "{plugin} is missing: apt-get install libsurefire-java junit5 libmaven-compiler-plugin-java \
         libmaven-resources-plugin-java (.ci/run does)"
    );
    adapter(&["mvn", "-B", "-q", "test"], &example("maven"))
}

/// One test at a time: each run rewrites target/surefire-reports.
#[test]
fn whole_suite_marker_test_on_the_second_run_and_selection() {
    let a = maven();
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
    let second = run(&a, ids(&[MARKER, PASSES]), Order::AsCommand, &env);
    assert_eq!(
        second.sorted_outcomes(),
        vec![(MARKER.into(), Outcome::Failed), (PASSES.into(), Outcome::Passed)],
        "{}",
        second.output
    );
}
