//! End-to-end tests of `flakebox diagnose` (issue 5's "done means"): the
//! examples get their expected verdicts (from `examples/expected.json`), the
//! user's files are left as they were, a purely random command is never
//! blamed on the environment, malformed JUnit is reported rather than fatal,
//! the output formats and option errors, and Ctrl-C.
//!
//! Tests that compare the set of entries in /tmp and /var/tmp before and
//! after take [`exclusive`]; every other test takes [`shared`], so no
//! diagnosis of this binary runs (and makes its own scratch directories)
//! while /tmp is being compared.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

// ---------------------------------------------------------------------------
// helpers

static TMP_LOCK: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    TMP_LOCK.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive() -> RwLockWriteGuard<'static, ()> {
    TMP_LOCK.write().unwrap_or_else(|e| e.into_inner())
}

/// The repository root (the examples' commands are relative to it).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

/// `flakebox diagnose --format json ARGS` as `who` in `cwd`: the output and
/// the report. stdout must be one JSON document and nothing else.
fn diagnose_json(mut cmd: Command) -> (Output, Value) {
    let o = cmd.output().expect("spawn flakebox diagnose");
    let report: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}); exit {:?}\nstdout:\n{}\nstderr:\n{}",
            o.status.code(),
            stdout(&o),
            stderr(&o)
        )
    });
    (o, report)
}

fn diagnose_cmd(who: Who, cwd: &Path, args: &[&str]) -> Command {
    let mut all = vec!["diagnose", "--format", "json"];
    all.extend_from_slice(args);
    command(who, cwd, &all)
}

/// A short description of a report for assertion messages.
fn summary(o: &Output, r: &Value) -> String {
    let conds: Vec<String> = r["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{}: {}/{} failed", c["name"].as_str().unwrap_or("?"), c["failed"], c["runs"]))
        .collect();
    let factors: Vec<String> = r["factors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| format!("{} {} (p={})", f["factor"], f["effect"], f["p_value"]))
        .collect();
    let analysis: Vec<String> = r["analysis"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| format!("{}: {} (p={})", a["factor"], a["status"], a["p_value"]))
        .collect();
    format!(
        "exit {:?}, verdict {}, outcome {}, factors [{}], conditions [{}], analysis [{}], stopped {}, seed {}, warnings {}\nstderr: {}",
        o.status.code(),
        r["verdict"],
        r["outcome"],
        factors.join(", "),
        conds.join(", "),
        analysis.join(", "),
        r["stopped"],
        r["seed"],
        r["warnings"],
        stderr(o).trim()
    )
}

/// The documented exit code for a verdict (and outcome, when stable).
fn exit_for(verdict: &str, outcome: Option<&str>) -> i32 {
    match (verdict, outcome) {
        ("environment", _) => 10,
        ("intrinsic", _) => 11,
        ("stable", Some("fail")) => 1,
        ("stable", _) => 0,
        ("undecided", _) => 12,
        (v, _) => panic!("unknown verdict {v}"),
    }
}

/// The conditions are baseline, each factor alone, then all (when more
/// than one factor); every condition ran the same number of times, the
/// counts add up, and the names match the isolate sets.
fn check_conditions(r: &Value, ctx: &str) -> usize {
    let conds = r["conditions"].as_array().unwrap_or_else(|| panic!("no conditions: {ctx}"));
    assert!(conds.len() >= 2, "baseline and at least one factor: {ctx}");
    assert_eq!(conds[0]["name"], "baseline", "{ctx}");
    assert_eq!(conds[0]["isolate"], serde_json::json!([]), "{ctx}");
    let rounds = conds[0]["runs"].as_u64().expect("runs") as usize;
    assert!(rounds >= 2, "{ctx}");
    let mut total = 0;
    for c in conds {
        let (runs, passed, failed) =
            (c["runs"].as_u64().unwrap(), c["passed"].as_u64().unwrap(), c["failed"].as_u64().unwrap());
        assert_eq!(runs as usize, runs_of(r, c, rounds), "every condition ran as often as baseline: {ctx}");
        assert_eq!(passed + failed, runs, "{ctx}");
        total += runs as usize;
        let isolate = c["isolate"].as_array().expect("isolate");
        match c["name"].as_str().unwrap() {
            "baseline" => assert!(isolate.is_empty(), "{ctx}"),
            "all" => assert!(isolate.len() >= 2, "{ctx}"),
            f if f.starts_with("all but ") => assert!(isolate.len() >= 2, "{ctx}"),
            f => assert_eq!(isolate, &vec![Value::from(f)], "{ctx}"),
        }
    }
    assert_eq!(r["runs_total"].as_u64(), Some(total as u64), "runs_total: {ctx}");
    rounds
}

