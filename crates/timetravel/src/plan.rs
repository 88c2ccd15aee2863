//! Which runs to make, which to repeat, and what the outcomes mean.
//!
//! The call sequence is
//!
//! ```text
//! let plan = Plan::new(now, &zone, &zone_name, hazards, zone_names);
//! let mut all: Vec<ProbeResult> = run_all(plan.probes());        // CLI
//! loop {
//!     let round = plan.confirmations(&all, jobs);
//!     if round.is_empty() { break; }
//!     all.extend(run_all(round));                                 // CLI
//! }
//! all.extend(run_all(plan.refinements(&all)));                   // CLI
//! let verdicts = plan.classify(&all);     // or plan.report(&cmd, &all, warnings)
//! ```
//!
//! Each probe is one run of the whole command: the clock frozen at
//! `probe.instant`, and `TZ` set to `probe.tz` when it is `Some`.

use std::collections::{BTreeMap, BTreeSet};

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Serialize;

use crate::hazards::{days_between, dedupe, Family, Hazard};

/// What a probe varies: one hazard instant (in the zone in effect) or one
/// zone (with the clock at now). Indices are into [`Plan::hazards`] and
/// [`Plan::zones`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Instant(usize),
    Zone(usize),
}

/// One run of the command to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub target: Target,
    /// 1 for the first pass (and refinements), 2 or more for a confirmation
    /// re-run (a target may be re-run again for other tests).
    pub attempt: u32,
    /// Freeze CLOCK_REALTIME here.
    pub instant: Timestamp,
    /// `Some(zone)`: run with `TZ=zone`. `None`: leave the zone in effect as
    /// it is (instant probes), so hazards computed for that zone apply.
    pub tz: Option<String>,
    /// For progress output and logs.
    pub label: String,
    /// `Some`: the tests this run is for (a confirmation re-run), by the
    /// names the results give them; a runner that can select tests runs
    /// only these. `None`: the whole suite.
    pub tests: Option<Vec<String>>,
}

impl Probe {
    /// This probe as a run of the whole suite (for a command that cannot
    /// select tests).
    pub fn whole_suite(self) -> Probe {
        Probe { tests: None, ..self }
    }
}

/// The outcome of one test case in one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
    /// Skipped tests say nothing about time and are treated like absent ones.
    Skipped,
}

/// The test name used for a run without per-test results (no `--junit`, or
/// the command produced no JUnit file at that probe).
pub const COMMAND_TEST: &str = "(command)";

/// What one probe run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeResult {
    pub target: Target,
    pub attempt: u32,
    /// Test name → outcome. A test absent from the map was not observed in
    /// this run (see [`Plan::classify`]).
    pub tests: BTreeMap<String, Outcome>,
    /// The run's selection ([`Probe::tests`]): `None`, the whole suite.
    pub selected: Option<BTreeSet<String>>,
    /// The shim could not reach some binary the command ran, so the clock it
    /// saw may not have been frozen: findings relying on this run are marked
    /// unreliable.
    pub unreliable: bool,
}

impl ProbeResult {
    pub fn new(probe: &Probe, tests: BTreeMap<String, Outcome>) -> Self {
        ProbeResult {
            target: probe.target,
            attempt: probe.attempt,
            tests,
            selected: probe.tests.as_ref().map(|t| t.iter().cloned().collect()),
            unreliable: false,
        }
    }

    /// A run judged only by its exit status, as the single test
    /// [`COMMAND_TEST`].
    pub fn from_exit(probe: &Probe, passed: bool) -> Self {
        let outcome = if passed { Outcome::Passed } else { Outcome::Failed };
        Self::new(probe, BTreeMap::from([(COMMAND_TEST.to_string(), outcome)]))
    }

    /// The run gave no per-test results: only [`COMMAND_TEST`].
    pub fn whole_command(&self) -> bool {
        self.tests.len() == 1 && self.tests.contains_key(COMMAND_TEST)
    }
}

/// The planned probes for one timetravel pass.
#[derive(Clone, Debug)]
pub struct Plan {
    now: Timestamp,
    zone: TimeZone,
    zone_name: String,
    hazards: Vec<Hazard>,
    zones: Vec<String>,
    baseline: usize,
    /// For each hazard, the hazard that stands for it in the first pass
    /// (itself unless it has the same calendar facts as an earlier one, see
    /// [`crate::equivalence`]).
    stands_for: Vec<usize>,
}

/// Per-test verdict. Serialized in kebab-case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Confirmed different outcome at some instant than at now.
    TimeDependent,
    /// Same at every instant, confirmed different under some zone.
    ZoneDependent,
    /// Two runs at the same instant and zone disagreed.
    Flaky,
    /// Same outcome wherever it ran, but it did not run at some probe (see
    /// [`TestVerdict::not_run`]): not known to be stable there.
    PartlyRun,
    /// Same outcome at every probe, and it ran at every probe (or was
    /// skipped there).
    Stable,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::TimeDependent => "time-dependent",
            Verdict::ZoneDependent => "zone-dependent",
            Verdict::Flaky => "flaky",
            Verdict::PartlyRun => "partly-run",
            Verdict::Stable => "stable",
        }
    }
}

