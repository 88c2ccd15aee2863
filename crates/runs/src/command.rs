//! What each run executes: a plug-in that maps a [`RunSpec`] to the command
//! line, its extra environment and the result files to carry out of the
//! sandbox, and reads those files as per-test results. The default,
//! [`UserCommand`], runs the user's command unchanged and reads `--junit`;
//! [`AdapterCommand`] asks a test-runner adapter (crate `runners`) for the
//! command line of each run: private results, the selected tests, an order.

use crate::error::RunsError;
use diagnose::{JunitFile, RunSpec, TestCase};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// One run's command, as a [`RunCommand`] plans it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandPlan {
    pub argv: Vec<OsString>,
    /// Set in the command's environment (after the caller's own).
    pub env: Vec<(OsString, OsString)>,
    /// Files the command writes (absolute paths as the command sees them),
    /// carried out of the sandbox when it ends and handed to
    /// [`RunCommand::results`].
    pub collect: Vec<PathBuf>,
    /// Files written into the sandbox's private directory before the
    /// command starts: (name, contents), e.g. a runner's tool config.
    pub files: Vec<(String, String)>,
    /// Whether [`RunCommand::results`] needs the command's whole output
    /// (stdout and stderr, as one stream).
    pub output: bool,
}

/// A run's per-test results: JUnit files for the engine to read, and tests
/// an adapter has already read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunResults {
    pub junit: Vec<JunitFile>,
    pub tests: Vec<TestCase>,
}

/// A path [`CommandPlan::collect`] named, after the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    pub path: PathBuf,
    /// What the run left there, or why there is nothing (it did not write it).
    pub contents: Result<Contents, String>,
}

/// What a run wrote at a collected path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contents {
    /// A file's text.
    File(String),
    /// A directory (a runner's report directory): the text of each file
    /// directly in it, by its path as the command saw it, in name order.
    Dir(Vec<(PathBuf, String)>),
}

/// Maps each run to its command and reads its per-test results.
/// `Send + Sync`: parallel runs (timetravel's probes) share one.
pub trait RunCommand: Send + Sync {
    fn plan(&self, spec: &RunSpec) -> Result<CommandPlan, RunsError>;

    /// The run's per-test results, from the collected files (in the plan's
    /// order) and, when the plan asked for it, the command's output. The
    /// default takes each file (and each `*.xml` file of a directory) as
    /// JUnit XML.
    fn results(&self, _spec: &RunSpec, collected: Vec<Collected>, _output: Option<String>) -> RunResults {
        RunResults {
            junit: collected.into_iter().flat_map(Collected::into_junit).collect(),
            tests: Vec::new(),
        }
    }
}

impl Collected {
    fn into_junit(self) -> Vec<JunitFile> {
        let path = self.path.display().to_string();
        match self.contents {
            Ok(Contents::File(text)) => vec![JunitFile { path, contents: Ok(text) }],
            Ok(Contents::Dir(files)) => files
                .into_iter()
                .filter(|(p, _)| is_xml(p))
                .map(|(p, text)| JunitFile { path: p.display().to_string(), contents: Ok(text) })
                .collect(),
            Err(e) => vec![JunitFile { path, contents: Err(e) }],
        }
    }

    /// Read what the sandbox copied out for `path` to `copy`.
    pub fn read(path: &Path, copy: &Path) -> Collected {
        let contents = match std::fs::read_dir(copy) {
            Ok(entries) => {
                let mut names: Vec<std::ffi::OsString> =
                    entries.filter_map(Result::ok).map(|e| e.file_name()).collect();
                names.sort();
                Ok(Contents::Dir(
                    names
                        .into_iter()
                        .filter_map(|n| Some((path.join(&n), std::fs::read_to_string(copy.join(&n)).ok()?)))
                        .collect(),
                ))
            }
            Err(_) => std::fs::read_to_string(copy)
                .map(Contents::File)
                .map_err(|e| format!("{} was not written by this run: {e}", path.display())),
        };
        Collected { path: path.to_path_buf(), contents }
    }
}

/// A test the run's selection left out that the runner reports as skipped
/// (Jest and Vitest filter by name within a file): it did not run, so it is
/// no result of this run. One that ran anyway is kept.
fn filtered_out(spec: &RunSpec, r: &runners::TestResult) -> bool {
    r.outcome == runners::Outcome::Skipped
        && spec.tests.as_ref().is_some_and(|sel| !sel.iter().any(|t| t.as_str() == r.id.as_str()))
}

fn is_xml(p: &Path) -> bool {
    p.extension().is_some_and(|x| x == "xml")
}

