//! `cargo nextest run`: JUnit through a tool config (`--tool-config-file`
//! setting the profile's `junit.path` to a private file), selection by a
//! filterset (`-E 'binary_id(=B) & test(=T) | …'`). Nextest runs tests in
//! parallel and has no seeded shuffle.
//!
//! Ids: `BINARY_ID TEST`, as nextest prints them
//! (`my-crate::it mod::test`; the lib's binary id is the crate name).

use crate::args::{has_opt, opt_value, scan, without_opts, without_positionals, words, Syntax};
use crate::{from_junit, Adapter, CollectedResults, FileToWrite, Invocation, PlannedCommand, ResultSource};
use crate::{RunnersError, TestId, TestResult};

const VALUE_OPTS: &[&str] = &[
    "-p",
    "--package",
    "--bin",
    "--test",
    "--example",
    "--bench",
    "-F",
    "--features",
    "--target",
    "--target-dir",
    "--manifest-path",
    "-P",
    "--profile",
    "-j",
    "--test-threads",
    "--retries",
    "-E",
    "--filterset",
    "--filter-expr",
    "--partition",
    "--config",
    "-Z",
    "--cargo-profile",
    "--build-jobs",
    "--message-format",
    "--color",
    "--final-status-level",
    "--status-level",
    "--failure-output",
    "--success-output",
    "--tool-config-file",
    "--archive-file",
    "--workspace-remap",
    "--run-ignored",
    "--max-fail",
    "--cargo-message-format",
    "--no-capture-output",
    "--show-progress",
    "--no-tests",
    "--exclude",
];
const SYNTAX: Syntax<'static> =
    Syntax { takes_value: VALUE_OPTS, short_letters: true, double_dash_rest: true };

pub(crate) const FILE: &str = "nextest-junit.xml";
pub(crate) const TOOL_CONFIG: &str = "nextest-tool-config.toml";

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn filter_term(a: &Adapter, id: &TestId) -> Result<String, RunnersError> {
    let (binary, test) =
        id.0.split_once(' ')
            .filter(|(b, t)| !b.is_empty() && !t.is_empty())
            .ok_or_else(|| a.bad_id(id, "expected `BINARY_ID TEST_NAME`, as nextest prints them"))?;
    if [binary, test].iter().any(|p| p.contains([')', '(', ',', ' '])) {
        return Err(a.bad_id(id, "parentheses, commas or spaces cannot be written in a nextest filterset"));
    }
    Ok(format!("(binary_id(={binary}) & test(={test}))"))
}

pub(crate) fn plan(a: &Adapter, inv: &Invocation) -> Result<PlannedCommand, RunnersError> {
    let mut args = without_opts(scan(a.runner_args(), &SYNTAX), &["--tool-config-file"]);
    let from_env = a.launcher().iter().find_map(|w| w.strip_prefix("NEXTEST_PROFILE=")).map(String::from);
    let profile =
        opt_value(&args, &["-P", "--profile"]).or(from_env).unwrap_or_else(|| "default".to_string());
    let mut filter = None;
    if let Some(sel) = &inv.selection {
        args = without_positionals(without_opts(args, &["-E", "--filterset", "--filter-expr"]));
        let terms = sel.iter().map(|id| filter_term(a, id)).collect::<Result<Vec<_>, _>>()?;
        filter = Some(terms.join(" | "));
    }
    let file = inv.results_dir.join(FILE);
    let config = inv.results_dir.join(TOOL_CONFIG);
    let contents = format!(
        "# Written by flakebox: per-test results to a private file.\n[profile.{}.junit]\npath = {}\n",
        toml_string(&profile),
        toml_string(&file.display().to_string())
    );
    // Options go before `--` (what follows is for the test binaries).
    let rest_at = args.iter().position(|x| matches!(x, crate::args::Arg::Rest(_))).unwrap_or(args.len());
    let rest = args.split_off(rest_at);
    let mut argv = a.launcher().to_vec();
    argv.extend(words(&args));
    argv.extend(["--tool-config-file".to_string(), format!("flakebox:{}", config.display())]);
    if !has_opt(&args, &["--no-fail-fast", "--max-fail"]) {
        argv.push("--no-fail-fast".into());
    }
    if let Some(f) = filter {
        argv.extend(["-E".to_string(), f]);
    }
    argv.extend(words(&rest));
    Ok(PlannedCommand {
        argv,
        env: Vec::new(),
        files: vec![FileToWrite { path: config, contents }],
        results: ResultSource::File(file),
    })
}

