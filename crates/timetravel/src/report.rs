//! The timetravel report: JSON (schema 2), text and markdown.
//!
//! JSON schema 2 (more fields may be added; these keep their meaning):
//!
//! ```text
//! {
//!   "schema": 2,
//!   "command": ["pytest", "-q"],
//!   "now": "2026-11-22T12:00:00Z",          // the frozen "now" (RFC 3339, UTC)
//!   "zone": "Europe/Berlin",                // the zone in effect
//!   "probes": [ {
//!       "kind": "instant" | "zone",
//!       "instant": "2027-01-01T00:00:00Z",  // clock frozen here
//!       "zone": "Europe/Berlin",            // TZ of the run
//!       "label": "next New Year 2027 (UTC)",
//!       "family": "now" | "midnight" | "month-end" | "new-year" | "leap-day"
//!               | "dst" | "offset" | "offset-crossing" | "y2038" | "extra"
//!               | null,                      // null for zones
//!       "runs": [ { "attempt": 1, "passed": 9, "failed": 1, "skipped": 0,
//!                   "unreliable": false } ]   // attempt ≥ 2 = confirmation;
//!                   // "selected": 3 on a confirmation that ran only the
//!                   // 3 tests it was for (a recognised runner)
//!   } ],
//!   "tests": [ {
//!       "name": "test_bombs.py::test_licence_is_valid",
//!       "kind": "test" | "module" | "command",  // module: a collection (import)
//!                                            // error entry; command: the exit
//!                                            // status of a run without
//!                                            // per-test results
//!       "module": "tests/test_x.py" | null,  // for kind "module"
//!       "verdict": "time-dependent" | "zone-dependent" | "flaky"
//!                | "partly-run" | "stable",
//!       "now": "passed" | "failed" | "flaky" | "unconfirmed" | "not-run",
//!       "first_failure": { "instant": "...", "label": "...",
//!                          "days_from_now": 40 | null } | null,
//!       "failing_windows": [ {               // over the instant probes
//!           "from": { "instant": "...", "label": "..." },  // first failing probe
//!           "to": { "instant": "...", "label": "..." },    // last failing probe
//!           "probes": 2,                     // failing probes in the window
//!           "passes_again": { "instant": "...", "label": "..." } | null
//!       } ],                                 // null: fails up to the last probe
//!       "failing_zones": ["Pacific/Kiritimati"],  // zones where it fails, clock
//!                                            // at now (the zone in effect too)
//!       "passing_zones": ["UTC", "..."],     // zones where it passes, likewise
//!       "failing_instants": [ { "instant": "...", "label": "..." } ],
//!       "not_run": [ { "instant": "...", "zone": "...", "label": "...",
//!                      "cause": "import-failure" | "other-import-failure"
//!                             | "no-results" | "absent",
//!                      "module": "tests/test_x.py" | null } ],
//!       "tests_not_run": 2,                  // kind module/command: tests that
//!                                            // did not run where it failed
//!       "flips": ["now", "+1 year"],          // probes whose runs disagreed
//!       "unreliable": false,
//!       "timeline": [ { "instant": "...", "zone": "...", "label": "...",
//!                       "result": "passed" | "failed" | "flaky"
//!                               | "unconfirmed" | "not-run" } ]
//!   } ],
//!   "time_bombs": 1,     // tests (and modules) time- or zone-dependent, and
//!                        // not unreliable
//!   "warnings": ["..."],
//!   "probe_counts": {    // the probe set and what ran of it
//!       "instants": 53, "zones": 6,   // the set: instants (now included), zones
//!       "first_pass": 49,             // probes the first pass runs
//!       "probed": 49,                 // probes run at least once
//!       "runs": 57, "reruns": 8       // runs in all; confirmation re-runs
//!   }
//! }
//! ```
//!
//! Changes from schema 1: `zones` (where the outcome differed from now,
//! which its name did not say) is replaced by `failing_zones` and
//! `passing_zones`; `kind`, `module`, `failing_windows`, `not_run`,
//! `tests_not_run` and the verdict `partly-run` are new (a test that did not
//! run at some probe is no longer `stable`). Added since, within schema 2:
//! `probe_counts`.
//!
//! `first_failure` is set only for time-dependent tests; `days_from_now`
//! counts calendar days in the zone in effect and is null for instants
//! before now. `timeline`, `failing_windows`, `failing_zones`,
//! `passing_zones`, `failing_instants` are empty for stable tests
//! (`timeline` is kept when some difference went unconfirmed). Tests are
//! ordered time-dependent (earliest first failure first), zone-dependent,
//! flaky, partly-run, stable, then by name.

