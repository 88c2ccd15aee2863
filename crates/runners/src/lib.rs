//! Test-runner adapters: recognise the test runner in a command, and know,
//! per runner, how to get per-test results without the user changing the
//! command, how to run a chosen subset of tests, in a chosen order or with a
//! shuffle seed, and how to read the results into one common type.
//!
//! Pure library: everything is data. [`detect`] looks at an argv (and the
//! working directory, only to resolve relative paths in ids), an [`Adapter`]
//! turns an [`Invocation`] into a [`PlannedCommand`] (argv, env, files to
//! write first, where the results will be), the caller runs it however it
//! likes (in a sandbox), collects what [`ResultSource`] names into
//! [`CollectedResults`], and [`Adapter::parse`] turns that into
//! [`TestResult`]s.
//!
//! | runner | recognised as | per-test results | selection | order | id |
//! |---|---|---|---|---|---|
//! | pytest | `pytest`, `py.test`, `python[3] -m pytest` | private `--junitxml` (xunit1) | node ids | as listed; `Defined` = `-p no:randomly` | `tests/test_x.py::TestK::test_y` |
//! | cargo | `cargo [+tc] test` | `test … ok` lines, stdout+stderr combined | `--lib`/`--test GLOB` `-- --exact` | — | `test:it::mod::name` |
//! | libtest | `target/…/deps/NAME-HASH` | `test … ok` lines on stdout | `--exact` | — | `mod::name` |
//! | nextest | `cargo nextest run` | JUnit via `--tool-config-file` | `-E` filterset | — | `crate::it mod::name` |
//! | go | `go test` | `-json` on stdout | packages + `-run '^(A\|B)$'` | `-shuffle=SEED` | `example.com/m/pkg TestX` |
//! | jest | `jest`, `npx jest`, `yarn jest`, `[node [opts]] node_modules/jest/bin/jest.js`, … | `--json --outputFile` | `--runTestsByPath` + `-t` | `--randomize --seed` | `a.test.js › describe › test` |
//! | vitest | `vitest [run]`, `npx vitest`, `[node] node_modules/vitest/vitest.mjs`, … | `--reporter=json --outputFile.json` | file filters + `-t` | `--sequence.shuffle --sequence.seed` | `a.test.js › describe › test` |
//! | rspec | `rspec`, `bundle exec rspec`, `bin/rspec` | `--format json --out` | example ids, `file:line` | as listed, within its tree of groups; `--order rand:SEED` | `./spec/a_spec.rb[1:2]` |
//! | maven | `mvn`/`./mvnw` with a test phase | `target/surefire-reports` | `-Dtest=C#m+n` | — | `pkg.ClassTest#method` |
//! | gradle | `gradle`/`./gradlew` with `test` | `build/test-results/test` | `--tests C.m` | — | `pkg.ClassTest#method` |
//!
//! Shells, scripts, `make`, `npm test` and other wrappers are
//! [`Detection::Unsure`] with the reason; [`choose`] with
//! [`RunnerChoice::Force`] appends a runner's options to such a command.
//!
//! ```
//! use flakebox_runners::{detect, Detection, Invocation, Order, TestId};
//! use std::path::Path;
//!
//! let argv: Vec<String> = ["python3", "-m", "pytest", "-x", "tests/"].map(String::from).to_vec();
//! let Detection::Detected(adapter) = detect(&argv, Path::new("/src/app")) else { panic!() };
//! let planned = adapter
//!     .plan(&Invocation {
//!         selection: Some(vec![TestId::new("tests/test_b.py::test_y"), TestId::new("tests/test_a.py::test_x")]),
//!         order: Order::AsListed,
//!         results_dir: "/scratch/results".into(),
//!     })
//!     .unwrap();
//! assert!(planned.argv.contains(&"--junitxml=/scratch/results/pytest-junit.xml".to_string()));
//! // run planned.argv with planned.env, collect planned.results, then adapter.parse(...)
//! ```

pub mod junit;

mod args;
mod cargo;
mod collect;
mod detect;
mod gotest;
mod js;
mod jvm;
mod nextest;
mod pytest;
mod rspec;
mod rspec_order;
#[cfg(test)]
mod test_support;

pub use collect::collect_on_host;
pub use detect::detect;
pub use junit::Outcome;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The test runners flakebox knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunnerKind {
    /// `pytest`, `py.test`, `python -m pytest`.
    Pytest,
    /// `cargo test`: libtest binaries run by cargo.
    Cargo,
    /// A libtest binary run directly (cargo's `runner` case).
    Libtest,
    /// `cargo nextest run`.
    Nextest,
    /// `go test`.
    Go,
    Jest,
    Vitest,
    Rspec,
    /// Maven Surefire (`mvn test`, `./mvnw verify`).
    Maven,
    /// Gradle's `test` task.
    Gradle,
}

