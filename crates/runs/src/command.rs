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

/// A file [`CommandPlan::collect`] named, after the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    pub path: PathBuf,
    /// Its text, or why there is none (the run did not write it).
    pub contents: Result<String, String>,
}

/// Maps each run to its command and reads its per-test results.
/// `Send + Sync`: parallel runs (timetravel's probes) share one.
pub trait RunCommand: Send + Sync {
    fn plan(&self, spec: &RunSpec) -> Result<CommandPlan, RunsError>;

    /// The run's per-test results, from the collected files (in the plan's
    /// order) and, when the plan asked for it, the command's output. The
    /// default takes each file as JUnit XML.
    fn results(&self, _spec: &RunSpec, collected: Vec<Collected>, _output: Option<String>) -> RunResults {
        RunResults { junit: collected.into_iter().map(Collected::into_junit).collect(), tests: Vec::new() }
    }
}

impl Collected {
    fn into_junit(self) -> JunitFile {
        JunitFile { path: self.path.display().to_string(), contents: self.contents }
    }
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

    /// What a run's results look like when the runner wrote none: the path
    /// (for messages) and the source.
    fn source(&self, spec: &RunSpec) -> Option<runners::ResultSource> {
        self.adapter.plan(&self.invocation(spec)).ok().map(|p| p.results)
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
        let source = self.source(spec);
        let missing = |reason: String| RunResults {
            junit: vec![JunitFile { path: self.describe(source.as_ref()), contents: Err(reason) }],
            tests: Vec::new(),
        };
        let mut files = Vec::new();
        for c in collected {
            match c.contents {
                Ok(contents) => files.push(runners::ResultFile { path: c.path, contents }),
                Err(_) if c.path.is_dir() => files.extend(junit_files_in(&c.path)),
                Err(_) => {}
            }
        }
        match self.adapter.parse(&runners::CollectedResults { files, output }) {
            Ok(results) => RunResults {
                junit: Vec::new(),
                tests: results
                    .into_iter()
                    .map(|r| TestCase { name: r.id.0, outcome: r.outcome, flaky_reruns: r.flaky_reruns })
                    .collect(),
            },
            Err(e) => missing(e.to_string()),
        }
    }
}

impl AdapterCommand {
    fn describe(&self, source: Option<&runners::ResultSource>) -> String {
        match source {
            Some(runners::ResultSource::File(p)) => {
                format!("{} ({}'s results)", p.display(), self.adapter.kind)
            }
            Some(runners::ResultSource::JunitDirs(d)) => {
                let dirs: Vec<String> = d.iter().map(|p| p.display().to_string()).collect();
                format!("{} ({}'s JUnit reports)", dirs.join(", "), self.adapter.kind)
            }
            _ => format!("{}'s per-test output", self.adapter.kind),
        }
    }
}

/// The `*.xml` files in a directory carried out of the sandbox.
fn junit_files_in(dir: &Path) -> Vec<runners::ResultFile> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|path| Some(runners::ResultFile { contents: std::fs::read_to_string(&path).ok()?, path }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use factors::FactorSet;

    #[test]
    fn the_user_command_is_run_unchanged_and_its_junit_read() {
        let cmd =
            UserCommand { argv: vec!["pytest".into(), "-q".into()], junit: Some("/w/report.xml".into()) };
        let spec = RunSpec {
            isolate: FactorSet::all(),
            run_no: 3,
            tests: Some(vec!["t::a".into()]),
            screening: false,
        };
        let plan = cmd.plan(&spec).expect("plan");
        assert_eq!(plan.argv, vec![OsString::from("pytest"), OsString::from("-q")]);
        assert_eq!(plan.collect, vec![PathBuf::from("/w/report.xml")]);
        assert!(plan.env.is_empty());
        let read = cmd.results(
            &spec,
            vec![Collected { path: "/w/report.xml".into(), contents: Ok("<testsuite/>".into()) }],
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
