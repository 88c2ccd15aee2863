//! Jest and Vitest: results through their JSON reporters to a private file
//! (`--json --outputFile`, vitest `--reporter=json --outputFile.json`, next
//! to the user's reporter), selection by test file and a `-t` pattern over
//! full test names, shuffle with a seed (jest `--randomize --seed`, vitest
//! `--sequence.shuffle --sequence.seed`).
//!
//! Ids: `FILE › describe › test`, FILE relative to the working directory,
//! the titles as the runner shows them (`suite.test.js › suite › stable`).
//! An id that is only a file selects the whole file (and is how a file that
//! failed to run at all is reported).

use crate::args::{scan, without_opts, without_positionals, words, Arg, Syntax};
use crate::{secs, Adapter, CollectedResults, Invocation, Order, Outcome, PlannedCommand, ResultSource};
use crate::{RunnerKind, RunnersError, TestId, TestResult};
use serde::Deserialize;

const SEP: &str = " › ";

const JEST_VALUE_OPTS: &[&str] = &[
    "-c",
    "--config",
    "-t",
    "--testNamePattern",
    "-w",
    "--maxWorkers",
    "--seed",
    "--shard",
    "--testTimeout",
    "--reporters",
    "--testPathPattern",
    "--testPathIgnorePatterns",
    "--selectProjects",
    "--outputFile",
    "--coverageDirectory",
    "--rootDir",
    "--roots",
    "--env",
    "--testEnvironment",
    "--testRunner",
    "--testSequencer",
    "--changedSince",
    "--filter",
    "--coverageReporters",
    "--collectCoverageFrom",
    "--testMatch",
    "--testRegex",
    "--globalSetup",
    "--globalTeardown",
    "--setupFiles",
    "--setupFilesAfterEnv",
    "--maxConcurrency",
    "--logHeapUsage",
    "--ignoreProjects",
];
const VITEST_VALUE_OPTS: &[&str] = &[
    "-c",
    "--config",
    "-t",
    "--testNamePattern",
    "-r",
    "--root",
    "--dir",
    "--reporter",
    "--outputFile",
    "--project",
    "--shard",
    "--environment",
    "--pool",
    "--maxWorkers",
    "--minWorkers",
    "--testTimeout",
    "--hookTimeout",
    "--sequence.seed",
    "--exclude",
    "--mode",
    "--retry",
    "--bail",
    "--changed",
    "--coverage.provider",
    "--coverage.reporter",
    "--maxConcurrency",
    "--workspace",
    "--silent",
];

pub(crate) const JEST_FILE: &str = "jest.json";
pub(crate) const VITEST_FILE: &str = "vitest.json";

/// A selection split into test files and full names (`-t` matches the
/// titles joined by spaces).
struct Selection {
    files: Vec<String>,
    names: Vec<String>,
}

fn selection(a: &Adapter, sel: &[TestId]) -> Result<Selection, RunnersError> {
    let mut s = Selection { files: Vec::new(), names: Vec::new() };
    let mut whole_file = false;
    for id in sel {
        let mut parts = id.0.split(SEP);
        let file = parts.next().unwrap_or("");
        if file.is_empty() || file.starts_with('-') {
            return Err(a.bad_id(id, "expected `FILE › describe › test` or a test file"));
        }
        if !s.files.iter().any(|f| f == file) {
            s.files.push(file.to_string());
        }
        let titles: Vec<&str> = parts.collect();
        if titles.is_empty() {
            whole_file = true;
        } else {
            let name = crate::args::regex_escape(&titles.join(" "));
            if !s.names.contains(&name) {
                s.names.push(name);
            }
        }
    }
    if whole_file && !s.names.is_empty() {
        return Err(a.unsupported(
            "select whole files and single tests in one run (-t applies to every file): select them in separate runs",
        ));
    }
    Ok(s)
}

fn name_pattern(names: &[String]) -> Option<String> {
    (!names.is_empty()).then(|| format!("^(?:{})$", names.join("|")))
}