use render::md_escape;
use serde::Serialize;

use crate::hazards::Family;
use crate::plan::{
    FailingWindow, Mark, NotRunCause, Plan, ProbeResult, Target, TestKind, TestVerdict, TimelineEntry,
    Verdict,
};

/// The JSON schema version.
pub const SCHEMA: u32 = 2;
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
    /// A confirmation that ran only some tests: how many it selected
    /// (absent: the whole suite).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected: Option<usize>,
}

/// One probe target and its runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeSummary {
    pub kind: ProbeKind,
    pub instant: String,
    pub zone: String,
    pub label: String,
    pub family: Option<Family>,
    /// Empty when another probe stood for this one (`stood_for_by`).
    pub runs: Vec<RunSummary>,
    /// Not run: the label of the earlier instant with the same calendar
    /// facts that stood for it (`--all-probes` runs every instant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stood_for_by: Option<String>,
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
    /// How many probes the set has and how many ran.
    pub probe_counts: ProbeCounts,
}

/// How many probes the set has (the default hazards and zones, and each
/// `--at`) and how many ran: the first pass skips instants another stands
/// for (`stood_for_by`), refinements may run some of them after all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeCounts {
    /// Instants in the set, now included.
    pub instants: usize,
    /// Zones in the set (probed with the clock at now).
    pub zones: usize,
    /// Probes the first pass runs.
    pub first_pass: usize,
    /// Probes that ran at least once (first pass and refinements).
    pub probed: usize,
    /// Runs in all, confirmation re-runs included.
    pub runs: usize,
    /// Confirmation re-runs (attempt ≥ 2).
    pub reruns: usize,
}

impl Plan {
    /// Classify `results` (first pass and confirmations) into a report.
    /// `warnings` are passed through (e.g. binaries the shim cannot reach).
    pub fn report(&self, command: &[String], results: &[ProbeResult], warnings: Vec<String>) -> Report {
        let tests = self.classify(results);
        let probes: Vec<ProbeSummary> = self
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
                            selected: r.selected.as_ref().map(|s| s.len()),
                        }
                    })
                    .collect();
                runs.sort_by_key(|r| r.attempt);
                let (kind, family) = match target {
                    Target::Instant(i) => (ProbeKind::Instant, self.hazards().get(i).map(|h| h.family)),
                    Target::Zone(_) => (ProbeKind::Zone, None),
                };
                let stood_for_by = match target {
                    Target::Instant(i) if runs.is_empty() => {
                        self.stood_for_by(i).and_then(|r| self.hazards().get(r)).map(|h| h.label.clone())
                    }
                    _ => None,
                };
                ProbeSummary {
                    kind,
                    instant: p.instant.to_string(),
                    zone: p.tz.unwrap_or_else(|| self.zone_name().to_string()),
                    label: p.label,
                    family,
                    runs,
                    stood_for_by,
                }
            })
            .collect();
        let time_bombs = tests.iter().filter(|t| t.is_time_bomb()).count();
        let probed = |p: &&ProbeSummary| !p.runs.is_empty();
        let probe_counts = ProbeCounts {
            instants: self.hazards().len(),
            zones: self.zones().len(),
            first_pass: self.probes().len(),
            probed: probes.iter().filter(probed).count(),
            runs: probes.iter().map(|p| p.runs.len()).sum(),
            reruns: probes.iter().flat_map(|p| &p.runs).filter(|r| r.attempt > 1).count(),
        };
        Report {
            schema: SCHEMA,
            command: command.to_vec(),
            now: self.now().to_string(),
            zone: self.zone_name().to_string(),
            probes,
            tests,
            time_bombs,
            warnings,
            probe_counts,
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

    /// The timeline as shown: a zone-dependent test had the same outcome at
    /// every instant, so its instants are one row ("every instant") and only
    /// the zones are listed.
    pub(crate) fn shown_timeline(&self, t: &TestVerdict) -> Vec<TimelineEntry> {
        if t.verdict != Verdict::ZoneDependent {
            return t.timeline.clone();
        }
        let instants =
            self.probes.iter().filter(|p| p.kind == ProbeKind::Instant && !p.runs.is_empty()).count();
        let mut rows = vec![TimelineEntry {
            instant: format!("every instant ({instants})"),
            zone: self.zone.clone(),
            label: "same outcome as at now".into(),
            result: t.now,
        }];
        rows.extend(t.timeline.iter().skip(instants).cloned());
        rows
    }

    pub(crate) fn runs(&self) -> (usize, usize) {
        (self.probe_counts.runs, self.probe_counts.reruns)
    }

    /// "49 of 59 probes run (53 instants, 6 zones)".
    pub(crate) fn probes_run(&self) -> String {
        let c = &self.probe_counts;
        format!(
            "{} of {} run ({}, {})",
            c.probed,
            plural(c.instants + c.zones, "probe", "probes"),
            plural(c.instants, "instant", "instants"),
            plural(c.zones, "zone", "zones")
        )
    }
}

