//! Which command every run of `diagnose` and `timetravel` executes, as
//! `--runner` and `--junit` choose: a recognised test runner's, planned per
//! run by its adapter (per-test results with no wiring), or the user's,
//! unchanged (per-test results only from its `--junit` file).

use anyhow::Result;
use runners::{Adapter, Detection, RunnerChoice};
use runs::{AdapterCommand, RunCommand, UserCommand};
use std::ffi::OsString;
use std::path::Path;

/// The command chosen for every run.
pub struct Chosen {
    pub command: Box<dyn RunCommand>,
    /// The test runner recognised or forced, if any.
    pub adapter: Option<Adapter>,
    /// The command may run tests but no runner was recognised: why. The
    /// command runs as a whole; `--runner NAME` would name its runner.
    pub unsure: Option<String>,
}

/// Choose from `--runner` (`auto`, `none` or a runner's name) and `--junit`
/// (relative to `cwd`). `--junit` is the user's own wiring: it wins over
/// recognising the runner, unless `--runner` names one.
pub fn choose(runner: &str, junit: Option<&Path>, command: &[OsString], cwd: &Path) -> Result<Chosen> {
    let choice: RunnerChoice = runner.parse().map_err(|e| anyhow::anyhow!("--runner: {e}"))?;
    let junit = junit.map(|p| cwd.join(p));
    let argv: Vec<String> = command.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let detection = match (&junit, choice) {
        (Some(_), RunnerChoice::Auto) => Detection::NotATestRunner,
        _ => runners::choose(choice, &argv, cwd),
    };
    let (adapter, unsure) = match detection {
        Detection::Detected(a) => (Some(a), None),
        Detection::Unsure { reason } => (None, Some(reason)),
        Detection::NotATestRunner => (None, None),
    };
    let command: Box<dyn RunCommand> = match &adapter {
        Some(a) => Box::new(AdapterCommand::new(a.clone())),
        None => Box::new(UserCommand { argv: command.to_vec(), junit }),
    };
    Ok(Chosen { command, adapter, unsure })
}

impl Chosen {
    /// The note for an unsure detection; `doing` is what happens to the
    /// command instead ("diagnosing", "probing").
    pub fn unsure_note(&self, doing: &str) -> Option<String> {
        self.unsure.as_ref().map(|reason| format!("note: {doing} the command as a whole: {reason}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diagnose::RunSpec;
    use factors::FactorSet;
    use std::path::PathBuf;

    fn argv(cmd: &str) -> Vec<OsString> {
        cmd.split_whitespace().map(OsString::from).collect()
    }

    fn planned(c: &Chosen) -> (Vec<String>, Vec<PathBuf>) {
        let plan = c.command.plan(&RunSpec::suite(FactorSet::all(), 0)).expect("plan");
        (plan.argv.iter().map(|a| a.to_string_lossy().into_owned()).collect(), plan.collect)
    }

    #[test]
    fn a_recognised_runner_gets_its_results_with_no_wiring() {
        let c = choose("auto", None, &argv("python3 -m pytest -q"), Path::new("/p")).expect("choose");
        assert_eq!(c.adapter.as_ref().map(|a| a.kind), Some(runners::RunnerKind::Pytest));
        assert_eq!(c.unsure_note("probing"), None);
        let (argv, collect) = planned(&c);
        let private = Path::new(sandbox::PRIVATE_DIR).join("pytest-junit.xml");
        assert!(argv.contains(&format!("--junitxml={}", private.display())), "{argv:?}");
        assert_eq!(collect, vec![private]);
    }

    #[test]
    fn junit_wins_over_auto_but_not_over_a_named_runner() {
        let cmd = argv("pytest -q --junitxml=r.xml");
        let c = choose("auto", Some(Path::new("r.xml")), &cmd, Path::new("/p")).expect("choose");
        assert!(c.adapter.is_none());
        assert_eq!(
            planned(&c),
            (vec!["pytest".into(), "-q".into(), "--junitxml=r.xml".into()], vec![PathBuf::from("/p/r.xml")])
        );
        let c = choose("pytest", Some(Path::new("r.xml")), &cmd, Path::new("/p")).expect("choose");
        assert_eq!(c.adapter.as_ref().map(|a| a.kind), Some(runners::RunnerKind::Pytest));
    }

    #[test]
    fn none_runs_the_command_as_a_whole_and_a_script_is_unsure() {
        let c = choose("none", None, &argv("pytest -q"), Path::new("/p")).expect("choose");
        assert!(c.adapter.is_none() && c.unsure.is_none());
        assert_eq!(planned(&c), (vec!["pytest".into(), "-q".into()], vec![]));
        let c = choose("auto", None, &argv("./run_tests.sh"), Path::new("/p")).expect("choose");
        assert!(c.adapter.is_none());
        let note = c.unsure_note("probing").expect("unsure");
        assert!(note.contains("probing the command as a whole") && note.contains("--runner NAME"), "{note}");
        let c = choose("pytest", None, &argv("./run_tests.sh"), Path::new("/p")).expect("choose");
        assert_eq!(planned(&c).0[0], "./run_tests.sh");
        assert!(c.adapter.is_some());
    }

    #[test]
    fn a_bad_runner_name_is_named() {
        let err = choose("nose", None, &argv("pytest"), Path::new("/p")).err().expect("refused").to_string();
        assert!(
            err.starts_with("--runner: unknown test runner `nose`") && err.contains("auto, none"),
            "{err}"
        );
    }
}
