//! Reading JUnit XML as the real tools write it.
//!
//! Dialects handled: pytest (xunit1 with `file`/`line`, xunit2 without),
//! cargo nextest, go-junit-report and gotestsum, Maven Surefire/Failsafe
//! (with `flakyFailure`, `flakyError`, `rerunFailure`, `rerunError`), Jest
//! (jest-junit), plain Ant-style files, `<testsuites>` wrappers and
//! `<testsuite>` nested in `<testsuite>`.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How a test case ended, as the file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
    Error,
    Skipped,
}

/// One test case from a JUnit file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCase {
    /// Stable identity across runs: `path/to/test_x.py::Class::test` for
    /// pytest, `classname::name` otherwise (the suite name stands in when
    /// the classname is missing or just repeats the name, as jest-junit
    /// does). A name seen again in the same file gets `#2`, `#3`, … in
    /// document order.
    pub name: String,
    pub outcome: Outcome,
    /// Failed attempts the runner retried (Surefire `flakyFailure`,
    /// `flakyError`, `rerunFailure`, `rerunError`; nextest writes the same
    /// elements). A test that passed with `flaky_reruns > 0` failed its
    /// first attempt.
    pub flaky_reruns: u32,
}

impl TestCase {
    /// Did the first attempt fail? Retries hide flakiness; for diagnosis
    /// the first attempt is the honest sample.
    pub fn first_attempt_failed(&self) -> Option<bool> {
        match self.outcome {
            Outcome::Skipped => None,
            Outcome::Failed | Outcome::Error => Some(true),
            Outcome::Passed => Some(self.flaky_reruns > 0),
        }
    }
}

/// A file that could not be read as JUnit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JunitError {
    #[error("empty file")]
    Empty,
    #[error("not well-formed XML: {0}")]
    Xml(String),
    #[error("not a JUnit report: root element is <{0}>, expected <testsuites> or <testsuite>")]
    NotJunit(String),
    /// The XML parser recurses per level: a deeper document would overflow
    /// the stack, and no real report comes near.
    #[error("elements nested more than {MAX_DEPTH} levels deep (at byte {0}); a JUnit report is a few levels deep")]
    TooDeep(usize),
}

/// The deepest element nesting read (see [`JunitError::TooDeep`]).
pub const MAX_DEPTH: usize = 256;

/// Where `xml` first nests elements deeper than [`MAX_DEPTH`], if it does.
/// Markup that cannot hold elements (comments, CDATA, processing
/// instructions, a DOCTYPE) is skipped; in well-formed XML, text and
/// attribute values cannot hold a `<`.
fn too_deep_at(xml: &str) -> Option<usize> {
    let b = xml.as_bytes();
    let skip_to = |from: usize, end: &str| xml[from..].find(end).map_or(b.len(), |i| from + i + end.len());
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &xml[i..];
        if rest.starts_with("<!--") {
            i = skip_to(i, "-->");
        } else if rest.starts_with("<![CDATA[") {
            i = skip_to(i, "]]>");
        } else if rest.starts_with("<?") {
            i = skip_to(i, "?>");
        } else if rest.starts_with("<!") {
            i = skip_to(i, ">");
        } else if rest.starts_with("</") {
            depth = depth.saturating_sub(1);
            i += 2;
        } else {
            let end = skip_to(i, ">");
            if !xml[i..end].ends_with("/>") {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(i);
                }
            }
            i = end;
        }
    }
    None
}

/// Parse one JUnit XML document into its test cases (in document order,
/// repeated names made unique with `#2`, `#3`, …).
pub fn parse_junit(xml: &str) -> Result<Vec<TestCase>, JunitError> {
    parse_raw(xml).map(disambiguate)
}

/// Parse without making names unique (a run's files are merged first, then
/// [`disambiguate`]d together).
pub fn parse_raw(xml: &str) -> Result<Vec<TestCase>, JunitError> {
    Ok(parse_cases(xml)?.into_iter().map(|c| c.to_test_case()).collect())
}

/// Everything one `<testcase>` says, for adapters that build their own ids
/// (nextest's binary id is the suite name, Surefire's `Class#method`).
#[derive(Debug, Clone, PartialEq)]
pub struct JunitCase {
    /// The enclosing `<testsuite>`'s name, when there is one.
    pub suite: Option<String>,
    pub classname: String,
    pub name: String,
    /// The `file` attribute (pytest xunit1, jest-junit).
    pub file: String,
    pub outcome: Outcome,
    pub flaky_reruns: u32,
    /// The `time` attribute, in seconds.
    pub time: Option<f64>,
    /// The first failure or error's `message` attribute, else its text.
    pub message: Option<String>,
}

