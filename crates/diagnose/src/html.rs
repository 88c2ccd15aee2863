//! The diagnosis as one self-contained HTML page (`--format html`,
//! `--html FILE`): the verdict and the factor table first, then the run grid
//! (rounds × conditions, each cell titled with its run's duration, failing
//! tests and evidence), then the tests that are not stable with their
//! effects, evidence and replay, and the stable ones collapsed into a count.

use crate::report::*;
use render::html::{badge, collapsed, command, escape, page, table};
use std::fmt::Write as _;

/// The report as an HTML page.
pub fn render_html(report: &Report) -> String {
    let mut b = String::new();
    let cmd = render::shell_line(&report.command);
    let _ = writeln!(b, "<h1>flakebox diagnose</h1>\n{}", command(&cmd));
    let _ = writeln!(
        b,
        "<p>verdict: <span id=\"verdict\">{}</span></p>\n<p class=\"summary\">{}</p>",
        badge(verdict_class(report.verdict, report.outcome), &report_label(report)),
        escape(&report.summary)
    );
    if let Some(s) = screening_line(report) {
        let _ = writeln!(b, "<p class=\"muted\">{}</p>", escape(&s));
    }
    b.push_str(&factor_section(report));
    b.push_str(&grid_section(report));
    b.push_str(&test_section(report));
    b.push_str(&footer(report));
    page(&format!("flakebox diagnose: {} — {cmd}", report_label(report)), &b)
}

/// The badge colour: a stable failure is a failure.
fn verdict_class(v: Verdict, outcome: Option<StableOutcome>) -> &'static str {
    match (v, outcome) {
        (Verdict::Stable, Some(StableOutcome::Fail)) => "fail",
        (v, _) => v.name(),
    }
}

fn factor_section(report: &Report) -> String {
    // The order factor's evidence is its test, polluter, state and replay.
    let evidence_cell = |evidence: &[String]| -> String {
        evidence.iter().take(5).map(|e| format!("<div>{}</div>", escape(e))).collect()
    };
    let row = |factor: &str, status: &str, p: f64, b: &Counts, i: &Counts, change: String, ev: String| {
        vec![
            format!("<span class=\"factor\">{}</span>", escape(factor)),
            format!("<span class=\"status\">{}</span>", escape(status)),
            escape(&fmt_p(p)),
            escape(&counts_text(b)),
            escape(&counts_text(i)),
            escape(&change),
            ev,
        ]
    };
    // The effects first (with focused reruns, those on some test: the
    // analysis of the suspects run together leaves them out), then the rest.
    let mut rows: Vec<Vec<String>> = report
        .factors
        .iter()
        .map(|f| {
            row(
                f.factor.name(),
                f.effect.name(),
                f.p_value,
                &f.baseline,
                &f.isolated,
                String::new(),
                evidence_cell(&f.evidence),
            )
        })
        .collect();
    for a in report.analysis.iter().filter(|a| !report.factors.iter().any(|f| f.factor == a.factor)) {
        let change = match (a.status, a.change_ruled_out) {
            (Status::None, Some(c)) => format!("± {} ruled out", pct(c)),
            _ => String::new(),
        };
        rows.push(row(
            a.factor.name(),
            a.status.name(),
            a.p_value,
            &a.baseline,
            &a.isolated,
            change,
            evidence_cell(&a.evidence),
        ));
    }
    if rows.is_empty() {
        return String::new();
    }
    let order = report.analysis.iter().any(|a| a.factor == factors::Factor::Order);
    let note = match order {
        true => {
            "<p class=\"muted\">order: baseline is the suite's own order, isolated the test run alone.</p>\n"
        }
        false => "",
    };
    format!(
        "<h2>Factors</h2>\n{}{note}",
        table(
            "factors",
            &["factor", "status", "p (adjusted)", "baseline failed", "isolated failed", "change", "evidence"],
            &rows
        )
    )
}