impl RunnerKind {
    pub const ALL: [RunnerKind; 10] = [
        RunnerKind::Pytest,
        RunnerKind::Cargo,
        RunnerKind::Libtest,
        RunnerKind::Nextest,
        RunnerKind::Go,
        RunnerKind::Jest,
        RunnerKind::Vitest,
        RunnerKind::Rspec,
        RunnerKind::Maven,
        RunnerKind::Gradle,
    ];

    /// The name `--runner` takes.
    pub fn name(self) -> &'static str {
        match self {
            RunnerKind::Pytest => "pytest",
            RunnerKind::Cargo => "cargo",
            RunnerKind::Libtest => "libtest",
            RunnerKind::Nextest => "nextest",
            RunnerKind::Go => "go",
            RunnerKind::Jest => "jest",
            RunnerKind::Vitest => "vitest",
            RunnerKind::Rspec => "rspec",
            RunnerKind::Maven => "maven",
            RunnerKind::Gradle => "gradle",
        }
    }

    /// What each runner can do through its command line.
    pub fn capabilities(self) -> Capabilities {
        let (can_select, can_order, can_shuffle) = match self {
            // pytest runs node ids in the order given on the command line.
            RunnerKind::Pytest => (true, true, false),
            // RSpec through a global ordering, as far as its groups allow.
            RunnerKind::Rspec => (true, true, true),
            // libtest sorts by name; its shuffle needs nightly's -Z unstable-options.
            RunnerKind::Cargo | RunnerKind::Libtest | RunnerKind::Nextest => (true, false, false),
            RunnerKind::Go | RunnerKind::Jest | RunnerKind::Vitest => (true, false, true),
            RunnerKind::Maven | RunnerKind::Gradle => (true, false, false),
        };
        Capabilities { can_select, can_order, can_shuffle }
    }

    fn valid_names() -> String {
        RunnerKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for RunnerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RunnerKind {
    type Err = RunnersError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let alias = match lower.as_str() {
            "py.test" => "pytest",
            "cargo-test" => "cargo",
            "cargo-nextest" => "nextest",
            "go-test" | "golang" => "go",
            "mvn" | "surefire" => "maven",
            other => other,
        };
        RunnerKind::ALL.into_iter().find(|k| k.name() == alias).ok_or_else(|| RunnersError::UnknownRunner {
            value: s.to_string(),
            valid: RunnerKind::valid_names(),
        })
    }
}

/// `--runner NAME|none|auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunnerChoice {
    /// Recognise the runner from the command ([`detect`]).
    #[default]
    Auto,
    /// Treat the command as opaque: whole-command diagnosis.
    None,
    /// This runner, whatever the command looks like.
    Force(RunnerKind),
}

impl FromStr for RunnerChoice {
    type Err = RunnersError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(RunnerChoice::Auto),
            "none" => Ok(RunnerChoice::None),
            _ => match s.parse() {
                Ok(k) => Ok(RunnerChoice::Force(k)),
                Err(_) => Err(RunnersError::UnknownRunner {
                    value: s.to_string(),
                    valid: format!("auto, none, {}", RunnerKind::valid_names()),
                }),
            },
        }
    }
}

/// Apply a `--runner` choice to a command. `Force` of a runner whose
/// launcher is not in the command (e.g. `./run_tests.sh` that ends in
/// `exec pytest "$@"`) appends the runner's options to the command as given.
pub fn choose(choice: RunnerChoice, argv: &[String], cwd: &Path) -> Detection {
    match choice {
        RunnerChoice::Auto => detect(argv, cwd),
        RunnerChoice::None => Detection::NotATestRunner,
        RunnerChoice::Force(kind) => match detect(argv, cwd) {
            Detection::Detected(a) if a.kind == kind => Detection::Detected(a),
            _ => Detection::Detected(Adapter::appending(kind, argv, cwd)),
        },
    }
}

/// What [`detect`] concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Detection {
    Detected(Adapter),
    /// It may run tests, but flakebox cannot tell how (a shell, a script, a
    /// build tool): whole-command diagnosis, and `--runner NAME` forces one.
    Unsure {
        reason: String,
    },
    NotATestRunner,
}

