//! End-to-end tests of sharded diagnosis (issue 16): N shards, each a
//! separate `flakebox diagnose --shard K/N` process, merged with `flakebox
//! merge`, give the verdicts of one `flakebox diagnose` of the same total
//! rounds, per test too; missing, duplicated and foreign parts are named.

mod common;

use common::*;
use diagnose::{Report, Status, Verdict};
use std::path::Path;
use std::process::Output;

const ROUNDS: usize = 8;
const TIME: &str = "2026-01-01T12:00:00Z";

/// A suite of two tests: `t::clock_moves` fails when the wall clock stands
/// still (time isolated), `t::ok` always passes. Deterministic, so every
/// way of splitting the rounds must give the same verdicts.
const SUITE: &str = r#"#!/bin/sh
a=$(date +%s%N); b=$(date +%s%N)
if [ "$a" != "$b" ]; then
  clock='<testcase classname="t" name="clock_moves"/>'; code=0
else
  clock='<testcase classname="t" name="clock_moves"><failure message="the clock stands still"/></testcase>'; code=1
fi
printf '<testsuite name="t">%s<testcase classname="t" name="ok"/></testsuite>\n' "$clock" > junit.xml
exit $code
"#;

fn setup(who: Who) -> tempfile::TempDir {
    let dir = scratch(who);
    let script = dir.path().join("suite.sh");
    std::fs::write(&script, SUITE).expect("write suite");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    if who == Who::Nobody {
        std::os::unix::fs::chown(&script, Some(NOBODY), Some(NOBODY)).expect("chown");
    }
    dir
}

fn diag_args(extra: &[&str]) -> Vec<String> {
    let runs = ROUNDS.to_string();
    let mut v: Vec<String> =
        ["diagnose", "--factors", "time,net", "--runs", &runs, "--time", TIME, "--junit", "junit.xml"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v.extend(["--", "./suite.sh"].iter().map(|s| s.to_string()));
    v
}

fn run_strs(who: Who, cwd: &Path, args: &[String], env: &[(&str, String)]) -> Output {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = command(who, cwd, &refs);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("spawn flakebox")
}

fn report(o: &Output) -> Report {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("not a JSON report ({e}); exit {:?}\n{}\n{}", o.status.code(), stdout(o), stderr(o))
    })
}

/// Shards 1..=n of plan `id`, one process each; `by_env` gives the shard
/// through GitLab's variables instead of `--shard`. The parts' names.
fn run_shards(who: Who, cwd: &Path, id: &str, n: usize, by_env: bool) -> Vec<String> {
    let mut parts = Vec::new();
    for k in 1..=n {
        let out = format!("part-{id}-{k}.json");
        let spec = format!("{k}/{n}");
        let (extra, env) = if by_env {
            (
                vec!["--plan-id", id, "--out", &out],
                vec![("CI_NODE_INDEX", k.to_string()), ("CI_NODE_TOTAL", n.to_string())],
            )
        } else {
            (vec!["--shard", &spec, "--plan-id", id, "--out", &out], Vec::new())
        };
        let o = run_strs(who, cwd, &diag_args(&extra), &env);
        assert_eq!(o.status.code(), Some(0), "shard {spec} as {who:?}:\n{}", stderr(&o));
        assert!(cwd.join(&out).exists(), "shard {spec} wrote no part");
        parts.push(out);
    }
    parts
}

fn merge(who: Who, cwd: &Path, format: &str, parts: &[String]) -> Output {
    let mut args = vec!["merge".to_string(), "--format".into(), format.into()];
    args.extend(parts.iter().cloned());
    run_strs(who, cwd, &args, &[])
}

/// The decisions of a report, without what differs between ways of running
/// it (wall times, seeds, the shards section).
fn verdicts(r: &Report) -> String {
    let mut s = format!("{:?} {:?}\n", r.verdict, r.outcome);
    for c in &r.conditions {
        s += &format!("  {} {}/{}\n", c.name, c.failed, c.runs);
    }
    for a in &r.analysis {
        s += &format!("  {} {:?} p={} {:?} {:?}\n", a.factor, a.status, a.p_value, a.baseline, a.isolated);
    }
    for t in &r.tests {
        s += &format!("  test {} {:?} {:?}", t.name, t.verdict, t.outcome);
        for a in &t.analysis {
            s += &format!(" {}:{:?}:{}", a.factor, a.status, a.p_value);
        }
        s += "\n";
    }
    s
}