pub(crate) fn parse(a: &Adapter, c: &CollectedResults) -> Result<Vec<TestResult>, RunnersError> {
    let f = a.single_file(c, FILE, "nextest did not write the JUnit file its tool config asks for: it did not start or did not build (see its output)")?;
    let cases = crate::junit::parse_cases(&f.contents).map_err(|e| RunnersError::BadResults {
        runner: a.kind,
        path: f.path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(from_junit(cases, |c| {
        let binary = c.suite.as_deref().filter(|s| !s.is_empty()).unwrap_or(&c.classname);
        format!("{binary} {}", c.name)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::adapter;
    use crate::{Order, Outcome, ResultFile};

    #[test]
    fn plans_a_tool_config_and_a_filterset() {
        let a = adapter("cargo nextest run --profile ci -E test(slow) slow -- --nocapture");
        let inv = Invocation {
            selection: Some(vec![TestId::new("my-crate tests::a"), TestId::new("my-crate::it b")]),
            order: Order::Defined,
            results_dir: "/r".into(),
        };
        let p = a.plan(&inv).unwrap();
        assert_eq!(
            p.argv,
            [
                "cargo",
                "nextest",
                "run",
                "--profile",
                "ci",
                "--tool-config-file",
                "flakebox:/r/nextest-tool-config.toml",
                "--no-fail-fast",
                "-E",
                "(binary_id(=my-crate) & test(=tests::a)) | (binary_id(=my-crate::it) & test(=b))",
                "--",
                "--nocapture"
            ]
        );
        assert_eq!(p.files[0].contents.lines().nth(1), Some("[profile.\"ci\".junit]"));
        assert_eq!(p.files[0].contents.lines().nth(2), Some("path = \"/r/nextest-junit.xml\""));
        assert_eq!(p.results, ResultSource::File("/r/nextest-junit.xml".into()));
        let a2 = adapter("env NEXTEST_PROFILE=ci2 cargo nextest run");
        let p = a2.plan(&Invocation { selection: None, ..inv.clone() }).unwrap();
        assert_eq!(p.files[0].contents.lines().nth(1), Some("[profile.\"ci2\".junit]"));
        let bad = Invocation { selection: Some(vec![TestId::new("tests::a")]), ..inv.clone() };
        assert!(matches!(a.plan(&bad), Err(RunnersError::BadTestId { .. })));
        let shuffle = Invocation { order: Order::Shuffle { seed: 1 }, ..inv };
        assert!(a.plan(&shuffle).is_err());
    }

    #[test]
    fn parses_recorded_junit_with_retries() {
        let xml = r#"<testsuites><testsuite name="my-crate::it">
            <testcase name="flaky" classname="my-crate::it" time="0.5"><flakyFailure message="boom"/></testcase>
            <testcase name="broken" classname="my-crate::it" time="0.1"><failure message="panicked">x</failure></testcase>
            </testsuite></testsuites>"#;
        let a = adapter("cargo nextest run");
        let c = CollectedResults {
            files: vec![ResultFile { path: "/r/nextest-junit.xml".into(), contents: xml.into() }],
            output: None,
        };
        let r = a.parse(&c).unwrap();
        assert_eq!(r[0].id.as_str(), "my-crate::it flaky");
        assert_eq!((r[0].outcome, r[0].flaky_reruns), (Outcome::Passed, 1));
        assert_eq!((r[1].outcome, r[1].message.as_deref()), (Outcome::Failed, Some("panicked")));
    }
}
