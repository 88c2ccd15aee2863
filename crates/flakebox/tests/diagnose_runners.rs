//! End-to-end tests of `flakebox diagnose` on the tiny real suites of
//! examples/runners (issue 11's "done means"): for each test runner, the
//! command as a user types it, no `--junit`, and per-test verdicts read from
//! `--format json` into the report's own type. In every suite the marker
//! test (passes once, then fails: it leaves a file in
//! `$FLAKEBOX_EXAMPLE_STATE`) is `environment`, `fs fixes`, with the marker
//! named in the evidence; the stable test is stable (pass); the plain
//! failing test is stable (fail). And a results file the first run does not
//! write stops the diagnosis with exit 3.
//!
//! Runs per diagnosis: `--factors fs --max-runs 6`. The screening is 5
//! baseline runs and one with fs isolated; then the suspects (the marker
//! test and the plain failing one) run alone, baseline and fs isolated in
//! each round. The marker test passes in the first focused baseline run
//! (fresh state) and fails in every later one, while fs isolated always
//! passes: rounds 2..6 are 5 discordant rounds, all one way. With one
//! factor, `fixes` gets 2/3 of alpha 0.05; the sequential sign test's
//! p-value for 5 of 5 within 6 rounds is 2^-5 = 0.03125 (no path of the
//! walk reaches a non-extreme level first), and 0.03125 / (2/3) = 0.047 ≤
//! 0.05, while 4 of 4 gives 0.094. The counts are deterministic, so 6
//! rounds (18 runs) decide with certainty, and 5 could not.
//!
//! The state directory is fresh per test and outside /tmp, /var/tmp and
//! /dev/shm (fs isolation gives those fresh and empty, so a directory made
//! there beforehand would be missing); after the diagnosis it must still be
//! empty: diagnose never lets the marker reach the host.

mod common;

use common::*;
use diagnose::{Effect, Report, StableOutcome, TestReport, Verdict};
use factors::Factor;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Rounds per condition: the fewest that decide the marker test (see the
/// header).
const MAX_RUNS: &str = "6";
/// Screening runs: 5 baseline, 1 fs isolated.
const SCREEN_RUNS: usize = 6;
/// The screening and at most 6 focused rounds of 2 runs.
const MOST_RUNS: usize = SCREEN_RUNS + 6 * 2;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/runners")
        .join(name)
        .canonicalize()
        .expect("example")
}

/// Fail (never skip) when a runner's toolchain is missing: CI installs it.
fn require(tool: &str, args: &[&str], install: &str) {
    require_as(Who::Root, tool, args, install);
}

/// As [`require`], for `who`: nobody needs a toolchain it can reach (one
/// installed under root's home is not).
fn require_as(who: Who, tool: &str, args: &[&str], install: &str) {
    let mut c = match who {
        Who::Root => Command::new(tool),
        Who::Nobody => {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", tool]);
            c.env("PATH", nobody_path());
            c
        }
    };
    // On the host, a JVM's performance data would leave /tmp/hsperfdata_$USER.
    c.env("JAVA_TOOL_OPTIONS", "-XX:-UsePerfData");
    let ok = c.args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    assert!(
        ok,
        "`{tool} {}` failed as {who:?}: this test needs {tool} ({install}; .ci/run installs it)",
        args.join(" ")
    );
}

/// Jest and Vitest run from the example's own node_modules (`npm ci`).
fn require_node_package(runner: &str) {
    require("node", &["--version"], "apt-get install nodejs npm");
    let dir = example(runner);
    assert!(
        dir.join("node_modules/.bin").join(runner).exists(),
        "{runner} is not installed in {}: run `npm ci` there (.ci/run does)",
        dir.display()
    );
}

/// A fresh state directory for the marker, outside the tmp directories,
/// owned by `who`; removed when dropped.
fn state_dir(who: Who, inside: &Path) -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix("flakebox-runners-state-").tempdir_in(inside).expect("state dir");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    if who == Who::Nobody {
        std::os::unix::fs::chown(d.path(), Some(NOBODY), Some(NOBODY)).expect("chown");
    }
    d
}

