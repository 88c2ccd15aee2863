//! The order factor in the verdict, end to end with real pytest on
//! examples/order/pytest: `--factors order` gives `environment` with an
//! `order` entry in `factors` naming the polluter, the JSON fields of the
//! schema and the order section; `--test` names a test to examine, and a
//! name the suite lacks is a usage error; order under `--shard` is refused
//! with what to do instead.

mod common;

use common::*;
use diagnose::{Effect, Report, Verdict};
use factors::Factor;
use std::path::Path;

/// A copy of examples/order/pytest in a fresh scratch directory: the
/// runs see it through their copy-on-write layer.
fn pytest_suite() -> tempfile::TempDir {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/order/pytest");
    let dir = scratch(Who::Root);
    for e in std::fs::read_dir(&src).expect("example dir").filter_map(Result::ok) {
        if e.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::copy(e.path(), dir.path().join(e.file_name())).expect("copy example file");
        }
    }
    dir
}

const STABLE: &str = "test_c_victims.py::test_stable";
const VICTIM: &str = "test_c_victims.py::test_greeting";
const POLLUTER: &str = "test_a_polluters.py::test_patches_greet";

#[test]
fn order_alone_is_an_environment_verdict_naming_the_polluter() {
    let dir = pytest_suite();
    let args = ["diagnose", "--format", "json", "--factors", "order", "--seed", "11", "--test", STABLE, "--"];
    let mut args = args.to_vec();
    args.extend(["python3", "-m", "pytest", "-q"]);
    let out = run(Who::Root, dir.path(), &args);
    let ctx = format!("exit {:?}\n{}", out.status.code(), stderr(&out));
    assert_eq!(out.status.code(), Some(10), "{ctx}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON report");
    let r: Report = serde_json::from_value(json.clone()).expect("a report");
    assert_eq!(r.verdict, Verdict::Environment, "{}", r.summary);
    assert!(r.summary.contains(&format!("{VICTIM} (victim of {POLLUTER})")), "{}", r.summary);
    // The top-level entry: a victim that passes alone, fixed by running it
    // without what ran before it; its test and polluter among the evidence.
    let f = &r.factors[0];
    assert_eq!((f.factor, f.effect), (Factor::Order, Effect::Fixes), "{:?}", r.factors);
    assert!(f.p_value <= r.alpha && f.isolated.failed == 0 && f.baseline.failed > 0, "{f:?}");
    assert!(f.evidence.iter().any(|e| e.starts_with("test: ")), "{f:?}");
    assert!(f.evidence.iter().any(|e| e.starts_with("polluter: ")), "{f:?}");
    assert!(f.evidence.iter().any(|e| e.starts_with("replay: flakebox run -- python3 -m pytest")), "{f:?}");
    // The victim's own verdict, with the same p-value as its order section.
    let t = r.tests.iter().find(|t| t.name == VICTIM).expect("the victim's verdict");
    assert_eq!(
        (t.verdict, t.factors[0].factor, t.factors[0].effect),
        (Verdict::Environment, Factor::Order, Effect::Fixes)
    );
    assert!(t.factors[0].evidence.contains(&format!("polluter: {POLLUTER}")), "{t:?}");
    let section = r.order.as_ref().expect("order section");
    let o = section.tests.iter().find(|o| o.name == VICTIM).expect("in the order section");
    assert_eq!(o.p_value, t.factors[0].p_value);
    // The schema's names, in the JSON itself.
    assert_eq!(json["verdict"], "environment");
    assert_eq!(json["factors"][0]["factor"], "order");
    assert_eq!(json["factors"][0]["effect"], "fixes");
    assert!(json["factors"][0]["p_value"].as_f64().is_some_and(|p| p <= 0.05));
    let jt =
        json["tests"].as_array().and_then(|ts| ts.iter().find(|t| t["name"] == VICTIM)).expect("json test");
    assert_eq!((&jt["verdict"], &jt["factors"][0]["factor"]), (&"environment".into(), &"order".into()));
    let jo = json["order"]["tests"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["name"] == VICTIM))
        .expect("order");
    for key in ["effect", "polluters", "state", "replay", "search_runs", "p_value"] {
        assert!(!jo[key].is_null(), "order.tests[].{key} missing: {jo}");
    }
    assert!(json["order"]["runs"].as_u64().is_some_and(|n| n > 0));
    // The named test was examined although no run failed it: no effect,
    // a stable pass.
    let s = section.tests.iter().find(|o| o.name == STABLE).expect("the named test examined");
    assert_eq!(s.effect, diagnose::order::OrderEffect::None, "{s:?}");
    let st = r.tests.iter().find(|t| t.name == STABLE).expect("its verdict");
    assert_eq!(st.verdict, Verdict::Stable, "{st:?}");
    assert!(st.factors.is_empty() && st.analysis.iter().any(|a| a.factor == Factor::Order), "{st:?}");
    // The text report: the factor line and its evidence.
    let text = diagnose::render_text(&r, false);
    assert!(text.contains("order fixes") && text.contains("in the suite's order failed"), "{text}");
}

