//! pytest: results through a private `--junitxml` (xunit1, whose `file`
//! attribute gives node ids exactly), selection by node ids, which pytest
//! runs in the order given.
//!
//! Ids: pytest node ids, `tests/test_x.py::TestY::test_z[param]`, as pytest
//! reports them: relative to its rootdir (the directory of its ini file; the
//! working directory when there is none). Pasteable: `pytest ID...` in the
//! rootdir. pytest reads the ids on its command line relative to the working
//! directory instead, so a selection names each test by where pytest
//! reported it from: its file as found under the rootdir pytest must have
//! had, the nearest directory that holds it among those pytest looks in for
//! its rootdir (`--rootdir`, else the command's paths' common directory and
//! its parents, then a `-c` ini file's), written relative to the working
//! directory when inside it. The file is pytest's own report; where it is
//! on disk decides the rootdir, so no pytest version's rules are copied.

use crate::args::{
    has_opt, opt_value, opt_values, scan, without_opts, without_positionals, words, Arg, Syntax,
};
use crate::{
    from_junit, lexical, Adapter, CollectedResults, Invocation, Order, PlannedCommand, ResultSource,
};
use crate::{RunnersError, TestResult};
use std::path::{Path, PathBuf};

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
    // Before the command's paths give way to the selection: they tell
    // where pytest found its rootdir.
    let roots = rootdir_candidates(&a.cwd, &args);
    if inv.selection.is_some() {
        // The paths and node ids the command named give way to the selection.
        args = without_positionals(args);
    }
    let mut argv = a.launcher().to_vec();
    argv.extend(words(&args));
    // A plugin the command disables already is not disabled twice: the
    // replay lines show this argv.
    let plugins = opt_values(&args, &["-p"]);
    let mut disable = |plugin: &str| {
        if !plugins.iter().any(|p| p == plugin) {
            argv.extend(["-p".to_string(), plugin.to_string()]);
        }
    };
    // No .pytest_cache written into the project (unless the command uses it).
    if !has_opt(&args, CACHE_OPTS) {
        disable("no:cacheprovider");
    }
    if matches!(inv.order, Order::Defined | Order::AsListed) {
        // pytest-randomly reorders (and reseeds) when installed; harmless when not.
        disable("no:randomly");
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
            argv.push(from_working_dir(&a.cwd, &roots, &id.0, &|p: &Path| p.exists()));
        }
    }
    Ok(PlannedCommand { argv, env: Vec::new(), files: Vec::new(), results: ResultSource::File(file) })
}

/// Where pytest may have had its rootdir, nearest first: `--rootdir`, else
/// the common directory of the command's existing paths (the working
/// directory when it names none) and its parents, where pytest looks for
/// its ini file (whose directory becomes the rootdir).
fn rootdir_candidates(cwd: &Path, args: &[Arg]) -> Vec<PathBuf> {
    if let Some(dir) = opt_value(args, &["--rootdir"]) {
        return vec![lexical(&cwd.join(dir))];
    }
    let dirs: Vec<PathBuf> = args
        .iter()
        .filter_map(|x| match x {
            Arg::Pos(w) => Some(lexical(&cwd.join(w.split("::").next().unwrap_or(w)))),
            _ => None,
        })
        .filter(|p| p.exists())
        .map(|p| if p.is_dir() { p } else { p.parent().map(Path::to_path_buf).unwrap_or(p) })
        .collect();
    let mut common = match dirs.split_first() {
        Some((first, rest)) => rest.iter().fold(first.clone(), |acc, d| {
            acc.components().zip(d.components()).take_while(|(x, y)| x == y).map(|(x, _)| x).collect()
        }),
        None => lexical(cwd),
    };
    let mut out = vec![common.clone()];
    while common.pop() {
        out.push(common.clone());
    }
    // An ini file given with `-c` (newer pytest roots there).
    if let Some(dir) = opt_value(args, &["-c", "--config-file"]).and_then(|f| {
        let f = lexical(&cwd.join(f));
        f.parent().map(Path::to_path_buf)
    }) {
        out.push(dir);
    }
    out
}

