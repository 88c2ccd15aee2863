//! `flakebox timetravel` end to end on the time-bomb suites in
//! examples/timebombs*: each bomb found at the right first instant with the
//! right label, the flaky test called flaky, a stable suite with no finding,
//! a module that fails to import on the 31st (its tests not run there), and
//! a doctest that fails when "today + 365 days" is 29 February. The suites
//! run both through run.sh with `--junit` and as the plain pytest command
//! with no wiring (per-test results from the runner layer); `--runner none`
//! probes the command as a whole.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn suite() -> PathBuf {
    examples("timebombs")
}

fn examples(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(dir)
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
    timetravel_in(&suite(), &[], files)
}

/// Run timetravel on the suite in `dir` with a fixed now (never the real
/// date) and zone, `args` before `--`.
fn timetravel_in(dir: &Path, args: &[&str], files: &[&str]) -> (Option<i32>, serde_json::Value) {
    pytest_available();
    let out = tempfile::tempdir().expect("tempdir");
    let junit = out.path().join("junit.xml");
    let mut cmd = std::process::Command::new(flakebox());
    cmd.current_dir(dir)
        .env("TZ", "Europe/Berlin")
        .env("JUNIT", &junit)
        .args(["timetravel", "--now", "2026-11-22T12:00:00Z", "--format", "json", "--junit"])
        .arg(&junit)
        .args(args)
        .args(["--", "./run.sh"])
        .args(files);
    let o = cmd.output().expect("run flakebox timetravel");
    let report = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("JSON on stdout ({e}): {}\n{}", stdout(&o), stderr(&o)));
    (o.status.code(), report)
}

/// The command run.sh runs, as a user would type it in the suite's
/// directory: no `--junitxml`, so per-test results come from the runner
/// layer alone.
fn pytest_command() -> Vec<&'static str> {
    vec!["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider"]
}

/// Run timetravel on `cmd` in `dir` with no `--junit`, a fixed now and
/// zone, `args` before `--`; returns (exit code, the report on stdout,
/// stderr).
fn timetravel_cmd(dir: &Path, args: &[&str], cmd: &[&str]) -> (Option<i32>, String, String) {
    pytest_available();
    let o = std::process::Command::new(flakebox())
        .current_dir(dir)
        .env("TZ", "Europe/Berlin")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["timetravel", "--now", "2026-11-22T12:00:00Z"])
        .args(args)
        .arg("--")
        .args(cmd)
        .output()
        .expect("run flakebox timetravel");
    (o.status.code(), stdout(&o), stderr(&o))
}

fn json_report(dir: &Path, args: &[&str], cmd: &[&str]) -> (Option<i32>, serde_json::Value) {
    let args: Vec<&str> = ["--format", "json"].iter().chain(args).copied().collect();
    let (code, out, err) = timetravel_cmd(dir, &args, cmd);
    let report = serde_json::from_str(&out).unwrap_or_else(|e| panic!("JSON on stdout ({e}): {out}\n{err}"));
    (code, report)
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
    assert_time_bombs(code, &report);
    // run.sh cannot select tests: every confirmation runs the whole suite.
    let reruns = confirmations(&report);
    assert!(!reruns.is_empty(), "{report}");
    assert!(reruns.iter().all(|(_, r)| r.get("selected").is_none() && ran(r) == 9), "{reruns:?}");
    // The report counts the probe set and what of it ran.
    let probes = report["probes"].as_array().expect("probes");
    let count = |k: &str| report["probe_counts"][k].as_u64().unwrap_or_else(|| panic!("{k}: {report}"));
    assert_eq!((count("instants") + count("zones")) as usize, probes.len(), "{report}");
    let ran_at_all = probes.iter().filter(|p| p["runs"].as_array().is_some_and(|r| !r.is_empty())).count();
    assert_eq!(count("probed") as usize, ran_at_all);
    assert!(count("first_pass") <= count("probed") && count("probed") < probes.len() as u64, "{report}");
    let runs: usize = probes.iter().filter_map(|p| p["runs"].as_array()).map(Vec::len).sum();
    assert_eq!((count("runs") as usize, count("reruns") as usize), (runs, reruns.len()));
}

