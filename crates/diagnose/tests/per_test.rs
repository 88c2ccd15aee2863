//! Per-test verdicts from JUnit, malformed files, and rendering.

use factors::{Factor, FactorSet};
use flakebox_diagnose::*;

fn case(classname: &str, name: &str, failed: bool) -> String {
    if failed {
        format!(
            r#"<testcase classname="{classname}" name="{name}" time="0.01"><failure message="boom">trace</failure></testcase>"#
        )
    } else {
        format!(r#"<testcase classname="{classname}" name="{name}" time="0.01"/>"#)
    }
}

fn pytest_xml(cases: &[String]) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="{}">{}</testsuite></testsuites>"#,
        cases.len(),
        cases.join("")
    )
}

/// A suite of three tests: one fails 30% unless the network is isolated,
/// one fails 40% at random, one always passes.
fn mixed_suite(seed: u64) -> impl FnMut(FactorSet, usize) -> Result<RunOutcome, RunnerError> {
    let mut rng = fastrand::Rng::with_seed(seed);
    move |iso, _| {
        let net_fail = !iso.contains(Factor::Net) && rng.f64() < 0.3;
        let rand_fail = rng.f64() < 0.4;
        let xml = pytest_xml(&[
            case("tests.test_net", "test_fetch", net_fail),
            case("tests.test_rand", "test_shuffle", rand_fail),
            case("tests.test_ok", "test_add", false),
        ]);
        Ok(RunOutcome {
            junit: vec![JunitFile { path: "report.xml".into(), contents: Ok(xml) }],
            ..RunOutcome::new(!net_fail && !rand_fail)
        })
    }
}

fn opts(seed: u64) -> Options {
    Options { factors: FactorSet::all().without(Factor::Rand), seed, ..Options::default() }
}

fn test<'a>(r: &'a Report, name: &str) -> &'a TestReport {
    r.tests.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no test {name}"))
}

#[test]
fn mixed_suite_gets_a_verdict_per_test() {
    for seed in 0..10 {
        let mut runner = mixed_suite(seed);
        let rep = diagnose(&["pytest".into()], &opts(seed), &mut runner, &mut |_| {}).expect("diagnosis");
        assert_eq!(rep.tests.len(), 3);
        let net = test(&rep, "tests/test_net.py::test_fetch");
        assert_eq!(net.verdict, Verdict::Environment, "seed {seed}: {}", net.summary);
        assert_eq!((net.factors[0].factor, net.factors[0].effect), (Factor::Net, Effect::Fixes));
        assert_eq!(net.conditions.len(), 6);
        let rand = test(&rep, "tests/test_rand.py::test_shuffle");
        assert_eq!(rand.verdict, Verdict::Intrinsic, "seed {seed}: {}", rand.summary);
        assert!(rand.factors.is_empty());
        let ok = test(&rep, "tests/test_ok.py::test_add");
        assert_eq!((ok.verdict, ok.outcome), (Verdict::Stable, Some(StableOutcome::Pass)));
        // The command as a whole is flaky with everything isolated.
        assert_eq!(rep.verdict, Verdict::Intrinsic);
        // The runs went on until the net test was decided.
        assert_eq!(rep.stopped, StopReason::Decided);
    }
}

#[test]
fn malformed_and_missing_junit_are_warnings_and_crashes_count_as_failures() {
    let mut n = 0usize;
    let mut runner = |_: FactorSet, _| {
        n += 1;
        let (contents, passed) = match n % 10 {
            // Truncated XML from a run that still passed: the test is absent.
            3 => (Ok("<testsuites><testsuite name=\"pytest\"><testcase".to_string()), true),
            // The command crashed before writing: counts as a failure.
            7 => (Err("No such file or directory (os error 2)".to_string()), false),
            _ => (Ok(pytest_xml(&[case("tests.test_a", "test_a", false)])), true),
        };
        Ok(RunOutcome {
            junit: vec![JunitFile { path: "out/junit.xml".into(), contents }],
            ..RunOutcome::new(passed)
        })
    };
    let o = Options { fixed_runs: Some(10), ..opts(1) };
    let rep = diagnose(&["pytest".into()], &o, &mut runner, &mut |_| {}).expect("not fatal");
    assert!(
        rep.warnings.iter().any(|w| w.contains("out/junit.xml") && w.contains("not well-formed")),
        "{:?}",
        rep.warnings
    );
    assert!(rep.warnings.iter().any(|w| w.contains("could not read JUnit out/junit.xml")));
    let t = test(&rep, "tests/test_a.py::test_a");
    let runs: usize = t.conditions.iter().map(|c| c.runs).sum();
    let failed: usize = t.conditions.iter().map(|c| c.failed).sum();
    assert_eq!(runs, 60 - 6, "the 6 malformed files of passing runs are absent");
    assert_eq!(failed, 6, "the 6 crashed runs count as failures");
}