/// Where root's state directories go: the build's own scratch space.
fn target_tmp() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// What one suite should get.
struct Want<'a> {
    /// The marker test's id and the marker file's name.
    marker: Option<(&'a str, &'a str)>,
    stable: Option<&'a str>,
    fails: Option<&'a str>,
}

struct Diagnosed {
    report: Report,
    output: Output,
    wall: Duration,
}

/// `flakebox diagnose --format json --factors fs --max-runs 6 -- CMD` as
/// `who` in `cwd`, the marker's directory `state`.
fn diagnose(who: Who, cwd: &Path, state: &Path, cmd: &[&str]) -> Diagnosed {
    let mut args = vec!["diagnose", "--format", "json", "--factors", "fs", "--max-runs", MAX_RUNS, "--"];
    args.extend_from_slice(cmd);
    let mut c = command(who, cwd, &args);
    c.env("FLAKEBOX_EXAMPLE_STATE", state);
    if who == Who::Nobody {
        c.env("PATH", nobody_path());
    }
    let guard = turn(who);
    let started = Instant::now();
    let output = c.output().expect("spawn flakebox diagnose");
    let wall = started.elapsed();
    drop(guard);
    let report: Report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{cmd:?}: stdout is not one JSON report ({e}); exit {:?}\nstdout:\n{}\nstderr:\n{}",
            output.status.code(),
            stdout(&output),
            stderr(&output)
        )
    });
    Diagnosed { report, output, wall }
}

fn test<'a>(r: &'a Report, id: &str, ctx: &str) -> &'a TestReport {
    r.tests.iter().find(|t| t.name == id).unwrap_or_else(|| {
        panic!("no test `{id}` among {:?}: {ctx}", r.tests.iter().map(|t| &t.name).collect::<Vec<_>>())
    })
}

fn describe(t: &TestReport) -> String {
    format!("{} {:?} {:?}: {} (analysis {:?})", t.name, t.verdict, t.outcome, t.summary, t.analysis)
}