/// What one test did at one probe target, all its runs there taken together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mark {
    Passed,
    Failed,
    /// Runs at this target disagreed.
    Flaky,
    /// Differs from now, but was run only once (no confirmation given).
    Unconfirmed,
    /// Absent or skipped in every run here (see [`TestVerdict::not_run`]
    /// for why, when it matters).
    NotRun,
}

/// The earliest instant at which a time-dependent test fails.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FirstFailure {
    /// RFC 3339, UTC.
    pub instant: String,
    pub label: String,
    /// Calendar days from today (local date in the zone in effect) to the
    /// local date of `instant`; `null` when `instant` is before now.
    pub days_from_now: Option<i64>,
}

/// One probed instant (an instant where a test failed, or a window's end).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FailingInstant {
    pub instant: String,
    pub label: String,
}

/// A stretch of consecutive instant probes at which a test failed, with no
/// probe in between at which it passed (probes where it did not run neither
/// extend nor break a window). The test may fail anywhere between `from` and
/// `to`; probes only see their own instants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FailingWindow {
    /// The first failing probe of the window.
    pub from: FailingInstant,
    /// The last failing probe of the window (equal to `from` for one probe).
    pub to: FailingInstant,
    /// How many probes failed in it.
    pub probes: usize,
    /// The next probe after `to` at which the test passed again; `null`
    /// when none did (the window reaches the last probed instant).
    pub passes_again: Option<FailingInstant>,
}

/// What a test is: a test case, a module's collection (import) error, or the
/// whole command judged by its exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestKind {
    Test,
    /// A runner's error entry for a module that failed to import (pytest
    /// writes one, named after the module, when collecting it fails); while
    /// it fails, the module's tests do not run.
    Module,
    /// [`COMMAND_TEST`]: the exit status, at probes without per-test results.
    Command,
}

/// Why a test did not run at a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotRunCause {
    /// Its own module failed to import there.
    ImportFailure,
    /// Another module failed to import there (pytest stops the whole session
    /// at a collection error).
    OtherImportFailure,
    /// The run gave no per-test results (no JUnit file): only the exit
    /// status is known.
    NoResults,
    /// The run's results do not list it.
    Absent,
}

/// A probe at which a test did not run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NotRunAt {
    pub instant: String,
    pub zone: String,
    pub label: String,
    pub cause: NotRunCause,
    /// The module that failed to import, for the import-failure causes.
    pub module: Option<String>,
}

/// One line of a test's timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TimelineEntry {
    /// The frozen instant (RFC 3339).
    pub instant: String,
    /// The zone the run used: the zone in effect for instant probes.
    pub zone: String,
    pub label: String,
    pub result: Mark,
}

/// The finding for one test (the `tests[]` entries of the JSON report).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TestVerdict {
    pub name: String,
    pub kind: TestKind,
    /// For [`TestKind::Module`]: the module's path (`tests/test_x.py`).
    pub module: Option<String>,
    pub verdict: Verdict,
    /// The outcome at now in the zone in effect ("passed", "failed",
    /// "flaky" or "not-run").
    pub now: Mark,
    /// Set for time-dependent tests only: the earliest failing instant ≥ now
    /// (or the earliest overall if all are past).
    pub first_failure: Option<FirstFailure>,
    /// The failing windows over the instant probes, in order; empty for
    /// stable tests.
    pub failing_windows: Vec<FailingWindow>,
    /// Zones where the test fails with the clock at now: the zone in effect
    /// (the now probe) and the zone probes, in probe order. Empty for stable
    /// tests.
    pub failing_zones: Vec<String>,
    /// Zones where it passes with the clock at now, likewise.
    pub passing_zones: Vec<String>,
    /// Instants at which the test failed, in order; empty for stable tests.
    pub failing_instants: Vec<FailingInstant>,
    /// Probes at which the test did not run (see [`NotRunCause`]).
    pub not_run: Vec<NotRunAt>,
    /// For a module ([`TestKind::Module`]) or the command
    /// ([`TestKind::Command`]): how many tests did not run at the probes where
    /// it failed.
    pub tests_not_run: usize,
    /// Labels of the probes whose runs disagreed (why a test is flaky).
    pub flips: Vec<String>,
    /// Some run this finding rests on had binaries the shim cannot reach.
    pub unreliable: bool,
    /// Every probe for this test, instants in order then zones; empty for
    /// stable tests to keep reports small.
    pub timeline: Vec<TimelineEntry>,
}

impl TestVerdict {
    /// Whether this test counts as a time bomb for the exit code.
    pub fn is_time_bomb(&self) -> bool {
        matches!(self.verdict, Verdict::TimeDependent | Verdict::ZoneDependent) && !self.unreliable
    }
}

