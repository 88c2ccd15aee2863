//! `go test`: results from `-json` events on standard output, selection by
//! packages and a `-run '^(A|B)$'` over their test names, `-shuffle SEED`.
//! `-count=1` unless the command sets a count: a cached result is not a run.
//!
//! Ids: `IMPORT/PATH TestName` (a subtest `IMPORT/PATH TestName/sub`), as
//! go reports them; `go test -run '^TestName$' IMPORT/PATH` runs one. An id
//! that is only a package selects the whole package (and is how a package
//! that failed without a failing test, e.g. did not build, is reported).

use crate::args::{has_opt, scan, without_opts, without_positionals, words, Syntax};
use crate::{secs, Adapter, CollectedResults, Invocation, Order, Outcome, PlannedCommand, ResultSource};
use crate::{RunnersError, TestId, TestResult};
use serde::Deserialize;

const VALUE_OPTS: &[&str] = &[
    "-run",
    "-skip",
    "-count",
    "-timeout",
    "-parallel",
    "-cpu",
    "-tags",
    "-bench",
    "-benchtime",
    "-shuffle",
    "-coverprofile",
    "-covermode",
    "-coverpkg",
    "-p",
    "-o",
    "-exec",
    "-ldflags",
    "-gcflags",
    "-asmflags",
    "-mod",
    "-modfile",
    "-C",
    "-vet",
    "-cpuprofile",
    "-memprofile",
    "-blockprofile",
    "-mutexprofile",
    "-trace",
    "-outputdir",
    "-fuzz",
    "-fuzztime",
    "-fuzzminimizetime",
    "-toolexec",
    "-overlay",
    "-pgo",
    "-installsuffix",
    "-memprofilerate",
    "-blockprofilerate",
    "-mutexprofilefraction",
];
const SYNTAX: Syntax<'static> =
    Syntax { takes_value: VALUE_OPTS, short_letters: false, double_dash_rest: false };

pub(crate) fn plan(a: &Adapter, inv: &Invocation) -> Result<PlannedCommand, RunnersError> {
    let all = a.runner_args();
    // `-args` and what follows go to the test binaries untouched.
    let (own, binary) = match all.iter().position(|w| w == "-args" || w == "--args") {
        Some(i) => (&all[..i], &all[i..]),
        None => (all, &all[all.len()..]),
    };
    let mut args = without_opts(scan(own, &SYNTAX), &["-json"]);
    if inv.order != Order::AsCommand {
        args = without_opts(args, &["-shuffle"]);
    }
    let mut argv = a.launcher().to_vec();
    argv.push("-json".into());
    if !has_opt(&args, &["-count"]) {
        argv.push("-count=1".into());
    }
    let mut packages: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut whole_package = false;
    if let Some(sel) = &inv.selection {
        args = without_positionals(without_opts(args, &["-run"]));
        for id in sel {
            let (pkg, test) = match id.0.split_once(' ') {
                Some((p, t)) => (p, Some(t)),
                None => (id.0.as_str(), None),
            };
            if pkg.is_empty() || pkg.starts_with('-') || test.is_some_and(|t| t.is_empty()) {
                return Err(a.bad_id(id, "expected `IMPORT/PATH TestName` or a package"));
            }
            if !packages.iter().any(|p| p == pkg) {
                packages.push(pkg.to_string());
            }
            match test {
                // A subtest runs with its parent (and the parent's other subtests).
                Some(t) => {
                    let top = t.split('/').next().unwrap_or(t);
                    let pattern = crate::args::regex_escape(top);
                    if !names.contains(&pattern) {
                        names.push(pattern);
                    }
                }
                None => whole_package = true,
            }
        }
        if whole_package && !names.is_empty() {
            return Err(a.unsupported(
                "select a whole package and single tests in one run (-run applies to every package): \
                 select them in separate runs",
            ));
        }
    }
    argv.extend(words(&args));
    match inv.order {
        Order::Shuffle { seed } => argv.push(format!("-shuffle={seed}")),
        Order::Defined => argv.push("-shuffle=off".into()),
        Order::AsCommand | Order::AsListed => {}
    }
    if !names.is_empty() {
        argv.push(format!("-run=^({})$", names.join("|")));
    }
    argv.extend(packages);
    argv.extend(binary.iter().cloned());
    Ok(PlannedCommand { argv, env: Vec::new(), files: Vec::new(), results: ResultSource::Stdout })
}

/// One line of `go test -json` (test2json's event).
#[derive(Deserialize)]
struct Event {
    #[serde(rename = "Action")]
    action: String,
    #[serde(rename = "Package", default)]
    package: String,
    #[serde(rename = "Test", default)]
    test: Option<String>,
    #[serde(rename = "Elapsed", default)]
    elapsed: Option<f64>,
    #[serde(rename = "Output", default)]
    output: Option<String>,
}