pub(crate) fn plan_jest(a: &Adapter, inv: &Invocation) -> Result<PlannedCommand, RunnersError> {
    let syn = Syntax { takes_value: JEST_VALUE_OPTS, short_letters: true, double_dash_rest: false };
    let mut args = without_opts(scan(a.runner_args(), &syn), &["--json", "--outputFile"]);
    let sel = inv.selection.as_deref().map(|s| selection(a, s)).transpose()?;
    if sel.is_some() {
        args = without_positionals(without_opts(
            args,
            &[
                "-t",
                "--testNamePattern",
                "--testPathPattern",
                "--runTestsByPath",
                "-o",
                "--onlyChanged",
                "--changedSince",
            ],
        ));
    }
    if inv.order != Order::AsCommand {
        args = without_opts(args, &["--randomize", "--seed"]);
    }
    let file = inv.results_dir.join(JEST_FILE);
    let mut argv = a.launcher().to_vec();
    argv.extend(words(&args));
    argv.extend(["--json".to_string(), format!("--outputFile={}", file.display())]);
    if let Order::Shuffle { seed } = inv.order {
        argv.extend(["--randomize".to_string(), format!("--seed={seed}")]);
    }
    if let Some(sel) = sel {
        if let Some(p) = name_pattern(&sel.names) {
            argv.extend(["-t".to_string(), p]);
        }
        argv.push("--runTestsByPath".into());
        argv.extend(sel.files);
    }
    Ok(PlannedCommand { argv, env: Vec::new(), files: Vec::new(), results: ResultSource::File(file) })
}

pub(crate) fn plan_vitest(a: &Adapter, inv: &Invocation) -> Result<PlannedCommand, RunnersError> {
    let syn = Syntax { takes_value: VITEST_VALUE_OPTS, short_letters: true, double_dash_rest: false };
    let given = a.runner_args();
    // `vitest` alone watches when it has a terminal: `run` runs once.
    let rest = match given.first().map(String::as_str) {
        Some("run") => &given[1..],
        _ => given,
    };
    let mut args = without_opts(scan(rest, &syn), &["--outputFile", "--outputFile.json", "--watch", "-w"]);
    let user_reporter = args.iter().any(|x| matches!(x, Arg::Opt { name, .. } if name == "--reporter"));
    let sel = inv.selection.as_deref().map(|s| selection(a, s)).transpose()?;
    if sel.is_some() {
        args =
            without_positionals(without_opts(args, &["-t", "--testNamePattern", "--changed", "--related"]));
    }
    if inv.order != Order::AsCommand {
        args = without_opts(args, &["--sequence.shuffle", "--sequence.seed"]);
    }
    let file = inv.results_dir.join(VITEST_FILE);
    let mut argv = a.launcher().to_vec();
    argv.push("run".into());
    argv.extend(words(&args));
    if !user_reporter {
        // The user's output stays as it was.
        argv.push("--reporter=default".into());
    }
    argv.extend(["--reporter=json".to_string(), format!("--outputFile.json={}", file.display())]);
    if let Order::Shuffle { seed } = inv.order {
        argv.extend(["--sequence.shuffle".to_string(), format!("--sequence.seed={seed}")]);
    }
    if let Some(sel) = sel {
        if let Some(p) = name_pattern(&sel.names) {
            argv.extend(["-t".to_string(), p]);
        }
        argv.extend(sel.files);
    }
    Ok(PlannedCommand { argv, env: Vec::new(), files: Vec::new(), results: ResultSource::File(file) })
}

/// The JSON report both write (vitest's follows Jest's).
#[derive(Deserialize)]
struct Report {
    #[serde(rename = "testResults", default)]
    test_results: Vec<FileResult>,
}

#[derive(Deserialize)]
struct FileResult {
    name: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(rename = "assertionResults", default)]
    assertion_results: Vec<Assertion>,
}

#[derive(Deserialize)]
struct Assertion {
    #[serde(rename = "ancestorTitles", default)]
    ancestor_titles: Vec<String>,
    title: String,
    status: String,
    /// Milliseconds.
    #[serde(default)]
    duration: Option<f64>,
    #[serde(rename = "failureMessages", default)]
    failure_messages: Vec<String>,
}

/// A failure message without its stack trace.
fn message(texts: &[String]) -> Option<String> {
    let first = texts.first()?;
    let kept: Vec<&str> = first.lines().take_while(|l| !l.trim_start().starts_with("at ")).collect();
    Some(kept.join("\n").trim().to_string()).filter(|m| !m.is_empty())
}