impl Plan {
    /// A plan over `hazards` (at least "now" is always probed: it is added
    /// when missing, e.g. under `--no-instants`) and `zones` (validated IANA
    /// names, see [`crate::parse_zone_lists`]; may be empty for `--no-zones`).
    /// `zone`/`zone_name` are the zone in effect, used for days-from-now and
    /// labels.
    pub fn new(
        now: Timestamp,
        zone: &TimeZone,
        zone_name: &str,
        hazards: Vec<Hazard>,
        zones: Vec<String>,
    ) -> Plan {
        let mut hazards = hazards;
        // Now first, so on an equal instant `dedupe` keeps its family.
        hazards.insert(0, Hazard { instant: now, label: "now".into(), family: Family::Now });
        let hazards = dedupe(hazards);
        let baseline = hazards.iter().position(|h| h.instant == now).unwrap_or_default(); // always present: inserted above
        let mut seen = BTreeSet::new();
        let zones = zones.into_iter().filter(|z| seen.insert(z.clone())).collect();
        let stands_for = crate::equivalence::representatives(&hazards, zone);
        Plan {
            now,
            zone: zone.clone(),
            zone_name: zone_name.to_string(),
            hazards,
            zones,
            baseline,
            stands_for,
        }
    }

    /// Probe every instant in the first pass (`--all-probes`): none stands
    /// for another.
    pub fn every_instant(mut self) -> Plan {
        self.stands_for = (0..self.hazards.len()).collect();
        self
    }