/// What a runner can do, as [`Invocation`] asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Run a chosen list of tests ([`Invocation::selection`]).
    pub can_select: bool,
    /// Run them in the order listed ([`Order::AsListed`]); RSpec as far as
    /// its tree of groups allows (the results give the order that ran).
    pub can_order: bool,
    /// Shuffle with a seed the runner reports and replays ([`Order::Shuffle`]).
    pub can_shuffle: bool,
}

/// A test, by the runner's own id (see each runner's id form in the README
/// and [`Adapter::plan`]). Pasteable into the runner where the runner has a
/// single-word id: `tests/test_x.py::test_y`, `./spec/a_spec.rb[1:2]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TestId(pub String);

impl TestId {
    pub fn new(id: impl Into<String>) -> Self {
        TestId(id.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// In what order the tests should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Whatever the command does (including a shuffle the user configured).
    #[default]
    AsCommand,
    /// The runner's deterministic order, any configured randomisation off
    /// (pytest-randomly disabled, RSpec `--order defined`, go `-shuffle=off`).
    Defined,
    /// The order of [`Invocation::selection`] (needs `can_order`).
    AsListed,
    /// The runner's own shuffle with this seed (needs `can_shuffle`).
    Shuffle { seed: u64 },
}

/// One run the caller wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invocation {
    /// The tests to run; `None` runs what the command runs. A runner may run
    /// more than asked (a name that also exists in another selected file,
    /// package or binary); those results are reported too.
    pub selection: Option<Vec<TestId>>,
    pub order: Order,
    /// A directory private to this run (created by the caller) where the
    /// runner writes its results; absolute, as the command will see it.
    pub results_dir: PathBuf,
}

/// The command to run, fully planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedCommand {
    pub argv: Vec<String>,
    /// Added to the command's environment.
    pub env: Vec<(String, String)>,
    /// Files to write before running (e.g. nextest's tool config).
    pub files: Vec<FileToWrite>,
    /// Where the per-test results will be.
    pub results: ResultSource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileToWrite {
    pub path: PathBuf,
    pub contents: String,
}

/// Where a run's per-test results are; the caller collects them into
/// [`CollectedResults`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResultSource {
    /// One file the runner writes (inside `results_dir`).
    File(PathBuf),
    /// Every `*.xml` file directly in these directories. They are inside the
    /// project, so files from earlier runs may be there: collect only files
    /// written during this run (the sandbox's copy-on-write layer knows).
    JunitDirs(Vec<PathBuf>),
    /// The runner's standard output.
    Stdout,
    /// Standard output and standard error as one stream, in order (both fds
    /// on one pipe or file): cargo says which test binary runs on stderr and
    /// the binary reports its tests on stdout.
    CombinedOutput,
}

/// What the caller collected for a [`ResultSource`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectedResults {
    /// The files (`File`: one, or none when the runner did not write it;
    /// `JunitDirs`: the `*.xml` files written during the run).
    #[serde(default)]
    pub files: Vec<ResultFile>,
    /// The output stream (`Stdout` / `CombinedOutput`).
    #[serde(default)]
    pub output: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultFile {
    pub path: PathBuf,
    pub contents: String,
}

/// One test's result, whatever the runner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    pub id: TestId,
    pub outcome: Outcome,
    /// As the runner reports it (libtest reports none).
    pub duration: Option<Duration>,
    /// The failure or error message, when the runner gives one.
    pub message: Option<String>,
    /// Failed attempts the runner retried before this outcome (nextest,
    /// Surefire); a pass with `flaky_reruns > 0` failed its first attempt.
    #[serde(default)]
    pub flaky_reruns: u32,
}

/// Errors: bad input named, with what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum RunnersError {
    #[error("unknown test runner `{}`: valid names are {valid}", .value.escape_debug())]
    UnknownRunner { value: String, valid: String },
    #[error("{runner} cannot {what}")]
    Unsupported { runner: RunnerKind, what: String },
    #[error("`{id}` is not a {runner} test id: {reason}")]
    BadTestId { runner: RunnerKind, id: String, reason: String },
    #[error("{runner} wrote no results at {path}: {hint}")]
    ResultsMissing { runner: RunnerKind, path: String, hint: String },
    #[error("{runner} results in {path} could not be read: {reason}")]
    BadResults { runner: RunnerKind, path: String, reason: String },
}

/// A recognised runner and the command that starts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adapter {
    pub kind: RunnerKind,
    /// The command as given.
    pub argv: Vec<String>,
    /// Its working directory (ids are relative to it).
    pub cwd: PathBuf,
    /// `argv[..runner_args_at]` starts the runner (`env X=1 python3 -m pytest`,
    /// `cargo +nightly test`, `bundle exec rspec`); the rest are the
    /// runner's own arguments, which plans rewrite.
    pub runner_args_at: usize,
}