#[test]
fn time_bombs_are_found_with_no_junit_wiring_through_the_runner_layer() {
    let (code, report) = json_report(&suite(), &[], &pytest_command());
    assert_time_bombs(code, &report);
    assert_eq!(report["tests"].as_array().map(Vec::len), Some(9), "every test has a finding: {report}");
    // pytest selects tests: a confirmation runs only the tests it is for
    // (never the stable ones), and pytest ran just those; now's re-run is
    // the whole suite, every test's reference.
    let stable = ["test_add_months_clamps_to_month_end", "test_elapsed_time_uses_aware_utc"];
    let reruns = confirmations(&report);
    let (now, others): (Vec<_>, Vec<_>) = reruns.iter().partition(|(label, _)| label == "now");
    assert_eq!(now.len(), 1, "{reruns:?}");
    assert!(now[0].1.get("selected").is_none() && ran(now[0].1) == 9, "{now:?}");
    assert!(!others.is_empty(), "{reruns:?}");
    for (label, r) in others {
        let selected = r["selected"].as_u64().unwrap_or_else(|| panic!("{label}: not focused: {r}"));
        assert!((1..=9 - stable.len() as u64).contains(&selected), "{label}: {r}");
        assert_eq!(ran(r), selected, "{label}: pytest ran what was selected: {r}");
    }
}

/// (probe label, run) for every confirmation re-run in a report.
fn confirmations(report: &serde_json::Value) -> Vec<(String, &serde_json::Value)> {
    let probes = report["probes"].as_array().expect("probes");
    probes
        .iter()
        .flat_map(|p| {
            let label = p["label"].as_str().unwrap_or_default().to_string();
            let runs = p["runs"].as_array().into_iter().flatten();
            runs.filter(|r| r["attempt"].as_u64() > Some(1)).map(move |r| (label.clone(), r))
        })
        .collect()
}

/// How many tests a run reported.
fn ran(run: &serde_json::Value) -> u64 {
    ["passed", "failed", "skipped"].iter().filter_map(|k| run[k].as_u64()).sum()
}