/// Diagnose `cmd` and check every verdict `want` names, the screening, the
/// run count and that the marker never reached the host.
fn check(name: &str, who: Who, cwd: &Path, state_in: &Path, cmd: &[&str], want: &Want) -> Report {
    // Fs isolation gives /tmp, /var/tmp and /dev/shm fresh: a state
    // directory there (a checkout under /tmp) is kept only inside the
    // working directory, which stays visible.
    let under_tmp = ["/tmp", "/var/tmp", "/dev/shm"].iter().any(|t| state_in.starts_with(t));
    let state = state_dir(who, if under_tmp { cwd } else { state_in });
    let d = diagnose(who, cwd, state.path(), cmd);
    let r = &d.report;
    let ctx = format!(
        "{name} as {who:?}: exit {:?}, verdict {:?} {:?}, {} runs, screening {:?}, warnings {:?}\nstderr: {}",
        d.output.status.code(),
        r.verdict,
        r.outcome,
        r.runs_total,
        r.screening,
        r.warnings,
        stderr(&d.output).trim()
    );
    // For the coordinator's report: runs and wall time of each diagnosis.
    eprintln!("{name} as {who:?}: {} runs, {:.1}s wall", r.runs_total, d.wall.as_secs_f64());
    assert!(r.warnings.is_empty(), "every run gave its per-test results: {ctx}");
    let screening = r.screening.as_ref().unwrap_or_else(|| panic!("focused reruns screen the suite: {ctx}"));
    let mut suspects = screening.suspects.clone();
    suspects.sort();
    let mut want_suspects: Vec<String> =
        want.marker.map(|m| m.0).into_iter().chain(want.fails).map(String::from).collect();
    want_suspects.sort();
    assert_eq!(suspects, want_suspects, "the tests that failed in the screening are rerun: {ctx}");
    assert!(r.runs_total <= MOST_RUNS, "{ctx}");

    if let Some((id, file)) = want.marker {
        let t = test(r, id, &ctx);
        let tctx = format!("{}\nin {ctx}", describe(t));
        assert_eq!(t.verdict, Verdict::Environment, "{tctx}");
        assert_eq!(t.factors.len(), 1, "{tctx}");
        assert_eq!((t.factors[0].factor, t.factors[0].effect), (Factor::Fs, Effect::Fixes), "{tctx}");
        let marker = state.path().join(file).display().to_string();
        assert!(
            t.factors[0].evidence.iter().any(|e| e.contains(&marker)),
            "the evidence names the marker {marker}: {:?}\n{tctx}",
            t.factors[0].evidence
        );
        assert!(!t.fails_only_in_suite, "{tctx}");
        // Selected through the runner in every focused round, by the id
        // its results gave it (the id round-trips).
        for c in &t.conditions {
            assert_eq!(c.runs, r.rounds, "{} ran in every round: {tctx}", c.name);
        }
    }
    if let Some(id) = want.stable {
        let t = test(r, id, &ctx);
        assert_eq!(
            (t.verdict, t.outcome),
            (Verdict::Stable, Some(StableOutcome::Pass)),
            "{}\n{ctx}",
            describe(t)
        );
        assert!(t.max_failure_rate_95.is_some(), "a stable pass says what it rules out: {}", describe(t));
        // Not a suspect: its counts are the screening's alone (a runner that
        // ignored the selection would have run it in the focused rounds).
        let counted: usize = t.conditions.iter().map(|c| c.runs).sum();
        assert_eq!(
            (counted, t.screening.map(|s| s.runs)),
            (SCREEN_RUNS, Some(SCREEN_RUNS)),
            "{}",
            describe(t)
        );
    }
    if let Some(id) = want.fails {
        let t = test(r, id, &ctx);
        assert_eq!(
            (t.verdict, t.outcome),
            (Verdict::Stable, Some(StableOutcome::Fail)),
            "{}\n{ctx}",
            describe(t)
        );
        // The verdict is the tests': environment when one test's flakiness
        // comes from a factor, else the failing test's stable failure.
        let (verdict, outcome, code) = match want.marker {
            Some(_) => (Verdict::Environment, None, diagnose::exit::ENVIRONMENT),
            None => (Verdict::Stable, Some(StableOutcome::Fail), diagnose::exit::STABLE_FAIL),
        };
        assert_eq!((r.verdict, r.outcome), (verdict, outcome), "{ctx}");
        assert_eq!(d.output.status.code(), Some(code), "{ctx}");
    }
    // Diagnose never touches the user's files: the marker stayed in the
    // sandbox's layers.
    let left: Vec<_> = std::fs::read_dir(state.path()).expect("read the state dir").collect();
    assert!(left.is_empty(), "{} holds {left:?} after the diagnosis: {ctx}", state.path().display());
    d.report
}

/// The four tests every example suite has, by the runner's ids.
fn want<'a>(marker: &'a str, file: &'a str, stable: &'a str, fails: &'a str) -> Want<'a> {
    Want { marker: Some((marker, file)), stable: Some(stable), fails: Some(fails) }
}

fn pytest_want() -> Want<'static> {
    want(
        "test_suite.py::test_leaves_marker",
        "flakebox-runners-pytest.marker",
        "test_suite.py::test_stable",
        "test_suite.py::test_plain_fails",
    )
}

fn go_want() -> Want<'static> {
    want(
        "example.com/flakebox/runners/marker TestLeavesMarker",
        "flakebox-runners-go.marker",
        "example.com/flakebox/runners/calc TestStable",
        "example.com/flakebox/runners/calc TestPlainFails",
    )
}