pub(crate) fn symbol(m: Mark) -> &'static str {
    match m {
        Mark::Passed => "✓",
        Mark::Failed => "✗",
        Mark::Flaky => "~",
        Mark::Unconfirmed => "?",
        Mark::NotRun => "·",
    }
}

pub(crate) fn when(days: Option<i64>) -> String {
    match days {
        None => "already in the past".into(),
        Some(0) => "today".into(),
        Some(1) => "tomorrow".into(),
        Some(n) => format!("in {n} days"),
    }
}

pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The windows ("at A and from B to C") and what follows them ("; passes
/// between and again from D", with `verb` for "passes").
fn windows_phrase(ws: &[FailingWindow], verb: &str) -> (String, String) {
    let parts: Vec<String> = ws
        .iter()
        .map(|w| match (&w.passes_again, w.from == w.to) {
            (None, _) => format!("from {} on", w.from.instant),
            (Some(_), true) => format!("at {}", w.from.instant),
            (Some(_), false) => format!("from {} to {}", w.from.instant, w.to.instant),
        })
        .collect();
    let tail = match (ws.len() > 1, ws.last().and_then(|w| w.passes_again.as_ref())) {
        (true, Some(again)) => format!("; {verb} between and again from {}", again.instant),
        (true, None) => format!("; {verb} between"),
        (false, Some(again)) => format!("; {verb} again from {}", again.instant),
        (false, None) => String::new(),
    };
    (list(&parts), tail)
}

/// Where a test did not run, grouped by cause: "did not run at A and B (its
/// module m failed to import)".
fn not_run_phrase(t: &TestVerdict, zone: &str) -> String {
    // (cause, module) → where.
    type Group = ((NotRunCause, Option<String>), Vec<String>);
    let mut groups: Vec<Group> = Vec::new();
    for n in &t.not_run {
        let at = if n.zone == zone { n.instant.clone() } else { format!("{} in {}", n.instant, n.zone) };
        let key = (n.cause, n.module.clone());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(at),
            None => groups.push((key, vec![at])),
        }
    }
    let phrases: Vec<String> = groups
        .into_iter()
        .map(|((cause, module), at)| {
            let module = module.unwrap_or_default();
            let why = match cause {
                NotRunCause::ImportFailure => format!("its module {module} failed to import"),
                NotRunCause::OtherImportFailure => {
                    format!("module {module} failed to import and the run stopped")
                }
                NotRunCause::NoResults => "the run gave no per-test results".into(),
                NotRunCause::Absent => "not in the run's results".into(),
            };
            format!("did not run at {} ({why})", list(&at))
        })
        .collect();
    phrases.join("; ")
}