pub(crate) fn parse(a: &Adapter, c: &CollectedResults) -> Result<Vec<TestResult>, RunnersError> {
    let flag = if a.kind == RunnerKind::Jest { "--json --outputFile" } else { "--reporter=json" };
    let f = a.single_file(
        c,
        if a.kind == RunnerKind::Jest { JEST_FILE } else { VITEST_FILE },
        &format!("{} did not write its {flag} file: it did not start (see its output)", a.kind),
    )?;
    let report: Report = serde_json::from_str(&f.contents).map_err(|e| RunnersError::BadResults {
        runner: a.kind,
        path: f.path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut results = Vec::new();
    for file in report.test_results {
        let rel = crate::relative_to(&a.cwd, &file.name);
        if file.assertion_results.is_empty() && file.status.as_deref() == Some("failed") {
            results.push(TestResult {
                id: TestId(rel.clone()),
                outcome: Outcome::Error,
                duration: None,
                message: file.message.map(|m| m.trim().to_string()).filter(|m| !m.is_empty()),
                flaky_reruns: 0,
            });
        }
        for t in file.assertion_results {
            let outcome = match t.status.as_str() {
                "passed" => Outcome::Passed,
                "failed" => Outcome::Failed,
                _ => Outcome::Skipped, // pending, skipped, todo, disabled
            };
            let mut id = rel.clone();
            for title in t.ancestor_titles.iter().chain([&t.title]) {
                id.push_str(SEP);
                id.push_str(title);
            }
            results.push(TestResult {
                id: TestId(id),
                outcome,
                duration: t.duration.and_then(|ms| secs(ms / 1000.0)),
                message: message(&t.failure_messages),
                flaky_reruns: 0,
            });
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{adapter, invocation as inv};
    use crate::ResultFile;

    #[test]
    fn plans_jest() {
        let a = adapter("npx jest --ci -t slow --json src/");
        let p = a.plan(&inv(None, Order::AsCommand)).unwrap();
        assert_eq!(p.argv.join(" "), "npx jest --ci -t slow src/ --json --outputFile=/r/jest.json");
        let p = a
            .plan(&inv(Some(&["a.test.js › suite › x (1)", "b.test.js › y"]), Order::Shuffle { seed: 9 }))
            .unwrap();
        assert_eq!(
            p.argv,
            [
                "npx",
                "jest",
                "--ci",
                "--json",
                "--outputFile=/r/jest.json",
                "--randomize",
                "--seed=9",
                "-t",
                "^(?:suite x \\(1\\)|y)$",
                "--runTestsByPath",
                "a.test.js",
                "b.test.js"
            ]
        );
        assert!(a.plan(&inv(Some(&["a.test.js", "b.test.js › y"]), Order::AsCommand)).is_err());
        assert!(a.plan(&inv(Some(&["b.test.js › y"]), Order::AsListed)).is_err());
    }

    #[test]
    fn plans_vitest() {
        let a = adapter("npx vitest --reporter=verbose");
        let p = a.plan(&inv(Some(&["a.test.js › t"]), Order::Shuffle { seed: 3 })).unwrap();
        assert_eq!(
            p.argv.join(" "),
            "npx vitest run --reporter=verbose --reporter=json --outputFile.json=/r/vitest.json \
             --sequence.shuffle --sequence.seed=3 -t ^(?:t)$ a.test.js"
        );
        let a = adapter("vitest run tests/");
        let p = a.plan(&inv(None, Order::AsCommand)).unwrap();
        assert_eq!(
            p.argv.join(" "),
            "vitest run tests/ --reporter=default --reporter=json --outputFile.json=/r/vitest.json"
        );
    }

    #[test]
    fn parses_recorded_json() {
        let json = r#"{"testResults":[
          {"name":"/p/a.test.js","status":"failed","message":"","assertionResults":[
            {"ancestorTitles":["suite"],"title":"x","status":"failed","duration":12,
             "failureMessages":["Error: expect(received).toBe(expected)\n\nExpected: 3\n    at Object.toBe (/p/a.test.js:3:1)"]},
            {"ancestorTitles":[],"title":"y","status":"pending","duration":null,"failureMessages":[]}]},
          {"name":"/p/b.test.js","status":"failed","message":"SyntaxError: Unexpected token","assertionResults":[]}
        ]}"#;
        let a = adapter("jest");
        let c = CollectedResults {
            files: vec![ResultFile { path: "/r/jest.json".into(), contents: json.into() }],
            output: None,
        };
        let r = a.parse(&c).unwrap();
        let got: Vec<(&str, Outcome)> = r.iter().map(|t| (t.id.as_str(), t.outcome)).collect();
        assert_eq!(
            got,
            vec![
                ("a.test.js › suite › x", Outcome::Failed),
                ("a.test.js › y", Outcome::Skipped),
                ("b.test.js", Outcome::Error)
            ]
        );
        assert_eq!(r[0].message.as_deref(), Some("Error: expect(received).toBe(expected)\n\nExpected: 3"));
        assert_eq!(r[0].duration, Some(std::time::Duration::from_millis(12)));
        assert_eq!(r[2].message.as_deref(), Some("SyntaxError: Unexpected token"));
    }
}
