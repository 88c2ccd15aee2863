//! JUnit dialects, from realistic fixtures.

use flakebox_diagnose::{parse_junit, JunitError, Outcome, TestCase};

fn load(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(name: &str) -> Vec<TestCase> {
    parse_junit(&load(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn find<'a>(cases: &'a [TestCase], name: &str) -> &'a TestCase {
    cases
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} in {:#?}", cases.iter().map(|c| &c.name).collect::<Vec<_>>()))
}

#[test]
fn pytest_xunit1_uses_file_for_node_ids() {
    let c = parse("pytest_xunit1.xml");
    assert_eq!(c.len(), 6);
    assert_eq!(find(&c, "tests/test_net.py::test_fetch").outcome, Outcome::Failed);
    assert_eq!(find(&c, "tests/test_net.py::TestApi::test_ok[a-1]").outcome, Outcome::Passed);
    assert_eq!(find(&c, "tests/unit/test_math.py::test_add").outcome, Outcome::Passed);
    assert_eq!(find(&c, "tests/unit/test_math.py::test_skip").outcome, Outcome::Skipped);
    assert_eq!(find(&c, "tests/unit/test_math.py::test_db").outcome, Outcome::Error);
    assert_eq!(find(&c, "tests/unit/test_math.py::test_xfail").outcome, Outcome::Skipped);
}

#[test]
fn pytest_xunit2_reconstructs_node_ids_from_dotted_classnames() {
    let c = parse("pytest_xunit2.xml");
    assert_eq!(find(&c, "tests/test_time.py::TestClock::test_weekday").outcome, Outcome::Failed);
    assert_eq!(find(&c, "tests/test_time.py::test_parse").outcome, Outcome::Passed);
    assert_eq!(find(&c, "test_top.py::test_one").outcome, Outcome::Passed);
}

#[test]
fn nextest_with_retries() {
    let c = parse("nextest.xml");
    assert_eq!(c.len(), 4);
    let f = find(&c, "myapp::net::tests::fetches");
    assert_eq!((f.outcome, f.flaky_reruns), (Outcome::Failed, 1));
    let s = find(&c, "myapp::tests::sometimes");
    assert_eq!((s.outcome, s.flaky_reruns), (Outcome::Passed, 1));
    // Passed on retry: the first attempt failed, which is what diagnosis counts.
    assert_eq!(s.first_attempt_failed(), Some(true));
    assert_eq!(find(&c, "myapp::tests::adds").first_attempt_failed(), Some(false));
    assert_eq!(find(&c, "myapp::integration::it_works").outcome, Outcome::Passed);
}

#[test]
fn go_junit_report_and_gotestsum() {
    let c = parse("go_junit_report.xml");
    assert_eq!(find(&c, "example.com/app/clock::TestDeadline").outcome, Outcome::Failed);
    assert_eq!(find(&c, "example.com/app/clock::TestParse/utc").outcome, Outcome::Passed);
    assert_eq!(find(&c, "example.com/app/clock::TestSkipMe").outcome, Outcome::Skipped);
    assert_eq!(find(&c, "example.com/app/db::TestQuery").outcome, Outcome::Passed);

    let c = parse("gotestsum.xml");
    assert_eq!(c.len(), 3);
    assert_eq!(find(&c, "github.com/acme/svc::TestHTTP").outcome, Outcome::Failed);
    assert_eq!(find(&c, "github.com/acme/svc::TestHTTP/retry").outcome, Outcome::Passed);
}

#[test]
fn surefire_flaky_and_rerun_elements() {
    let c = parse("surefire.xml");
    assert_eq!(c.len(), 6);
    let t = |n: &str| find(&c, &format!("com.acme.OrderServiceTest::{n}")).clone();
    assert_eq!(t("createsOrder").outcome, Outcome::Passed);
    let flaky = t("cachesPrices");
    assert_eq!((flaky.outcome, flaky.flaky_reruns), (Outcome::Passed, 1));
    let rerun = t("talksToPayments");
    assert_eq!((rerun.outcome, rerun.flaky_reruns), (Outcome::Failed, 2));
    let err = t("readsConfig");
    assert_eq!((err.outcome, err.flaky_reruns), (Outcome::Error, 1));
    assert_eq!(t("flakyErrorThenPass").flaky_reruns, 1);
    assert_eq!(t("ignoredOne").outcome, Outcome::Skipped);
    assert_eq!(t("ignoredOne").first_attempt_failed(), None);
}

#[test]
fn jest_junit_uses_the_suite_file() {
    let c = parse("jest.xml");
    assert_eq!(c.len(), 4);
    assert_eq!(find(&c, "src/api.test.js::api fetches users").outcome, Outcome::Failed);
    assert_eq!(find(&c, "src/api.test.js::api parses a page").outcome, Outcome::Passed);
    assert_eq!(find(&c, "src/api.test.js::api todo later").outcome, Outcome::Skipped);
    assert_eq!(find(&c, "src/sum.test.js::sum adds 1 + 2 to equal 3").outcome, Outcome::Passed);
}

#[test]
fn nesting_and_duplicates_are_deterministic() {
    let c = parse("nested_duplicates.xml");
    let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "inner.Suite::same",
            "inner.Suite::same#2",
            "inner.Suite::same#3",
            "inner.Suite::noclass",
            "outer::top"
        ]
    );
    assert_eq!(c[1].outcome, Outcome::Failed);
    // Same input, same names.
    assert_eq!(parse("nested_duplicates.xml"), c);
}

#[test]
fn malformed_files_are_errors_not_panics() {
    assert!(matches!(parse_junit(&load("malformed_truncated.xml")), Err(JunitError::Xml(_))));
    assert_eq!(parse_junit(&load("not_junit.xml")), Err(JunitError::NotJunit("coverage".into())));
    assert_eq!(parse_junit(""), Err(JunitError::Empty));
    let e = parse_junit("<testsuite>").unwrap_err();
    assert!(e.to_string().contains("XML"), "{e}");
}
