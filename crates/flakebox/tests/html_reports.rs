//! The reports people look at (issue 17), end to end: a real diagnosis and a
//! real timetravel pass write `--html` and `--junit-out` beside their JSON;
//! the HTML passes Debian's `tidy` in error-only mode, headless Chromium
//! renders it (a screenshot is taken) and its DOM, as Chromium parsed it,
//! holds the verdict, the factor and one grid cell per run; the JUnit XML
//! reads back with the project's own reader and with Python's `junitparser`.

mod common;

use common::*;
use diagnose::{Report, Verdict};
use std::path::{Path, PathBuf};
use std::process::Command;

fn example(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(rel).canonicalize().expect("example")
}

fn require(tool: &str, args: &[&str], install: &str) {
    let ok = Command::new(tool).args(args).output().is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "`{tool} {}` failed: this test needs {tool} ({install}; .ci/run installs it)",
        args.join(" ")
    );
}

/// `tidy` in error-only mode accepts the page (exit 0: no error, no warning).
fn assert_valid_html(page: &Path) {
    require("tidy", &["-v"], "apt-get install tidy");
    let o = Command::new("tidy").args(["-e", "-q"]).arg(page).output().expect("tidy");
    assert_eq!(o.status.code(), Some(0), "tidy: {}{}", stdout(&o), stderr(&o));
}

/// Chromium's DOM of the page (as its parser built it) and a screenshot.
fn chromium_dom(page: &Path, shot: &Path) -> String {
    require("chromium", &["--version"], "apt-get install chromium");
    let url = format!("file://{}", page.display());
    let common =
        ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1100,1400"];
    let o = Command::new("chromium")
        .args(common)
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .expect("chromium");
    assert!(o.status.success(), "chromium screenshot: {}", stderr(&o));
    let png = std::fs::read(shot).expect("the screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "a real screenshot: {} bytes",
        png.len()
    );
    let o = Command::new("chromium").args(common).arg("--dump-dom").arg(&url).output().expect("chromium");
    assert!(o.status.success(), "chromium --dump-dom: {}", stderr(&o));
    stdout(&o)
}

/// The text inside the element with `id` (its tags stripped).
fn text_of(dom: &str, id: &str) -> String {
    let start = dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} in the DOM"));
    let open_end = start + dom[start..].find('>').expect("tag end") + 1;
    let mut depth = 1;
    let mut text = String::new();
    let mut rest = &dom[open_end..];
    while depth > 0 {
        let lt = rest.find('<').expect("closing tag");
        text.push_str(&rest[..lt]);
        let gt = lt + rest[lt..].find('>').expect("tag end");
        let tag = &rest[lt..=gt];
        if tag.starts_with("</") {
            depth -= 1;
        } else if !tag.ends_with("/>") {
            depth += 1;
        }
        rest = &rest[gt + 1..];
    }
    text
}

/// Python's junitparser reads the file: one `name<TAB>result` line a case.
fn junitparser_cases(xml: &Path) -> Vec<(String, String)> {
    require("python3", &["-c", "import junitparser"], "pip install junitparser");
    let script = "import sys, junitparser\n\
                  x = junitparser.JUnitXml.fromfile(sys.argv[1])\n\
                  suites = [x] if isinstance(x, junitparser.TestSuite) else list(x)\n\
                  for suite in suites:\n\
                  \x20   for case in suite:\n\
                  \x20       r = case.result[0].__class__.__name__ if case.result else 'Pass'\n\
                  \x20       print(case.name + '\\t' + r)\n";
    let o = Command::new("python3").args(["-c", script]).arg(xml).output().expect("python3");
    assert!(o.status.success(), "junitparser: {}", stderr(&o));
    stdout(&o)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, r)| (n.to_string(), r.to_string()))
        .collect()
}