impl JunitCase {
    /// The [`TestCase`] the diagnose engine reads (its id rules above).
    pub fn to_test_case(&self) -> TestCase {
        TestCase {
            name: case_name(&self.name, &self.classname, &self.file, self.suite.as_deref()),
            outcome: self.outcome,
            flaky_reruns: self.flaky_reruns,
        }
    }
}

/// Parse one JUnit XML document into every `<testcase>`'s attributes, in
/// document order.
pub fn parse_cases(xml: &str) -> Result<Vec<JunitCase>, JunitError> {
    if xml.trim().is_empty() {
        return Err(JunitError::Empty);
    }
    let opts = roxmltree::ParsingOptions {
        // Some generators emit a DOCTYPE; roxmltree never fetches external
        // entities, so allowing it is safe.
        allow_dtd: true,
        ..Default::default()
    };
    if let Some(at) = too_deep_at(xml) {
        return Err(JunitError::TooDeep(at));
    }
    let doc =
        roxmltree::Document::parse_with_options(xml, opts).map_err(|e| JunitError::Xml(e.to_string()))?;
    let root = doc.root_element();
    let root_name = root.tag_name().name();
    if root_name != "testsuites" && root_name != "testsuite" {
        return Err(JunitError::NotJunit(root_name.to_string()));
    }
    let mut raw = Vec::new();
    collect(root, &mut raw);
    Ok(raw)
}

/// Give repeated names `#2`, `#3`, … in order. Shared with the per-run
/// merge of several files, so duplicates across files are treated alike.
pub fn disambiguate(cases: Vec<TestCase>) -> Vec<TestCase> {
    let mut seen: HashMap<String, u32> = HashMap::new();
    cases
        .into_iter()
        .map(|mut c| {
            let n = seen.entry(c.name.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                c.name = format!("{}#{}", c.name, n);
            }
            c
        })
        .collect()
}

/// Every `<testcase>` under `root`'s suites, in document order, with the name
/// of the nearest named suite around it. A loop with its own stack, not
/// recursion: a document nested thousands of suites deep must not overflow
/// the thread's stack.
fn collect(root: roxmltree::Node<'_, '_>, out: &mut Vec<JunitCase>) {
    let mut stack = vec![(root.children(), None::<&str>)];
    while let Some((children, suite)) = stack.last_mut() {
        let suite = *suite;
        let Some(child) = children.next() else {
            stack.pop();
            continue;
        };
        if !child.is_element() {
            continue;
        }
        match child.tag_name().name() {
            "testsuite" | "testsuites" => stack.push((child.children(), child.attribute("name").or(suite))),
            "testcase" => out.push(test_case(child, suite)),
            _ => {}
        }
    }
}

fn test_case(node: roxmltree::Node<'_, '_>, suite: Option<&str>) -> JunitCase {
    let mut message = None;
    let mut failed = false;
    let mut errored = false;
    let mut skipped = false;
    let mut reruns = 0u32;
    for child in node.children().filter(|n| n.is_element()) {
        match child.tag_name().name() {
            "failure" | "error" => {
                if child.tag_name().name() == "failure" {
                    failed = true;
                } else {
                    errored = true;
                }
                if message.is_none() {
                    message = child
                        .attribute("message")
                        .filter(|m| !m.trim().is_empty())
                        .or(child.text().filter(|t| !t.trim().is_empty()))
                        .map(|m| m.trim().to_string());
                }
            }
            "skipped" => skipped = true,
            "flakyFailure" | "flakyError" | "rerunFailure" | "rerunError" => reruns += 1,
            _ => {}
        }
    }
    // Some writers mark skips with an attribute instead of an element.
    if matches!(node.attribute("status"), Some("skipped" | "notrun" | "disabled"))
        || node.attribute("skipped") == Some("true")
    {
        skipped = true;
    }
    let outcome = if errored {
        Outcome::Error
    } else if failed {
        Outcome::Failed
    } else if skipped {
        Outcome::Skipped
    } else {
        Outcome::Passed
    };
    let attr = |a: &str| node.attribute(a).unwrap_or("").trim().to_string();
    JunitCase {
        suite: suite.map(|s| s.trim().to_string()),
        classname: attr("classname"),
        name: attr("name"),
        file: attr("file"),
        outcome,
        flaky_reruns: reruns,
        time: node.attribute("time").and_then(|t| t.trim().parse().ok()),
        message,
    }
}