#[test]
fn duplicate_names_across_files_and_reruns() {
    let xml_a = pytest_xml(&[case("tests.test_d", "test_same", false)]);
    let surefire = r#"<testsuite name="com.X"><testcase classname="com.X" name="t"><flakyFailure message="m"/></testcase></testsuite>"#;
    let mut runner = |_: FactorSet, _| {
        Ok(RunOutcome {
            junit: vec![
                JunitFile { path: "a.xml".into(), contents: Ok(xml_a.clone()) },
                JunitFile { path: "b.xml".into(), contents: Ok(xml_a.clone()) },
                JunitFile { path: "c.xml".into(), contents: Ok(surefire.to_string()) },
            ],
            ..RunOutcome::new(true)
        })
    };
    let o = Options { fixed_runs: Some(4), factors: FactorSet::only(Factor::Net), ..opts(2) };
    let rep = diagnose(&["mvn".into()], &o, &mut runner, &mut |_| {}).expect("runs");
    let names: Vec<&str> = rep.tests.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["com.X::t", "tests/test_d.py::test_same", "tests/test_d.py::test_same#2"]);
    // Passed on a retry every time: the first attempts failed.
    let x = test(&rep, "com.X::t");
    assert_eq!(x.flaky_reruns, 8);
    assert_eq!((x.verdict, x.outcome), (Verdict::Stable, Some(StableOutcome::Fail)));
}

fn sample_report() -> Report {
    let mut runner = mixed_suite(3);
    diagnose(&["pytest".into(), "-q".into()], &opts(3), &mut runner, &mut |_| {}).expect("diagnosis")
}

fn net_report() -> Report {
    let mut rng = fastrand::Rng::with_seed(4);
    let mut runner = |iso: FactorSet, _| {
        let passed = iso.contains(Factor::Net) || rng.f64() < 0.6;
        let mut ev = RunObservations::default();
        ev.net_events.push(format!(
            "connect 93.184.216.34:443 {}",
            if iso.contains(Factor::Net) { "failed ENETUNREACH" } else { "ok" }
        ));
        Ok(RunOutcome { evidence: ev, ..RunOutcome::new(passed) })
    };
    diagnose(&["make".into(), "test".into()], &opts(4), &mut runner, &mut |_| {}).expect("runs")
}

#[test]
fn text_rendering_has_table_verdict_effects_and_evidence() {
    let rep = net_report();
    let text = render_text(&rep, false);
    assert!(text.contains("flakebox diagnose: make test"), "{text}");
    assert!(text.contains("condition") && text.contains("passed") && text.contains("fail rate"));
    for c in ["baseline", "net", "fs", "time", "db", "all"] {
        assert!(text.lines().any(|l| l.trim_start().starts_with(c)), "{c} row\n{text}");
    }
    assert!(text.contains("verdict: environment"), "{text}");
    assert!(text.contains("net fixes  (p = "), "{text}");
    assert!(text.contains("connect 93.184.216.34:443 ok"), "{text}");
    assert!(!text.contains('\x1b'));
    // Table columns line up: every row of the table has the same width.
    let rows: Vec<&str> =
        text.lines().skip_while(|l| !l.trim_start().starts_with("condition ")).take(7).collect();
    assert_eq!(rows.len(), 7, "{text}");
    // The lead first: the verdict and the findings before the counts.
    assert!(text.find("verdict: ") < text.find("net fixes  (p = "), "{text}");
    assert!(text.find("net fixes  (p = ") < text.find(rows[0]), "{text}");
    assert!(rows.windows(2).all(|w| w[0].len() == w[1].len()), "{rows:#?}");
    let colored = render_text(&rep, true);
    assert!(colored.contains("\x1b[1;33menvironment\x1b[0m"));
}

