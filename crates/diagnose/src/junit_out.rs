//! The per-test verdicts as JUnit XML (`--junit-out FILE`), the format CI
//! dashboards already show (GitLab, Jenkins, Buildkite, GitHub's test-report
//! actions): a test flaky because of a factor is a failure whose message
//! names the cause, the p-value and the replay; a stable pass passes; a
//! stable failure fails; an undecided test is skipped with the reason.
//! Without per-test results, the command is the one test case.
//! XML by `quick-xml`: attribute values and text are escaped by the writer.

use crate::report::*;
use factors::Factor;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

/// The `classname` of every case: the suite in a dashboard's tree.
pub const CLASSNAME: &str = "flakebox.diagnose";

/// How one test (or the command) is reported.
#[derive(Debug, Clone, PartialEq)]
enum Case {
    Pass,
    Failure { kind: &'static str, message: String, body: String },
    Skipped { message: String },
}

/// The report as a JUnit XML document.
pub fn render_junit(report: &Report) -> Result<String, std::io::Error> {
    let cases: Vec<(String, Case)> = if report.tests.is_empty() {
        vec![(render::shell_line(&report.command), command_case(report))]
    } else {
        report.tests.iter().map(|t| (t.name.clone(), test_case(t))).collect()
    };
    let failures = cases.iter().filter(|(_, c)| matches!(c, Case::Failure { .. })).count();
    let skipped = cases.iter().filter(|(_, c)| matches!(c, Case::Skipped { .. })).count();
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let mut suite = BytesStart::new("testsuite");
    suite.push_attribute(("name", "flakebox diagnose"));
    suite.push_attribute(("tests", cases.len().to_string().as_str()));
    suite.push_attribute(("failures", failures.to_string().as_str()));
    suite.push_attribute(("errors", "0"));
    suite.push_attribute(("skipped", skipped.to_string().as_str()));
    suite.push_attribute(("time", format!("{:.3}", report.wall_seconds).as_str()));
    w.write_event(Event::Start(suite))?;
    for (name, case) in &cases {
        let mut tc = BytesStart::new("testcase");
        tc.push_attribute(("classname", CLASSNAME));
        tc.push_attribute(("name", name.as_str()));
        match case {
            Case::Pass => w.write_event(Event::Empty(tc))?,
            Case::Failure { kind, message, body } => {
                w.write_event(Event::Start(tc))?;
                let mut f = BytesStart::new("failure");
                f.push_attribute(("type", *kind));
                f.push_attribute(("message", message.as_str()));
                w.write_event(Event::Start(f))?;
                w.write_event(Event::Text(BytesText::new(body)))?;
                w.write_event(Event::End(BytesEnd::new("failure")))?;
                w.write_event(Event::End(BytesEnd::new("testcase")))?;
            }
            Case::Skipped { message } => {
                w.write_event(Event::Start(tc))?;
                let mut s = BytesStart::new("skipped");
                s.push_attribute(("message", message.as_str()));
                w.write_event(Event::Empty(s))?;
                w.write_event(Event::End(BytesEnd::new("testcase")))?;
            }
        }
    }
    w.write_event(Event::End(BytesEnd::new("testsuite")))?;
    let mut out = w.into_inner();
    out.push(b'\n');
    String::from_utf8(out).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

fn test_case(t: &TestReport) -> Case {
    let mut body: Vec<String> = test_details(t);
    body.extend(replay_lines(t));
    let body = body.join("\n");
    let order = t.factors.iter().any(|f| f.factor == Factor::Order);
    if t.fails_only_in_suite && !order {
        return Case::Failure {
            kind: "flakebox.order",
            message: "fails only in the whole suite: it needs an earlier test".into(),
            body,
        };
    }
    verdict_case(t.verdict, t.outcome, &t.factors, &t.summary, t.replay.as_deref(), body)
}

fn command_case(r: &Report) -> Case {
    let mut body = vec![r.summary.clone()];
    for f in &r.factors {
        body.extend(f.evidence.iter().map(|e| format!("- {e}")));
    }
    verdict_case(r.verdict, r.outcome, &r.factors, &r.summary, None, body.join("\n"))
}

fn verdict_case(
    verdict: Verdict,
    outcome: Option<StableOutcome>,
    factors: &[FactorEffect],
    summary: &str,
    replay: Option<&str>,
    body: String,
) -> Case {
    match verdict {
        Verdict::Environment => {
            let causes: Vec<String> = factors
                .iter()
                .map(|f| format!("{} {} (p = {})", f.factor, f.effect.name(), fmt_p(f.p_value)))
                .collect();
            let replay = replay.map(|r| format!("; replay: {r}")).unwrap_or_default();
            // The order factor alone: the cause is another test, not the machine.
            let (kind, what) = match factors.iter().all(|f| f.factor == Factor::Order) {
                true => ("flakebox.order", "depends on the order of the tests"),
                false => ("flakebox.environment", "flaky because of the environment"),
            };
            Case::Failure { kind, message: format!("{what}: {}{replay}", causes.join(", ")), body }
        }
        Verdict::Intrinsic => Case::Failure {
            kind: "flakebox.intrinsic",
            message: format!("flaky with every factor isolated (intrinsic): {summary}"),
            body,
        },
        Verdict::Stable => match outcome {
            Some(StableOutcome::Fail) => Case::Failure {
                kind: "flakebox.stable-fail",
                message: format!("fails every run: {summary}"),
                body,
            },
            Some(StableOutcome::Skipped) => Case::Skipped { message: "skipped in every run".into() },
            _ => Case::Pass,
        },
        Verdict::Undecided => Case::Skipped { message: format!("undecided: {summary}") },
    }
}
