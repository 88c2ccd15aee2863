//! The Maven Surefire and Gradle adapters against the real build tools, on
//! examples/runners/maven (JUnit 5; every artifact from Debian's
//! /usr/share/maven-repo) and examples/runners/gradle (Debian's gradle 4.4.1
//! on Java 17, JUnit 4 from Debian's junit4 package): no network. The two
//! suites have the same tests and ids.

mod common;

use common::{adapter, example, ids, require, run, try_run, NO_PERF_DATA};
use flakebox_runners as runners;
use runners::{Order, Outcome};

const STABLE: &str = "example.SuiteTest#stable";
const MARKER: &str = "example.SuiteTest#leavesMarker";
const FAILS: &str = "example.SuiteTest#plainFails";
const PASSES: &str = "example.SuiteTest#plainPasses";
const OTHER: &str = "example.OtherTest#otherFile";

fn require_file(path: &str, install: &str) {
    assert!(std::path::Path::new(path).exists(), "{path} is missing: {install} (.ci/run does)");
}

/// The whole suite, then a selection by method and by class: the marker
/// test fails on the second run, and only the selected tests ran. One test
/// at a time per tool: each run rewrites its report directory.
fn whole_suite_then_selection(a: &runners::Adapter) {
    let state = tempfile::tempdir().unwrap();
    // The JVMs' temporary files (Gradle's `gradle-worker-classpath*txt`,
    // which it leaves) go in a directory of the test's own, not in /tmp.
    let java_tmp = tempfile::tempdir().unwrap();
    let java_opts = format!("{NO_PERF_DATA} -Djava.io.tmpdir={}", java_tmp.path().display());
    let env = [("FLAKEBOX_EXAMPLE_STATE", state.path().to_str().unwrap()), ("JAVA_TOOL_OPTIONS", &java_opts)];
    let first = run(a, None, Order::AsCommand, &env);
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
    let second = run(a, ids(&[MARKER, PASSES, "example.OtherTest"]), Order::AsCommand, &env);
    assert_eq!(
        second.sorted_outcomes(),
        vec![
            (OTHER.into(), Outcome::Passed),
            (MARKER.into(), Outcome::Failed),
            (PASSES.into(), Outcome::Passed)
        ],
        "{}",
        second.output
    );
}

#[test]
fn maven_marker_test_on_the_second_run_and_selection() {
    require("mvn", &["--version"], "apt-get install maven");
    require_file(
        "/usr/share/maven-repo/org/apache/maven/plugins/maven-surefire-plugin/2.22.3",
        "apt-get install libsurefire-java junit5 libmaven-compiler-plugin-java libmaven-resources-plugin-java",
    );
    whole_suite_then_selection(&adapter(&["mvn", "-B", "-q", "test"], &example("maven")));
}

/// Selection reruns an up-to-date test task: the adapter adds `cleanTest`.
#[test]
fn gradle_marker_test_on_the_second_run_and_selection() {
    require("gradle", &["--version"], "apt-get install gradle");
    require_file("/usr/share/java/junit4.jar", "apt-get install junit4");
    let a = adapter(&["gradle", "-q", "test"], &example("gradle"));
    whole_suite_then_selection(&a);
    // A selection that matches nothing passes having written no report
    // (Gradle alone would fail the build, as a failing test does).
    let java_tmp = tempfile::tempdir().unwrap();
    let java_opts = format!("{NO_PERF_DATA} -Djava.io.tmpdir={}", java_tmp.path().display());
    let (ran, parsed) = try_run(
        &a,
        ids(&["example.NoSuchTest#nothing"]),
        Order::AsCommand,
        &[("JAVA_TOOL_OPTIONS", &java_opts)],
    );
    assert!(ran.exit_ok, "{}", ran.output);
    assert!(matches!(parsed, Err(runners::RunnersError::ResultsMissing { .. })), "{parsed:?}");
}