/// A copy of an example owned by nobody, in a scratch directory under /tmp
/// (the working directory stays visible under a fresh /tmp), with the
/// marker's directory inside it: an unprivileged user's own project.
fn nobody_project(name: &str) -> tempfile::TempDir {
    let project = scratch(Who::Nobody);
    let status = Command::new("cp")
        .arg("-R")
        .arg(format!("{}/.", example(name).display()))
        .arg(project.path())
        .status()
        .expect("cp");
    assert!(status.success(), "copying examples/runners/{name}");
    let status =
        Command::new("chown").args(["-R", "nobody:nogroup"]).arg(project.path()).status().expect("chown");
    assert!(status.success(), "chown");
    project
}

// ---------------------------------------------------------------------------
// one test per runner

#[test]
fn pytest_per_test_verdicts_without_wiring() {
    require("python3", &["-m", "pytest", "--version"], "pip install pytest");
    check(
        "pytest",
        Who::Root,
        &example("pytest"),
        target_tmp(),
        &["python3", "-m", "pytest"],
        &pytest_want(),
    );
}

#[test]
fn pytest_per_test_verdicts_as_nobody() {
    require_as(Who::Nobody, "python3", &["-m", "pytest", "--version"], "pip install pytest, for every user");
    let _ = flakebox();
    let project = nobody_project("pytest");
    check(
        "pytest",
        Who::Nobody,
        project.path(),
        project.path(),
        &["python3", "-m", "pytest"],
        &pytest_want(),
    );
}

/// examples/runners/pytest_subdir: its ini file in tests/, run from the
/// directory above, so pytest's rootdir (tests/, which its ids are relative
/// to) is not the working directory (which the ids on its command line are
/// read from). Each focused rerun must still run the suspects.
fn pytest_subdir_want() -> Want<'static> {
    want(
        "test_suite.py::test_leaves_marker",
        "flakebox-runners-pytest-subdir.marker",
        "test_suite.py::test_stable",
        "test_suite.py::test_plain_fails",
    )
}

#[test]
fn pytest_rootdir_below_the_working_directory_per_test_verdicts() {
    require("python3", &["-m", "pytest", "--version"], "pip install pytest");
    check(
        "pytest (rootdir tests/)",
        Who::Root,
        &example("pytest_subdir"),
        target_tmp(),
        &["python3", "-m", "pytest", "tests"],
        &pytest_subdir_want(),
    );
}

#[test]
fn pytest_rootdir_below_the_working_directory_as_nobody() {
    require_as(Who::Nobody, "python3", &["-m", "pytest", "--version"], "pip install pytest, for every user");
    let _ = flakebox();
    let project = nobody_project("pytest_subdir");
    check(
        "pytest (rootdir tests/)",
        Who::Nobody,
        project.path(),
        project.path(),
        &["python3", "-m", "pytest", "tests"],
        &pytest_subdir_want(),
    );
}

/// A suspect whose id changes with every run (a parameter drawn at
/// random): no focused rerun can select it. The first one stops the
/// diagnosis, exit 3, naming what was selected and what to try, rather than
/// counting a run of nothing.
#[test]
fn a_focused_rerun_that_runs_none_of_its_tests_stops_with_what_to_try() {
    require("python3", &["-m", "pytest", "--version"], "pip install pytest");
    let project = scratch(Who::Root);
    std::fs::write(
        project.path().join("test_renamed.py"),
        "import random\nimport pytest\n\n\n\
         @pytest.mark.parametrize(\"n\", [random.randrange(10**12)])\n\
         def test_named_anew(n):\n    assert n < 0\n",
    )
    .expect("test file");
    let o = {
        let _turn = turn(Who::Root);
        command(Who::Root, project.path(), &["diagnose", "--factors", "fs", "--", "python3", "-m", "pytest"])
            .output()
            .expect("spawn flakebox")
    };
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(diagnose::exit::RUNNER_FAILED), "{err}");
    assert!(stdout(&o).is_empty(), "no report: {}", stdout(&o));
    assert!(
        err.contains("selected `test_renamed.py::test_named_anew[")
            && err.contains("ran none of them")
            && err.contains("--runs N"),
        "says what was selected, that nothing ran and what to try: {err}"
    );
}