/// One line describing a non-stable test's finding.
pub(crate) fn finding(t: &TestVerdict, zone: &str) -> String {
    let subject = match (t.kind, &t.module) {
        (TestKind::Module, Some(m)) => format!("module {m} fails to import"),
        (TestKind::Command, _) => "the command fails with no per-test results".into(),
        _ => "fails".into(),
    };
    let its_tests = match t.kind {
        TestKind::Module | TestKind::Command => {
            format!(": its {} did not run there", plural(t.tests_not_run, "test", "tests"))
        }
        TestKind::Test => String::new(),
    };
    let mut s = match t.verdict {
        Verdict::TimeDependent => {
            let verb = match t.kind {
                TestKind::Test => "passes",
                TestKind::Module => "imports",
                TestKind::Command => "gives results",
            };
            let (at, tail) = windows_phrase(&t.failing_windows, verb);
            let mut s = format!("{subject} {at}{its_tests}{tail}");
            if let Some(f) = &t.first_failure {
                s.push_str(&format!(" — first failure {}, {}", f.label, when(f.days_from_now)));
            }
            s
        }
        Verdict::ZoneDependent => format!("{subject} in {}{its_tests}", list(&t.failing_zones)),
        Verdict::Flaky => format!("runs at the same instant disagreed: {}", t.flips.join(", ")),
        Verdict::PartlyRun | Verdict::Stable => String::new(),
    };
    match t.verdict {
        Verdict::TimeDependent if t.now == Mark::Failed && !t.passing_zones.is_empty() => {
            s.push_str(&format!("; passes in {}", list(&t.passing_zones)));
        }
        Verdict::TimeDependent if t.now != Mark::Failed && !t.failing_zones.is_empty() => {
            s.push_str(&format!("; also fails in {}", list(&t.failing_zones)));
        }
        // Where it passes is worth a word only when that is the exception.
        Verdict::ZoneDependent if t.now == Mark::Failed && !t.passing_zones.is_empty() => {
            s.push_str(&format!("; passes in {}", list(&t.passing_zones)));
        }
        _ => {}
    }
    if t.now == Mark::Failed && t.verdict != Verdict::Flaky {
        s.push_str(" (already fails at now)");
    }
    if !t.not_run.is_empty() {
        if !s.is_empty() {
            s.push_str("; ");
        }
        s.push_str(&not_run_phrase(t, zone));
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
    let stood_for = r.probes.iter().filter(|p| p.stood_for_by.is_some()).count();
    out.push_str(&r.probes_run());
    if stood_for > 0 {
        out.push_str(&format!(
            "; {} not probed: each has the calendar facts of an earlier probed one, and no test changed outcome around it (--all-probes runs every instant)",
            plural(stood_for, "instant", "instants")
        ));
    }
    out.push('\n');
    for t in r.tests.iter().filter(|t| t.verdict != Verdict::Stable) {
        out.push('\n');
        let sym = match t.verdict {
            Verdict::Flaky => "~",
            Verdict::PartlyRun => "·",
            _ => "✗",
        };
        out.push_str(&format!("{sym} {} — {}: {}\n", t.name, t.verdict.name(), finding(t, &r.zone)));
        if t.verdict == Verdict::PartlyRun {
            // Where it ran it agreed with now; the finding says where it did not run.
            continue;
        }
        let first = t.first_failure.as_ref().map(|f| (&f.instant, &f.label));
        let rows = r.shown_timeline(t);
        let width = rows.iter().map(|e| e.zone.chars().count()).max().unwrap_or(0);
        for e in rows {
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
    out.push_str(&format!("{}.\n\n", r.probes_run()));
    for w in &r.warnings {
        out.push_str(&format!("> **warning:** {}\n\n", md_escape(w)));
    }
    out.push_str("| test | verdict | first failure | hazard | starts | fails in zones |\n");
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
            md_escape(&t.failing_zones.join(", ")),
        ));
    }
    for t in r.tests.iter().filter(|t| !t.timeline.is_empty()) {
        out.push_str(&format!(
            "\n<details><summary><code>{}</code>: {}</summary>\n\n",
            md_escape(&t.name),
            md_escape(&finding(t, &r.zone))
        ));
        out.push_str("| | instant | zone | hazard |\n|---|---|---|---|\n");
        for e in &r.shown_timeline(t) {
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
