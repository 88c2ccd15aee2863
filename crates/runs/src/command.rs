//! What each run executes: a plug-in that maps a [`RunSpec`] to the command
//! line, its extra environment and the result files to carry out of the
//! sandbox, and reads those files as per-test results. The default,
//! [`UserCommand`], runs the user's command unchanged and reads `--junit`.

use diagnose::{JunitFile, RunSpec};
use std::ffi::OsString;
use std::path::PathBuf;

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
    fn plan(&self, spec: &RunSpec) -> CommandPlan;

    /// The run's per-test results as JUnit, from the collected files (in the
    /// plan's order). The default takes each file as JUnit XML.
    fn results(&self, _spec: &RunSpec, collected: Vec<Collected>) -> Vec<JunitFile> {
        collected
            .into_iter()
            .map(|c| JunitFile { path: c.path.display().to_string(), contents: c.contents })
            .collect()
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
    fn plan(&self, _spec: &RunSpec) -> CommandPlan {
        CommandPlan {
            argv: self.argv.clone(),
            env: Vec::new(),
            collect: self.junit.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use factors::FactorSet;

    #[test]
    fn the_user_command_is_run_unchanged_and_its_junit_read() {
        let cmd =
            UserCommand { argv: vec!["pytest".into(), "-q".into()], junit: Some("/w/report.xml".into()) };
        let spec = RunSpec { isolate: FactorSet::all(), run_no: 3, tests: Some(vec!["t::a".into()]) };
        let plan = cmd.plan(&spec);
        assert_eq!(plan.argv, vec![OsString::from("pytest"), OsString::from("-q")]);
        assert_eq!(plan.collect, vec![PathBuf::from("/w/report.xml")]);
        assert!(plan.env.is_empty());
        let read = cmd.results(
            &spec,
            vec![Collected { path: "/w/report.xml".into(), contents: Ok("<testsuite/>".into()) }],
        );
        assert_eq!(
            read,
            vec![JunitFile { path: "/w/report.xml".into(), contents: Ok("<testsuite/>".into()) }]
        );
        let none = UserCommand { argv: vec!["make".into()], junit: None };
        assert!(none.plan(&spec).collect.is_empty());
    }
}