    /// The hazard whose probe stands for hazard `i` in the first pass, when
    /// it is another one.
    pub fn stood_for_by(&self, i: usize) -> Option<usize> {
        self.stands_for.get(i).copied().filter(|&r| r != i)
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    /// Sorted by instant, deduplicated, including now.
    pub fn hazards(&self) -> &[Hazard] {
        &self.hazards
    }

    pub fn zones(&self) -> &[String] {
        &self.zones
    }

    /// The target of the baseline run (now, zone in effect).
    pub fn baseline(&self) -> Target {
        Target::Instant(self.baseline)
    }

    /// All targets: the baseline first, then the other instants in order,
    /// then the zones.
    pub fn targets(&self) -> Vec<Target> {
        let mut v = vec![self.baseline()];
        v.extend((0..self.hazards.len()).filter(|&i| i != self.baseline).map(Target::Instant));
        v.extend((0..self.zones.len()).map(Target::Zone));
        v
    }

    /// The probe for `target` at `attempt`, or `None` for an index outside
    /// the plan.
    pub fn probe(&self, target: Target, attempt: u32) -> Option<Probe> {
        match target {
            Target::Instant(i) => self.hazards.get(i).map(|h| Probe {
                target,
                attempt,
                instant: h.instant,
                tz: None,
                label: h.label.clone(),
                tests: None,
            }),
            Target::Zone(i) => self.zones.get(i).map(|z| Probe {
                target,
                attempt,
                instant: self.now,
                tz: Some(z.clone()),
                label: format!("now in {z}"),
                tests: None,
            }),
        }
    }

    /// The first pass: one run per target, baseline first, but instants
    /// another instant stands for ([`Plan::stood_for_by`]). The runs are
    /// independent and may run in parallel.
    ///
    /// A zone probe is a run of its own, not an instant probe run under the
    /// zone: the instant hazards are hazards in the zone in effect (local
    /// midnight, a month's last local second, a DST change), and another
    /// zone moves the local clock off them (the last second before local
    /// midnight in Berlin is early afternoon in Kiritimati), so a test
    /// passing the combination would say nothing about either; and one
    /// failing it needs both runs anyway to tell which one it fails at.
    pub fn probes(&self) -> Vec<Probe> {
        self.targets()
            .into_iter()
            .filter(|t| !matches!(t, Target::Instant(i) if self.stood_for_by(*i).is_some()))
            .filter_map(|t| self.probe(t, 1))
            .collect()
    }

    /// The skipped instants to run once the first pass is confirmed: for a
    /// time-dependent test whose outcome changes once over the probed
    /// instants (a fixed date: an expiry, a start), those between the two
    /// probes it changes between, so the edge is where the full set puts it.
    /// A test whose outcome changes more often follows a calendar pattern,
    /// which the probes standing for the skipped ones show; a flaky test's
    /// differences say nothing about the calendar. Attempt 1: they belong to
    /// the first pass, and one that differs joins the confirmed stretch next
    /// to it, so no new confirmation is needed.
    pub fn refinements(&self, results: &[ProbeResult]) -> Vec<Probe> {
        let dependent: BTreeSet<String> = self
            .classify(results)
            .into_iter()
            .filter(|t| t.verdict == Verdict::TimeDependent)
            .map(|t| t.name)
            .collect();
        let by_target = group(results);
        let mut wanted: BTreeSet<usize> = BTreeSet::new();
        for name in &dependent {
            // (instant index, failed) over the instants probed, in time order.
            let seen: Vec<(usize, bool)> = (0..self.hazards.len())
                .filter_map(|i| {
                    let runs = by_target.get(&Target::Instant(i))?;
                    runs.iter()
                        .filter(|r| r.attempt == 1)
                        .find_map(|r| r.tests.get(name).copied().and_then(observed))
                        .map(|f| (i, f))
                })
                .collect();
            let edges: Vec<(usize, usize)> =
                seen.windows(2).filter(|w| w[0].1 != w[1].1).map(|w| (w[0].0, w[1].0)).collect();
            // One change: a fixed date. More: a calendar pattern, which the
            // probes standing for the skipped ones already show.
            if let [(a, b)] = edges[..] {
                wanted.extend((a + 1..b).filter(|&i| self.stood_for_by(i).is_some()));
            }
        }
        wanted.into_iter().filter_map(|i| self.probe(Target::Instant(i), 1)).collect()
    }

    /// The next round of re-runs before anything is reported, given every
    /// result so far (first pass and earlier rounds); empty when nothing is
    /// left to confirm. Run each round and call again until it is empty.
    ///
    /// What must be confirmed, per test: each stretch of consecutive instant
    /// probes at which its first-pass outcome differed from its outcome at
    /// now (one re-run at any instant of the stretch confirms it, see
    /// [`Plan::classify`]; stretches making up one time of day are one, see
    /// `to_confirm`) and each zone at which it differed. A test shown
    /// flaky (two runs at one target disagree, now included) needs nothing
    /// more: its differences say nothing about the calendar. So the rounds
    /// expose flakiness before spending runs on it: a test gets one of its
    /// stretches or zones confirmed in the first round, 2^k in a later one
    /// when k have agreed, until all are; a flaky test usually disagrees at
    /// its first. The first round also re-runs now, so a test that fails at
    /// now only sometimes is caught. The instants are picked to serve as
    /// many tests as one run can; a round is topped up with further pending
    /// re-runs to a multiple of `slots` (the runs made at a time), which
    /// costs no wall time. Every stretch and zone of a test not shown flaky
    /// is still confirmed in the end.
    ///
    /// Each re-run but now's names the tests it is for ([`Probe::tests`]):
    /// those with a stretch or zone there still to confirm; a run that
    /// selected them confirms for those it lists only. It is the whole
    /// suite when some of them is not a test case (a module's import error,
    /// the command's exit status) or an earlier selection there missed it. Now is every test's reference: its re-run is
    /// the whole suite, so a test that fails there only sometimes is caught
    /// even if it differed nowhere else.
    pub fn confirmations(&self, results: &[ProbeResult], slots: usize) -> Vec<Probe> {
        let by_target = group(results);
        let reruns = |t: &Target| by_target.get(t).into_iter().flatten().filter(|r| r.attempt > 1);
        // A re-run confirms for a test when it ran the whole suite or listed
        // the test; one that selected the test and did not list it (the
        // runner did not find it by that name) did not, and the next re-run
        // there is the whole suite.
        let rerun_for =
            |t: &Target, name: &str| reruns(t).any(|r| r.selected.is_none() || r.tests.contains_key(name));
        let missed = |t: &Target, name: &str| {
            reruns(t)
                .any(|r| r.selected.as_ref().is_some_and(|s| s.contains(name)) && !r.tests.contains_key(name))
        };
        let per_test = results.iter().any(|r| !r.whole_command());
        // Per test not shown flaky: its stretches and zones not yet re-run,
        // and how many of them this round should confirm.
        let mut pending: Vec<Pending> = Vec::new();
        for name in results.iter().flat_map(|r| r.tests.keys()).collect::<BTreeSet<_>>() {
            let observations = |t: &Target| -> Vec<bool> {
                let runs = by_target.get(t).map(Vec::as_slice).unwrap_or(&[]);
                runs.iter().filter_map(|r| r.tests.get(name).copied().and_then(observed)).collect()
            };
            let flaky = by_target.keys().any(|t| {
                let obs = observations(t);
                obs.iter().any(|&o| Some(&o) != obs.first())
            });
            if flaky {
                continue;
            }
            let (done, todo): (Vec<_>, Vec<_>) = self
                .to_confirm(&by_target, name)
                .into_iter()
                .partition(|unit| unit.iter().any(|t| rerun_for(t, name)));
            if !todo.is_empty() {
                pending.push(Pending { name, units: todo, quota: 1usize << done.len().min(16) });
            }
        }
        if pending.is_empty() {
            return Vec::new();
        }
        // Target → the tests its re-run is for.
        let mut picked: BTreeMap<Target, Vec<&str>> = BTreeMap::new();
        if reruns(&self.baseline()).next().is_none() {
            picked.insert(self.baseline(), Vec::new());
        }
        while let Some((t, names)) = pick(&mut pending, true) {
            picked.insert(t, names);
        }
        while !picked.len().is_multiple_of(slots.max(1)) {
            let Some((t, names)) = pick(&mut pending, false) else { break };
            picked.insert(t, names);
        }
        let next_attempt = |t: Target| {
            by_target.get(&t).and_then(|runs| runs.iter().map(|r| r.attempt).max()).unwrap_or(1) + 1
        };
        self.targets()
            .into_iter()
            .filter_map(|t| {
                let names = picked.get(&t)?;
                let cases = t != self.baseline()
                    && names.iter().all(|n| kind_of(n, per_test) == TestKind::Test && !missed(&t, n));
                let probe = self.probe(t, next_attempt(t))?;
                Some(Probe { tests: cases.then(|| names.iter().map(|n| n.to_string()).collect()), ..probe })
            })
            .collect()
    }

    /// What a re-run must confirm for test `name`: its stretches of
    /// consecutive instants whose first-pass outcome differed from now's,
    /// then each zone where it differed (a one-target unit each). Stretches
    /// that are together exactly the instants of one time of day (see
    /// [`Plan::one_time_of_day`]) are one unit: a daily hazard.
    fn to_confirm(&self, by_target: &BTreeMap<Target, Vec<&ProbeResult>>, name: &str) -> Vec<Vec<Target>> {
        let base_fail = base_fails(by_target.get(&self.baseline()), name);
        let first = |target: Target| -> Vec<bool> {
            by_target
                .get(&target)
                .into_iter()
                .flatten()
                .filter(|r| r.attempt == 1)
                .filter_map(|r| r.tests.get(name).copied().and_then(observed))
                .collect()
        };
        let first_differs = |target: Target| first(target).iter().any(|&f| f != base_fail);
        let mut units = self.stretches(&|t| by_target.contains_key(&t), &first_differs);
        if units.len() > 1 {
            let differing: BTreeSet<Target> = units.iter().flatten().copied().collect();
            if self.one_time_of_day(&differing, &|t| !first(t).is_empty()) {
                units = vec![differing.into_iter().collect()];
            }
        }
        units.extend((0..self.zones.len()).map(Target::Zone).filter(|&t| first_differs(t)).map(|t| vec![t]));
        units
    }

    /// Whether the instants in `differing` are exactly the instants (now
    /// aside) where the test was `observed` that share one time of day, in
    /// UTC or in the zone in effect: the last second of a UTC day, the
    /// second before the DST changes. A test that differs there and nowhere
    /// else follows the clock of the day, and one re-run that agrees at any
    /// of them confirms them all; a flaky test would have to fail at exactly
    /// such a set, then again at the re-run.
    fn one_time_of_day(&self, differing: &BTreeSet<Target>, observed: &dyn Fn(Target) -> bool) -> bool {
        let Some(&Target::Instant(first)) = differing.first() else { return false };
        [TimeZone::UTC, self.zone.clone()].iter().any(|zone| {
            let of_day = |i: usize| self.hazards[i].instant.to_zoned(zone.clone()).time();
            let time = of_day(first);
            let same: BTreeSet<Target> = (0..self.hazards.len())
                .filter(|&i| i != self.baseline && observed(Target::Instant(i)) && of_day(i) == time)
                .map(Target::Instant)
                .collect();
            same == *differing
        })
    }

    /// Maximal runs of consecutive instant targets (in time order) for which
    /// `differs` holds; now and any target where it does not hold end a run.
    /// Instants not probed (see [`Plan::probes`]) neither extend nor end one.
    fn stretches(&self, ran: &dyn Fn(Target) -> bool, differs: &dyn Fn(Target) -> bool) -> Vec<Vec<Target>> {
        let mut out: Vec<Vec<Target>> = Vec::new();
        let mut open = false;
        for target in (0..self.hazards.len()).map(Target::Instant).filter(|&t| ran(t)) {
            if target != self.baseline() && differs(target) {
                match out.last_mut() {
                    Some(run) if open => run.push(target),
                    _ => out.push(vec![target]),
                }
                open = true;
            } else {
                open = false;
            }
        }
        out
    }

    /// Verdicts for every test seen in `results` (first pass and
    /// confirmations together), ordered time-dependent (by first failure),
    /// zone-dependent, flaky, partly-run, stable, then by name.
    ///
    /// Rules, per test:
    /// - Only `passed`/`failed` are observations; skipped or absent is not.
    ///   The reference is the outcome at now; a test not observed at now
    ///   counts as not failing there (it did not exist or was skipped: if it
    ///   fails at some instant, that is the finding).
    /// - Any target whose runs disagree (including now) → `flaky`.
    /// - Else a confirmed difference at some instant → `time-dependent`
    ///   (confirmed: ≥ 2 runs agreeing, different from now, at that instant
    ///   or at another of its stretch of consecutive differing instants —
    ///   one re-run per stretch, so a failure that lasts costs one run to
    ///   confirm, not one per probe; one per daily pattern), with its
    ///   failing windows and the earliest failing instant ≥ now as
    ///   `first_failure` (or the earliest overall if all are past).
    /// - Else a confirmed difference (≥ 2 runs agreeing) under some zone →
    ///   `zone-dependent`.
    /// - Else, if it did not run at some probe → `partly-run`. A test did not
    ///   run at a probe when no run there lists it, and either it was listed
    ///   at now or the cause is known: a module that failed to import there
    ///   (a pytest collection error entry, see [`TestKind::Module`]) or a run
    ///   without per-test results ([`COMMAND_TEST`] only).
    /// - Else `stable`. A difference seen once and never re-run
    ///   ("unconfirmed") is shown in the timeline but decides nothing.
    pub fn classify(&self, results: &[ProbeResult]) -> Vec<TestVerdict> {
        let by_target = group(results);
        let names: BTreeSet<&str> = results.iter().flat_map(|r| r.tests.keys().map(String::as_str)).collect();
        let per_test = results.iter().any(|r| !r.whole_command());
        let ctx = Context {
            by_target: &by_target,
            per_test,
            tests: names.iter().copied().filter(|n| kind_of(n, per_test) == TestKind::Test).collect(),
        };
        let mut out: Vec<(Option<Timestamp>, TestVerdict)> =
            names.into_iter().map(|name| self.classify_one(name, &ctx)).collect();
        out.sort_by(|(ta, a), (tb, b)| a.verdict.cmp(&b.verdict).then(ta.cmp(tb)).then(a.name.cmp(&b.name)));
        out.into_iter().map(|(_, v)| v).collect()
    }

    fn classify_one(&self, name: &str, ctx: &Context<'_>) -> (Option<Timestamp>, TestVerdict) {
        let by_target = ctx.by_target;
        let kind = kind_of(name, ctx.per_test);
        let module = match kind {
            TestKind::Module => collection_module(name),
            _ => None,
        };
        let base = by_target.get(&self.baseline());
        let base_fail = base_fails(base, name);
        let listed_at_now = base.into_iter().flatten().any(|r| r.tests.contains_key(name));
        let mut flips = Vec::new();
        let mut unreliable = false;
        let mut instant_diff = false;
        let mut zone_diff = false;
        let mut failing_instants: Vec<(Timestamp, String)> = Vec::new();
        // (instant, label, failed) for every instant probe with a decided mark.
        let mut decided: Vec<(Timestamp, String, bool)> = Vec::new();
        let (mut failing_zones, mut passing_zones) = (Vec::new(), Vec::new());
        let mut not_run = Vec::new();
        let mut timeline = Vec::new();
        let mut now_mark = Mark::NotRun;

        let observations = |target: Target| -> Vec<bool> {
            let runs = by_target.get(&target).map(Vec::as_slice).unwrap_or(&[]);
            runs.iter().filter_map(|r| r.tests.get(name).copied().and_then(observed)).collect()
        };
        // A difference at an instant is confirmed when some probe of its
        // stretch (as the first pass saw it, see `confirmations`) was run
        // again with the same outcome.
        let mut confirmed: BTreeSet<Target> = BTreeSet::new();
        for stretch in self.to_confirm(by_target, name) {
            let agreed = |t: &Target| {
                let obs = observations(*t);
                obs.len() >= 2 && obs.iter().all(|&f| f != base_fail)
            };
            if stretch.iter().any(agreed) {
                confirmed.extend(stretch);
            }
        }

        // Timeline order: instants chronologically (hazards are sorted), then
        // zones in the order given.
        let order =
            (0..self.hazards.len()).map(Target::Instant).chain((0..self.zones.len()).map(Target::Zone));
        for target in order {
            let runs = by_target.get(&target).map(Vec::as_slice).unwrap_or(&[]);
            if runs.is_empty() && target != self.baseline() {
                // Not probed: another instant stood for it.
                continue;
            }
            let obs = observations(target);
            if !obs.is_empty() {
                unreliable |= runs.iter().any(|r| r.unreliable && r.tests.contains_key(name));
            }
            let unlisted = !runs.is_empty() && runs.iter().all(|r| !r.tests.contains_key(name));
            let mark = match obs.first() {
                // A module's error entry or the command's exit status missing
                // from a run that has per-test results: the module imported,
                // the command gave results.
                None if unlisted && kind != TestKind::Test => Mark::Passed,
                None => Mark::NotRun,
                Some(&f) if obs.iter().any(|&o| o != f) => Mark::Flaky,
                Some(&f) if f != base_fail && obs.len() < 2 && !confirmed.contains(&target) => {
                    Mark::Unconfirmed
                }
                Some(&f) => {
                    if f {
                        Mark::Failed
                    } else {
                        Mark::Passed
                    }
                }
            };
            let Some(probe) = self.probe(target, 1) else {
                continue;
            };
            let zone = probe.tz.unwrap_or_else(|| self.zone_name.clone());
            let (instant, label) = (probe.instant, probe.label);
            if target == self.baseline() {
                now_mark = mark;
            }
            if kind == TestKind::Test && unlisted {
                let (cause, module) = not_run_cause(name, runs);
                if cause != NotRunCause::Absent || listed_at_now {
                    not_run.push(NotRunAt {
                        instant: instant.to_string(),
                        zone: zone.clone(),
                        label: label.clone(),
                        cause,
                        module,
                    });
                }
            }
            match mark {
                Mark::Flaky => flips.push(label.clone()),
                Mark::Failed | Mark::Passed => {
                    let fails = mark == Mark::Failed;
                    let differs = fails != base_fail;
                    if target == self.baseline() {
                        // The now probe is the zone in effect at now.
                        push_zone(if fails { &mut failing_zones } else { &mut passing_zones }, &zone);
                    }
                    match target {
                        Target::Instant(_) => {
                            instant_diff |= differs;
                            decided.push((instant, label.clone(), fails));
                            if fails {
                                failing_instants.push((instant, label.clone()));
                            }
                        }
                        Target::Zone(_) => {
                            zone_diff |= differs;
                            push_zone(if fails { &mut failing_zones } else { &mut passing_zones }, &zone);
                        }
                    }
                }
                Mark::Unconfirmed | Mark::NotRun => {}
            }
            timeline.push(TimelineEntry { instant: instant.to_string(), zone, label, result: mark });
        }

        let verdict = if !flips.is_empty() {
            Verdict::Flaky
        } else if instant_diff {
            Verdict::TimeDependent
        } else if zone_diff {
            Verdict::ZoneDependent
        } else if !not_run.is_empty() {
            Verdict::PartlyRun
        } else {
            Verdict::Stable
        };

        failing_instants.sort_by_key(|(t, _)| *t);
        let first = match verdict {
            Verdict::TimeDependent => failing_instants
                .iter()
                .find(|(t, _)| *t >= self.now)
                .or_else(|| failing_instants.first())
                .cloned(),
            _ => None,
        };
        let first_failure = first.as_ref().map(|(t, label)| FirstFailure {
            instant: t.to_string(),
            label: label.clone(),
            days_from_now: if *t >= self.now { days_between(self.now, *t, &self.zone) } else { None },
        });
        let tests_not_run = match (kind, &module) {
            (TestKind::Module, Some(m)) => {
                ctx.tests.iter().filter(|t| test_module(t) == Some(m.as_str())).count()
            }
            (TestKind::Command, _) => ctx.tests.len(),
            _ => 0,
        };
        // Stable tests carry no timeline (reports stay small), unless some
        // difference went unconfirmed: that should stay visible.
        let stable = verdict == Verdict::Stable && !timeline.iter().any(|e| e.result == Mark::Unconfirmed);
        let verdict_struct = TestVerdict {
            name: name.to_string(),
            kind,
            module,
            verdict,
            now: now_mark,
            first_failure,
            failing_windows: if stable { Vec::new() } else { windows(&decided) },
            failing_zones: if stable { Vec::new() } else { failing_zones },
            passing_zones: if stable { Vec::new() } else { passing_zones },
            failing_instants: if stable {
                Vec::new()
            } else {
                failing_instants
                    .into_iter()
                    .map(|(t, label)| FailingInstant { instant: t.to_string(), label })
                    .collect()
            },
            not_run,
            tests_not_run,
            flips,
            unreliable,
            timeline: if stable { Vec::new() } else { timeline },
        };
        (first.map(|(t, _)| t), verdict_struct)
    }
}

/// What every test's classification shares.
struct Context<'a> {
    by_target: &'a BTreeMap<Target, Vec<&'a ProbeResult>>,
    /// Some run gave per-test results (else [`COMMAND_TEST`] is the test).
    per_test: bool,
    /// The names of real test cases ([`TestKind::Test`]).
    tests: Vec<&'a str>,
}

