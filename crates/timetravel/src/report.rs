//! The timetravel report: JSON (schema 1), text and markdown.
//!
//! JSON schema 1 (more fields may be added; these keep their meaning):
//!
//! ```text
//! {
//!   "schema": 1,
//!   "command": ["pytest", "-q"],
//!   "now": "2026-11-22T12:00:00Z",          // the frozen "now" (RFC 3339, UTC)
//!   "zone": "Europe/Berlin",                // the zone in effect
//!   "probes": [ {
//!       "kind": "instant" | "zone",
//!       "instant": "2027-01-01T00:00:00Z",  // clock frozen here
//!       "zone": "Europe/Berlin",            // TZ of the run
//!       "label": "next New Year 2027 (UTC)",
//!       "family": "now" | "midnight" | "month-end" | "new-year" | "leap-day"
//!               | "dst" | "offset" | "y2038" | "extra" | null,  // null for zones
//!       "runs": [ { "attempt": 1, "passed": 9, "failed": 1, "skipped": 0,
//!                   "unreliable": false } ]   // attempt 2 = confirmation
//!   } ],
//!   "tests": [ {
//!       "name": "test_bombs.py::test_licence_is_valid",
//!       "verdict": "time-dependent" | "zone-dependent" | "stable" | "flaky",
//!       "now": "passed" | "failed" | "flaky" | "not-run",
//!       "first_failure": { "instant": "...", "label": "...",
//!                          "days_from_now": 40 | null } | null,
//!       "zones": ["Pacific/Kiritimati"],     // zones where the outcome differs
//!                                            // from now (where it fails, if it
//!                                            // passes at now)
//!       "failing_instants": [ { "instant": "...", "label": "..." } ],
//!       "flips": ["now", "+1 year"],          // probes whose runs disagreed
//!       "unreliable": false,
//!       "timeline": [ { "instant": "...", "zone": "...", "label": "...",
//!                       "result": "passed" | "failed" | "flaky"
//!                               | "unconfirmed" | "not-run" } ]
//!   } ],
//!   "time_bombs": 1,     // tests time- or zone-dependent and not unreliable
//!   "warnings": ["..."]
//! }
//! ```
//!
//! `first_failure` is set only for time-dependent tests; `days_from_now`
//! counts calendar days in the zone in effect and is null for instants
//! before now. `timeline`, `zones`, `failing_instants` are empty for stable
//! tests (`timeline` is kept when some difference went unconfirmed). Tests are ordered time-dependent (earliest first failure first),
//! zone-dependent, flaky, stable, then by name.

use render::md_escape;
use serde::Serialize;

use crate::hazards::Family;
use crate::plan::{Mark, Plan, ProbeResult, Target, TestVerdict, Verdict};

/// The JSON schema version.
pub const SCHEMA: u32 = 1;
/// Exit status when no test is time- or zone-dependent (flaky and stable
/// tests alone do not make time bombs).
pub const EXIT_NO_TIME_BOMBS: i32 = 0;
/// Exit status when at least one time bomb was found. Chosen outside the
/// range test runners commonly use (pytest 0–5, cargo 101, 126/127, 128+N).
pub const EXIT_TIME_BOMBS: i32 = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    Instant,
    Zone,
}

/// Counts for one run of a probe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub attempt: u32,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub unreliable: bool,
}

/// One probe target and its runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeSummary {
    pub kind: ProbeKind,
    pub instant: String,
    pub zone: String,
    pub label: String,
    pub family: Option<Family>,
    pub runs: Vec<RunSummary>,
}

/// The whole report (see the module docs for the JSON schema).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub schema: u32,
    pub command: Vec<String>,
    pub now: String,
    pub zone: String,
    pub probes: Vec<ProbeSummary>,
    pub tests: Vec<TestVerdict>,
    pub time_bombs: usize,
    pub warnings: Vec<String>,
}