#[test]
fn merged_shards_give_the_verdicts_of_one_diagnosis() {
    let dir = setup(Who::Root);
    let cwd = dir.path();
    let one = run_strs(Who::Root, cwd, &diag_args(&["--format", "json"]), &[]);
    let one = report(&one);
    assert_eq!(one.verdict, Verdict::Environment);
    let time = one.analysis.iter().find(|a| a.factor.name() == "time").expect("time analysed");
    assert_eq!(time.status, Status::Breaks);
    assert_eq!(one.tests.len(), 2, "{:#?}", one.tests);
    let want = verdicts(&one);
    for n in [1, 3, 8] {
        let parts = run_shards(Who::Root, cwd, &format!("n{n}"), n, false);
        let o = merge(Who::Root, cwd, "json", &parts);
        assert_eq!(o.status.code(), Some(10), "merge of {n}:\n{}", stderr(&o));
        let merged = report(&o);
        assert_eq!(verdicts(&merged), want, "{n} shards");
        assert_eq!(merged.rounds, ROUNDS);
        let s = merged.shards.as_ref().expect("shards section");
        assert_eq!((s.shards, s.present.len(), s.missing.len()), (n, n, 0));
    }
}

#[test]
fn shards_as_nobody_from_gitlab_variables_merge_to_markdown() {
    let dir = setup(Who::Nobody);
    let cwd = dir.path();
    let parts = run_shards(Who::Nobody, cwd, "gl", 3, true);
    let o = merge(Who::Nobody, cwd, "markdown", &parts);
    assert_eq!(o.status.code(), Some(10), "{}", stderr(&o));
    let md = stdout(&o);
    assert!(md.starts_with("### flakebox diagnose: **environment**"), "{md}");
    assert!(md.contains("| time | breaks |"), "{md}");
    assert!(md.contains("3 of 3 shards merged, 8 of 8 rounds"), "{md}");
    assert!(md.contains("`t::clock_moves`"), "{md}");

    // The merged report as HTML: one grid cell a pooled run.
    let mut args: Vec<String> =
        ["merge", "--format", "json", "--html", "merged.html"].map(String::from).into();
    args.extend(parts.iter().cloned());
    let o = run_strs(Who::Nobody, cwd, &args, &[]);
    let merged = report(&o);
    let html = std::fs::read_to_string(cwd.join("merged.html")).expect("merge --html wrote the page");
    assert_eq!(html.matches("<td class=\"run ").count(), merged.runs_total, "{html}");
}

