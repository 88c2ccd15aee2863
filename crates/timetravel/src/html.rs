//! The timetravel report as one self-contained HTML page (`--format html`,
//! `--html FILE`): the count of time bombs, a timeline (inline SVG) of the
//! probed instants from now with each time-dependent test's failing
//! instants and its first failure, the zone findings, then every test that
//! is not stable, and the stable ones collapsed into a count.

use crate::plan::{Mark, TestVerdict, Verdict};
use crate::report::{finding, plural, symbol, when, ProbeKind, Report};
use render::html::{badge, collapsed, command, escape, page, table};
use std::fmt::Write as _;

/// The report as an HTML page.
pub fn render_html(r: &Report) -> String {
    let mut b = String::new();
    let cmd = render::shell_line(&r.command);
    let (runs, reruns) = r.runs();
    let headline = plural(r.time_bombs, "time bomb", "time bombs");
    let class = if r.time_bombs > 0 { "timebomb" } else { "pass" };
    let _ = writeln!(b, "<h1>flakebox timetravel</h1>\n{}", command(&cmd));
    let _ = writeln!(
        b,
        "<p><span id=\"time-bombs\">{}</span> in {} · now <code>{}</code> · zone <code>{}</code> · {} ({} to confirm) · {}</p>",
        badge(class, &headline),
        escape(&plural(r.tests.len(), "test", "tests")),
        escape(&r.now),
        escape(&r.zone),
        escape(&plural(runs, "run", "runs")),
        escape(&plural(reruns, "re-run", "re-runs")),
        escape(&r.probes_run()),
    );
    for w in &r.warnings {
        let _ = writeln!(b, "<p class=\"muted\">warning: {}</p>", escape(w));
    }
    b.push_str(&timeline(r));
    b.push_str(&zones(r));
    b.push_str(&tests(r));
    page(&format!("flakebox timetravel: {headline} — {cmd}"), &b)
}

/// Days from `now` to `instant` (fractional), when both parse.
fn days_from(now: &str, instant: &str) -> Option<f64> {
    let now: jiff::Timestamp = now.parse().ok()?;
    let t: jiff::Timestamp = instant.parse().ok()?;
    Some((t.as_second() - now.as_second()) as f64 / 86_400.0)
}

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 230.0;
const ROW: f64 = 26.0;

/// The instant probes on a logarithmic axis of days from now (the hazards
/// crowd the next weeks and reach years ahead), one row per time-dependent
/// test: a dot at every failing instant, a ring at the first failure.
fn timeline(r: &Report) -> String {
    let instants: Vec<(f64, &str, &str)> = r
        .probes
        .iter()
        .filter(|p| p.kind == ProbeKind::Instant)
        .filter_map(|p| Some((days_from(&r.now, &p.instant)?.max(0.0), p.instant.as_str(), p.label.as_str())))
        .collect();
    if instants.is_empty() {
        return String::new();
    }
    let span = instants.iter().map(|(d, _, _)| *d).fold(1.0f64, f64::max);
    let x = |d: f64| LEFT + (WIDTH - LEFT - 20.0) * (1.0 + d.max(0.0)).ln() / (1.0 + span).ln();
    let bombs: Vec<&TestVerdict> = r.tests.iter().filter(|t| t.verdict == Verdict::TimeDependent).collect();
    let height = 60.0 + ROW * bombs.len() as f64;
    let mut s = format!(
        "<h2>Timeline</h2>\n<p class=\"muted\">The {} probed instants from now (logarithmic: days ahead); one row a time-dependent test: ● fails there, ◯ first failure.</p>\n\
         <svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"timeline of probed instants\">\n",
        instants.len()
    );
    let axis = 30.0;
    let _ = writeln!(
        s,
        "<line x1=\"{LEFT}\" y1=\"{axis}\" x2=\"{}\" y2=\"{axis}\" stroke=\"#5b6475\"/>",
        WIDTH - 20.0
    );
    for (days, label) in
        [(0.0, "now"), (1.0, "1 day"), (30.0, "1 month"), (365.0, "1 year"), (3650.0, "10 years")]
    {
        if days <= span {
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"14\" text-anchor=\"middle\" fill=\"#5b6475\">{label}</text>",
                x(days)
            );
        }
    }
    for (d, instant, label) in &instants {
        let _ = writeln!(
            s,
            "<circle class=\"probe\" cx=\"{:.1}\" cy=\"{axis}\" r=\"3\" fill=\"#5b6475\"><title>{} {}</title></circle>",
            x(*d),
            escape(instant),
            escape(label)
        );
    }
    for (k, t) in bombs.iter().enumerate() {
        let y = 60.0 + ROW * k as f64;
        let name: String = t.name.chars().take(34).collect();
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\"><title>{}</title>{}</text>",
            LEFT - 8.0,
            y + 4.0,
            escape(&t.name),
            escape(&name)
        );
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#d8dde6\"/>",
            WIDTH - 20.0
        );
        for f in &t.failing_instants {
            if let Some(d) = days_from(&r.now, &f.instant) {
                let _ = writeln!(
                    s,
                    "<circle class=\"fails\" cx=\"{:.1}\" cy=\"{y}\" r=\"5\" fill=\"#c2410c\"><title>fails at {} ({})</title></circle>",
                    x(d),
                    escape(&f.instant),
                    escape(&f.label)
                );
            }
        }
        if let Some(f) = &t.first_failure {
            if let Some(d) = days_from(&r.now, &f.instant) {
                let _ = writeln!(
                    s,
                    "<circle class=\"first-failure\" cx=\"{:.1}\" cy=\"{y}\" r=\"9\" fill=\"none\" stroke=\"#c2410c\" stroke-width=\"2\"><title>first failure {} ({}), {}</title></circle>",
                    x(d),
                    escape(&f.instant),
                    escape(&f.label),
                    escape(&when(f.days_from_now))
                );
            }
        }
    }
    s.push_str("</svg>\n");
    s
}