/// The findings on the timebombs suite, however its per-test results came.
fn assert_time_bombs(code: Option<i32>, report: &serde_json::Value) {
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
        let t = test(report, name);
        assert_eq!(t["verdict"], "time-dependent", "{name}: {t}");
        let first = &t["first_failure"];
        assert_eq!(first["instant"], instant, "{name}: {t}");
        assert!(first["label"].as_str().unwrap_or("").contains(label), "{name}: {t}");
        assert_eq!(first["days_from_now"], days, "{name}: {t}");
    }
    let zone = test(report, "test_bombs.py::test_export_has_utc_offset");
    assert_eq!(zone["verdict"], "zone-dependent", "{zone}");
    assert_eq!(zone["failing_zones"], serde_json::json!(["Pacific/Kiritimati"]), "{zone}");
    let flaky = test(report, "test_flaky.py::test_sampled_batch_is_large_enough");
    assert_eq!(flaky["verdict"], "flaky", "randomness is not a time bomb: {flaky}");
    for name in [
        "test_stable.py::test_add_months_clamps_to_month_end",
        "test_stable.py::test_elapsed_time_uses_aware_utc",
    ] {
        assert_eq!(test(report, name)["verdict"], "stable", "{name}");
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

#[test]
fn a_module_failing_to_import_on_the_31st_is_the_finding_and_its_tests_did_not_run() {
    let (code, report) = timetravel_in(&examples("timebombs_31st"), &["--no-zones"], &[]);
    assert_import_failure_on_the_31st(code, &report);
}

#[test]
fn a_module_failing_to_import_on_the_31st_is_found_with_no_junit_wiring() {
    let (code, report) = json_report(&examples("timebombs_31st"), &["--no-zones"], &pytest_command());
    assert_import_failure_on_the_31st(code, &report);
}

/// The findings on the timebombs_31st suite, however its per-test results came.
fn assert_import_failure_on_the_31st(code: Option<i32>, report: &serde_json::Value) {
    assert_eq!(code, Some(20), "{report}");
    assert_eq!(report["time_bombs"], 1, "only the module is a time bomb: {report}");
    let tests = report["tests"].as_array().expect("tests");
    let module = tests.iter().find(|t| t["kind"] == "module").unwrap_or_else(|| panic!("{report}"));
    assert_eq!(module["module"], "test_invoices.py", "{module}");
    assert_eq!(module["verdict"], "time-dependent", "{module}");
    assert_eq!(module["tests_not_run"], 2, "{module}");
    // 31 January (local), the first 31st followed by a shorter month; then
    // it imports again: a window per 31st, not "fails from".
    assert_eq!(module["first_failure"]["instant"], "2027-01-31T22:59:59Z", "{module}");
    assert_eq!(module["first_failure"]["days_from_now"], 70, "{module}");
    let windows = module["failing_windows"].as_array().expect("windows");
    assert!(windows.len() >= 2, "{module}");
    assert_eq!(windows[0]["from"]["instant"], "2027-01-31T22:59:59Z", "{module}");
    assert_eq!(windows[0]["to"]["instant"], "2027-01-31T22:59:59Z", "{module}");
    assert_eq!(windows[0]["passes_again"]["instant"], "2027-01-31T23:00:00Z", "{module}");

    for (name, cause) in [
        ("test_invoices.py::test_next_invoice_is_in_the_future", "import-failure"),
        ("test_invoices.py::test_next_invoice_is_within_31_days", "import-failure"),
        ("test_totals.py::test_total_of_lines", "other-import-failure"),
    ] {
        let t = test(report, name);
        assert_eq!(t["verdict"], "partly-run", "not stable: {t}");
        let not_run = t["not_run"].as_array().expect("not_run");
        let jan31 = not_run.iter().find(|n| n["instant"] == "2027-01-31T22:59:59Z");
        let jan31 = jan31.unwrap_or_else(|| panic!("{name} not run on 31 January: {t}"));
        assert_eq!(jan31["cause"], cause, "{t}");
        assert_eq!(jan31["module"], "test_invoices.py", "{t}");
        assert!(!not_run.iter().any(|n| n["instant"] == "2027-01-31T23:00:00Z"), "{t}");
    }
    assert!(!tests.iter().any(|t| t["verdict"] == "stable"), "{report}");
}

#[test]
fn runner_none_probes_the_command_as_a_whole_and_a_named_runner_is_forced_on_a_script() {
    // Now and one probe at New Year, when test_licence_is_valid fails.
    let at = ["--no-zones", "--no-instants", "--at", "2027-01-01T00:00:00Z"];
    let cmd: Vec<&str> = pytest_command().into_iter().chain(["test_bombs.py"]).collect();
    let none: Vec<&str> = at.iter().copied().chain(["--runner", "none"]).collect();
    let (code, report) = json_report(&suite(), &none, &cmd);
    assert_eq!(code, Some(20), "{report}");
    let tests = report["tests"].as_array().expect("tests");
    assert_eq!(tests.len(), 1, "one finding, the command's: {report}");
    assert_eq!(tests[0]["name"], "(command)", "{report}");
    assert_eq!(tests[0]["verdict"], "time-dependent", "{report}");
    assert_eq!(tests[0]["first_failure"]["instant"], "2027-01-01T00:00:00Z", "{report}");

    // run.sh is a script: unsure, so the command as a whole, and said so.
    let (code, out, err) = timetravel_cmd(&suite(), &at, &["./run.sh", "test_bombs.py"]);
    assert_eq!(code, Some(20), "{out}\n{err}");
    assert!(err.contains("probing the command as a whole: "), "{err}");
    assert!(!err.contains("test runner: pytest"), "{err}");

    // --runner pytest on the script: its options appended, per-test results.
    let forced: Vec<&str> = at.iter().copied().chain(["--runner", "pytest"]).collect();
    let (code, report) = json_report(&suite(), &forced, &["./run.sh", "test_bombs.py"]);
    assert_eq!(code, Some(20), "{report}");
    assert_eq!(report["tests"].as_array().map(Vec::len), Some(6), "{report}");
    let t = test(&report, "test_bombs.py::test_licence_is_valid");
    assert_eq!(t["verdict"], "time-dependent", "{t}");
    assert_eq!(t["first_failure"]["instant"], "2027-01-01T00:00:00Z", "{t}");

    // The runner is named on stderr, and a runner flakebox does not know is refused by name.
    let (_, _, err) = timetravel_cmd(&suite(), &at, &cmd);
    assert!(err.contains("test runner: pytest (per-test results; --runner none"), "{err}");
    let (code, _, err) = timetravel_cmd(&suite(), &["--runner", "nose"], &cmd);
    assert_eq!(code, Some(125), "{err}");
    assert!(err.contains("--runner: unknown test runner `nose`"), "{err}");
}

#[test]
fn a_runner_that_writes_no_results_is_a_warning_and_the_probe_is_judged_by_its_exit_status() {
    let d = scratch(Who::Root);
    let args = ["timetravel", "--now", "2026-11-22T12:00:00Z", "--no-zones", "--no-instants"];
    let args: Vec<&str> =
        args.iter().copied().chain(["--format", "json", "--runner", "pytest", "--", "true"]).collect();
    let o = run(Who::Root, d.path(), &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON report");
    assert_eq!(report["tests"][0]["name"], "(command)", "{report}");
    let warnings = report["warnings"].as_array().expect("warnings");
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.contains("no per-test results")
                && w.contains("pytest did not write its --junitxml file"))),
        "{report}"
    );
}

