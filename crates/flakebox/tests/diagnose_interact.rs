//! End-to-end tests of issue 18's evidence ranking, factor pruning and
//! interactions: real pytest, real sandboxes, a real PostgreSQL.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

fn diagnose(args: &[&str]) -> (Output, Value) {
    let mut all = vec!["diagnose", "--format", "json"];
    all.extend_from_slice(args);
    let o = run(Who::Root, &repo(), &all);
    let r: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("stdout is not JSON ({e}); exit {:?}\n{}\n{}", o.status.code(), stdout(&o), stderr(&o))
    });
    (o, r)
}

fn factor<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["factors"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["factor"] == name))
        .unwrap_or_else(|| panic!("no factor {name} in {}", r["factors"]))
}

/// pytest without `-s` captures output in temporary files under /tmp, which
/// leaves the /tmp directory itself in the layer: a directory, never
/// pollution. The state the tests leave in `$HOME` and the working
/// directory is named first.
#[test]
fn pytest_capture_files_are_not_evidence_and_the_culprit_comes_first() {
    let (o, r) = diagnose(&[
        "--factors",
        "fs",
        "--runs",
        "6",
        "--",
        "python3",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "examples/python/cwdhome",
    ]);
    let ctx = format!("{}\n{}", stderr(&o), r["factors"]);
    assert_eq!(r["verdict"], "environment", "{ctx}");
    let ev: Vec<String> = factor(&r, "fs")["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .map(|l| l.as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        ev[0].contains("wrote ") && (ev[0].contains("state.json") || ev[0].contains("export/report.csv")),
        "the state the tests leave comes first: {ev:?}"
    );
    assert!(ev[0].contains("5 of 5 later baseline runs failed"), "{ev:?}");
    assert!(!ev.iter().any(|l| l.contains(" /tmp/ ") || l.contains("wrote /tmp ")), "{ev:?}");
}

/// A command that never connects to a database: the db factor gets its
/// first round only (one throwaway PostgreSQL per db-isolated condition),
/// and the report says why. One that connects keeps it.
#[test]
fn a_command_that_never_uses_a_database_gets_no_db_runs_after_the_first_round() {
    // Adaptive (pruning is: `--runs N` runs every condition N times).
    let args = [
        "--factors",
        "fs,db",
        "--max-runs",
        "10",
        "--min-runs",
        "2",
        "--",
        "examples/shell/tmp_pollution.sh",
    ];
    let (o, r) = diagnose(&args);
    let ctx = format!("{}\n{}", stderr(&o), r);
    assert_eq!(r["verdict"], "environment", "{ctx}");
    assert_eq!(r["pruned"][0]["factor"], "db", "{ctx}");
    assert_eq!(r["pruned"][0]["after_rounds"], 1, "{ctx}");
    let reason = r["pruned"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("no connection to the throwaway database in the 2 db-isolated runs"), "{ctx}");
    let runs = |iso: Value| {
        r["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["isolate"] == iso))
            .map(|c| c["runs"].clone())
    };
    assert_eq!(runs(serde_json::json!(["db"])), Some(1.into()), "{ctx}");
    let db = r["analysis"].as_array().and_then(|a| a.iter().find(|f| f["factor"] == "db")).expect("db");
    assert_eq!(db["status"], "none", "{ctx}");
    assert!(db["evidence"].to_string().contains("(2 runs)"), "only the runs with a database: {ctx}");
    assert_eq!(
        runs(serde_json::json!(["fs", "db"])),
        runs(serde_json::json!([])),
        "all goes on, db shared: {ctx}"
    );

    let psql = "psql -Atc 'select 1' >/dev/null; true";
    let (o, r) = diagnose(&["--factors", "db", "--max-runs", "2", "--min-runs", "2", "--", "sh", "-c", psql]);
    assert!(r["pruned"].is_null(), "{}\n{r}", stderr(&o));
    assert_eq!(r["conditions"][1]["runs"], 2, "{r}");
}

/// A failure that needs both a file an earlier run left in `$HOME` and a
/// clock that moved: isolating either fixes it; the report says both are
/// needed, that fs's evidence (the file) points at the cause and that time
/// only masks it. The host's home is left as it was.
#[test]
fn a_failure_needing_a_leftover_file_and_a_moving_clock_is_reported_as_an_interaction() {
    let home_entry = std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".cache/flakebox-example-file-and-clock"))
        .expect("HOME");
    let existed = home_entry.exists();
    let (o, r) = diagnose(&["--factors", "fs,time", "--", "examples/python/file_and_clock/run.sh"]);
    let ctx = format!("{}\n{}", stderr(&o), r);
    assert_eq!(r["verdict"], "environment", "{ctx}");
    assert_eq!(factor(&r, "fs")["effect"], "fixes", "{ctx}");
    assert_eq!(factor(&r, "time")["effect"], "fixes", "{ctx}");
    let i = &r["interaction"];
    assert_eq!(i["combination"], "all_needed", "{ctx}");
    let role = |f: &str| role_in(i, f);
    assert_eq!(role("fs"), Some("cause".into()), "{ctx}");
    assert_eq!(role("time"), Some("masks".into()), "{ctx}");
    let summary = i["summary"].as_str().unwrap_or_default();
    assert!(summary.contains(".cache/flakebox-example-file-and-clock/report.csv"), "{ctx}");
    assert!(summary.contains("time only masks it"), "{ctx}");
    assert_eq!(home_entry.exists(), existed, "diagnose left the user's home as it was");
}