/// How many runs condition `c` should have had in `rounds` rounds: a
/// factor the command never used (pruned) keeps its own condition to the
/// rounds before it was left out, and leave-one-out conditions join later.
fn runs_of(r: &Value, c: &Value, rounds: usize) -> usize {
    let pruned = r["pruned"].as_array().into_iter().flatten();
    for p in pruned {
        if c["isolate"] == serde_json::json!([p["factor"]]) {
            return p["after_rounds"].as_u64().unwrap_or(0) as usize;
        }
    }
    if c["name"].as_str().is_some_and(|n| n.starts_with("all but ")) {
        return c["runs"].as_u64().unwrap_or(0) as usize;
    }
    rounds
}

fn condition<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["conditions"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no condition {name} in {}", r["conditions"]))
}

/// The entry of `examples/expected.json` for `path`.
fn expected(path: &str) -> Value {
    let all: Value = read_json(&repo().join("examples/expected.json"));
    all.as_array()
        .expect("expected.json is a list")
        .iter()
        .find(|e| e["path"] == path)
        .unwrap_or_else(|| panic!("{path} is not in examples/expected.json"))
        .clone()
}

/// Assert a report (top level or one `tests` entry) against an expectation
/// with `verdict`, `factor`, `effect` and, for stable ones, `outcome`.
fn check_verdict(got: &Value, want: &Value, ctx: &str) {
    assert_eq!(got["verdict"], want["verdict"], "verdict of {ctx}");
    match want["factor"].as_str() {
        Some(factor) => {
            let first = &got["factors"][0];
            assert_eq!(first["factor"], factor, "first factor of {ctx}");
            assert_eq!(first["effect"], want["effect"], "effect of {factor} for {ctx}");
            let p = first["p_value"].as_f64().expect("p_value");
            assert!(p <= 0.05, "an effect is claimed only when significant: p={p} for {ctx}");
        }
        None => assert_eq!(got["factors"], serde_json::json!([]), "no factors unless environment: {ctx}"),
    }
    if let Some(outcome) = want["outcome"].as_str() {
        assert_eq!(got["outcome"], outcome, "outcome of {ctx}");
    }
}

/// Diagnose one example from the repository root as root, with `extra`
/// options, and check it against `examples/expected.json`. Returns the report.
fn check_example(path: &str, extra: &[&str]) -> Value {
    let want = expected(path);
    assert!(want["junit"].is_null(), "{path}: use check_junit_example");
    let argv: Vec<String> = want["command"]
        .as_array()
        .expect("command")
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let mut args: Vec<&str> = extra.to_vec();
    args.push("--");
    args.extend(argv.iter().map(String::as_str));
    let started = std::time::Instant::now();
    let (o, r) = diagnose_json(diagnose_cmd(Who::Root, &repo(), &args));
    let ctx = format!("{path} ({:.1}s): {}", started.elapsed().as_secs_f64(), summary(&o, &r));
    eprintln!("{ctx}");
    check_verdict(&r, &want, &ctx);
    let code = exit_for(want["verdict"].as_str().unwrap(), want["outcome"].as_str());
    assert_eq!(o.status.code(), Some(code), "exit code of {ctx}");
    check_conditions(&r, &ctx);
    assert_eq!(r["schema"], 1, "{ctx}");
    assert_eq!(r["command"], want["command"], "{ctx}");
    r
}

/// Shell examples covered by a test below or, for rand, in diagnose_rand.rs
/// (a new one in expected.json must get a test too).
const SHELL_EXAMPLES: [&str; 6] = [
    "examples/shell/tmp_pollution.sh",
    "examples/shell/clock_second.sh",
    "examples/shell/random.sh",
    "examples/shell/stable.sh",
    "examples/shell/stable_fail.sh",
    "examples/shell/needs_network.sh",
];