fn push_zone(list: &mut Vec<String>, zone: &str) {
    if !list.iter().any(|z| z == zone) {
        list.push(zone.to_string());
    }
}

/// One test's stretches and zones not yet re-run (see
/// [`Plan::confirmations`]) and how many of them it is owed this round.
struct Pending<'a> {
    name: &'a str,
    units: Vec<Vec<Target>>,
    quota: usize,
}

/// The next re-run of a confirmation round and the tests it is for, what it
/// covers removed from `pending`: the target serving the most tests still
/// owed a confirmation (any test with something pending when `owed_only` is
/// false), then the most tests overall; later instants first on a tie
/// (stretches that last to the end of the probed range meet there). `None`
/// when no such target is left.
fn pick<'a>(pending: &mut [Pending<'a>], owed_only: bool) -> Option<(Target, Vec<&'a str>)> {
    let candidates: BTreeSet<Target> = pending
        .iter()
        .filter(|p| !owed_only || p.quota > 0)
        .flat_map(|p| p.units.iter().flatten().copied())
        .collect();
    let score = |t: &Target| {
        let serves = |p: &&Pending| p.units.iter().any(|u| u.contains(t));
        (pending.iter().filter(|p| p.quota > 0).filter(serves).count(), pending.iter().filter(serves).count())
    };
    let best = candidates.iter().copied().max_by_key(|t| score(t))?;
    let mut served = Vec::new();
    for p in pending.iter_mut() {
        if let Some(i) = p.units.iter().position(|u| u.contains(&best)) {
            p.units.remove(i);
            p.quota = p.quota.saturating_sub(1);
            served.push(p.name);
        }
    }
    Some((best, served))
}

