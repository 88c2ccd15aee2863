//! pytest: results through a private `--junitxml` (xunit1, whose `file`
//! attribute gives node ids exactly), selection by node ids, which pytest
//! runs in the order given.
//!
//! Ids: pytest node ids, `tests/test_x.py::TestY::test_z[param]`, relative
//! to pytest's rootdir (the directory of its ini file; the working directory
//! when there is none). Pasteable: `pytest ID...`.

use crate::args::{has_opt, scan, without_opts, without_positionals, words, Syntax};
use crate::{from_junit, Adapter, CollectedResults, Invocation, Order, PlannedCommand, ResultSource};
use crate::{RunnersError, TestResult};

/// pytest options (and common plugins') whose value may be the next word.
const VALUE_OPTS: &[&str] = &[
    "-k",
    "-m",
    "-p",
    "-o",
    "-c",
    "-r",
    "-W",
    "-n",
    "--junitxml",
    "--junit-xml",
    "--junit-prefix",
    "--junitprefix",
    "--maxfail",
    "--tb",
    "--ignore",
    "--ignore-glob",
    "--deselect",
    "--rootdir",
    "--confcutdir",
    "--basetemp",
    "--log-level",
    "--log-file",
    "--log-file-level",
    "--log-cli-level",
    "--log-format",
    "--log-date-format",
    "--durations",
    "--durations-min",
    "--override-ini",
    "--capture",
    "--import-mode",
    "--color",
    "--code-highlight",
    "--show-capture",
    "--config-file",
    "--pythonwarnings",
    "--verbosity",
    "--cov",
    "--cov-report",
    "--cov-config",
    "--cov-fail-under",
    "--numprocesses",
    "--dist",
    "--maxprocesses",
    "--timeout",
    "--reruns",
    "--reruns-delay",
    "--randomly-seed",
    "--report-log",
    "--html",
];

/// Options of the cache plugin: with one of these the cache stays on.
const CACHE_OPTS: &[&str] = &[
    "--lf",
    "--last-failed",
    "--ff",
    "--failed-first",
    "--nf",
    "--new-first",
    "--sw",
    "--stepwise",
    "--sw-skip",
    "--stepwise-skip",
    "--cache-show",
    "--cache-clear",
    "--lfnf",
    "--last-failed-no-failures",
];

const SYNTAX: Syntax<'static> =
    Syntax { takes_value: VALUE_OPTS, short_letters: true, double_dash_rest: false };

pub(crate) const FILE: &str = "pytest-junit.xml";

pub(crate) fn plan(a: &Adapter, inv: &Invocation) -> Result<PlannedCommand, RunnersError> {
    let mut args = without_opts(scan(a.runner_args(), &SYNTAX), &["--junitxml", "--junit-xml"]);
    if inv.selection.is_some() {
        // The paths and node ids the command named give way to the selection.
        args = without_positionals(args);
    }
    let mut argv = a.launcher().to_vec();
    argv.extend(words(&args));
    // No .pytest_cache written into the project (unless the command uses it).
    if !has_opt(&args, CACHE_OPTS) {
        argv.extend(["-p".into(), "no:cacheprovider".into()]);
    }
    if matches!(inv.order, Order::Defined | Order::AsListed) {
        // pytest-randomly reorders (and reseeds) when installed; harmless when not.
        argv.extend(["-p".into(), "no:randomly".into()]);
        if has_opt(&args, &["-n", "--numprocesses"]) {
            // xdist spreads tests over workers in no fixed order.
            argv.push("-n0".into());
        }
    }
    let file = inv.results_dir.join(FILE);
    argv.push(format!("--junitxml={}", file.display()));
    argv.extend(["-o".into(), "junit_family=xunit1".into()]);
    if let Some(sel) = &inv.selection {
        for id in sel {
            if id.0.is_empty() || id.0.starts_with('-') {
                return Err(a.bad_id(id, "a node id is a path, optionally followed by ::names"));
            }
            argv.push(id.0.clone());
        }
    }
    Ok(PlannedCommand { argv, env: Vec::new(), files: Vec::new(), results: ResultSource::File(file) })
}