/// Focused reruns of a real pytest suite: one test needs both a file an
/// earlier run left in `$HOME` and a moving clock, one only the file, one
/// only the clock. The interaction is the first test's own (its leave-one-out
/// conditions run only it); the other two are two findings, never an
/// interaction.
#[test]
fn interactions_are_per_test_in_focused_reruns() {
    let home_entry = std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".cache/flakebox-example-interaction-per-test"))
        .expect("HOME");
    let existed = home_entry.exists();
    // From the suite's directory: its pytest.ini makes it pytest's rootdir,
    // and the focused reruns select tests by ids relative to it.
    let dir = repo().join("examples/python/interaction_per_test");
    // --keep-unused: net (never used) stays, so the leave-one-out conditions
    // are new ones (everything but fs: net and time), not the single factors'.
    let args = [
        "diagnose",
        "--format",
        "json",
        "--keep-unused",
        "--factors",
        "net,fs,time",
        "--",
        "python3",
        "-m",
        "pytest",
    ];
    let o = run(Who::Root, &dir, &[&args[..], &["-q", "-p", "no:cacheprovider"]].concat());
    let r: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}); exit {:?}\n{}", o.status.code(), stderr(&o)));
    let ctx = format!("{}\n{}", stderr(&o), r);
    assert_eq!(r["verdict"], "environment", "{ctx}");
    assert!(r["screening"].is_object(), "focused reruns: {ctx}");
    assert!(r["interaction"].is_null(), "no interaction across tests: {ctx}");
    let test = |suffix: &str| {
        r["tests"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["name"].as_str().is_some_and(|n| n.ends_with(suffix))))
            .unwrap_or_else(|| panic!("no test {suffix}: {ctx}"))
    };
    let claimed = |t: &Value| -> Vec<String> {
        t["factors"]
            .as_array()
            .map(|fs| fs.iter().map(|f| f["factor"].as_str().unwrap_or_default().to_string()).collect())
            .unwrap_or_default()
    };
    let export = test("::test_export_is_new");
    assert_eq!(claimed(export), ["fs"], "{ctx}");
    assert!(export["interaction"].is_null(), "{ctx}");
    let clock = test("::test_request_time_is_constant");
    assert_eq!(claimed(clock), ["time"], "{ctx}");
    assert!(clock["interaction"].is_null(), "{ctx}");
    let both = test("::test_report_is_from_this_run");
    let i = &both["interaction"];
    assert_eq!(i["combination"], "all_needed", "{ctx}");
    let role = |f: &str| role_in(i, f);
    assert_eq!(role("fs"), Some("cause".into()), "{ctx}");
    assert_eq!(role("time"), Some("masks".into()), "{ctx}");
    let summary = i["summary"].as_str().unwrap_or_default();
    // The suite writes its two files in the same runs: the association
    // names the directory's state, whichever file comes first.
    assert!(summary.contains("/.cache/flakebox-example-interaction-per-test/"), "{summary}\n{ctx}");
    // The leave-one-out conditions ran, and only for it: the other tests
    // have no runs there.
    let loo: Vec<&Value> = r["conditions"]
        .as_array()
        .map(|cs| {
            cs.iter().filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with("all but"))).collect()
        })
        .unwrap_or_default();
    assert_eq!(loo.len(), 2, "{ctx}");
    let runs_in = |t: &Value, name: &Value| {
        t["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == *name))
            .map(|c| c["runs"].as_u64().unwrap_or(0))
            .unwrap_or(0)
    };
    for c in loo {
        assert!(runs_in(both, &c["name"]) > 0, "{ctx}");
        assert_eq!(runs_in(export, &c["name"]), 0, "{ctx}");
        assert_eq!(runs_in(clock, &c["name"]), 0, "{ctx}");
    }
    assert_eq!(home_entry.exists(), existed, "diagnose left the user's home as it was");
}

/// The role (cause, masks, ...) an interaction gives factor `f`.
fn role_in(interaction: &Value, f: &str) -> Option<Value> {
    interaction["factors"]
        .as_array()
        .and_then(|v| v.iter().find(|x| x["factor"] == f))
        .map(|x| x["role"].clone())
}