#[test]
fn a_doctest_failing_when_today_plus_365_days_is_29_february_is_found_by_default() {
    // No `--at`: the default probes must reach 1 March 2027.
    let (code, report) = timetravel_in(&examples("timebombs_leapyear"), &["--no-zones"], &[]);
    assert_eq!(code, Some(20), "{report}");
    let tests = report["tests"].as_array().expect("tests");
    assert_eq!(tests.len(), 1, "{report}");
    let t = &tests[0];
    assert!(t["name"].as_str().unwrap_or("").contains("licence_period"), "{t}");
    assert_eq!(t["verdict"], "time-dependent", "{t}");
    // 1 March 2027 in Berlin: from its first second (23:00Z the day before)
    // to the offset-crossing probe at 00:00Z; 2 March passes again.
    let windows = t["failing_windows"].as_array().expect("windows");
    assert_eq!(windows.len(), 1, "{t}");
    assert_eq!(windows[0]["from"]["instant"], "2027-02-28T23:00:00Z", "{t}");
    assert_eq!(windows[0]["to"]["instant"], "2027-03-01T00:00:00Z", "{t}");
    assert!(windows[0]["to"]["label"].as_str().unwrap_or("").contains("today +365 days = 2028-02-29"), "{t}");
    assert_eq!(windows[0]["passes_again"]["instant"], "2027-03-02T00:00:00Z", "{t}");
    assert_eq!(t["first_failure"]["days_from_now"], 99, "{t}");
}

/// `--tmp-size` reaches every probe's sandbox: each sees its /tmp limited.
#[test]
fn tmp_size_reaches_every_probe() {
    let check = ["sh", "-c", "grep -q ' /tmp tmpfs .*size=8192k' /proc/mounts"];
    for who in BOTH {
        let d = scratch(who);
        for (size, seen) in [(None, false), (Some("8m"), true)] {
            let mut args = vec!["timetravel", "--format", "json", "--no-zones", "--no-instants"];
            args.extend(["--at", "2030-01-01"]);
            if let Some(size) = size {
                args.extend(["--tmp-size", size]);
            }
            args.push("--");
            args.extend(check);
            let o = run(who, d.path(), &args);
            let report: serde_json::Value = serde_json::from_str(&stdout(&o))
                .unwrap_or_else(|e| panic!("{who:?}: JSON on stdout ({e}): {}", stderr(&o)));
            let probes = report["probes"].as_array().expect("probes");
            assert_eq!(probes.len(), 2, "{who:?}: {report}");
            for p in probes {
                let run = &p["runs"][0];
                assert_eq!(run["passed"], u64::from(seen), "{who:?} {size:?}: {p}");
                assert_eq!(run["failed"], u64::from(!seen), "{who:?} {size:?}: {p}");
            }
        }
    }
}