fn case_name(name: &str, classname: &str, file: &str, suite: Option<&str>) -> String {
    let suite = suite.unwrap_or("").trim();

    let is_pytest = file.ends_with(".py") || suite == "pytest";
    if is_pytest && !classname.is_empty() {
        return pytest_node_id(classname, file, name);
    }
    // A module that failed to import: no class, the dotted module as its
    // name; xunit1's `file` gives its node id, the module's path.
    if let Some(module) = file.strip_suffix(".py") {
        if classname.is_empty() && module.replace(['/', '\\'], ".") == name {
            return file.to_string();
        }
    }
    if !classname.is_empty() && classname != name {
        return format!("{classname}::{name}");
    }
    // jest-junit's default writes the same "describe title" as classname and
    // name: the suite (the test file) is what tells the tests apart.
    let owner = if !file.is_empty() { file } else { suite };
    if owner.is_empty() {
        name.to_string()
    } else {
        format!("{owner}::{name}")
    }
}

/// Turn pytest's dotted classname back into its node id:
/// `tests.unit.test_x.TestY` + `test_z` → `tests/unit/test_x.py::TestY::test_z`.
/// With xunit1's `file` attribute the module path is known exactly; with
/// xunit2 the classes are the trailing segments that start with an upper-case
/// letter (pytest collects only `Test*` classes), the rest is the module.
fn pytest_node_id(classname: &str, file: &str, name: &str) -> String {
    let segments: Vec<&str> = classname.split('.').collect();
    let (module, classes): (String, Vec<&str>) = if file.ends_with(".py") {
        let module_dotted = file.trim_end_matches(".py").replace(['/', '\\'], ".");
        let module_len = module_dotted.split('.').count();
        let classes = if classname.starts_with(&module_dotted) && segments.len() >= module_len {
            segments[module_len..].to_vec()
        } else {
            trailing_classes(&segments)
        };
        (file.to_string(), classes)
    } else {
        let classes = trailing_classes(&segments);
        let module = &segments[..segments.len() - classes.len()];
        if module.is_empty() {
            (String::new(), classes)
        } else {
            (format!("{}.py", module.join("/")), classes)
        }
    };
    let mut parts: Vec<&str> = Vec::new();
    if !module.is_empty() {
        parts.push(&module);
    }
    parts.extend(classes);
    parts.push(name);
    parts.join("::")
}

fn trailing_classes<'a>(segments: &[&'a str]) -> Vec<&'a str> {
    let n = segments
        .iter()
        .rev()
        .take_while(|s| s.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
        .count();
    // Keep at least one module segment.
    let n = n.min(segments.len().saturating_sub(1));
    segments[segments.len() - n..].to_vec()
}

