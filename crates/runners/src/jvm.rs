//! Maven Surefire and Gradle: the JUnit XML directories they already write
//! (`target/surefire-reports`, `build/test-results/test`), selection by
//! `-Dtest=Class#method+method,…` / `--tests Class.method`.
//!
//! Ids: `package.Class#method` (Surefire's own `-Dtest` syntax).

use crate::args::{scan, without_opts, words, Arg, Syntax};
use crate::{from_junit, Adapter, CollectedResults, FileToWrite, Invocation, PlannedCommand, ResultSource};
use crate::{RunnersError, TestId, TestResult};

fn split_id<'a>(a: &Adapter, id: &'a TestId) -> Result<(&'a str, Option<&'a str>), RunnersError> {
    let (class, method) = match id.0.split_once('#') {
        Some((c, m)) => (c, Some(m)),
        None => (id.0.as_str(), None),
    };
    if class.is_empty()
        || class.starts_with('-')
        || method.is_some_and(str::is_empty)
        || id.0.contains([',', ' '])
    {
        return Err(a.bad_id(id, "expected `package.Class#method` or `package.Class`"));
    }
    Ok((class, method))
}

pub(crate) fn plan_maven(a: &Adapter, inv: &Invocation) -> Result<PlannedCommand, RunnersError> {
    let syn = Syntax {
        takes_value: crate::detect::MAVEN_VALUE_OPTS,
        short_letters: false,
        double_dash_rest: false,
    };
    let mut args = scan(a.runner_args(), &syn);
    let mut extra = Vec::new();
    if let Some(sel) = &inv.selection {
        // `-D test=…` (separate) and `-Dtest=…` both name the selection.
        args.retain(|x| match x {
            Arg::Opt { name, words } => {
                name != "-Dtest" && !(name == "-D" && words.get(1).is_some_and(|w| w.starts_with("test=")))
            }
            _ => true,
        });
        // Surefire's syntax: Class#m1+m2,Other#m3 (a class alone runs all of it).
        let mut classes: Vec<(String, Vec<String>)> = Vec::new();
        for id in sel {
            let (class, method) = split_id(a, id)?;
            let i = match classes.iter().position(|(c, _)| c == class) {
                Some(i) => i,
                None => {
                    classes.push((class.to_string(), Vec::new()));
                    classes.len() - 1
                }
            };
            if let Some(m) = method {
                classes[i].1.push(m.to_string());
            }
        }
        let spec: Vec<String> = classes
            .iter()
            .map(|(c, ms)| if ms.is_empty() { c.clone() } else { format!("{c}#{}", ms.join("+")) })
            .collect();
        extra.push(format!("-Dtest={}", spec.join(",")));
        // Modules without a matching test must not fail the build.
        extra.push("-Dsurefire.failIfNoSpecifiedTests=false".into());
    }
    let mut argv = a.launcher().to_vec();
    argv.extend(words(&args));
    argv.extend(extra);
    let dir = a.cwd.join("target/surefire-reports");
    Ok(PlannedCommand {
        argv,
        env: Vec::new(),
        files: Vec::new(),
        results: ResultSource::JunitDirs(vec![dir]),
    })
}

pub(crate) fn plan_gradle(a: &Adapter, inv: &Invocation) -> Result<PlannedCommand, RunnersError> {
    let syn = Syntax {
        takes_value: &["--tests", "-p", "--project-dir", "-x", "--exclude-task"],
        short_letters: false,
        double_dash_rest: false,
    };
    let mut args = scan(a.runner_args(), &syn);
    let mut tests = Vec::new();
    if let Some(sel) = &inv.selection {
        args = without_opts(args, &["--tests"]);
        for id in sel {
            let (class, method) = split_id(a, id)?;
            tests.push("--tests".to_string());
            tests.push(match method {
                Some(m) => format!("{class}.{m}"),
                None => class.to_string(),
            });
        }
    }
    let mut argv = a.launcher().to_vec();
    // An up-to-date test task would not run again: `cleanTest` (which every
    // Gradle version derives for `test`) deletes its outputs first, so it
    // reruns without recompiling. `--tests` is an option of each test task.
    let mut test_tasks = 0;
    for x in &args {
        argv.extend(words(std::slice::from_ref(x)));
        if let Arg::Pos(task) = x {
            if let Some(prefix) = task.strip_suffix("test").filter(|p| p.is_empty() || p.ends_with(':')) {
                let last = argv.len() - 1;
                argv.insert(last, format!("{prefix}cleanTest"));
                argv.extend(tests.iter().cloned());
                test_tasks += 1;
            }
        }
    }
    if test_tasks == 0 {
        // `check` or `build`: they run `test`, named here to carry the filter.
        argv.insert(a.launcher().len(), "cleanTest".into());
        if !tests.is_empty() {
            argv.push("test".into());
            argv.extend(tests);
        }
    }
    let mut files = Vec::new();
    if inv.selection.is_some() {
        // `--tests` that matches nothing fails the build, like a failing
        // test; with this it passes having run nothing, which the caller
        // tells apart (as Surefire with failIfNoSpecifiedTests=false).
        let script = inv.results_dir.join(GRADLE_INIT);
        argv.insert(a.launcher().len(), format!("--init-script={}", script.display()));
        files.push(FileToWrite { path: script, contents: NO_MATCH_PASSES.to_string() });
    }
    let dir = a.cwd.join("build/test-results/test");
    Ok(PlannedCommand { argv, env: Vec::new(), files, results: ResultSource::JunitDirs(vec![dir]) })
}