#[test]
fn cargo_test_per_test_verdicts_without_wiring() {
    require("cargo", &["--version"], "rustup");
    let dir = example("cargo");
    build_cargo_example(&dir);
    let w = want(
        "test:leaves_marker::leaves_marker",
        "flakebox-runners-cargo.marker",
        "lib:flakebox_runners_cargo_example::tests::stable",
        "lib:flakebox_runners_cargo_example::tests::plain_fails",
    );
    check("cargo test", Who::Root, &dir, target_tmp(), &["cargo", "test"], &w);
}

/// The example's test binaries, built as a user has them before running
/// them (the diagnosis itself would build them again in every fs-isolated
/// run). Returns cargo's list of test executables.
fn build_cargo_example(dir: &Path) -> String {
    let out = Command::new("cargo").args(["test", "--no-run"]).current_dir(dir).output().expect("cargo");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "cargo test --no-run in {}:\n{stderr}", dir.display());
    stderr
}

/// A libtest binary run directly (the cargo `runner` case): the lib's
/// unit tests (stable, plain fails) and the integration test binary that
/// holds the marker test, each diagnosed as it is run.
#[test]
fn libtest_binary_per_test_verdicts_without_wiring() {
    require("cargo", &["--version"], "rustup");
    let dir = example("cargo");
    let listing = build_cargo_example(&dir);
    let binary = |source: &str| -> String {
        listing
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("Executable {source} ("))?.strip_suffix(')'))
            .unwrap_or_else(|| panic!("no test binary for {source} in:\n{listing}"))
            .to_string()
    };
    let lib = binary("unittests src/lib.rs");
    let unit = Want { marker: None, stable: Some("tests::stable"), fails: Some("tests::plain_fails") };
    check("libtest (lib)", Who::Root, &dir, target_tmp(), &[&lib], &unit);
    let it = binary("tests/leaves_marker.rs");
    let marker =
        Want { marker: Some(("leaves_marker", "flakebox-runners-cargo.marker")), stable: None, fails: None };
    check("libtest (integration test)", Who::Root, &dir, target_tmp(), &[&it], &marker);
}

#[test]
fn cargo_nextest_per_test_verdicts_without_wiring() {
    require("cargo", &["nextest", "--version"], "cargo install cargo-nextest --locked");
    let dir = example("cargo");
    build_cargo_example(&dir);
    let w = want(
        "flakebox-runners-cargo-example::leaves_marker leaves_marker",
        "flakebox-runners-cargo.marker",
        "flakebox-runners-cargo-example tests::stable",
        "flakebox-runners-cargo-example tests::plain_fails",
    );
    check("cargo nextest", Who::Root, &dir, target_tmp(), &["cargo", "nextest", "run"], &w);
}

#[test]
fn go_test_per_test_verdicts_without_wiring() {
    require("go", &["version"], "apt-get install golang-go");
    check("go test", Who::Root, &example("go"), target_tmp(), &["go", "test", "./..."], &go_want());
}

#[test]
fn go_test_per_test_verdicts_as_nobody() {
    require_as(Who::Nobody, "go", &["version"], "apt-get install golang-go");
    let _ = flakebox();
    let project = nobody_project("go");
    check("go test", Who::Nobody, project.path(), project.path(), &["go", "test", "./..."], &go_want());
}