#[test]
fn missing_duplicated_and_foreign_parts_are_named() {
    let dir = setup(Who::Root);
    let cwd = dir.path();
    let parts = run_shards(Who::Root, cwd, "p", 3, false);

    // Missing: named, and the rest still reported.
    let o = merge(Who::Root, cwd, "text", &[parts[0].clone(), parts[2].clone()]);
    assert_eq!(o.status.code(), Some(10), "{}", stderr(&o));
    assert!(stderr(&o).contains("shard 2/3 is missing"), "{}", stderr(&o));
    assert!(stdout(&o).contains("2 of 3 shards merged"), "{}", stdout(&o));

    // Duplicated: refused, both files named.
    let o = merge(Who::Root, cwd, "text", &[parts[0].clone(), parts[1].clone(), parts[0].clone()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("shard 1/3 is given twice"), "{}", stderr(&o));
    assert!(o.stdout.is_empty());

    // Another plan: refused by the field that differs.
    let other = run_shards(Who::Root, cwd, "q", 3, false);
    let o = merge(Who::Root, cwd, "text", &[parts[0].clone(), other[1].clone(), parts[2].clone()]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("part-q-2.json belongs to another plan: its plan_id is q"), "{e}");

    // Not a part at all.
    std::fs::write(cwd.join("report.json"), "{\"schema\":1}").expect("write");
    let o = merge(Who::Root, cwd, "text", &["report.json".to_string()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("report.json: its format is"), "{}", stderr(&o));
}

#[test]
fn bad_shard_options_are_named_with_the_fix() {
    let dir = setup(Who::Root);
    let cwd = dir.path();
    let cases: [(&[&str], &str); 5] = [
        (
            &["--shard", "4/3", "--plan-id", "x", "--out", "p.json"],
            "--shard `4/3`: shard 4 of 3 does not exist",
        ),
        (&["--shard", "2/3"], "--plan-id"),
        (
            &["--shard", "1/9", "--plan-id", "x", "--out", "p.json"],
            "--runs 8 is fewer rounds than the plan's 9 shards",
        ),
        (&["--plan-id", "x", "--out", "p.json"], "which shard is this?"),
        (&["--shard-count", "3", "--plan-id", "x", "--out", "p.json"], "which shard is this?"),
    ];
    for (extra, want) in cases {
        let o = run_strs(Who::Root, cwd, &diag_args(extra), &[]);
        assert_ne!(o.status.code(), Some(0), "{extra:?}");
        assert!(stderr(&o).contains(want), "{extra:?}: {}", stderr(&o));
        assert!(!cwd.join("p.json").exists());
    }
    // Without --runs: a shard needs a fixed number of rounds.
    let o = run_strs(
        Who::Root,
        cwd,
        &["diagnose", "--shard", "1/2", "--plan-id", "x", "--out", "p.json", "--", "./suite.sh"]
            .map(String::from),
        &[],
    );
    assert!(stderr(&o).contains("add --runs R"), "{}", stderr(&o));
}

/// A real test runner's per-test results merge too: pytest's suite (no
/// `--junit`: the adapter reads them) in 2 shards gives each test the
/// verdict one diagnosis gives it. `test_leaves_marker` fails from a
/// condition's second run on (state left behind), so each shard needs
/// several rounds to show it.
#[test]
fn pytest_per_test_results_merge() {
    let have = std::process::Command::new("python3").args(["-m", "pytest", "--version"]).output();
    assert!(have.is_ok_and(|o| o.status.success()), "needs pytest: pip install pytest");
    // Canonical: the marker's path must resolve in the sandbox too, where
    // only the working directory of a checkout under /tmp is visible (not
    // crates/flakebox, which a `..` path would pass through).
    let cwd = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/runners/pytest")
        .canonicalize()
        .expect("examples/runners/pytest");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let parts_dir =
        tempfile::Builder::new().prefix("flakebox-shards-parts-").tempdir_in(target).expect("tempdir");
    let mut verdicts_of = Vec::new();
    for n in [1, 2] {
        // A fresh marker directory per diagnosis, in the working directory:
        // isolating fs keeps it visible wherever the checkout is (the build's
        // scratch may lie under /tmp, which fs isolation gives fresh).
        let state =
            tempfile::Builder::new().prefix("flakebox-shards-state-").tempdir_in(&cwd).expect("tempdir");
        let mut parts = Vec::new();
        for k in 1..=n {
            let out = parts_dir.path().join(format!("pytest-{n}-{k}.json")).display().to_string();
            let spec = format!("{k}/{n}");
            let args = [
                "diagnose",
                "--factors",
                "fs",
                "--runs",
                "8",
                "--shard",
                &spec,
                "--plan-id",
                "pytest",
                "--out",
                &out,
                "--",
                "python3",
                "-m",
                "pytest",
            ];
            let mut c = command(Who::Root, &cwd, &args);
            c.env("FLAKEBOX_EXAMPLE_STATE", state.path());
            let o = c.output().expect("spawn");
            assert_eq!(o.status.code(), Some(0), "shard {spec}: {}", stderr(&o));
            parts.push(out);
        }
        let o = merge(Who::Root, &cwd, "json", &parts);
        // The suite as a whole fails every run (test_plain_fails), as a
        // diagnosis with --runs says; the tests have their own verdicts.
        assert_eq!(o.status.code(), Some(diagnose::exit::STABLE_FAIL), "{}", stderr(&o));
        let r = report(&o);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        let mut v: Vec<String> = r
            .tests
            .iter()
            .map(|t| {
                let effects: Vec<String> =
                    t.factors.iter().map(|f| format!("{} {}", f.factor, f.effect.name())).collect();
                format!("{} {:?} {:?} {effects:?}", t.name, t.verdict, t.outcome)
            })
            .collect();
        v.sort();
        assert!(
            v.iter().any(|t| t == "test_suite.py::test_leaves_marker Environment None [\"fs fixes\"]"),
            "{v:#?}"
        );
        assert!(v.iter().any(|t| t.starts_with("test_suite.py::test_stable Stable Some(Pass)")), "{v:#?}");
        assert!(
            v.iter().any(|t| t.starts_with("test_suite.py::test_plain_fails Stable Some(Fail)")),
            "{v:#?}"
        );
        verdicts_of.push(v);
        let left: Vec<_> = std::fs::read_dir(state.path()).expect("read state").collect();
        assert!(left.is_empty(), "the marker never reaches the host: {left:?}");
    }
    assert_eq!(verdicts_of[0], verdicts_of[1]);
}
