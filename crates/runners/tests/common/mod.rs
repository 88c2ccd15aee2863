//! Running a planned command for real, as a caller of the adapters would
//! (without a sandbox), and reading its results.

#![allow(dead_code)] // each test file uses part of this

use flakebox_runners as runners;
use runners::{
    collect_on_host, detect, Adapter, Detection, Invocation, Order, ResultSource, TestId, TestResult,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

/// `examples/runners/NAME` in this repository.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/runners").join(name)
}

/// For every JVM a test starts: without it each makes /tmp/hsperfdata_$USER,
/// which outlives it.
pub const NO_PERF_DATA: &str = "-XX:-UsePerfData";

/// Fail (never skip) when a runner's toolchain is missing: CI installs it.
pub fn require(tool: &str, args: &[&str], install: &str) {
    let ok = Command::new(tool)
        .args(args)
        // A JVM's performance data would leave /tmp/hsperfdata_$USER behind.
        .env("JAVA_TOOL_OPTIONS", NO_PERF_DATA)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`{tool} {}` failed: this test needs {tool} ({install}; .ci/run installs it)",
        args.join(" ")
    );
}

pub fn adapter(cmd: &[&str], cwd: &Path) -> Adapter {
    let argv: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
    match detect(&argv, cwd) {
        Detection::Detected(a) => a,
        other => panic!("{cmd:?} not detected: {other:?}"),
    }
}

pub fn ids(sel: &[&str]) -> Option<Vec<TestId>> {
    Some(sel.iter().map(|s| TestId::new(*s)).collect())
}

pub struct Ran {
    pub exit_ok: bool,
    pub results: Vec<TestResult>,
    pub output: String,
    pub argv: Vec<String>,
}

impl Ran {
    /// (id, outcome) in the order the runner reported them.
    pub fn outcomes(&self) -> Vec<(String, runners::Outcome)> {
        self.results.iter().map(|r| (r.id.0.clone(), r.outcome)).collect()
    }

    /// (id, outcome) sorted by id: for runners that run tests in parallel.
    pub fn sorted_outcomes(&self) -> Vec<(String, runners::Outcome)> {
        let mut v = self.outcomes();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub fn outcome(&self, id: &str) -> Option<runners::Outcome> {
        self.results.iter().find(|r| r.id.0 == id).map(|r| r.outcome)
    }
}

/// Plan, run (in the adapter's cwd, with `env` added), collect, parse.
pub fn run(a: &Adapter, selection: Option<Vec<TestId>>, order: Order, env: &[(&str, &str)]) -> Ran {
    let (ran, parsed) = try_run(a, selection, order, env);
    let results = parsed.unwrap_or_else(|e| panic!("{:?}: {e}\n--- output ---\n{}", ran.argv, ran.output));
    Ran { results, ..ran }
}

/// As [`run`], the parse's error kept (the `Ran` then has no results).
pub fn try_run(
    a: &Adapter,
    selection: Option<Vec<TestId>>,
    order: Order,
    env: &[(&str, &str)],
) -> (Ran, Result<Vec<runners::TestResult>, runners::RunnersError>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let results_dir = dir.path().join("results");
    std::fs::create_dir(&results_dir).expect("results dir");
    let planned = a.plan(&Invocation { selection, order, results_dir }).expect("plan");
    for f in &planned.files {
        std::fs::write(&f.path, &f.contents).expect("write planned file");
    }
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let out = std::fs::File::create(&out_path).expect("stdout file");
    // Combined: both descriptors on one file, so the order of lines is kept.
    let err = if planned.results == ResultSource::CombinedOutput {
        out.try_clone().expect("dup")
    } else {
        std::fs::File::create(&err_path).expect("stderr file")
    };
    let started = SystemTime::now();
    let status = Command::new(&planned.argv[0])
        .args(&planned.argv[1..])
        .current_dir(&a.cwd)
        .envs(planned.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs(env.iter().copied())
        // The runner's own scratch (Jest's cache, /tmp/jest_0 by default)
        // goes with this run's directory.
        .env("TMPDIR", dir.path())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .unwrap_or_else(|e| panic!("{:?}: {e}", planned.argv));
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let stream = match planned.results {
        ResultSource::Stdout | ResultSource::CombinedOutput => Some(stdout.clone()),
        _ => None,
    };
    let collected = collect_on_host(a.kind, &planned.results, stream, started).expect("collect");
    let output = format!("{stdout}{stderr}");
    let parsed = a.parse(&collected);
    (Ran { exit_ok: status.success(), results: Vec::new(), output, argv: planned.argv }, parsed)
}