/// Write adapter results as a JUnit document that [`parse_junit`] reads
/// back with the same ids, outcomes and retries: how per-test results from
/// any runner reach a consumer of JUnit text (the diagnose engine's
/// `RunOutcome::junit`) unchanged.
pub fn to_junit_xml(results: &[crate::TestResult]) -> String {
    fn esc(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\n' => out.push_str("&#10;"),
                '\r' => out.push_str("&#13;"),
                '\t' => out.push_str("&#9;"),
                // Not allowed in XML 1.0 at all.
                c if (c as u32) < 0x20 => out.push('\u{fffd}'),
                c => out.push(c),
            }
        }
        out
    }
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n<testsuite>\n");
    for r in results {
        // No classname, file or suite name: the reader then takes `name` as the id.
        xml.push_str(&format!("<testcase name=\"{}\"", esc(&r.id.0)));
        if let Some(d) = r.duration {
            xml.push_str(&format!(" time=\"{}\"", d.as_secs_f64()));
        }
        xml.push('>');
        let message = esc(r.message.as_deref().unwrap_or(""));
        match r.outcome {
            Outcome::Passed => {}
            Outcome::Failed => xml.push_str(&format!("<failure message=\"{message}\"/>")),
            Outcome::Error => xml.push_str(&format!("<error message=\"{message}\"/>")),
            Outcome::Skipped => xml.push_str("<skipped/>"),
        }
        for _ in 0..r.flaky_reruns {
            xml.push_str("<flakyFailure/>");
        }
        xml.push_str("</testcase>\n");
    }
    xml.push_str("</testsuite>\n</testsuites>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapter_results_round_trip_through_junit_text() {
        use crate::{TestId, TestResult};
        let r = |id: &str, outcome, message: Option<&str>, flaky_reruns| TestResult {
            id: TestId::new(id),
            outcome,
            duration: Some(std::time::Duration::from_millis(250)),
            message: message.map(String::from),
            flaky_reruns,
        };
        let results = vec![
            r("tests/test_a.py::TestK::test_x[a<b & \"c\"]", Outcome::Passed, None, 1),
            r("suite.test.js › suite › plain fails", Outcome::Failed, Some("expected 3\n\tgot 2 \u{1}"), 0),
            r("example.com/m/pkg TestX/sub", Outcome::Error, None, 0),
            r("./spec/a_spec.rb[1:2]", Outcome::Skipped, None, 0),
        ];
        let xml = to_junit_xml(&results);
        let cases = parse_junit(&xml).unwrap();
        let back: Vec<(String, Outcome, u32)> =
            cases.into_iter().map(|c| (c.name, c.outcome, c.flaky_reruns)).collect();
        let want: Vec<(String, Outcome, u32)> =
            results.iter().map(|t| (t.id.0.clone(), t.outcome, t.flaky_reruns)).collect();
        assert_eq!(back, want);
        let detailed = parse_cases(&xml).unwrap();
        assert_eq!(detailed[1].message.as_deref(), Some("expected 3\n\tgot 2 \u{fffd}"));
        assert_eq!(detailed[0].time, Some(0.25));
    }

    #[test]
    fn pytest_names() {
        assert_eq!(
            pytest_node_id("tests.test_x.TestY", "", "test_z[1-2]"),
            "tests/test_x.py::TestY::test_z[1-2]"
        );
        assert_eq!(pytest_node_id("tests.test_x", "", "test_z"), "tests/test_x.py::test_z");
        assert_eq!(
            pytest_node_id("tests.test_x.TestY", "tests/test_x.py", "test_z"),
            "tests/test_x.py::TestY::test_z"
        );
        assert_eq!(pytest_node_id("test_x", "", "t"), "test_x.py::t");
    }

    #[test]
    fn a_pytest_collection_error_is_named_after_its_module() {
        // As pytest 9 writes it with junit_family=xunit1.
        let xml = r#"<testsuites name="pytest tests"><testsuite name="pytest">
            <testcase classname="" name="tests.test_broken" file="tests/test_broken.py" time="0.000">
              <error message="collection failure">ValueError: boom</error></testcase>
            <testcase classname="" name="other" file="tests/test_broken.py"/>
            </testsuite></testsuites>"#;
        let names: Vec<String> = parse_junit(xml).unwrap().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["tests/test_broken.py", "tests/test_broken.py::other"]);
    }

    #[test]
    fn errors() {
        assert_eq!(parse_junit("  "), Err(JunitError::Empty));
        assert!(matches!(parse_junit("<testsuite><testcase"), Err(JunitError::Xml(_))));
        assert_eq!(parse_junit("<html/>"), Err(JunitError::NotJunit("html".into())));
        assert_eq!(parse_junit("<testsuites/>"), Ok(vec![]));
    }

    /// Found by the property tests (crates/flakebox/tests/parsers.rs): suites
    /// nested a few thousand deep overflowed a test thread's stack.
    #[test]
    fn deeply_nested_suites_do_not_overflow_the_stack() {
        let depth = 20_000;
        let xml = format!(
            "<testsuite name=\"outer\">{}<testcase name=\"deep\"/>{}</testsuite>",
            "<testsuite>".repeat(depth),
            "</testsuite>".repeat(depth)
        );
        // A small stack: the parser recursed per level and overflowed.
        let small_stack = std::thread::Builder::new().stack_size(256 * 1024);
        let parsed = small_stack.spawn(move || parse_cases(&xml)).map(|t| t.join());
        match parsed {
            Ok(Ok(Err(e))) => {
                assert_eq!(
                    e,
                    JunitError::TooDeep(
                        "<testsuite name=\"outer\">".len() + (MAX_DEPTH - 1) * "<testsuite>".len()
                    )
                );
                assert!(!e.to_string().contains('\n'), "{e}");
            }
            other => panic!("{other:?}"),
        }
        // Comments and CDATA do not count; a real nesting within the limit parses.
        let xml = format!(
            "<testsuites>{}<testcase name=\"t\"><system-out><![CDATA[{}]]></system-out></testcase>{}</testsuites>",
            "<testsuite><!-- <a> -->".repeat(MAX_DEPTH - 3),
            "<div>".repeat(1000),
            "</testsuite>".repeat(MAX_DEPTH - 3)
        );
        assert_eq!(parse_cases(&xml).map(|c| c.len()), Ok(1));
    }
}