fn zones(r: &Report) -> String {
    let rows: Vec<Vec<String>> = r
        .tests
        .iter()
        .filter(|t| !t.failing_zones.is_empty() && t.verdict != Verdict::Stable)
        .map(|t| {
            vec![
                format!("<code>{}</code>", escape(&t.name)),
                escape(&t.failing_zones.join(", ")),
                escape(&t.passing_zones.join(", ")),
            ]
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!("<h2>Time zones</h2>\n{}", table("zones", &["test", "fails in", "passes in"], &rows))
}

fn tests(r: &Report) -> String {
    let shown: Vec<&TestVerdict> = r.tests.iter().filter(|t| t.verdict != Verdict::Stable).collect();
    let stable: Vec<&TestVerdict> = r.tests.iter().filter(|t| t.verdict == Verdict::Stable).collect();
    let mut s = String::from("<h2>Tests</h2>\n");
    for t in &shown {
        let class = match t.verdict {
            Verdict::TimeDependent | Verdict::ZoneDependent => "timebomb",
            _ => "undecided",
        };
        let _ = writeln!(
            s,
            "<div class=\"test\"><h3>{} {}</h3>\n<div>{}</div>",
            escape(&t.name),
            badge(class, t.verdict.name()),
            escape(&finding(t, &r.zone))
        );
        let marks: String = r
            .shown_timeline(t)
            .iter()
            .map(|e| {
                format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    symbol(e.result),
                    escape(&e.instant),
                    escape(&e.zone),
                    escape(&e.label)
                )
            })
            .collect();
        if !marks.is_empty() {
            s.push_str(&collapsed(
                "timeline",
                &format!("<table class=\"timeline\"><tbody>{marks}</tbody></table>\n"),
            ));
        }
        s.push_str("</div>\n");
    }
    if !stable.is_empty() {
        let names: String = stable.iter().map(|t| format!("<li>{}</li>", escape(&t.name))).collect();
        let line = format!(
            "{} (same outcome at every instant and zone)",
            plural(stable.len(), "stable test", "stable tests")
        );
        s.push_str(&collapsed(&line, &format!("<ul class=\"stable\">{names}</ul>\n")));
    }
    let _ = writeln!(
        s,
        "<p class=\"muted\">{} passed · {} failed · ~ runs disagreed · ? differed once, not re-run · {} not run</p>",
        symbol(Mark::Passed),
        symbol(Mark::Failed),
        symbol(Mark::NotRun)
    );
    s
}