fn has_ipv4_default_route() -> bool {
    std::fs::read_to_string("/proc/net/route")
        .map(|t| t.lines().skip(1).any(|l| l.split_whitespace().nth(1) == Some("00000000")))
        .unwrap_or(false)
}

/// Entries directly in `dir` (names only).
fn entries(dir: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn diagnose_workspaces() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for dir in ["/tmp", "/var/tmp"] {
        for e in entries(dir) {
            if e.starts_with("flakebox-diagnose-") {
                out.insert(format!("{dir}/{e}"));
            }
        }
    }
    out
}

/// Everything about a tree a user would notice: per path (relative; "" is
/// the root), type, mode, owner, size, content hash, symlink target and
/// mtime (directories' too: an entry made and removed again changes it).
fn listing(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, p: &Path, out: &mut BTreeMap<String, String>) {
        let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let ft = m.file_type();
        let content = if ft.is_file() {
            let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let mut h = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut h);
            format!("file {:016x}", h.finish())
        } else if ft.is_symlink() {
            format!("link -> {}", std::fs::read_link(p).unwrap().display())
        } else if ft.is_dir() {
            "dir".to_string()
        } else {
            "other".to_string()
        };
        out.insert(
            rel,
            format!(
                "{content} mode {:o} owner {}:{} size {} mtime {}.{:09}",
                m.mode(),
                m.uid(),
                m.gid(),
                m.size(),
                m.mtime(),
                m.mtime_nsec()
            ),
        );
        if ft.is_dir() {
            let mut children: Vec<PathBuf> =
                std::fs::read_dir(p).unwrap().filter_map(Result::ok).map(|e| e.path()).collect();
            children.sort();
            for c in children {
                walk(root, &c, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn write_owned(who: Who, path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    if who == Who::Nobody {
        std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).expect("chown");
    }
}

fn mkdir_owned(who: Who, path: &Path) {
    std::fs::create_dir(path).expect("mkdir");
    if who == Who::Nobody {
        std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).expect("chown");
    }
}

fn pytest_available() {
    let ok = Command::new("python3")
        .args(["-m", "pytest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`python3 -m pytest --version` failed: the pytest examples need Python 3 with pytest \
         (pip install pytest); CI installs it"
    );
}

// ---------------------------------------------------------------------------
// the examples

#[test]
fn every_shell_example_has_a_test() {
    let all: Value = read_json(&repo().join("examples/expected.json"));
    for e in all.as_array().unwrap() {
        let path = e["path"].as_str().unwrap();
        if path.starts_with("examples/shell/") {
            assert!(SHELL_EXAMPLES.contains(&path), "{path} is in expected.json but has no test here");
        }
    }
}

#[test]
fn example_shell_tmp_pollution_is_fs_fixes() {
    let _g = shared();
    let r = check_example("examples/shell/tmp_pollution.sh", &[]);
    // The first baseline run passes and leaves the directory; the ones after fail.
    let base = condition(&r, "baseline");
    assert!(base["failed"].as_u64().unwrap() >= 1, "{}", r["conditions"]);
    assert_eq!(condition(&r, "fs")["failed"], 0, "fresh /tmp every run: {}", r["conditions"]);
    assert_eq!(condition(&r, "all")["failed"], 0, "{}", r["conditions"]);
    let evidence = r["factors"][0]["evidence"].to_string();
    assert!(
        evidence.contains("/tmp/flakebox-example-shell-scratch"),
        "the evidence names the directory left in /tmp: {evidence}"
    );
}

#[test]
fn example_shell_clock_second_is_time_fixes() {
    let _g = shared();
    // 0.5 s per run: only baseline and time (--factors time) to keep it short.
    let r = check_example("examples/shell/clock_second.sh", &["--factors", "time"]);
    let names: Vec<&str> =
        r["conditions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["baseline", "time"]);
    assert_eq!(condition(&r, "time")["failed"], 0, "{}", r["conditions"]);
    assert!(condition(&r, "baseline")["failed"].as_u64().unwrap() >= 1, "{}", r["conditions"]);
    assert!(r["frozen_instant"].is_string(), "the frozen instant is reported: {}", r["frozen_instant"]);
}

#[test]
fn a_command_that_sets_the_clock_is_told_so() {
    let _g = shared();
    for who in BOTH {
        let d = scratch(who);
        // `date -s` fails in the sandbox (no CAP_SYS_TIME, and nobody has none).
        let args = ["--factors", "time", "--runs", "2", "--", "sh", "-c", "date -s @0 >/dev/null 2>&1"];
        let (o, r) = diagnose_json(diagnose_cmd(who, d.path(), &args));
        let warnings: Vec<&str> =
            r["warnings"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let said = "the command tried to set the clock (clock_settime) and got EPERM";
        assert!(
            warnings.iter().any(|w| w.contains(said) && w.ends_with("(in 4 runs)")),
            "{who:?}: {warnings:?}\n{}",
            summary(&o, &r)
        );
    }
}

// examples/shell/random.sh (rand): tests/diagnose_rand.rs, with its failing seed's replay.

#[test]
fn example_shell_stable_passes() {
    let _g = shared();
    let r = check_example("examples/shell/stable.sh", &[]);
    for c in r["conditions"].as_array().unwrap() {
        assert_eq!(c["failed"], 0, "{c}");
    }
}

#[test]
fn example_shell_stable_fail_fails() {
    let _g = shared();
    let r = check_example("examples/shell/stable_fail.sh", &[]);
    for c in r["conditions"].as_array().unwrap() {
        assert_eq!(c["passed"], 0, "{c}");
    }
}

#[test]
fn example_shell_needs_network_is_net_breaks() {
    if !has_ipv4_default_route() {
        eprintln!(
            "SKIPPED example_shell_needs_network_is_net_breaks: this host has no IPv4 default route \
             (no 00000000 destination in /proc/net/route), so the example fails everywhere"
        );
        return;
    }
    let _g = shared();
    let r = check_example("examples/shell/needs_network.sh", &[]);
    assert_eq!(condition(&r, "baseline")["failed"], 0, "{}", r["conditions"]);
    assert_eq!(condition(&r, "net")["passed"], 0, "{}", r["conditions"]);
}

/// One pytest suite, four tests, four causes: each test gets its own verdict
/// from the JUnit files (`--junit`), and the suite as a whole is intrinsic.
#[test]
fn example_python_mixed_per_test_verdicts() {
    pytest_available();
    let _g = shared();
    let want = expected("examples/python/mixed");
    // A JUnit path of our own, directly in /tmp (as the example's default):
    // flakebox carries it out of the sandbox and removes it afterwards.
    let junit = format!("/tmp/{}.xml", unique("flakebox-e2e-junit-mixed"));
    let argv: Vec<String> =
        want["command"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
    // ~1.2 s per run: fs and time only (its causes are fs, time and
    // randomness), and at most 40 rounds. Per test, 40 is plenty (test_clock,
    // the slowest to decide, is decided in ~15 rounds); but when the suite's
    // very first baseline run happens to pass (~30%), the suite-level `time`
    // stays "undecided" (a `stabilizes` that can never be reached) and the
    // default 100 rounds would take 7 minutes.
    let mut args = vec!["--factors", "fs,time", "--max-runs", "40", "--junit", &junit, "--"];
    args.extend(argv.iter().map(String::as_str));
    let mut cmd = diagnose_cmd(Who::Root, &repo(), &args);
    cmd.env("JUNIT", &junit);
    let started = std::time::Instant::now();
    let (o, r) = diagnose_json(cmd);
    let ctx = format!("python/mixed ({:.1}s): {}", started.elapsed().as_secs_f64(), summary(&o, &r));
    eprintln!("{ctx}");
    check_verdict(&r, &want, &ctx);
    assert_eq!(o.status.code(), Some(exit_for(want["verdict"].as_str().unwrap(), None)), "{ctx}");
    let rounds = check_conditions(&r, &ctx);
    assert_eq!(r["warnings"], serde_json::json!([]), "every run wrote well-formed JUnit: {ctx}");
    let tests = r["tests"].as_array().unwrap_or_else(|| panic!("no tests array: {ctx}"));
    let wanted = want["tests"].as_array().unwrap();
    assert_eq!(tests.len(), wanted.len(), "one entry per test case: {}", r["tests"]);
    for w in wanted {
        let (class, name) = (w["classname"].as_str().unwrap(), w["name"].as_str().unwrap());
        let got = tests
            .iter()
            .find(|t| {
                let n = t["name"].as_str().unwrap();
                n.contains(class) && (n.ends_with(&format!("::{name}")) || n.ends_with(&format!(".{name}")))
            })
            .unwrap_or_else(|| {
                panic!(
                    "no test {class}::{name} among {:?}",
                    tests.iter().map(|t| &t["name"]).collect::<Vec<_>>()
                )
            });
        let tctx = format!(
            "test {} (conditions {}, analysis {}) in {ctx}",
            got["name"], got["conditions"], got["analysis"]
        );
        check_verdict(got, w, &tctx);
        for c in got["conditions"].as_array().unwrap() {
            let want = runs_of(&r, c, rounds) as u64;
            assert_eq!(c["runs"].as_u64(), Some(want), "the test ran in every run: {tctx}");
        }
    }
    assert!(!Path::new(&junit).exists(), "the JUnit file {junit} is removed again (it did not exist before)");
}

// ---------------------------------------------------------------------------
// the user's files

/// A command that writes to the working directory, $HOME and /tmp and
/// deletes a file: after diagnosing it, all of them are as they were, and
/// diagnose's own scratch is gone. As root and as nobody.
#[test]
fn users_files_are_unchanged_after_diagnose() {
    // Made before the snapshot of /tmp: the binary's copy, the scratch dirs.
    let _ = flakebox();
    for who in BOTH {
        let project = scratch(who);
        let home = scratch(who);
        // flakebox's own PostgreSQL template cache (db factor) would go to
        // ~/.cache/flakebox: that is flakebox's file, not the user's, so keep it
        // out of the HOME being compared.
        let cache = scratch(who);
        let p = project.path();
        write_owned(who, &p.join("precious.txt"), "precious\n");
        write_owned(who, &p.join("notes.md"), "# notes\n");
        mkdir_owned(who, &p.join("src"));
        write_owned(who, &p.join("src/lib.txt"), "code\n");
        write_owned(who, &p.join("polluted.txt"), "already here\n");
        write_owned(who, &home.path().join(".profile"), "export A=1\n");
        let outside = format!("/tmp/{}", unique("flakebox-diag-pollution"));
        let script = format!(
            "echo x >> polluted.txt; echo y >> \"$HOME/.state\"; echo z >> {outside}; rm -f precious.txt"
        );

        // Someone else's directory in /tmp, with a file in it.
        let canary = scratch(who);
        write_owned(who, &canary.path().join("keep.txt"), "someone else's\n");
        let canary_before = listing(canary.path());

        let _g = exclusive();
        let before = (listing(p), listing(home.path()), entries("/tmp"), entries("/var/tmp"));
        let mut cmd = diagnose_cmd(who, p, &["--runs", "3", "--", "sh", "-c", &script]);
        cmd.env("HOME", home.path()).env("XDG_CACHE_HOME", cache.path());
        let (o, r) = diagnose_json(cmd);
        let after = (listing(p), listing(home.path()), entries("/tmp"), entries("/var/tmp"));
        drop(_g);

        let ctx = format!("{who:?}: {}", summary(&o, &r));
        // The command really ran, wrote and deleted, in every run.
        assert_eq!(o.status.code(), Some(0), "{ctx}");
        assert_eq!(r["verdict"], "stable", "{ctx}");
        assert_eq!(r["outcome"], "pass", "{ctx}");
        assert_eq!(check_conditions(&r, &ctx), 3, "{ctx}");
        let fs = r["analysis"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["factor"] == "fs"))
            .unwrap_or_else(|| panic!("no fs analysis: {ctx}"));
        let evidence = fs["evidence"].to_string();
        for written in [
            p.join("polluted.txt").display().to_string(),
            home.path().join(".state").display().to_string(),
            p.join("precious.txt").display().to_string(),
            outside.clone(),
        ] {
            assert!(
                evidence.contains(&written),
                "{who:?}: the evidence shows the write to {written}: {evidence}"
            );
        }
        // And none of it reached the host.
        assert_eq!(before.0, after.0, "{who:?}: the project directory is unchanged");
        assert_eq!(before.1, after.1, "{who:?}: HOME is unchanged");
        assert!(!Path::new(&outside).exists(), "{who:?}: {outside} was not left on the host");
        assert_eq!(
            canary_before,
            listing(canary.path()),
            "{who:?}: a directory of someone else's in /tmp is untouched"
        );
        for (dir, b, a) in [("/tmp", &before.2, &after.2), ("/var/tmp", &before.3, &after.3)] {
            let new: Vec<&String> = a.difference(b).collect();
            let gone: Vec<&String> = b.difference(a).collect();
            if !new.is_empty() || !gone.is_empty() {
                eprintln!("{who:?}: {dir} changed during the diagnosis: new {new:?}, gone {gone:?}");
            }
            let ours: Vec<&&String> = new.iter().filter(|n| made_by_flakebox(n)).collect();
            assert!(ours.is_empty(), "{who:?}: left in {dir} by the diagnosis: {ours:?}");
        }
    }
}

/// Could flakebox (or the command above) have made this entry of /tmp? The
/// tests of this binary make nothing there while [`exclusive`] is held, but
/// other processes on a shared host may, so the comparison of the entries
/// before and after is limited to names flakebox, `tempfile`'s default and
/// the command use. (The prefixes test helpers use are not flakebox's.)
fn made_by_flakebox(name: &str) -> bool {
    const HELPERS: [&str; 3] = ["flakebox-test-", "flakebox-bin-", "flakebox-clock-progs-"];
    (name.contains("flakebox") && !HELPERS.iter().any(|h| name.starts_with(h))) || name.starts_with(".tmp")
}

// ---------------------------------------------------------------------------
// statistics

/// A command that fails 40% of the time at random is flaky with everything
/// isolated: intrinsic, never environment, whatever the seed.
#[test]
fn pure_randomness_is_intrinsic_never_environment() {
    let _g = shared();
    let d = scratch(Who::Root);
    for seed in 1..=5 {
        let seed = seed.to_string();
        let (o, r) = diagnose_json(diagnose_cmd(
            Who::Root,
            d.path(),
            &[
                "--factors",
                "net,fs",
                "--seed",
                &seed,
                "--",
                "sh",
                "-c",
                "test $(od -An -N1 -tu1 /dev/urandom) -ge 102",
            ],
        ));
        let ctx = format!("seed {seed}: {}", summary(&o, &r));
        eprintln!("{ctx}");
        assert_ne!(r["verdict"], "environment", "{ctx}");
        assert_eq!(r["verdict"], "intrinsic", "{ctx}");
        assert_eq!(o.status.code(), Some(11), "{ctx}");
        assert_eq!(r["factors"], serde_json::json!([]), "{ctx}");
        assert_eq!(
            r["seed"].as_u64().map(|s| s.to_string()),
            Some(seed.clone()),
            "the seed is reported: {ctx}"
        );
        check_conditions(&r, &ctx);
    }
}

// ---------------------------------------------------------------------------
// JUnit

/// A command that writes garbage where its JUnit file should be: the
/// diagnosis completes and says which file was malformed.
#[test]
fn malformed_junit_is_reported_not_fatal() {
    let _g = shared();
    for who in BOTH {
        let d = scratch(who);
        // Always garbage, always exit 0: a stable pass with a warning.
        let (o, r) = diagnose_json(diagnose_cmd(
            who,
            d.path(),
            &[
                "--factors",
                "net,fs",
                "--runs",
                "3",
                "--junit",
                "report.xml",
                "--",
                "sh",
                "-c",
                "printf 'this is <not> JUnit &&& <<<' > report.xml",
            ],
        ));
        let ctx = format!("{who:?} garbage: {}", summary(&o, &r));
        assert_eq!(o.status.code(), Some(0), "{ctx}");
        assert_eq!(r["verdict"], "stable", "{ctx}");
        let warnings = r["warnings"].to_string();
        assert!(warnings.contains("report.xml"), "a warning names the malformed file: {ctx}");
        assert_eq!(r["tests"], serde_json::json!([]), "{ctx}");
        assert!(!d.path().join("report.xml").exists(), "{who:?}: report.xml is removed again");

        // Truncated XML, an empty file or a non-JUnit document, with a
        // random exit status. (No file at all stops the diagnosis when the
        // first run does it: below.)
        let script = "b=$(od -An -N1 -tu1 /dev/urandom); \
                      case $((b % 3)) in \
                        0) printf '<testsuite><testcase name=\"t\" classname=\"c\"' > report.xml;; \
                        1) : > report.xml;; \
                        2) printf '<html><body>oops</body></html>' > report.xml;; \
                      esac; \
                      test $((b % 2)) -eq 0";
        let (o, r) = diagnose_json(diagnose_cmd(
            who,
            d.path(),
            &["--factors", "net,fs", "--runs", "6", "--junit", "report.xml", "--", "sh", "-c", script],
        ));
        let ctx = format!("{who:?} random garbage: {}", summary(&o, &r));
        let code = o.status.code();
        assert!(matches!(code, Some(0 | 1 | 10 | 11 | 12)), "the diagnosis completes (not 3 or 125): {ctx}");
        assert_eq!(Some(exit_for(r["verdict"].as_str().unwrap(), r["outcome"].as_str())), code, "{ctx}");
        let warnings = r["warnings"].to_string();
        assert!(warnings.contains("report.xml"), "warnings name the JUnit file: {ctx}");
        check_conditions(&r, &ctx);

        // A file the first run does not write: the diagnosis stops at once,
        // exit 3, naming the path.
        let o =
            run(who, d.path(), &["diagnose", "--factors", "net,fs", "--junit", "never.xml", "--", "true"]);
        assert_eq!(o.status.code(), Some(3), "{who:?} never written: {}", stderr(&o));
        assert!(stderr(&o).contains("never.xml"), "{who:?}: the path is named: {}", stderr(&o));
    }
}

// ---------------------------------------------------------------------------
// output formats and options

#[test]
fn markdown_has_a_table_and_json_is_alone_on_stdout() {
    let _g = shared();
    let d = scratch(Who::Root);
    let o = run(
        Who::Root,
        d.path(),
        &["diagnose", "--format", "markdown", "--factors", "net,fs", "--runs", "2", "--", "true"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = stdout(&o);
    let rows: Vec<&str> = md.lines().filter(|l| l.trim_start().starts_with('|')).collect();
    assert!(rows.len() >= 3, "a table (header, separator, rows):\n{md}");
    assert!(
        rows.iter().any(|l| l.contains("---") && l.chars().all(|c| "|-: ".contains(c))),
        "a separator row:\n{md}"
    );
    assert!(rows.iter().any(|l| l.contains("baseline")), "a row per condition:\n{md}");
    assert!(md.to_lowercase().contains("stable"), "the verdict:\n{md}");

    // diagnose_json parses the whole of stdout as one document.
    let (o, r) =
        diagnose_json(diagnose_cmd(Who::Root, d.path(), &["--factors", "net", "--runs", "2", "--", "false"]));
    assert_eq!(o.status.code(), Some(1), "{}", summary(&o, &r));
    assert_eq!(r["schema"], 1);
    assert_eq!(r["verdict"], "stable");
    assert_eq!(r["outcome"], "fail");
    assert_eq!(r["command"], serde_json::json!(["false"]));
    assert!(stdout(&o).trim_start().starts_with('{') && stdout(&o).trim_end().ends_with('}'));
}

#[test]
fn bad_factor_is_named() {
    let _g = shared();
    let d = scratch(Who::Root);
    let o = run(Who::Root, d.path(), &["diagnose", "--factors", "dns", "--", "true"]);
    assert!(matches!(o.status.code(), Some(2 | 125)), "exit {:?}: {}", o.status.code(), stderr(&o));
    assert!(stderr(&o).contains("dns"), "the bad value is named: {}", stderr(&o));
    assert!(o.stdout.is_empty(), "nothing on stdout: {}", stdout(&o));
}

#[test]
fn one_run_is_a_usage_error() {
    let _g = shared();
    let d = scratch(Who::Root);
    for flag in ["--runs", "--max-runs"] {
        let o = run(Who::Root, d.path(), &["diagnose", flag, "1", "--", "true"]);
        assert_eq!(o.status.code(), Some(2), "{flag} 1: {}", stderr(&o));
        assert!(stderr(&o).contains(flag) || stderr(&o).contains('1'), "{flag}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{flag}: {}", stdout(&o));
    }
}

// ---------------------------------------------------------------------------
// Ctrl-C

/// SIGINT while a run is in progress: exit 130, no sandbox left running, no
/// scratch directories left. `group`: sent to the whole process group, as a
/// terminal's Ctrl-C is; otherwise to flakebox alone.
fn interrupt(group: bool) {
    let _ = flakebox();
    // The command connects to a listener of ours (in conditions that share
    // the host network): the first accepted connection proves a run is under
    // way. An ephemeral port, no sleeps to synchronise.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let marker = unique_number();
    let script = format!(
        "import socket, time\n\
         try:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n\
         except OSError:\n    pass\n\
         time.sleep(0.2)  # {marker}\n"
    );
    let d = scratch(Who::Root);
    let _g = exclusive();
    let before = diagnose_workspaces();
    let mut cmd = command(
        Who::Root,
        d.path(),
        &["diagnose", "--runs", "50", "--factors", "net,time", "--", "python3", "-c", &script],
    );
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if group {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().expect("spawn flakebox diagnose");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).expect("read stderr");
    assert!(line.contains("diagnosing"), "the first line says what is diagnosed: {line:?}");
    // Wait for a run to be under way (at most a minute: never hang the suite).
    {
        use std::os::fd::AsRawFd;
        let mut pfd = libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: poll on one pollfd we own.
        let ready = unsafe { libc::poll(&mut pfd, 1, 60_000) };
        if ready != 1 {
            let _ = child.kill();
            panic!("group={group}: no run connected within a minute");
        }
    }
    let (conn, _) = listener.accept().expect("accept");
    drop(conn);
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill(2) on our own child (or its process group).
    let r = unsafe { libc::kill(if group { -pid } else { pid }, libc::SIGINT) };
    assert_eq!(r, 0, "kill");
    // Let the remaining runs' connections through while we wait.
    listener.set_nonblocking(true).unwrap();
    let mut rest = String::new();
    err.read_to_string(&mut rest).expect("read stderr");
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).expect("read stdout");
    let status = child.wait().expect("wait");
    let after = diagnose_workspaces();
    drop(_g);
    assert_eq!(status.code(), Some(130), "group={group}: {status}\nstderr: {line}{rest}\nstdout: {out}");
    // A workspace names the flakebox that made it: other diagnoses on a
    // shared host make theirs meanwhile.
    let ours = format!("/flakebox-diagnose-{pid}-");
    let leftover: Vec<&String> = after.difference(&before).filter(|w| w.contains(&ours)).collect();
    assert!(leftover.is_empty(), "group={group}: scratch left behind: {leftover:?}");
    let alive = wait_gone(&processes_with(&marker), Duration::from_secs(5));
    assert!(alive.is_empty(), "group={group}: the command is not left running: {alive:?}");
}

#[test]
fn sigint_to_flakebox_exits_130_and_cleans_up() {
    interrupt(false);
}

#[test]
fn ctrl_c_to_the_process_group_exits_130_and_cleans_up() {
    interrupt(true);
}

/// `--tmp-size` reaches every run of a diagnosis, whatever its condition:
/// /dev/shm is a fresh tmpfs in each, limited (the diagnosis is a stable
/// pass with the limit seen, a stable failure without it).
#[test]
fn tmp_size_reaches_every_run() {
    let check = ["sh", "-c", "grep -q ' /dev/shm tmpfs .*size=8192k' /proc/mounts"];
    for who in BOTH {
        let d = scratch(who);
        for (size, code) in [(None, 1), (Some("8m"), 0)] {
            let mut args = vec!["diagnose", "--factors", "net,fs,time", "--runs", "2"];
            if let Some(size) = size {
                args.extend(["--tmp-size", size]);
            }
            args.push("--");
            args.extend(check);
            let o = run(who, d.path(), &args);
            assert_eq!(o.status.code(), Some(code), "{who:?} {size:?}: {}{}", stdout(&o), stderr(&o));
        }
    }
}