impl Adapter {
    /// An adapter that treats all of `argv` as the launcher and appends the
    /// runner's options (`--runner NAME` on a wrapper script).
    pub fn appending(kind: RunnerKind, argv: &[String], cwd: &Path) -> Adapter {
        Adapter { kind, argv: argv.to_vec(), cwd: cwd.to_path_buf(), runner_args_at: argv.len() }
    }

    pub fn capabilities(&self) -> Capabilities {
        self.kind.capabilities()
    }

    pub(crate) fn launcher(&self) -> &[String] {
        &self.argv[..self.runner_args_at]
    }

    pub(crate) fn runner_args(&self) -> &[String] {
        &self.argv[self.runner_args_at..]
    }

    /// Plan one run: the argv and env that make the runner write per-test
    /// results to a private path in `results_dir` (or name the stream to
    /// read), run only `selection` and in `order`.
    pub fn plan(&self, inv: &Invocation) -> Result<PlannedCommand, RunnersError> {
        let caps = self.capabilities();
        match inv.order {
            Order::AsListed if !caps.can_order => {
                return Err(self.unsupported("run tests in a chosen order (it sorts or parallelises them)"))
            }
            Order::AsListed if inv.selection.is_none() => {
                return Err(self.unsupported("run tests in a listed order without a list of tests"))
            }
            Order::Shuffle { .. } if !caps.can_shuffle => {
                return Err(self.unsupported("shuffle with a seed from the command line"))
            }
            _ => {}
        }
        if let Some(sel) = &inv.selection {
            if sel.is_empty() {
                return Err(self.unsupported("run an empty selection of tests (it would run them all)"));
            }
        }
        match self.kind {
            RunnerKind::Pytest => pytest::plan(self, inv),
            RunnerKind::Cargo => cargo::plan_cargo(self, inv),
            RunnerKind::Libtest => cargo::plan_libtest(self, inv),
            RunnerKind::Nextest => nextest::plan(self, inv),
            RunnerKind::Go => gotest::plan(self, inv),
            RunnerKind::Jest => js::plan_jest(self, inv),
            RunnerKind::Vitest => js::plan_vitest(self, inv),
            RunnerKind::Rspec => rspec::plan(self, inv),
            RunnerKind::Maven => jvm::plan_maven(self, inv),
            RunnerKind::Gradle => jvm::plan_gradle(self, inv),
        }
    }

    /// Read the results the planned run produced, in the order the runner
    /// reports them: the order they ran for pytest, go, Jest and RSpec
    /// (within a file or package; files and packages may run in parallel),
    /// libtest's completion order, Vitest's definition order. Tests that a
    /// selection filtered out may be reported as skipped (Jest, Vitest).
    pub fn parse(&self, collected: &CollectedResults) -> Result<Vec<TestResult>, RunnersError> {
        match self.kind {
            RunnerKind::Pytest => pytest::parse(self, collected),
            RunnerKind::Cargo => cargo::parse(self, collected, true),
            RunnerKind::Libtest => cargo::parse(self, collected, false),
            RunnerKind::Nextest => nextest::parse(self, collected),
            RunnerKind::Go => gotest::parse(self, collected),
            RunnerKind::Jest | RunnerKind::Vitest => js::parse(self, collected),
            RunnerKind::Rspec => rspec::parse(self, collected),
            RunnerKind::Maven | RunnerKind::Gradle => jvm::parse(self, collected),
        }
    }

    pub(crate) fn unsupported(&self, what: &str) -> RunnersError {
        RunnersError::Unsupported { runner: self.kind, what: what.to_string() }
    }

    pub(crate) fn bad_id(&self, id: &TestId, reason: &str) -> RunnersError {
        RunnersError::BadTestId { runner: self.kind, id: id.0.clone(), reason: reason.to_string() }
    }

    /// The one result file a `File` plan names (`name` in the run's
    /// results directory), or why it is missing.
    pub(crate) fn single_file<'a>(
        &self,
        collected: &'a CollectedResults,
        name: &str,
        hint: &str,
    ) -> Result<&'a ResultFile, RunnersError> {
        collected.files.first().ok_or_else(|| RunnersError::ResultsMissing {
            runner: self.kind,
            path: format!("{name} in the run's results directory"),
            hint: hint.to_string(),
        })
    }

    pub(crate) fn output<'a>(&self, collected: &'a CollectedResults) -> Result<&'a str, RunnersError> {
        collected.output.as_deref().ok_or_else(|| RunnersError::ResultsMissing {
            runner: self.kind,
            path: "the output".to_string(),
            hint: "the output stream was not collected".to_string(),
        })
    }
}