/// Jest's and Vitest's suites have the same tests; the marker is named
/// after the runner.
fn js_want(marker_file: &'static str) -> Want<'static> {
    want(
        "suite.test.js › suite › leaves a marker",
        marker_file,
        "suite.test.js › suite › stable",
        "suite.test.js › suite › plain fails",
    )
}

#[test]
fn jest_per_test_verdicts_without_wiring() {
    require_node_package("jest");
    let w = js_want("flakebox-runners-jest.marker");
    check("jest", Who::Root, &example("jest"), target_tmp(), &["npx", "--no-install", "jest"], &w);
}

#[test]
fn vitest_per_test_verdicts_without_wiring() {
    require_node_package("vitest");
    let w = js_want("flakebox-runners-vitest.marker");
    check(
        "vitest",
        Who::Root,
        &example("vitest"),
        target_tmp(),
        &["npx", "--no-install", "vitest", "run"],
        &w,
    );
}

#[test]
fn rspec_per_test_verdicts_without_wiring() {
    require("rspec", &["--version"], "apt-get install ruby-rspec");
    let w = want(
        "./spec/suite_spec.rb[1:2]",
        "flakebox-runners-rspec.marker",
        "./spec/suite_spec.rb[1:1]",
        "./spec/suite_spec.rb[1:3]",
    );
    check("rspec", Who::Root, &example("rspec"), target_tmp(), &["rspec"], &w);
}

/// The Maven and Gradle suites have the same classes and methods.
fn jvm_want(marker_file: &'static str) -> Want<'static> {
    want(
        "example.SuiteTest#leavesMarker",
        marker_file,
        "example.SuiteTest#stable",
        "example.SuiteTest#plainFails",
    )
}

#[test]
fn maven_per_test_verdicts_without_wiring() {
    require("mvn", &["--version"], "apt-get install maven and Debian's Maven plugin packages");
    let w = jvm_want("flakebox-runners-maven.marker");
    check("maven", Who::Root, &example("maven"), target_tmp(), &["mvn", "test"], &w);
}

#[test]
fn gradle_per_test_verdicts_without_wiring() {
    require("gradle", &["--version"], "apt-get install gradle junit4");
    let w = jvm_want("flakebox-runners-gradle.marker");
    check("gradle", Who::Root, &example("gradle"), target_tmp(), &["gradle", "test"], &w);
}

// ---------------------------------------------------------------------------
// results that are never written

/// `--junit PATH` that the first run does not write: exit 3, the path, and
/// the pytest flag that writes it; nothing more is run.
#[test]
fn junit_never_written_stops_with_the_runner_flag() {
    require("python3", &["-m", "pytest", "--version"], "pip install pytest");
    let dir = example("pytest");
    let state = state_dir(Who::Root, target_tmp());
    let junit = target_tmp().join(unique("never-written")).with_extension("xml");
    let junit = junit.to_str().expect("utf-8 path");
    let mut c = command(
        Who::Root,
        &dir,
        &["diagnose", "--factors", "fs", "--junit", junit, "--", "python3", "-m", "pytest"],
    );
    c.env("FLAKEBOX_EXAMPLE_STATE", state.path());
    let o = {
        let _turn = turn(Who::Root);
        c.output().expect("spawn flakebox")
    };
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(diagnose::exit::RUNNER_FAILED), "{err}");
    assert!(stdout(&o).is_empty(), "no report: {}", stdout(&o));
    assert!(err.contains(&format!("the test results file {junit}")), "names the path: {err}");
    assert!(err.contains(&format!("`--junitxml={junit}`")), "names pytest's flag that writes it: {err}");
    assert!(!Path::new(junit).exists());
}

/// A pytest command that stops before collecting any test (a usage error)
/// writes no results of its own: exit 3 with what to try instead.
#[test]
fn runner_results_missing_stops_with_what_to_try() {
    require("python3", &["-m", "pytest", "--version"], "pip install pytest");
    let dir = example("pytest");
    let _turn = turn(Who::Root);
    let o = command(
        Who::Root,
        &dir,
        &["diagnose", "--factors", "fs", "--", "python3", "-m", "pytest", "--no-such-option"],
    )
    .output()
    .expect("spawn flakebox");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(diagnose::exit::RUNNER_FAILED), "{err}");
    assert!(stdout(&o).is_empty(), "no report: {}", stdout(&o));
    assert!(
        err.contains("the first run gave no per-test results") && err.contains("pytest-junit.xml"),
        "says which results are missing: {err}"
    );
    assert!(err.contains("--runner none"), "says what to try instead: {err}");
}
