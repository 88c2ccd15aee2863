//! End-to-end tests of issue 18's items 1 and 2: state left on the machine
//! before the diagnosis (named, and hidden by a condition of its own), and a
//! run that never ends under a frozen clock (bounded by the limit derived
//! from the first baseline run, reported as timed out with a hint). Root
//! and nobody; one diagnosis at a time (a diagnosis as nobody must run alone).

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

fn pytest_available() {
    let ok = Command::new("python3")
        .args(["-m", "pytest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "`python3 -m pytest --version` failed: these tests need Python 3 with pytest");
}

/// A copy of `examples/python/NAME` in a scratch directory owned by `who`.
fn example_copy(who: Who, name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = scratch(who);
    let dest = dir.path().join(name);
    let src = repo().join("examples/python").join(name);
    let ok = Command::new("cp").arg("-r").arg(&src).arg(&dest).status().expect("cp");
    assert!(ok.success(), "copying {}", src.display());
    if who == Who::Nobody {
        let ok =
            Command::new("chown").args(["-R", "nobody:nogroup"]).arg(dir.path()).status().expect("chown");
        assert!(ok.success());
    }
    (dir, dest)
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}); exit {:?}\nstdout:\n{}\nstderr:\n{}",
            o.status.code(),
            stdout(o),
            stderr(o)
        )
    })
}

fn condition<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no condition {name}: {r}"))
}

fn evidence_of(r: &Value, factor: &str) -> String {
    let mut lines = Vec::new();
    for key in ["factors", "analysis"] {
        for f in r[key].as_array().into_iter().flatten().filter(|f| f["factor"] == factor) {
            lines.extend(
                f["evidence"].as_array().into_iter().flatten().filter_map(|l| l.as_str()).map(String::from),
            );
        }
    }
    lines.join("\n")
}

#[test]
fn a_wait_on_a_frozen_clock_is_bounded_by_the_derived_timeout_and_reported() {
    pytest_available();
    // Seed 0 opens with baseline's run; seed 2 with the time condition's, so
    // a baseline run is made first only to measure the limit.
    for (who, seed) in [(Who::Root, "2"), (Who::Nobody, "0")] {
        let _one = alone();
        let (_dir, ex) = example_copy(who, "clock_hang");
        // No --timeout: the limit comes from the first baseline run.
        let args = [
            "diagnose",
            "--format",
            "json",
            "--factors",
            "time",
            "--runs",
            "2",
            "--seed",
            seed,
            "--",
            "./run.sh",
        ];
        let o = command(who, &ex, &args).output().expect("spawn flakebox diagnose");
        let r = json(&o);
        let ctx = format!("{who:?}: {r}\nstderr:\n{}", stderr(&o));
        let base = condition(&r, "baseline");
        assert_eq!((base["passed"].as_u64(), base["timed_out"].as_u64()), (Some(2), Some(0)), "{ctx}");
        let time = condition(&r, "time");
        assert_eq!((time["runs"].as_u64(), time["timed_out"].as_u64()), (Some(2), Some(2)), "{ctx}");
        let ev = evidence_of(&r, "time");
        assert!(ev.contains("time isolated: 2 of 2 runs timed out"), "{ctx}");
        assert!(ev.contains("clock frozen") && ev.contains("--time now~tick"), "{ctx}");
        let err = stderr(&o);
        assert!(err.contains("10 s + 5 × the first baseline run"), "the limit is said: {ctx}");
        assert_ne!(r["verdict"], "stable", "{ctx}");
        assert_eq!(r["runs_total"].as_u64(), Some(4), "the measuring run is not counted: {ctx}");
    }
}