impl Plan {
    /// Classify `results` (first pass and confirmations) into a report.
    /// `warnings` are passed through (e.g. binaries the shim cannot reach).
    pub fn report(&self, command: &[String], results: &[ProbeResult], warnings: Vec<String>) -> Report {
        let tests = self.classify(results);
        let probes = self
            .targets()
            .into_iter()
            .filter_map(|t| self.probe(t, 1).map(|p| (t, p)))
            .map(|(target, p)| {
                let mut runs: Vec<RunSummary> = results
                    .iter()
                    .filter(|r| r.target == target)
                    .map(|r| {
                        let count = |o| r.tests.values().filter(|&&v| v == o).count();
                        RunSummary {
                            attempt: r.attempt,
                            passed: count(crate::Outcome::Passed),
                            failed: count(crate::Outcome::Failed),
                            skipped: count(crate::Outcome::Skipped),
                            unreliable: r.unreliable,
                        }
                    })
                    .collect();
                runs.sort_by_key(|r| r.attempt);
                let (kind, family) = match target {
                    Target::Instant(i) => (ProbeKind::Instant, self.hazards().get(i).map(|h| h.family)),
                    Target::Zone(_) => (ProbeKind::Zone, None),
                };
                ProbeSummary {
                    kind,
                    instant: p.instant.to_string(),
                    zone: p.tz.unwrap_or_else(|| self.zone_name().to_string()),
                    label: p.label,
                    family,
                    runs,
                }
            })
            .collect();
        let time_bombs = tests.iter().filter(|t| t.is_time_bomb()).count();
        Report {
            schema: SCHEMA,
            command: command.to_vec(),
            now: self.now().to_string(),
            zone: self.zone_name().to_string(),
            probes,
            tests,
            time_bombs,
            warnings,
        }
    }
}

impl Report {
    pub fn exit_code(&self) -> i32 {
        if self.time_bombs > 0 {
            EXIT_TIME_BOMBS
        } else {
            EXIT_NO_TIME_BOMBS
        }
    }

    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    fn runs(&self) -> (usize, usize) {
        let all: usize = self.probes.iter().map(|p| p.runs.len()).sum();
        let reruns = self.probes.iter().flat_map(|p| &p.runs).filter(|r| r.attempt > 1).count();
        (all, reruns)
    }
}

fn symbol(m: Mark) -> &'static str {
    match m {
        Mark::Passed => "✓",
        Mark::Failed => "✗",
        Mark::Flaky => "~",
        Mark::Unconfirmed => "?",
        Mark::NotRun => "·",
    }
}