#[test]
fn diagnose_writes_html_and_junit_beside_its_json() {
    let dir = example("runners/pytest");
    let out = scratch(Who::Root);
    // The marker's directory, in the working directory: isolating fs keeps
    // it visible wherever the checkout is (not so under /tmp, made fresh).
    let state = tempfile::Builder::new().prefix("flakebox-html-state-").tempdir_in(&dir).expect("state dir");
    let (html, xml, shot) = (out.path().join("d.html"), out.path().join("d.xml"), out.path().join("d.png"));
    let mut c = command(
        Who::Root,
        &dir,
        &[
            "diagnose",
            "--factors",
            "fs",
            "--max-runs",
            "6",
            "--format",
            "json",
            "--html",
            html.to_str().unwrap(),
            "--junit-out",
            xml.to_str().unwrap(),
            "--",
            "python3",
            "-m",
            "pytest",
        ],
    );
    c.env("FLAKEBOX_EXAMPLE_STATE", state.path());
    let o = c.output().expect("flakebox diagnose");
    let report: Report = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    assert_eq!(report.verdict, Verdict::Environment, "{}", stderr(&o));
    assert_eq!(report.runs.len(), report.runs_total);

    assert_valid_html(&html);
    let dom = chromium_dom(&html, &shot);
    assert_eq!(text_of(&dom, "verdict"), "environment");
    assert_eq!(dom.matches("<td class=\"run ").count(), report.runs_total, "one grid cell a run");
    assert!(
        dom.contains("<span class=\"factor\">fs</span></td><td><span class=\"status\">fixes</span>"),
        "the factor table names fs fixes: {dom}"
    );
    let marker = "test_suite.py::test_leaves_marker";
    assert!(dom.find(marker) < dom.find("<details>"), "the marker test before the collapsed stable ones");

    let text = std::fs::read_to_string(&xml).expect("the JUnit file");
    let ours = diagnose::junit::parse_cases(&text).expect("our reader");
    let case = |n: &str| ours.iter().find(|c| c.name == n).unwrap_or_else(|| panic!("no {n}: {text}"));
    assert_eq!(case(marker).outcome, diagnose::Outcome::Failed);
    assert!(case(marker).message.as_deref().is_some_and(|m| m.contains("fs fixes (p = ")), "{text}");
    assert!(
        case(marker).message.as_deref().is_some_and(|m| m
            .contains("replay: flakebox run --share fs -- python3 -m pytest")
            && m.contains(marker)),
        "the message says how to replay the test: {text}"
    );
    assert_eq!(case("test_suite.py::test_stable").outcome, diagnose::Outcome::Passed);
    assert_eq!(case("test_suite.py::test_plain_fails").outcome, diagnose::Outcome::Failed);
    let theirs = junitparser_cases(&xml);
    assert_eq!(theirs.len(), report.tests.len(), "{theirs:?}");
    let result = |n: &str| theirs.iter().find(|(c, _)| c == n).map(|(_, r)| r.as_str());
    assert_eq!(result(marker), Some("Failure"));
    assert_eq!(result("test_suite.py::test_stable"), Some("Pass"));
}

#[test]
fn timetravel_writes_html_with_its_timeline() {
    let dir = example("timebombs");
    let out = scratch(Who::Root);
    let (html, shot) = (out.path().join("t.html"), out.path().join("t.png"));
    let junit = out.path().join("junit.xml");
    let o = command(
        Who::Root,
        &dir,
        &[
            "timetravel",
            "--now",
            "2026-11-22T12:00:00Z",
            "--no-instants",
            "--at",
            "2027-01-01T00:00:00Z",
            "--at",
            "2028-02-29T12:00:00Z",
            "--zones",
            "UTC",
            "--format",
            "json",
            "--html",
            html.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
            "--",
            "./run.sh",
        ],
    )
    .env("JUNIT", &junit)
    .output()
    .expect("flakebox timetravel");
    let report: serde_json::Value =
        serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    let bombs = report["time_bombs"].as_u64().expect("time_bombs");
    assert!(bombs >= 2, "the licence and the leap-day bombs at least: {report}");
    assert_valid_html(&html);
    let dom = chromium_dom(&html, &shot);
    assert_eq!(text_of(&dom, "time-bombs"), format!("{bombs} time bombs"));
    let instants =
        report["probes"].as_array().expect("probes").iter().filter(|p| p["kind"] == "instant").count();
    assert_eq!(dom.matches("<circle class=\"probe\"").count(), instants, "one dot a probed instant");
    assert!(dom.contains("class=\"first-failure\""), "a first failure is marked");
    assert!(dom.contains("test_licence_is_valid"));
}

#[test]
fn report_files_in_a_missing_directory_are_refused_before_any_run() {
    let out = scratch(Who::Root);
    let missing = out.path().join("no/such/dir/r.html");
    for args in [
        vec!["diagnose", "--html", missing.to_str().unwrap(), "--", "true"],
        vec!["diagnose", "--junit-out", out.path().to_str().unwrap(), "--", "true"],
        vec!["timetravel", "--html", missing.to_str().unwrap(), "--", "true"],
    ] {
        let o = run(Who::Root, out.path(), &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "no run, no report: {}", stdout(&o));
        let err = stderr(&o);
        assert!(
            err.contains(args[2]) && (err.contains("does not exist") || err.contains("is a directory")),
            "{err}"
        );
    }
}