/// The user's command, unchanged whatever the spec's test selection, and
/// the JUnit file it writes (`--junit PATH`), if any.
#[derive(Debug, Clone)]
pub struct UserCommand {
    pub argv: Vec<OsString>,
    pub junit: Option<PathBuf>,
}

impl RunCommand for UserCommand {
    fn plan(&self, _spec: &RunSpec) -> Result<CommandPlan, RunsError> {
        Ok(CommandPlan {
            argv: self.argv.clone(),
            env: Vec::new(),
            collect: self.junit.iter().cloned().collect(),
            files: Vec::new(),
            output: false,
        })
    }
}

/// A recognised test runner's command: each run's argv, environment and
/// result files come from the adapter, so per-test results need no wiring
/// and a run can select tests (`RunSpec::tests`, in the order given when the
/// runner can order them).
#[derive(Debug, Clone)]
pub struct AdapterCommand {
    pub adapter: runners::Adapter,
    /// Where the runner writes its results, as the command sees it: the
    /// sandbox's private directory, which every run has afresh.
    pub results_dir: PathBuf,
}

impl AdapterCommand {
    pub fn new(adapter: runners::Adapter) -> Self {
        AdapterCommand { adapter, results_dir: PathBuf::from(sandbox::PRIVATE_DIR) }
    }

    fn invocation(&self, spec: &RunSpec) -> runners::Invocation {
        let order = match (&spec.tests, self.adapter.capabilities().can_order) {
            (Some(_), true) => runners::Order::AsListed,
            _ => runners::Order::AsCommand,
        };
        runners::Invocation {
            selection: spec.tests.as_ref().map(|t| t.iter().map(runners::TestId::new).collect()),
            order,
            results_dir: self.results_dir.clone(),
        }
    }
}

impl RunCommand for AdapterCommand {
    fn plan(&self, spec: &RunSpec) -> Result<CommandPlan, RunsError> {
        let planned =
            self.adapter.plan(&self.invocation(spec)).map_err(|e| RunsError::Invalid(e.to_string()))?;
        let mut files = Vec::new();
        for f in planned.files {
            // The adapter names files in the results directory: the
            // sandbox's private directory, written by name.
            match (f.path.parent() == Some(self.results_dir.as_path()), f.path.file_name()) {
                (true, Some(name)) => files.push((name.to_string_lossy().into_owned(), f.contents)),
                _ => {
                    return Err(RunsError::Invalid(format!(
                        "{} wants {} written outside its results directory",
                        self.adapter.kind,
                        f.path.display()
                    )))
                }
            }
        }
        let (collect, output) = match &planned.results {
            runners::ResultSource::File(p) => (vec![p.clone()], false),
            runners::ResultSource::JunitDirs(dirs) => (dirs.clone(), false),
            runners::ResultSource::Stdout | runners::ResultSource::CombinedOutput => (Vec::new(), true),
        };
        Ok(CommandPlan {
            argv: planned.argv.into_iter().map(OsString::from).collect(),
            env: planned.env.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
            collect,
            files,
            output,
        })
    }

    fn results(&self, spec: &RunSpec, collected: Vec<Collected>, output: Option<String>) -> RunResults {
        // Named for messages before `collected` is consumed: the plan's
        // result paths are what was collected.
        let what = self.describe(&collected);
        let missing = |reason: String| RunResults {
            junit: vec![JunitFile { path: what.clone(), contents: Err(reason) }],
            tests: Vec::new(),
        };
        let mut files = Vec::new();
        for c in collected {
            match c.contents {
                Ok(Contents::File(contents)) => files.push(runners::ResultFile { path: c.path, contents }),
                // A report directory: its JUnit files, as this run wrote them
                // (the sandbox removes the directory before the run starts).
                Ok(Contents::Dir(dir)) => files.extend(
                    dir.into_iter()
                        .filter(|(p, _)| is_xml(p))
                        .map(|(path, contents)| runners::ResultFile { path, contents }),
                ),
                Err(_) => {}
            }
        }
        match self.adapter.parse(&runners::CollectedResults { files, output }) {
            Ok(results) => RunResults {
                junit: Vec::new(),
                tests: results
                    .into_iter()
                    .filter(|r| !filtered_out(spec, r))
                    .map(|r| TestCase { name: r.id.0, outcome: r.outcome, flaky_reruns: r.flaky_reruns })
                    .collect(),
            },
            Err(e) => missing(e.to_string()),
        }
    }
}