/// Failing windows over the decided instant probes, in instant order.
fn windows(decided: &[(Timestamp, String, bool)]) -> Vec<FailingWindow> {
    let at =
        |(t, label): (&Timestamp, &String)| FailingInstant { instant: t.to_string(), label: label.clone() };
    let mut out: Vec<FailingWindow> = Vec::new();
    let mut open = false;
    for (t, label, fails) in decided {
        match (fails, open, out.last_mut()) {
            (true, true, Some(w)) => {
                w.to = at((t, label));
                w.probes += 1;
            }
            (true, _, _) => {
                out.push(FailingWindow {
                    from: at((t, label)),
                    to: at((t, label)),
                    probes: 1,
                    passes_again: None,
                });
                open = true;
            }
            (false, true, Some(w)) => {
                w.passes_again = Some(at((t, label)));
                open = false;
            }
            (false, _, _) => {}
        }
    }
    out
}

/// Whether `name` is a test case, a module's collection error entry, or the
/// exit status standing in for a run without per-test results.
fn kind_of(name: &str, per_test: bool) -> TestKind {
    if name == COMMAND_TEST && per_test {
        TestKind::Command
    } else if name == COMMAND_TEST {
        TestKind::Test
    } else if collection_module(name).is_some() {
        TestKind::Module
    } else {
        TestKind::Test
    }
}