/// Rows: the screening runs, then each round; columns: the conditions in
/// the report's order. Every run is one `td.run` cell.
fn grid_section(report: &Report) -> String {
    if report.runs.is_empty() {
        return String::new();
    }
    let conds: Vec<&str> = report.conditions.iter().map(|c| c.name.as_str()).collect();
    let col = |name: &str| conds.iter().position(|c| *c == name);
    let mut rows: Vec<(String, Vec<Option<&RunSummary>>)> = Vec::new();
    for (k, r) in report.runs.iter().filter(|r| r.screening).enumerate() {
        let mut cells = vec![None; conds.len()];
        if let Some(c) = col(&r.condition) {
            cells[c] = Some(r);
        }
        rows.push((format!("screening {}", k + 1), cells));
    }
    let rounds = report.runs.iter().filter(|r| !r.screening).map(|r| r.round + 1).max().unwrap_or(0);
    let first = rows.len();
    for round in 0..rounds {
        rows.push((format!("round {}", round + 1), vec![None; conds.len()]));
    }
    for r in report.runs.iter().filter(|r| !r.screening) {
        if let Some(c) = col(&r.condition) {
            rows[first + r.round].1[c] = Some(r);
        }
    }
    let mut s = String::from("<h2>Runs</h2>\n<p class=\"muted\">One cell a run: ✓ passed, ✗ failed, T timed out; hover a cell for its duration, failing tests and evidence.</p>\n<table class=\"grid\">\n<thead><tr><th></th>");
    for c in &conds {
        let _ = write!(s, "<th>{}</th>", escape(c));
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for (label, cells) in &rows {
        let _ = write!(s, "<tr><th>{}</th>", escape(label));
        for cell in cells {
            match cell {
                None => s.push_str("<td class=\"none\"></td>"),
                Some(r) => {
                    let (class, mark) = if r.passed {
                        ("pass", "✓")
                    } else if r.timed_out {
                        ("timeout", "T")
                    } else {
                        ("fail", "✗")
                    };
                    let _ = write!(
                        s,
                        "<td class=\"run {class}\" title=\"{}\">{mark}</td>",
                        escape(&cell_title(r))
                    );
                }
            }
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody>\n</table>\n");
    s
}

fn cell_title(r: &RunSummary) -> String {
    let outcome = if r.passed {
        "passed"
    } else if r.timed_out {
        "timed out"
    } else {
        "failed"
    };
    let mut t = format!("{} {outcome} in {:.2}s", r.condition, r.seconds);
    if r.failed_tests_total > 0 {
        let more = r.failed_tests_total.saturating_sub(r.failed_tests.len());
        let _ = write!(t, "\nfailed: {}", r.failed_tests.join(", "));
        if more > 0 {
            let _ = write!(t, " (+{more} more)");
        }
    }
    for e in &r.evidence {
        let _ = write!(t, "\n{e}");
    }
    t
}

fn test_section(report: &Report) -> String {
    if report.tests.is_empty() {
        return String::new();
    }
    let (shown, stable) = split_tests(report);
    let mut s = format!(
        "<h2>Tests</h2>\n<p class=\"muted\">{} of {} not stable.</p>\n",
        thousands(shown.len()),
        thousands(report.tests.len())
    );
    for t in &shown {
        let _ = writeln!(
            s,
            "<div class=\"test\"><h3>{} {}</h3>",
            escape(&t.name),
            badge(verdict_class(t.verdict, t.outcome), &test_label(t))
        );
        for line in test_details(t) {
            let _ = writeln!(s, "<div>{}</div>", escape(&line));
        }
        let conds: Vec<String> = t
            .conditions
            .iter()
            .filter(|c| c.runs > 0)
            .map(|c| format!("{} {}/{}", c.name, c.failed, c.runs))
            .collect();
        if !conds.is_empty() {
            let _ =
                writeln!(s, "<div class=\"muted\">failed per condition: {}</div>", escape(&conds.join(", ")));
        }
        if let Some(r) = &t.replay {
            let _ = write!(s, "<div>replay under flakebox:</div>{}", command(r));
            if let Some(note) = crate::report::replay_note(t) {
                let _ = writeln!(s, "<div class=\"muted\">{}</div>", escape(note));
            }
        }
        if let Some(r) = &t.replay_alone {
            let _ = write!(s, "<div>{}:</div>{}", crate::report::alone_label(t), command(r));
        }
        s.push_str("</div>\n");
    }
    if let Some(line) = stable_line(&stable) {
        let names: String = stable.iter().map(|t| format!("<li>{}</li>", escape(&t.name))).collect();
        s.push_str(&collapsed(&line, &format!("<ul class=\"stable\">{names}</ul>\n")));
    }
    s
}

fn footer(report: &Report) -> String {
    let mut s = format!(
        "<h2>About this diagnosis</h2>\n<p class=\"muted\">{} runs in {} rounds ({}), {:.1}s wall, {:.1}s in the command; method {}, alpha {}, seed {}",
        report.runs_total,
        report.rounds,
        stop_text(report.stopped),
        report.wall_seconds,
        report.command_seconds,
        escape(&report.method),
        report.alpha,
        report.seed
    );
    if let Some(i) = &report.frozen_instant {
        let _ = write!(s, "; frozen instant {}", escape(i));
    }
    if let Some(e) = report.entropy_seed {
        let _ = write!(s, "; entropy seed of rand-isolated runs {e} (not the shuffle seed)");
    }
    s.push_str(".</p>\n");
    if !report.warnings.is_empty() {
        let items: String = report.warnings.iter().map(|w| format!("<li>{}</li>", escape(w))).collect();
        let _ = writeln!(s, "<ul class=\"warnings\">{items}</ul>");
    }
    s
}
