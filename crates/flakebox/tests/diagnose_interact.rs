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