/// A node id as pytest reported it (relative to its rootdir) made valid
/// from the working directory: its file under the first candidate rootdir
/// that holds it (`exists`), relative to `cwd` when inside it. An id whose
/// file no candidate holds, or an absolute one, is kept as it is (a focused
/// run that then runs nothing stops the diagnosis, saying so).
fn from_working_dir(cwd: &Path, roots: &[PathBuf], id: &str, exists: &dyn Fn(&Path) -> bool) -> String {
    let (file, rest) = match id.split_once("::") {
        Some((f, r)) => (f, Some(r)),
        None => (id, None),
    };
    if Path::new(file).is_absolute() {
        return id.to_string();
    }
    let Some(path) = roots.iter().map(|r| lexical(&r.join(file))).find(|p| exists(p)) else {
        return id.to_string();
    };
    let cwd = lexical(cwd);
    let shown = match path.strip_prefix(&cwd) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => path.display().to_string(),
    };
    match rest {
        Some(r) => format!("{shown}::{r}"),
        None => shown,
    }
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
        // A plugin the command disables already is disabled once.
        let a = adapter("pytest -q -p no:cacheprovider -pno:randomly tests/");
        let p =
            a.plan(&Invocation { selection: None, order: Order::Defined, results_dir: "/r".into() }).unwrap();
        assert_eq!(
            p.argv.join(" "),
            "pytest -q -p no:cacheprovider -pno:randomly tests/ --junitxml=/r/pytest-junit.xml -o junit_family=xunit1"
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

    /// `cd proj && pytest tests/` with `tests/pytest.ini`: pytest's rootdir
    /// is proj/tests and it reports `test_a.py::test_x`, which it would
    /// look for as proj/test_a.py.
    #[test]
    fn selected_ids_are_found_under_the_rootdir_pytest_reported_them_from() {
        let files =
            ["/proj/tests/test_a.py", "/proj/tests/sub/test_b.py", "/proj/test_c.py", "/elsewhere/t.py"];
        let exists = |p: &Path| files.iter().any(|f| Path::new(f) == p);
        let cwd = Path::new("/proj");
        let roots: Vec<PathBuf> = ["/proj/tests", "/proj", "/"].map(PathBuf::from).to_vec();
        let at = |id: &str| from_working_dir(cwd, &roots, id, &exists);
        assert_eq!(at("test_a.py::test_x"), "tests/test_a.py::test_x");
        assert_eq!(at("sub/test_b.py::TestK::test_y[1-a::b]"), "tests/sub/test_b.py::TestK::test_y[1-a::b]");
        assert_eq!(at("test_a.py"), "tests/test_a.py", "a whole file");
        // Nearest first: the rootdir an ini file there would have made.
        assert_eq!(at("test_c.py::t"), "test_c.py::t");
        // Above the working directory: absolute.
        assert_eq!(at("elsewhere/t.py::t"), "/elsewhere/t.py::t");
        // Not found anywhere, or absolute: as given (the runner says why).
        assert_eq!(at("gone.py::t"), "gone.py::t");
        assert_eq!(at("/proj/tests/test_a.py::t"), "/proj/tests/test_a.py::t");
    }

    #[test]
    fn the_rootdir_candidates_are_the_commands_common_directory_and_its_parents() {
        let dir = tempfile::tempdir().expect("tempdir");
        let proj = dir.path().join("proj");
        std::fs::create_dir_all(proj.join("tests/unit")).expect("dirs");
        std::fs::create_dir_all(proj.join("tests/it")).expect("dirs");
        std::fs::write(proj.join("tests/unit/test_u.py"), "").expect("file");
        let cands = |cmd: &str| {
            let words: Vec<String> = cmd.split_whitespace().map(String::from).collect();
            rootdir_candidates(&proj, &scan(&words, &SYNTAX))
        };
        let up = |from: PathBuf| -> Vec<PathBuf> { from.ancestors().map(Path::to_path_buf).collect() };
        assert_eq!(cands("-q tests/unit/test_u.py::test_x tests/it"), up(proj.join("tests")));
        assert_eq!(cands("tests/unit/test_u.py"), up(proj.join("tests/unit")));
        assert_eq!(cands("-k slow"), up(proj.clone()), "no paths: the working directory");
        assert_eq!(cands("no/such/dir"), up(proj.clone()), "pytest ignores what does not exist");
        assert_eq!(cands("--rootdir ../r tests"), vec![dir.path().join("r")]);
        let mut with_ini = up(proj.clone());
        with_ini.push(dir.path().join("cfg"));
        assert_eq!(cands("-c ../cfg/pytest.ini"), with_ini, "last: the ini file's directory");
    }
}