impl AdapterCommand {
    /// The results a run should have given, for messages: the files or
    /// report directories collected, else the runner's output.
    fn describe(&self, collected: &[Collected]) -> String {
        let kind = self.adapter.kind;
        if collected.is_empty() {
            return format!("{kind}'s per-test output");
        }
        let paths: Vec<String> = collected.iter().map(|c| c.path.display().to_string()).collect();
        format!("{} ({kind}'s results)", paths.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diagnose::Outcome;
    use factors::FactorSet;

    const SUREFIRE: &str = r#"<testsuite name="ex.ATest" tests="2">
        <testcase name="one" classname="ex.ATest" time="0.2"/>
        <testcase name="two" classname="ex.ATest" time="0.0"><skipped/></testcase></testsuite>"#;

    /// A Maven adapter and a report directory as the sandbox copies it out.
    fn surefire_copy(dir: &Path) -> (AdapterCommand, Collected) {
        let copy = dir.join("result-1-0");
        std::fs::create_dir(&copy).expect("copy dir");
        std::fs::write(copy.join("TEST-ex.ATest.xml"), SUREFIRE).expect("xml");
        std::fs::write(copy.join("ex.ATest.txt"), "summary").expect("txt");
        let argv: Vec<String> = vec!["mvn".into(), "test".into()];
        let runners::Detection::Detected(a) = runners::detect(&argv, Path::new("/project")) else {
            panic!("mvn test is Maven")
        };
        let inside = Path::new("/project/target/surefire-reports");
        (AdapterCommand::new(a), Collected::read(inside, &copy))
    }

    #[test]
    fn a_collected_report_directory_is_read_from_its_copy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cmd, collected) = surefire_copy(dir.path());
        let inside = Path::new("/project/target/surefire-reports");
        assert_eq!(
            collected.contents,
            Ok(Contents::Dir(vec![
                (inside.join("TEST-ex.ATest.xml"), SUREFIRE.to_string()),
                (inside.join("ex.ATest.txt"), "summary".to_string()),
            ])),
            "named as the command saw them"
        );
        let read = cmd.results(&RunSpec::suite(FactorSet::default(), 0), vec![collected], None);
        let got: Vec<(&str, Outcome)> = read.tests.iter().map(|t| (t.name.as_str(), t.outcome)).collect();
        assert_eq!(got, vec![("ex.ATest#one", Outcome::Passed), ("ex.ATest#two", Outcome::Skipped)]);
        assert!(read.junit.is_empty());
        let missing = Collected::read(Path::new("/w/j.xml"), &dir.path().join("never"));
        assert!(missing.contents.is_err_and(|e| e.contains("/w/j.xml was not written by this run")));
    }

    #[test]
    fn a_skipped_test_the_selection_left_out_is_no_result() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cmd, collected) = surefire_copy(dir.path());
        let spec = |tests: &[&str]| RunSpec {
            tests: Some(tests.iter().map(|t| t.to_string()).collect()),
            ..RunSpec::suite(FactorSet::default(), 1)
        };
        let names = |spec: &RunSpec| -> Vec<String> {
            cmd.results(spec, vec![collected.clone()], None).tests.into_iter().map(|t| t.name).collect()
        };
        assert_eq!(names(&spec(&["ex.ATest#one"])), vec!["ex.ATest#one"]);
        // Selected and skipped (an `@Disabled` test): a result.
        assert_eq!(names(&spec(&["ex.ATest#one", "ex.ATest#two"])), vec!["ex.ATest#one", "ex.ATest#two"]);
    }

    #[test]
    fn the_user_command_is_run_unchanged_and_its_junit_read() {
        let cmd =
            UserCommand { argv: vec!["pytest".into(), "-q".into()], junit: Some("/w/report.xml".into()) };
        let spec = RunSpec { tests: Some(vec!["t::a".into()]), ..RunSpec::suite(FactorSet::all(), 3) };
        let plan = cmd.plan(&spec).expect("plan");
        assert_eq!(plan.argv, vec![OsString::from("pytest"), OsString::from("-q")]);
        assert_eq!(plan.collect, vec![PathBuf::from("/w/report.xml")]);
        assert!(plan.env.is_empty());
        let read = cmd.results(
            &spec,
            vec![Collected {
                path: "/w/report.xml".into(),
                contents: Ok(Contents::File("<testsuite/>".into())),
            }],
            None,
        );
        assert_eq!(
            read.junit,
            vec![JunitFile { path: "/w/report.xml".into(), contents: Ok("<testsuite/>".into()) }]
        );
        let none = UserCommand { argv: vec!["make".into()], junit: None };
        assert!(none.plan(&spec).expect("plan").collect.is_empty());
    }
}