pub(crate) fn parse(a: &Adapter, c: &CollectedResults) -> Result<Vec<TestResult>, RunnersError> {
    let f = a.single_file(
        c,
        FILE,
        "pytest did not write its --junitxml file: it did not start or stopped early (see its output)",
    )?;
    let cases = crate::junit::parse_cases(&f.contents).map_err(|e| RunnersError::BadResults {
        runner: a.kind,
        path: f.path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(from_junit(cases, |c| c.to_test_case().name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::adapter;
    use crate::{Outcome, ResultFile, TestId};

    #[test]
    fn plans_private_junit_selection_and_order() {
        let a = adapter("python3 -m pytest -x -k slow --junitxml=mine.xml tests/");
        let inv = Invocation {
            selection: Some(vec![TestId::new("tests/b.py::test_y"), TestId::new("tests/a.py::test_x")]),
            order: Order::AsListed,
            results_dir: "/r".into(),
        };
        let p = a.plan(&inv).unwrap();
        assert_eq!(
            p.argv.join(" "),
            "python3 -m pytest -x -k slow -p no:cacheprovider -p no:randomly --junitxml=/r/pytest-junit.xml \
             -o junit_family=xunit1 tests/b.py::test_y tests/a.py::test_x"
        );
        assert_eq!(p.results, ResultSource::File("/r/pytest-junit.xml".into()));

        let a = adapter("pytest --lf -n 4 tests/");
        let p =
            a.plan(&Invocation { selection: None, order: Order::Defined, results_dir: "/r".into() }).unwrap();
        assert_eq!(
            p.argv.join(" "),
            "pytest --lf -n 4 tests/ -p no:randomly -n0 --junitxml=/r/pytest-junit.xml -o junit_family=xunit1"
        );
        let err = a
            .plan(&Invocation {
                selection: Some(vec![TestId::new("--co")]),
                order: Order::AsCommand,
                results_dir: "/r".into(),
            })
            .unwrap_err();
        assert!(matches!(err, RunnersError::BadTestId { .. }));
        assert!(a
            .plan(&Invocation {
                selection: None,
                order: Order::Shuffle { seed: 1 },
                results_dir: "/r".into()
            })
            .is_err());
    }

    #[test]
    fn parses_recorded_junit() {
        let xml = r#"<testsuites><testsuite name="pytest">
            <testcase classname="tests.test_a.TestK" name="test_x[1]" file="tests/test_a.py" line="3" time="0.25"/>
            <testcase classname="tests.test_a" name="test_y" file="tests/test_a.py" time="0.5">
              <failure message="assert 1 == 2">tb</failure></testcase>
            <testcase classname="tests.test_a" name="test_s" file="tests/test_a.py"><skipped/></testcase>
            </testsuite></testsuites>"#;
        let a = adapter("pytest");
        let c = CollectedResults {
            files: vec![ResultFile { path: "/r/pytest-junit.xml".into(), contents: xml.into() }],
            output: None,
        };
        let r = a.parse(&c).unwrap();
        let got: Vec<(&str, Outcome)> = r.iter().map(|t| (t.id.as_str(), t.outcome)).collect();
        assert_eq!(
            got,
            vec![
                ("tests/test_a.py::TestK::test_x[1]", Outcome::Passed),
                ("tests/test_a.py::test_y", Outcome::Failed),
                ("tests/test_a.py::test_s", Outcome::Skipped),
            ]
        );
        assert_eq!(r[1].message.as_deref(), Some("assert 1 == 2"));
        assert_eq!(r[0].duration, Some(std::time::Duration::from_millis(250)));
        let err = a.parse(&CollectedResults::default()).unwrap_err().to_string();
        assert!(err.starts_with("pytest wrote no results at pytest-junit.xml in the run's results directory: pytest did not write its --junitxml"), "{err}");
    }
}
