//! `flakebox timetravel` end to end on the time-bomb suite in
//! examples/timebombs: each bomb found at the right first instant with the
//! right label, the flaky test called flaky, a stable suite with no finding.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/timebombs")
}

fn pytest_available() {
    let ok = std::process::Command::new("python3")
        .args(["-m", "pytest", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "python3 -m pytest is needed (CI installs it: pip install pytest)");
}

/// Run timetravel on the suite (optionally on some of its files) with a
/// fixed now and zone; returns (exit code, the JSON report).
fn timetravel(files: &[&str]) -> (Option<i32>, serde_json::Value) {
    pytest_available();
    let out = tempfile::tempdir().expect("tempdir");
    let junit = out.path().join("junit.xml");
    let mut cmd = std::process::Command::new(flakebox());
    cmd.current_dir(suite())
        .env("TZ", "Europe/Berlin")
        .env("JUNIT", &junit)
        .args(["timetravel", "--now", "2026-11-22T12:00:00Z", "--format", "json", "--junit"])
        .arg(&junit)
        .args(["--", "./run.sh"])
        .args(files);
    let o = cmd.output().expect("run flakebox timetravel");
    let report = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("JSON on stdout ({e}): {}\n{}", stdout(&o), stderr(&o)));
    (o.status.code(), report)
}

fn test<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["tests"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == name))
        .unwrap_or_else(|| panic!("no test {name} in {report}"))
}

#[test]
fn time_bombs_are_found_with_first_instant_and_label() {
    let (code, report) = timetravel(&[]);
    assert_eq!(code, Some(20), "time bombs found: {report}");
    assert_eq!(report["time_bombs"], 6, "{report}");
    let bombs = [
        ("test_bombs.py::test_licence_is_valid", "2027-01-01T00:00:00Z", "next New Year", 40),
        ("test_bombs.py::test_renewal_is_one_year_later", "2028-02-29T00:00:00Z", "leap day", 464),
        (
            "test_bombs.py::test_nightly_job_runs_every_24_hours",
            "2027-03-28T00:59:59Z",
            "DST start in Europe/Berlin",
            126,
        ),
        (
            "test_bombs.py::test_token_is_charged_to_the_day_it_was_issued",
            "2026-11-22T23:59:59Z",
            "UTC midnight",
            1,
        ),
        ("test_bombs.py::test_record_header_is_five_bytes", "2038-01-19T03:14:08Z", "2038", 4076),
    ];
    for (name, instant, label, days) in bombs {
        let t = test(&report, name);
        assert_eq!(t["verdict"], "time-dependent", "{name}: {t}");
        let first = &t["first_failure"];
        assert_eq!(first["instant"], instant, "{name}: {t}");
        assert!(first["label"].as_str().unwrap_or("").contains(label), "{name}: {t}");
        assert_eq!(first["days_from_now"], days, "{name}: {t}");
    }
    let zone = test(&report, "test_bombs.py::test_export_has_utc_offset");
    assert_eq!(zone["verdict"], "zone-dependent", "{zone}");
    assert_eq!(zone["zones"], serde_json::json!(["Pacific/Kiritimati"]), "{zone}");
    let flaky = test(&report, "test_flaky.py::test_sampled_batch_is_large_enough");
    assert_eq!(flaky["verdict"], "flaky", "randomness is not a time bomb: {flaky}");
    for name in [
        "test_stable.py::test_add_months_clamps_to_month_end",
        "test_stable.py::test_elapsed_time_uses_aware_utc",
    ] {
        assert_eq!(test(&report, name)["verdict"], "stable", "{name}");
    }
}

#[test]
fn a_stable_suite_has_no_finding() {
    let (code, report) = timetravel(&["test_stable.py"]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["time_bombs"], 0, "{report}");
    let tests = report["tests"].as_array().expect("tests");
    assert_eq!(tests.len(), 2, "{report}");
    assert!(tests.iter().all(|t| t["verdict"] == "stable"), "{report}");
}

#[test]
fn bad_instants_and_zones_are_refused_by_name() {
    let d = scratch(Who::Root);
    let o = run(Who::Root, d.path(), &["timetravel", "--at", "next tuesday", "--", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("next tuesday"), "{}", stderr(&o));
    let o = run(Who::Root, d.path(), &["timetravel", "--zones", "UTC,Mars/Olympus", "--", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("Mars/Olympus"), "{}", stderr(&o));
}