#[test]
fn a_test_the_suite_does_not_have_is_a_usage_error_naming_it() {
    let dir = pytest_suite();
    let args = ["diagnose", "--factors", "order", "--test", "test_c_victims.py::test_nope", "--"];
    let mut args = args.to_vec();
    args.extend(["python3", "-m", "pytest", "-q"]);
    let out = run(Who::Root, dir.path(), &args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--test: no test named `test_c_victims.py::test_nope`")
            && err.contains("runner's own id")
            && err.contains("test_a_polluters.py::"),
        "{err}"
    );
    // Without order, --test has nothing to name.
    let out = run(Who::Root, dir.path(), &["diagnose", "--test", STABLE, "--", "python3", "-m", "pytest"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("add order to --factors"), "{err}");
}

#[test]
fn order_under_shards_is_refused_with_what_to_do() {
    let dir = scratch(Who::Root);
    let part = dir.path().join("part.json");
    let part = part.to_str().expect("utf-8 path");
    let args = [
        "diagnose",
        "--factors",
        "fs,order",
        "--shard",
        "1/2",
        "--plan-id",
        "abc",
        "--runs",
        "4",
        "--out",
        part,
        "--",
        "python3",
        "-m",
        "pytest",
    ];
    let out = run(Who::Root, dir.path(), &args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--factors order cannot be sharded")
            && err.contains("chooses each run from the outcome of the one before")
            && err.contains("flakebox merge")
            && err.contains("flakebox diagnose --factors order"),
        "{err}"
    );
    assert!(!Path::new(part).exists(), "a refused shard wrote its part");
}

/// With an environment factor: the victims (failing only in the whole
/// suite, never with the suspects alone) get their verdict from order, and
/// each test's order p-value is Holm's in one family with its fs p-value.
#[test]
fn order_with_an_environment_factor_shares_each_tests_holm_family() {
    let dir = pytest_suite();
    let args = ["diagnose", "--format", "json", "--factors", "fs,order", "--seed", "11", "--"];
    let mut args = args.to_vec();
    args.extend(["python3", "-m", "pytest", "-q"]);
    let out = run(Who::Root, dir.path(), &args);
    let ctx = format!("exit {:?}\n{}", out.status.code(), stderr(&out));
    assert_eq!(out.status.code(), Some(10), "{ctx}");
    let r: Report = serde_json::from_slice(&out.stdout).expect("one JSON report");
    assert_eq!((r.verdict, r.factors[0].factor), (Verdict::Environment, Factor::Order), "{}", r.summary);
    let t = r.tests.iter().find(|t| t.name == VICTIM).expect("the victim's verdict");
    assert_eq!(
        (t.verdict, t.factors[0].factor, t.factors[0].effect),
        (Verdict::Environment, Factor::Order, Effect::Fixes)
    );
    let a = |f: Factor| t.analysis.iter().find(|a| a.factor == f).unwrap_or_else(|| panic!("{f} in {t:?}"));
    let (fs, order) = (a(Factor::Fs), a(Factor::Order));
    let joint = diagnose::order_verdict::holm_in_family(order.p_unadjusted, &[fs.p_unadjusted]);
    // (JSON keeps a float to its last digit or so.)
    assert!((order.p_value - joint).abs() <= 1e-12 * joint.max(1e-300), "{joint}: {t:?}");
    assert!(order.p_value <= r.alpha && order.p_value >= order.p_unadjusted, "{t:?}");
    // The polluters themselves pass everywhere: no order entry, no verdict change.
    let p = r.tests.iter().find(|t| t.name == POLLUTER).expect("the polluter's verdict");
    assert_eq!(p.verdict, Verdict::Stable, "{p:?}");
}