fn when(days: Option<i64>) -> String {
    match days {
        None => "already in the past".into(),
        Some(0) => "today".into(),
        Some(1) => "tomorrow".into(),
        Some(n) => format!("in {n} days"),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `zones` lists where the outcome differs from now: failing for a test that
/// passes at now, passing for one that fails there.
fn zone_verb(t: &TestVerdict) -> &'static str {
    if t.now == Mark::Failed {
        "passes in"
    } else {
        "fails in"
    }
}

/// One line describing a non-stable test's finding.
fn finding(t: &TestVerdict) -> String {
    let mut s = match t.verdict {
        Verdict::TimeDependent => match &t.first_failure {
            Some(f) => format!("fails from {}, {}, {}", f.instant, f.label, when(f.days_from_now)),
            None => "outcome depends on the instant".into(),
        },
        Verdict::ZoneDependent => format!("{} {}", zone_verb(t), t.zones.join(", ")),
        Verdict::Flaky => format!("runs at the same instant disagreed: {}", t.flips.join(", ")),
        Verdict::Stable => String::new(),
    };
    if t.verdict == Verdict::TimeDependent && !t.zones.is_empty() {
        s.push_str(&format!("; also {} {}", zone_verb(t), t.zones.join(", ")));
    }
    if t.now == Mark::Failed && t.verdict != Verdict::Flaky {
        s.push_str(" (already fails at now)");
    }
    if t.unreliable {
        s.push_str(" [unreliable: the shim could not freeze every binary's clock]");
    }
    s
}

/// A timeline per affected test, then a one-line count of stable tests.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    let (runs, reruns) = r.runs();
    out.push_str(&format!(
        "flakebox timetravel: {} in {} · now {} · zone {} · {} ({} to confirm)\n",
        plural(r.time_bombs, "time bomb", "time bombs"),
        plural(r.tests.len(), "test", "tests"),
        r.now,
        r.zone,
        plural(runs, "run", "runs"),
        plural(reruns, "re-run", "re-runs"),
    ));
    for w in &r.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    for t in r.tests.iter().filter(|t| t.verdict != Verdict::Stable) {
        out.push('\n');
        out.push_str(&format!(
            "{} {} — {}: {}\n",
            if t.verdict == Verdict::Flaky { "~" } else { "✗" },
            t.name,
            t.verdict.name(),
            finding(t)
        ));
        let first = t.first_failure.as_ref().map(|f| (&f.instant, &f.label));
        let width = t.timeline.iter().map(|e| e.zone.chars().count()).max().unwrap_or(0);
        for e in &t.timeline {
            let marker = if first == Some((&e.instant, &e.label)) { "   ← first failure" } else { "" };
            out.push_str(&format!(
                "    {} {}  {:<width$}  {}{}\n",
                symbol(e.result),
                e.instant,
                e.zone,
                e.label,
                marker,
            ));
        }
    }
    let stable: Vec<&str> =
        r.tests.iter().filter(|t| t.verdict == Verdict::Stable).map(|t| t.name.as_str()).collect();
    if !stable.is_empty() {
        out.push('\n');
        out.push_str(&format!(
            "{} (same outcome at every instant and zone)\n",
            plural(stable.len(), "stable test", "stable tests")
        ));
    }
    out.push_str("\n✓ passed  ✗ failed  ~ runs disagreed  ? differed once, not re-run  · not run\n");
    out
}

/// A summary table, then a collapsible timeline per affected test.
pub fn render_markdown(r: &Report) -> String {
    let mut out = String::new();
    let (runs, reruns) = r.runs();
    out.push_str("## flakebox timetravel\n\n");
    out.push_str(&format!(
        "**{}** in {} — now `{}`, zone `{}`, {} ({} to confirm).\n\n",
        plural(r.time_bombs, "time bomb", "time bombs"),
        plural(r.tests.len(), "test", "tests"),
        r.now,
        r.zone,
        plural(runs, "run", "runs"),
        plural(reruns, "re-run", "re-runs"),
    ));
    for w in &r.warnings {
        out.push_str(&format!("> **warning:** {}\n\n", md_escape(w)));
    }
    out.push_str("| test | verdict | first failure | hazard | starts | zones |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for t in &r.tests {
        let (instant, label, starts) = match &t.first_failure {
            Some(f) => (format!("`{}`", f.instant), md_escape(&f.label), when(f.days_from_now)),
            None => (String::new(), String::new(), String::new()),
        };
        let verdict = if t.unreliable {
            format!("{} (unreliable)", t.verdict.name())
        } else {
            t.verdict.name().to_string()
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            md_escape(&t.name),
            verdict,
            instant,
            label,
            starts,
            md_escape(&t.zones.join(", ")),
        ));
    }
    for t in r.tests.iter().filter(|t| !t.timeline.is_empty()) {
        out.push_str(&format!(
            "\n<details><summary><code>{}</code>: {}</summary>\n\n",
            md_escape(&t.name),
            md_escape(&finding(t))
        ));
        out.push_str("| | instant | zone | hazard |\n|---|---|---|---|\n");
        for e in &t.timeline {
            out.push_str(&format!(
                "| {} | `{}` | {} | {} |\n",
                symbol(e.result),
                e.instant,
                md_escape(&e.zone),
                md_escape(&e.label)
            ));
        }
        out.push_str("\n</details>\n");
    }
    out
}