/// The module a pytest collection error entry stands for. pytest names the
/// entry after the module, with no test part: `tests/test_x.py` in its
/// terminal summary; in JUnit it has an empty `classname` and the dotted
/// module as its name, which the JUnit reader names `pytest::tests.test_x`
/// (the suite name standing in for the missing class).
fn collection_module(name: &str) -> Option<String> {
    let plain_path = |s: &str| !s.is_empty() && !s.contains("::") && !s.contains(char::is_whitespace);
    if name.ends_with(".py") && plain_path(name) {
        return Some(name.to_string());
    }
    let dotted = name.strip_prefix("pytest::")?;
    let valid = plain_path(dotted)
        && dotted
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_'));
    valid.then(|| format!("{}.py", dotted.replace('.', "/")))
}

/// The module of a pytest test id (`tests/test_x.py::test_y` →
/// `tests/test_x.py`).
fn test_module(name: &str) -> Option<&str> {
    name.split_once("::").map(|(m, _)| m).filter(|m| m.ends_with(".py"))
}

/// Why `name` is missing from every run in `runs`, and the module that
/// failed to import, if that is why.
fn not_run_cause(name: &str, runs: &[&ProbeResult]) -> (NotRunCause, Option<String>) {
    let failed: BTreeSet<String> = runs
        .iter()
        .flat_map(|r| r.tests.iter())
        .filter(|(_, &o)| o == Outcome::Failed)
        .filter_map(|(n, _)| collection_module(n))
        .collect();
    if let Some(own) = test_module(name).filter(|m| failed.contains(*m)) {
        (NotRunCause::ImportFailure, Some(own.to_string()))
    } else if let Some(other) = failed.first() {
        (NotRunCause::OtherImportFailure, Some(other.clone()))
    } else if runs.iter().all(|r| r.whole_command()) {
        (NotRunCause::NoResults, None)
    } else {
        (NotRunCause::Absent, None)
    }
}

/// `Some(true)` failed, `Some(false)` passed, `None` not an observation.
fn observed(o: Outcome) -> Option<bool> {
    match o {
        Outcome::Passed => Some(false),
        Outcome::Failed => Some(true),
        Outcome::Skipped => None,
    }
}

/// The reference outcome at now: the first observed run there; a test never
/// observed at now counts as not failing.
fn base_fails(base: Option<&Vec<&ProbeResult>>, name: &str) -> bool {
    base.into_iter()
        .flatten()
        .filter_map(|r| r.tests.get(name).copied().and_then(observed))
        .next()
        .unwrap_or(false)
}

fn group(results: &[ProbeResult]) -> BTreeMap<Target, Vec<&ProbeResult>> {
    let mut m: BTreeMap<Target, Vec<&ProbeResult>> = BTreeMap::new();
    for r in results {
        m.entry(r.target).or_default().push(r);
    }
    for runs in m.values_mut() {
        runs.sort_by_key(|r| r.attempt);
    }
    m
}