pub(crate) fn parse(a: &Adapter, c: &CollectedResults) -> Result<Vec<TestResult>, RunnersError> {
    let out = a.output(c)?;
    let mut results: Vec<TestResult> = Vec::new();
    let mut logs: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut events = 0;
    for line in out.lines() {
        // Anything else on the stream (build errors, a test's own writes to
        // the terminal) is not an event.
        let Ok(ev) = serde_json::from_str::<Event>(line) else {
            // Before Go 1.24 a package that does not build says so in plain text.
            if let Some(pkg) = line.strip_prefix("FAIL\t").and_then(|l| l.strip_suffix(" [build failed]")) {
                events += 1;
                results.push(TestResult {
                    id: TestId(pkg.to_string()),
                    outcome: Outcome::Error,
                    duration: None,
                    message: Some(line.to_string()),
                    flaky_reruns: 0,
                });
            }
            continue;
        };
        events += 1;
        let id = match &ev.test {
            Some(t) => format!("{} {t}", ev.package),
            None => ev.package.clone(),
        };
        let outcome = match ev.action.as_str() {
            "output" => {
                let text = ev.output.unwrap_or_default();
                let noise = ["=== RUN", "=== PAUSE", "=== CONT", "--- PASS", "--- FAIL", "--- SKIP"];
                if !noise.iter().any(|n| text.trim_start().starts_with(n)) {
                    logs.entry(id).or_default().push_str(&text);
                }
                continue;
            }
            "pass" => Outcome::Passed,
            "fail" => Outcome::Failed,
            "skip" => Outcome::Skipped,
            _ => continue,
        };
        if ev.test.is_none() {
            // A package's own verdict: reported only when it failed with no
            // failing test to show for it (build failure, TestMain, init).
            let pkg_prefix = format!("{} ", ev.package);
            let any_failed =
                results.iter().any(|r| r.id.0.starts_with(&pkg_prefix) && r.outcome == Outcome::Failed);
            if outcome != Outcome::Failed || any_failed {
                continue;
            }
        }
        let message = if outcome == Outcome::Failed {
            logs.get(&id).map(|l| l.trim().to_string()).filter(|l| !l.is_empty())
        } else {
            None
        };
        let outcome = if ev.test.is_none() { Outcome::Error } else { outcome };
        results.push(TestResult {
            id: TestId(id),
            outcome,
            duration: ev.elapsed.and_then(secs),
            message,
            flaky_reruns: 0,
        });
    }
    if events == 0 {
        return Err(RunnersError::ResultsMissing {
            runner: a.kind,
            path: "standard output".to_string(),
            hint: "no `go test -json` events: go did not start, or the output is not go's".to_string(),
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{adapter, invocation as inv};

    #[test]
    fn plans_json_selection_per_package_and_shuffle() {
        let a = adapter("go test -v -run TestX -shuffle on ./... -args -flag");
        let p = a.plan(&inv(None, Order::AsCommand)).unwrap();
        assert_eq!(p.argv.join(" "), "go test -json -count=1 -v -run TestX -shuffle on ./... -args -flag");
        assert_eq!(p.results, ResultSource::Stdout);
        let p = a
            .plan(&inv(
                Some(&["ex.com/m/a TestA", "ex.com/m/b TestB/sub", "ex.com/m/a TestA/x"]),
                Order::Shuffle { seed: 7 },
            ))
            .unwrap();
        assert_eq!(
            p.argv.join(" "),
            "go test -json -count=1 -v -shuffle=7 -run=^(TestA|TestB)$ ex.com/m/a ex.com/m/b -args -flag"
        );
        let p = a.plan(&inv(Some(&["ex.com/m/a"]), Order::Defined)).unwrap();
        assert_eq!(p.argv.join(" "), "go test -json -count=1 -v -shuffle=off ex.com/m/a -args -flag");
        assert!(a.plan(&inv(Some(&["ex.com/m/a", "ex.com/m/b TestB"]), Order::AsCommand)).is_err());
        assert!(a.plan(&inv(Some(&["ex.com/m/a TestA"]), Order::AsListed)).is_err());
    }

    #[test]
    fn parses_recorded_events() {
        let out = r#"{"Action":"run","Package":"ex.com/m/a","Test":"TestA"}
{"Action":"output","Package":"ex.com/m/a","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"ex.com/m/a","Test":"TestA","Output":"    a_test.go:9: boom\n"}
{"Action":"output","Package":"ex.com/m/a","Test":"TestA","Output":"--- FAIL: TestA (0.25s)\n"}
{"Action":"fail","Package":"ex.com/m/a","Test":"TestA","Elapsed":0.25}
{"Action":"skip","Package":"ex.com/m/a","Test":"TestS","Elapsed":0}
{"Action":"fail","Package":"ex.com/m/a","Elapsed":0.3}
# ex.com/m/b
b_test.go:3:1: syntax error
{"Action":"output","Package":"ex.com/m/b","Output":"FAIL\tex.com/m/b [build failed]\n"}
{"Action":"fail","Package":"ex.com/m/b","Elapsed":0}
FAIL	ex.com/m/c [build failed]
"#;
        let a = adapter("go test ./...");
        let r = a.parse(&CollectedResults { files: vec![], output: Some(out.into()) }).unwrap();
        let got: Vec<(&str, Outcome)> = r.iter().map(|t| (t.id.as_str(), t.outcome)).collect();
        assert_eq!(
            got,
            vec![
                ("ex.com/m/a TestA", Outcome::Failed),
                ("ex.com/m/a TestS", Outcome::Skipped),
                ("ex.com/m/b", Outcome::Error),
                ("ex.com/m/c", Outcome::Error),
            ]
        );
        assert_eq!(r[0].message.as_deref(), Some("a_test.go:9: boom"));
        assert_eq!(r[0].duration, Some(std::time::Duration::from_millis(250)));
        assert_eq!(r[2].message.as_deref(), Some("FAIL\tex.com/m/b [build failed]"));
        assert!(a.parse(&CollectedResults { files: vec![], output: Some("go: not found".into()) }).is_err());
    }
}