#[test]
fn text_rendering_lists_tests() {
    let rep = sample_report();
    let text = render_text(&rep, false);
    // The tests that are not stable come first, each with its counts; the
    // stable ones are one line.
    assert!(text.contains("tests not stable (2 of 3):"), "{text}");
    let net = text.find("tests/test_net.py::test_fetch").expect("net test shown");
    let rand = text.find("tests/test_rand.py::test_shuffle").expect("random test shown");
    let line = text.find("1 test stable: passed all ").expect("stable line");
    assert!(net < rand && rand < line, "{text}");
    assert!(text.contains("net fixes (p = "));
    assert!(text.contains(": baseline failed "), "{text}");
    assert!(text.contains("net isolated failed 0/"), "{text}");
    assert!(text.contains("or more ruled out"), "{text}");
    assert!(!text.contains("tests/test_ok.py::test_add"), "stable tests are not listed: {text}");
    assert!(!text.contains("stable (pass)"), "{text}");
    assert!(text.contains("verdict: intrinsic"));
    // --all-tests lists them.
    let all = render_text_with(&rep, RenderOptions { color: false, all_tests: true });
    assert!(all.contains("tests/test_ok.py::test_add") && all.contains("stable (pass)"), "{all}");
    let md = render_markdown_with(&rep, true);
    assert!(md.contains("`tests/test_ok.py::test_add` stable (pass)"), "{md}");
    assert!(!render_markdown(&rep).contains("tests/test_ok.py::test_add"));
    // JSON keeps every test.
    assert_eq!(rep.tests.len(), 3);
}

#[test]
fn markdown_rendering() {
    let md = render_markdown(&sample_report());
    assert!(md.starts_with("### flakebox diagnose: **intrinsic**"), "{md}");
    assert!(md.contains("| condition | runs | passed | failed |"));
    assert!(md.contains("| baseline |"));
    assert!(md.contains("`tests/test_net.py::test_fetch` | environment | net fixes"), "{md}");
    let md = render_markdown(&net_report());
    assert!(md.contains("| factor | effect | p-value | evidence |"));
    assert!(md.contains("| net | fixes |"), "{md}");
}

#[test]
fn json_has_schema_1_shape() {
    let rep = net_report();
    let text = render_json(&rep).expect("json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid json");
    assert_eq!(v["schema"], 1);
    assert_eq!(v["command"], serde_json::json!(["make", "test"]));
    assert_eq!(v["verdict"], "environment");
    assert_eq!(v["factors"][0]["factor"], "net");
    assert_eq!(v["factors"][0]["effect"], "fixes");
    assert!(v["factors"][0]["p_value"].as_f64().is_some_and(|p| p > 0.0 && p <= 0.05));
    assert!(v["factors"][0]["evidence"].as_array().is_some_and(|e| !e.is_empty()));
    assert_eq!(v["conditions"][0]["isolate"], serde_json::json!([]));
    assert_eq!(v["conditions"][1]["isolate"], serde_json::json!(["net"]));
    assert_eq!(v["conditions"][5]["isolate"], serde_json::json!(["net", "fs", "time", "db"]));
    let c = &v["conditions"][0];
    assert_eq!(
        c["runs"].as_u64(),
        Some(c["passed"].as_u64().unwrap_or(0) + c["failed"].as_u64().unwrap_or(0))
    );
    assert!(v["tests"].as_array().is_some_and(|t| t.is_empty()));
    let t = serde_json::to_value(sample_report()).expect("json");
    let first = &t["tests"][0];
    for key in ["name", "verdict", "factors", "conditions"] {
        assert!(first.get(key).is_some(), "tests[0].{key}");
    }
    // Stable: factors empty, outcome given.
    let mut pass = |_: FactorSet, _| Ok(RunOutcome::new(true));
    let rep = diagnose(&["true".into()], &opts(0), &mut pass, &mut |_| {}).expect("runs");
    let v = serde_json::to_value(&rep).expect("json");
    assert_eq!(v["verdict"], "stable");
    assert_eq!(v["outcome"], "pass");
    assert!(v["factors"].as_array().is_some_and(|f| f.is_empty()));
    assert!(v["never_failed_bound"]["max_failure_rate_95"].as_f64().is_some());
}

#[test]
fn a_test_skipped_under_isolation_does_not_keep_the_runs_going() {
    let mut rng = fastrand::Rng::with_seed(21);
    let mut runner = |iso: FactorSet, _| {
        let offline = iso.contains(Factor::Net);
        let fail = !offline && rng.f64() < 0.3;
        let online_test = if offline {
            r#"<testcase classname="tests.test_api" name="test_live"><skipped message="offline"/></testcase>"#
                .to_string()
        } else {
            case("tests.test_api", "test_live", fail)
        };
        Ok(RunOutcome {
            junit: vec![JunitFile {
                path: "r.xml".into(),
                contents: Ok(pytest_xml(&[online_test, case("tests.test_api", "test_parse", false)])),
            }],
            ..RunOutcome::new(!fail)
        })
    };
    let rep = diagnose(&["pytest".into()], &opts(21), &mut runner, &mut |_| {}).expect("runs");
    let live = test(&rep, "tests/test_api.py::test_live");
    assert_eq!(live.verdict, Verdict::Undecided, "{}", live.summary);
    assert_eq!(live.conditions[1].runs, 0, "skipped when offline: not counted");
    assert!(rep.rounds < DEFAULT_MAX_RUNS);
}