const GRADLE_INIT: &str = "flakebox-no-match-passes.gradle";
const NO_MATCH_PASSES: &str =
    "allprojects {\n    tasks.withType(Test) {\n        filter.failOnNoMatchingTests = false\n    }\n}\n";

pub(crate) fn parse(a: &Adapter, c: &CollectedResults) -> Result<Vec<TestResult>, RunnersError> {
    if c.files.is_empty() {
        let dir = if a.kind == crate::RunnerKind::Maven {
            "target/surefire-reports"
        } else {
            "build/test-results/test"
        };
        return Err(RunnersError::ResultsMissing {
            runner: a.kind,
            path: dir.to_string(),
            hint: "no JUnit XML written during the run: the build failed before the tests, or the tests live in \
                   another module (run the command in that module's directory)"
                .to_string(),
        });
    }
    let mut cases = Vec::new();
    for f in &c.files {
        let mut more = crate::junit::parse_cases(&f.contents).map_err(|e| RunnersError::BadResults {
            runner: a.kind,
            path: f.path.display().to_string(),
            reason: e.to_string(),
        })?;
        cases.append(&mut more);
    }
    // JUnit 5 under Gradle names methods `name()`: the id is the bare name.
    Ok(from_junit(cases, |c| format!("{}#{}", c.classname, c.name.strip_suffix("()").unwrap_or(&c.name))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{adapter, invocation};
    use crate::{Order, Outcome, ResultFile};

    fn inv(sel: Option<&[&str]>) -> Invocation {
        invocation(sel, Order::AsCommand)
    }

    #[test]
    fn plans_maven_selection_and_reads_its_report_directory() {
        let a = adapter("./mvnw -q -Dtest=Old -pl core test");
        let p = a.plan(&inv(None)).unwrap();
        assert_eq!(p.argv.join(" "), "./mvnw -q -Dtest=Old -pl core test");
        assert_eq!(p.results, ResultSource::JunitDirs(vec!["/p/target/surefire-reports".into()]));
        let p = a.plan(&inv(Some(&["ex.ATest#one", "ex.BTest", "ex.ATest#two"]))).unwrap();
        assert_eq!(
            p.argv.join(" "),
            "./mvnw -q -pl core test -Dtest=ex.ATest#one+two,ex.BTest -Dsurefire.failIfNoSpecifiedTests=false"
        );
        assert!(a.plan(&inv(Some(&["ex.A#one,ex.B"]))).is_err());
        assert!(a
            .plan(&Invocation { order: Order::Shuffle { seed: 1 }, ..inv(Some(&["ex.ATest#one"])) })
            .is_err());
    }

    #[test]
    fn plans_gradle_selection_with_clean_test_outputs() {
        let a = adapter("./gradlew :core:test --info");
        let p = a.plan(&inv(Some(&["ex.ATest#one", "ex.BTest"]))).unwrap();
        assert_eq!(
            p.argv.join(" "),
            "./gradlew --init-script=/r/flakebox-no-match-passes.gradle :core:cleanTest :core:test \
             --tests ex.ATest.one --tests ex.BTest --info"
        );
        assert_eq!(p.files.len(), 1);
        assert_eq!(p.files[0].path, std::path::Path::new("/r/flakebox-no-match-passes.gradle"));
        assert!(p.files[0].contents.contains("failOnNoMatchingTests = false"));
        let a = adapter("gradle check");
        let p = a.plan(&inv(None)).unwrap();
        assert_eq!(p.argv.join(" "), "gradle cleanTest check");
        assert!(p.files.is_empty(), "nothing selected: the build as the user has it");
        let p = a.plan(&inv(Some(&["ex.ATest#one"]))).unwrap();
        assert_eq!(
            p.argv.join(" "),
            "gradle --init-script=/r/flakebox-no-match-passes.gradle cleanTest check test --tests ex.ATest.one"
        );
        assert_eq!(p.results, ResultSource::JunitDirs(vec!["/p/build/test-results/test".into()]));
    }

    #[test]
    fn parses_recorded_surefire_and_gradle_reports() {
        let surefire = r#"<testsuite name="ex.ATest" tests="2">
            <testcase name="one" classname="ex.ATest" time="0.25"/>
            <testcase name="two" classname="ex.ATest" time="0.01"><failure message="expected: &lt;3&gt; but was: &lt;2&gt;" type="org.opentest4j.AssertionFailedError">trace</failure>
              <flakyFailure message="first"/></testcase></testsuite>"#;
        let gradle = r#"<testsuite name="ex.BTest"><testcase name="three()" classname="ex.BTest" time="0.1"><skipped/></testcase></testsuite>"#;
        let a = adapter("mvn test");
        let c = CollectedResults {
            files: vec![
                ResultFile { path: "TEST-ex.ATest.xml".into(), contents: surefire.into() },
                ResultFile { path: "TEST-ex.BTest.xml".into(), contents: gradle.into() },
            ],
            output: None,
        };
        let r = a.parse(&c).unwrap();
        let got: Vec<(&str, Outcome)> = r.iter().map(|t| (t.id.as_str(), t.outcome)).collect();
        assert_eq!(
            got,
            vec![
                ("ex.ATest#one", Outcome::Passed),
                ("ex.ATest#two", Outcome::Failed),
                ("ex.BTest#three", Outcome::Skipped)
            ]
        );
        assert_eq!(r[1].message.as_deref(), Some("expected: <3> but was: <2>"));
        assert_eq!(r[1].flaky_reruns, 1);
        let err = a.parse(&CollectedResults::default()).unwrap_err().to_string();
        assert!(err.contains("target/surefire-reports"), "{err}");
    }
}