/// JUnit test cases to results, ids made by `id` and repeated ids made
/// unique with `#2`, `#3`, … (as the diagnose engine does).
pub(crate) fn from_junit(
    cases: Vec<junit::JunitCase>,
    id: impl Fn(&junit::JunitCase) -> String,
) -> Vec<TestResult> {
    let mut seen: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    cases
        .into_iter()
        .map(|c| {
            let mut name = id(&c);
            let n = seen.entry(name.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                name = format!("{name}#{n}");
            }
            TestResult {
                id: TestId(name),
                outcome: c.outcome,
                duration: c.time.and_then(secs),
                message: c.message,
                flaky_reruns: c.flaky_reruns,
            }
        })
        .collect()
}

/// `path` relative to `dir` when it is inside it (runners report absolute
/// paths; `dir` may be spelled with `..`, which is resolved lexically),
/// else `path` unchanged.
pub(crate) fn relative_to(dir: &Path, path: &str) -> String {
    Path::new(path)
        .strip_prefix(lexical(dir))
        .or_else(|_| Path::new(path).strip_prefix(dir))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.to_string())
}

/// `p` with `.` and `..` resolved lexically.
pub(crate) fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Seconds (as runners write them) to a [`Duration`]; `None` for nonsense.
pub(crate) fn secs(s: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the property tests (crates/flakebox/tests/parsers.rs): a
    /// control character in the name broke the message over two lines.
    #[test]
    fn bad_runner_names_stay_on_one_line() {
        let err = "je \re \r".parse::<RunnerChoice>().unwrap_err().to_string();
        assert!(err.starts_with("unknown test runner `je \\re \\r`:"), "{err}");
    }

    #[test]
    fn runner_names_round_trip_and_bad_names_are_named() {
        for k in RunnerKind::ALL {
            assert_eq!(k.name().parse::<RunnerKind>(), Ok(k));
        }
        assert_eq!("PyTest".parse::<RunnerKind>(), Ok(RunnerKind::Pytest));
        let err = "pyest".parse::<RunnerKind>().unwrap_err().to_string();
        assert!(err.contains("`pyest`") && err.contains("pytest, cargo, libtest"), "{err}");
        assert_eq!("none".parse::<RunnerChoice>(), Ok(RunnerChoice::None));
        assert_eq!("go".parse::<RunnerChoice>(), Ok(RunnerChoice::Force(RunnerKind::Go)));
        let err = "nose".parse::<RunnerChoice>().unwrap_err().to_string();
        assert!(err.contains("`nose`") && err.contains("auto, none, pytest"), "{err}");
    }

    #[test]
    fn forcing_a_runner_on_a_script_appends_its_options() {
        let argv: Vec<String> = vec!["./run_tests.sh".into()];
        let Detection::Detected(a) = choose(RunnerChoice::Force(RunnerKind::Pytest), &argv, Path::new("/p"))
        else {
            panic!("forced")
        };
        let p = a
            .plan(&Invocation { selection: None, order: Order::AsCommand, results_dir: "/r".into() })
            .unwrap();
        assert_eq!(p.argv[0], "./run_tests.sh");
        assert!(p.argv.contains(&"--junitxml=/r/pytest-junit.xml".to_string()));
        assert_eq!(choose(RunnerChoice::None, &argv, Path::new("/p")), Detection::NotATestRunner);
    }

    #[test]
    fn paths_relative_to_a_directory_spelled_with_dots() {
        assert_eq!(relative_to(Path::new("/a/b/../c/./d"), "/a/c/d/x.test.js"), "x.test.js");
        assert_eq!(relative_to(Path::new("/a"), "/b/x.js"), "/b/x.js");
    }

    #[test]
    fn unsupported_orders_are_refused_with_the_reason() {
        let a = Adapter::appending(RunnerKind::Cargo, &["cargo".into(), "test".into()], Path::new("/p"));
        let inv = Invocation {
            selection: Some(vec![TestId::new("lib:x::t")]),
            order: Order::AsListed,
            results_dir: "/r".into(),
        };
        let err = a.plan(&inv).unwrap_err().to_string();
        assert!(err.starts_with("cargo cannot run tests in a chosen order"), "{err}");
        let inv = Invocation { selection: Some(vec![]), order: Order::AsCommand, results_dir: "/r".into() };
        assert!(a.plan(&inv).is_err());
    }
}
