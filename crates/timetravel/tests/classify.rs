//! The planner and classifier against simulated suites: each test is a
//! function of the probe (instant, TZ, attempt), so every case is exact.

use std::collections::BTreeMap;

use flakebox_timetravel::{
    hazards, render_html, render_markdown, render_text, zone, Mark, NotRunCause, Outcome, Plan, Probe,
    ProbeKind, ProbeResult, Target, TestKind, TestVerdict, Verdict, COMMAND_TEST, DEFAULT_ZONES,
    EXIT_NO_TIME_BOMBS, EXIT_TIME_BOMBS,
};
use jiff::Timestamp;

fn ts(s: &str) -> Timestamp {
    s.parse().expect("valid timestamp literal")
}

const NOW: &str = "2026-11-22T12:00:00Z";

fn plan(extra: &[&str]) -> Plan {
    let z = zone("Europe/Berlin").unwrap();
    let extra: Vec<Timestamp> = extra.iter().map(|s| ts(s)).collect();
    let hz = hazards(ts(NOW), &z.tz, &z.name, &extra);
    let zones = DEFAULT_ZONES.iter().map(|s| s.to_string()).collect();
    Plan::new(ts(NOW), &z.tz, &z.name, hz, zones)
}

type Suite = dyn Fn(&Probe) -> Vec<(&'static str, Outcome)>;

/// Each probe run as a runner that selects tests would: only the tests it
/// names, when it names some.
fn run(probes: &[Probe], suite: &Suite) -> Vec<ProbeResult> {
    probes
        .iter()
        .map(|p| {
            let tests: BTreeMap<String, Outcome> = suite(p)
                .into_iter()
                .filter(|(n, _)| p.tests.as_ref().is_none_or(|sel| sel.iter().any(|s| s == n)))
                .map(|(n, o)| (n.to_string(), o))
                .collect();
            ProbeResult::new(p, tests)
        })
        .collect()
}

/// Run the confirmation rounds (`slots` runs at a time) until the plan asks
/// for nothing, as the CLI does, adding their results to `results`; the
/// rounds' probes, in order.
fn confirm(
    plan: &Plan,
    results: &mut Vec<ProbeResult>,
    slots: usize,
    probe: &dyn Fn(&Probe) -> ProbeResult,
) -> Vec<Vec<Probe>> {
    let mut rounds = Vec::new();
    loop {
        let round = plan.confirmations(results, slots);
        if round.is_empty() {
            return rounds;
        }
        assert!(rounds.len() < 64, "the rounds never end: {round:?}");
        results.extend(round.iter().map(probe));
        rounds.push(round);
    }
}

fn result_of<'a>(suite: &'a Suite) -> impl Fn(&Probe) -> ProbeResult + 'a {
    move |p| run(std::slice::from_ref(p), suite).remove(0)
}

/// plan → first pass → confirmation rounds → refinements → all results.
fn full_pass(plan: &Plan, suite: &Suite) -> Vec<ProbeResult> {
    let mut results = run(&plan.probes(), suite);
    confirm(plan, &mut results, 1, &result_of(suite));
    let more = plan.refinements(&results);
    results.extend(run(&more, suite));
    results
}

fn pass_if(ok: bool) -> Outcome {
    if ok {
        Outcome::Passed
    } else {
        Outcome::Failed
    }
}

fn find<'a>(v: &'a [TestVerdict], name: &str) -> &'a TestVerdict {
    v.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no verdict for {name}"))
}

/// A suite with one test of every kind.
fn suite(p: &Probe) -> Vec<(&'static str, Outcome)> {
    let at = p.instant;
    let tz = p.tz.as_deref();
    let mut v = vec![
        // Expiry constant: fails from the UTC New Year.
        ("licence", pass_if(at < ts("2027-01-01T00:00:00Z"))),
        // Fails in UTC+14 only.
        ("kiritimati", pass_if(tz != Some("Pacific/Kiritimati"))),
        ("stable", Outcome::Passed),
        // Fails once at +1 year, passes when re-run there.
        ("flaky_confirm", pass_if(!(p.label == "+1 year" && p.attempt == 1))),
        // Passes everywhere except the re-run at now.
        ("flaky_now", pass_if(!(at == ts(NOW) && tz.is_none() && p.attempt == 2))),
        // Fails only before 2025 (reached by `--at`).
        ("past_only", pass_if(at >= ts("2025-01-01T00:00:00Z"))),
        // Broken everywhere: not a time bomb.
        ("broken", Outcome::Failed),
        // Fails now, passes from the next month: time-dependent from now.
        ("fixed_later", pass_if(at >= ts("2026-11-30T23:00:00Z"))),
        // Skipped everywhere: only observed as skipped.
        ("skipped", Outcome::Skipped),
    ];
    // A test that only exists (as a collection error) from 2038 on.
    if at >= ts("2038-01-19T03:14:08Z") {
        v.push(("collection", Outcome::Failed));
    }
    v
}

#[test]
fn verdicts_for_every_kind_of_test() {
    let plan = plan(&["2020-06-01T00:00:00Z"]).every_instant();
    let results = full_pass(&plan, &suite);
    let v = plan.classify(&results);

    let licence = find(&v, "licence");
    assert_eq!(licence.verdict, Verdict::TimeDependent);
    assert_eq!(licence.now, Mark::Passed);
    let ff = licence.first_failure.as_ref().unwrap();
    assert_eq!(ff.instant, "2027-01-01T00:00:00Z");
    assert_eq!(ff.label, "next New Year 2027 (UTC) / today +1 month = 2027-02-01");
    assert_eq!(ff.days_from_now, Some(40));
    assert!(licence.failing_zones.is_empty());
    // Fails from the New Year to the last probe: one open window.
    assert_eq!(licence.failing_windows.len(), 1);
    assert_eq!(licence.failing_windows[0].from.instant, "2027-01-01T00:00:00Z");
    assert!(licence.failing_windows[0].passes_again.is_none());
    assert_eq!(licence.failing_instants[0].instant, "2027-01-01T00:00:00Z");
    assert!(licence.failing_instants.iter().any(|f| f.label.starts_with("2038")));
    assert!(licence.is_time_bomb());
    // The timeline lists every instant in order, then every zone.
    let n = plan.hazards().len();
    assert_eq!(licence.timeline.len(), n + DEFAULT_ZONES.len());
    assert!(licence.timeline[..n].windows(2).all(|w| ts(&w[0].instant) < ts(&w[1].instant)));
    assert_eq!(licence.timeline[n].zone, "UTC");

    let k = find(&v, "kiritimati");
    assert_eq!(k.verdict, Verdict::ZoneDependent);
    assert_eq!(k.failing_zones, ["Pacific/Kiritimati"]);
    assert_eq!(k.passing_zones.len(), DEFAULT_ZONES.len()); // the zone in effect + 5
    assert!(k.first_failure.is_none());
    assert!(k.is_time_bomb());

    let f = find(&v, "flaky_confirm");
    assert_eq!(f.verdict, Verdict::Flaky);
    assert_eq!(f.flips, ["+1 year"]);
    assert!(f.first_failure.is_none() && !f.is_time_bomb());

    let f = find(&v, "flaky_now");
    assert_eq!(f.verdict, Verdict::Flaky);
    assert_eq!(f.now, Mark::Flaky);
    assert_eq!(f.flips, ["now"]);

    let p = find(&v, "past_only");
    assert_eq!(p.verdict, Verdict::TimeDependent);
    let ff = p.first_failure.as_ref().unwrap();
    assert_eq!((ff.instant.as_str(), ff.label.as_str()), ("2020-06-01T00:00:00Z", "--at"));
    assert_eq!(ff.days_from_now, None);

    let fl = find(&v, "fixed_later");
    assert_eq!(fl.verdict, Verdict::TimeDependent);
    assert_eq!(fl.now, Mark::Failed);
    let ff = fl.first_failure.as_ref().unwrap();
    assert_eq!((ff.label.as_str(), ff.days_from_now), ("now", Some(0)));

    let c = find(&v, "collection");
    assert_eq!(c.verdict, Verdict::TimeDependent);
    assert_eq!(c.now, Mark::NotRun);
    let ff = c.first_failure.as_ref().unwrap();
    assert_eq!(ff.label, "2038 rollover (first second after)");
    // 2026-11-22 → 2038-01-19 in Berlin.
    assert_eq!(ff.days_from_now, Some(4076));

    for name in ["stable", "broken", "skipped"] {
        let t = find(&v, name);
        assert_eq!(t.verdict, Verdict::Stable, "{name}");
        assert!(t.timeline.is_empty() && t.failing_instants.is_empty());
    }
    assert_eq!(find(&v, "broken").now, Mark::Failed);
    assert_eq!(find(&v, "skipped").now, Mark::NotRun);

    // Order: time-dependent by first failure, zone-dependent, flaky, stable.
    let order: Vec<&str> = v.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        order,
        [
            "past_only",
            "fixed_later",
            "licence",
            "collection",
            "kiritimati",
            "flaky_confirm",
            "flaky_now",
            "broken",
            "skipped",
            "stable"
        ]
    );
}

#[test]
fn confirmations_rerun_differing_targets_and_now() {
    let plan = plan(&[]).every_instant();
    let first = run(&plan.probes(), &suite);
    let mut all = first.clone();
    let rounds = confirm(&plan, &mut all, 1, &result_of(&suite));
    // One round: every test's single stretch or zone is in it, and
    // `flaky_confirm` is shown flaky there.
    assert_eq!(rounds.len(), 1, "{rounds:?}");
    let again = &rounds[0];
    assert!(again.iter().all(|p| p.attempt == 2));
    // Now first, then instants where something differed, then zones.
    assert_eq!(again[0].label, "now");
    assert!(again[0].tz.is_none());
    let labels: Vec<&str> = again.iter().map(|p| p.label.as_str()).collect();
    assert!(labels.contains(&"+1 year"));
    assert!(labels.contains(&"now in Pacific/Kiritimati"));
    // A zone where all agree is not re-run.
    assert!(!labels.contains(&"now in Asia/Kolkata"));
    // Every instant from the New Year on differs for `licence`, every one
    // from December on for `fixed_later` (fails at now), one for
    // `flaky_confirm` (+1 year), those from 2038 on for `collection`: the
    // fewest instants that hit every stretch are +1 year and the last
    // instant, not one per differing instant.
    let instants: Vec<&str> = again.iter().filter(|p| p.tz.is_none()).map(|p| p.label.as_str()).collect();
    assert_eq!(instants, ["now", "+1 year", "2038 rollover (first second after)"]);
    let after_ny = plan.hazards().iter().filter(|h| h.instant >= ts("2027-01-01T00:00:00Z")).count();
    assert!(after_ny > 30, "{after_ny}");
    // And one re-run confirms its whole stretch.
    let licence = find(&plan.classify(&all), "licence").clone();
    assert_eq!(licence.failing_instants.len(), after_ny);
    assert!(!licence.timeline.iter().any(|e| e.result == Mark::Unconfirmed));

    // Nothing differs: nothing to confirm.
    let boring: &Suite = &|_p| vec![("a", Outcome::Passed), ("b", Outcome::Failed)];
    let first = run(&plan.probes(), boring);
    assert!(plan.confirmations(&first, 1).is_empty());
    let v = plan.classify(&first);
    assert!(v.iter().all(|t| t.verdict == Verdict::Stable));
}

#[test]
fn unconfirmed_differences_decide_nothing_but_show() {
    let plan = plan(&[]);
    let first = run(&plan.probes(), &suite);
    let v = plan.classify(&first); // confirmations never run
    let licence = find(&v, "licence");
    assert_eq!(licence.verdict, Verdict::Stable);
    assert!(licence.timeline.iter().any(|e| e.result == Mark::Unconfirmed));
}

#[test]
fn plan_always_probes_now_and_the_zones() {
    let z = zone("Europe/Berlin").unwrap();
    let zones = vec!["UTC".to_string(), "Asia/Kolkata".into(), "UTC".into()];
    let plan = Plan::new(ts(NOW), &z.tz, &z.name, Vec::new(), zones);
    let probes = plan.probes();
    let got: Vec<(String, Option<String>)> =
        probes.iter().map(|p| (p.instant.to_string(), p.tz.clone())).collect();
    assert_eq!(
        got,
        [
            (NOW.to_string(), None),
            (NOW.to_string(), Some("UTC".into())),
            (NOW.to_string(), Some("Asia/Kolkata".into())),
        ]
    );
}

#[test]
fn whole_command_results_and_unreliable_runs() {
    let plan = plan(&[]);
    // No JUnit: the exit status is the one "test".
    let exit = |p: &Probe| p.instant < ts("2038-01-19T03:14:08Z");
    let mut results: Vec<ProbeResult> =
        plan.probes().iter().map(|p| ProbeResult::from_exit(p, exit(p))).collect();
    confirm(&plan, &mut results, 1, &|p| ProbeResult::from_exit(p, exit(p)));
    let report = plan.report(&["./run.sh".into()], &results, Vec::new());
    assert_eq!(report.tests.len(), 1);
    assert_eq!(report.tests[0].name, COMMAND_TEST);
    assert_eq!(report.tests[0].verdict, Verdict::TimeDependent);
    assert_eq!(report.time_bombs, 1);
    assert_eq!(report.exit_code(), EXIT_TIME_BOMBS);

    // The same finding resting on a run the shim could not freeze is
    // reported, marked, and not counted.
    for r in results.iter_mut() {
        if r.attempt == 2 && r.tests.get(COMMAND_TEST) == Some(&Outcome::Failed) {
            r.unreliable = true;
        }
    }
    let report = plan.report(&["./run.sh".into()], &results, vec!["static binary".into()]);
    assert!(report.tests[0].unreliable);
    assert_eq!(report.time_bombs, 0);
    assert_eq!(report.exit_code(), EXIT_NO_TIME_BOMBS);
    assert!(render_text(&report).contains("unreliable"));
}

#[test]
fn report_json_schema_and_renderings() {
    let plan = plan(&[]);
    let results = full_pass(&plan, &suite);
    let cmd = vec!["./run.sh".to_string(), "-q".into()];
    let report = plan.report(&cmd, &results, Vec::new());
    assert_eq!(report.exit_code(), EXIT_TIME_BOMBS);
    // licence, fixed_later, collection, kiritimati.
    assert_eq!(report.time_bombs, 4);

    let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    assert_eq!(json["schema"], 2);
    assert_eq!(json["command"], serde_json::json!(["./run.sh", "-q"]));
    assert_eq!(json["now"], NOW);
    assert_eq!(json["zone"], "Europe/Berlin");
    assert_eq!(json["time_bombs"], 4);
    let probes = json["probes"].as_array().unwrap();
    assert_eq!(probes[0]["label"], "now");
    assert_eq!(probes[0]["family"], "now");
    assert_eq!(probes[0]["kind"], "instant");
    assert_eq!(probes[0]["runs"].as_array().unwrap().len(), 2);
    let zone_probe = probes.iter().find(|p| p["kind"] == "zone").unwrap();
    assert_eq!(zone_probe["family"], serde_json::Value::Null);
    assert_eq!(zone_probe["zone"], "UTC");
    let tests = json["tests"].as_array().unwrap();
    let licence = tests.iter().find(|t| t["name"] == "licence").unwrap();
    assert_eq!(licence["verdict"], "time-dependent");
    assert_eq!(licence["now"], "passed");
    assert_eq!(
        licence["first_failure"],
        serde_json::json!({
            "instant": "2027-01-01T00:00:00Z",
            "label": "next New Year 2027 (UTC) / today +1 month = 2027-02-01",
            "days_from_now": 40
        })
    );
    let k = tests.iter().find(|t| t["name"] == "kiritimati").unwrap();
    assert_eq!(k["verdict"], "zone-dependent");
    assert_eq!(k["failing_zones"], serde_json::json!(["Pacific/Kiritimati"]));
    assert!(k.get("zones").is_none(), "schema 2 renamed `zones`: {k}");
    assert_eq!(k["kind"], "test");
    assert_eq!(k["first_failure"], serde_json::Value::Null);
    let s = tests.iter().find(|t| t["name"] == "stable").unwrap();
    assert_eq!(s["verdict"], "stable");
    let f = tests.iter().find(|t| t["name"] == "flaky_now").unwrap();
    assert_eq!(f["verdict"], "flaky");

    let text = render_text(&report);
    assert!(text.contains("4 time bombs in 10 tests"), "{text}");
    assert!(text.contains(
        "✗ licence — time-dependent: fails from 2027-01-01T00:00:00Z on — first failure next New Year 2027 (UTC) \
         / today +1 month = 2027-02-01, in 40 days"
    ), "{text}");
    assert!(
        text.contains(
            "✗ 2027-01-01T00:00:00Z  Europe/Berlin        next New Year 2027 (UTC) / today +1 month = 2027-02-01   \
             ← first failure"
        ),
        "{text}"
    );
    assert!(text.contains("✗ kiritimati — zone-dependent: fails in Pacific/Kiritimati\n"), "{text}");
    assert!(text.contains("~ flaky_confirm — flaky: runs at the same instant disagreed: +1 year"));
    // stable, broken, skipped, and past_only (no `--at` in the past here).
    assert!(text.contains("4 stable tests"));

    let md = render_markdown(&report);
    assert!(md.contains("| `licence` | time-dependent | `2027-01-01T00:00:00Z` | next New Year 2027 (UTC) / today +1 month = 2027-02-01 | in 40 days |  |"), "{md}");
    assert!(md.contains("| `kiritimati` | zone-dependent |  |  |  | Pacific/Kiritimati |"));
    assert!(md.contains("<details><summary><code>licence</code>"));

    // HTML: the count, a ring at licence's first failure on the timeline,
    // one probe dot per instant probe, the zone finding, stable collapsed.
    let html = render_html(&report);
    assert!(
        html.contains("<span id=\"time-bombs\"><span class=\"badge timebomb\">4 time bombs</span>"),
        "{html}"
    );
    let instants = report.probes.iter().filter(|p| p.kind == ProbeKind::Instant).count();
    assert_eq!(html.matches("<circle class=\"probe\"").count(), instants);
    assert!(html.contains("<title>first failure 2027-01-01T00:00:00Z (next New Year 2027 (UTC) / today +1 month = 2027-02-01), in 40 days</title>"), "{html}");
    assert!(html.contains("<td><code>kiritimati</code></td><td>Pacific/Kiritimati</td>"), "{html}");
    assert!(
        html.contains("<summary>4 stable tests (same outcome at every instant and zone)</summary>"),
        "{html}"
    );
    assert!(!html.contains("<script"));
}

/// pytest with a module that fails to import whenever it is the 31st in UTC:
/// the collection error entry is the finding, the module's tests (and the
/// rest of the session, which pytest stops) did not run there.
fn import_suite(p: &Probe) -> Vec<(&'static str, Outcome)> {
    use jiff::tz::TimeZone;
    let day = p.instant.to_zoned(TimeZone::UTC).day();
    if day == 31 {
        return vec![("pytest::tests.test_dates", Outcome::Failed)];
    }
    vec![
        ("tests/test_dates.py::test_one", Outcome::Passed),
        ("tests/test_dates.py::test_two", Outcome::Passed),
        ("tests/test_other.py::test_b", Outcome::Passed),
    ]
}

#[test]
fn a_module_failing_to_import_is_a_finding_and_its_tests_did_not_run() {
    let plan = plan(&[]);
    let results = full_pass(&plan, &import_suite);
    let report = plan.report(&["pytest".into()], &results, Vec::new());
    let v = &report.tests;

    let m = find(v, "pytest::tests.test_dates");
    assert_eq!(m.kind, TestKind::Module);
    assert_eq!(m.module.as_deref(), Some("tests/test_dates.py"));
    assert_eq!(m.verdict, Verdict::TimeDependent);
    assert_eq!(m.tests_not_run, 2);
    assert!(m.is_time_bomb());
    // 31 December in UTC: Berlin's New Year (−1 s and first second) and the
    // UTC New Year's last second; the UTC New Year passes again.
    let w = &m.failing_windows[0];
    assert_eq!(w.from.instant, "2026-12-31T22:59:59Z");
    assert_eq!(w.to.instant, "2026-12-31T23:59:59Z");
    assert_eq!(w.passes_again.as_ref().map(|p| p.instant.as_str()), Some("2027-01-01T00:00:00Z"));
    assert_eq!(m.first_failure.as_ref().map(|f| f.instant.as_str()), Some("2026-12-31T22:59:59Z"));

    for name in ["tests/test_dates.py::test_one", "tests/test_dates.py::test_two"] {
        let t = find(v, name);
        assert_eq!(t.verdict, Verdict::PartlyRun, "{name}");
        assert!(!t.is_time_bomb());
        assert!(!t.not_run.is_empty());
        assert!(t
            .not_run
            .iter()
            .all(|n| n.cause == NotRunCause::ImportFailure
                && n.module.as_deref() == Some("tests/test_dates.py")));
        assert!(t.not_run.iter().any(|n| n.instant == "2026-12-31T23:59:59Z"));
        assert!(!t.not_run.iter().any(|n| n.instant == "2027-01-01T00:00:00Z"));
    }
    let b = find(v, "tests/test_other.py::test_b");
    assert_eq!(b.verdict, Verdict::PartlyRun);
    assert!(b.not_run.iter().all(|n| n.cause == NotRunCause::OtherImportFailure));
    assert_eq!(report.time_bombs, 1);

    let text = render_text(&report);
    assert!(
        text.contains(
            "✗ pytest::tests.test_dates — time-dependent: module tests/test_dates.py fails to import from \
             2026-12-31T22:59:59Z to 2026-12-31T23:59:59Z"
        ),
        "{text}"
    );
    assert!(text.contains(": its 2 tests did not run there"), "{text}");
    assert!(
        text.contains(
            "· tests/test_dates.py::test_one — partly-run: did not run at 2026-12-31T22:59:59Z, \
             2026-12-31T23:00:00Z, 2026-12-31T23:59:59Z, "
        ),
        "{text}"
    );
    assert!(text.contains("(its module tests/test_dates.py failed to import)"), "{text}");
    // None of the three counts as stable.
    assert!(!text.contains("stable test"), "{text}");

    let md = render_markdown(&report);
    assert!(md.contains("| `tests/test_dates.py::test_one` | partly-run |"), "{md}");
    assert!(md.contains("module tests/test_dates.py fails to import"), "{md}");

    let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    let t = json["tests"].as_array().unwrap();
    let one = t.iter().find(|t| t["name"] == "tests/test_dates.py::test_one").unwrap();
    assert_eq!(one["verdict"], "partly-run");
    assert_eq!(one["not_run"][0]["cause"], "import-failure");
    let m = t.iter().find(|t| t["kind"] == "module").unwrap();
    assert_eq!(m["module"], "tests/test_dates.py");
    assert_eq!(m["tests_not_run"], 2);
}

#[test]
fn a_run_without_per_test_results_is_the_commands_finding() {
    let plan = plan(&[]);
    let no_junit_at = ts("2027-01-01T00:00:00Z");
    let probe = |p: &Probe| {
        if p.instant == no_junit_at {
            ProbeResult::from_exit(p, false)
        } else {
            ProbeResult::new(
                p,
                BTreeMap::from([
                    ("t.py::a".to_string(), Outcome::Passed),
                    ("t.py::b".into(), Outcome::Passed),
                ]),
            )
        }
    };
    let mut results: Vec<ProbeResult> = plan.probes().iter().map(probe).collect();
    let again: Vec<Probe> = confirm(&plan, &mut results, 1, &probe).concat();
    assert!(again.iter().any(|p| p.instant == no_junit_at));
    // The exit status is no test a runner can select: those re-runs run
    // the whole suite.
    assert!(again.iter().filter(|p| p.instant == no_junit_at).all(|p| p.tests.is_none()), "{again:?}");
    let report = plan.report(&["pytest".into()], &results, Vec::new());
    let c = find(&report.tests, COMMAND_TEST);
    assert_eq!(c.kind, TestKind::Command);
    assert_eq!(c.verdict, Verdict::TimeDependent);
    assert_eq!(c.tests_not_run, 2);
    let a = find(&report.tests, "t.py::a");
    assert_eq!(a.verdict, Verdict::PartlyRun);
    assert_eq!(a.not_run.len(), 1);
    assert_eq!(a.not_run[0].cause, NotRunCause::NoResults);
    let text = render_text(&report);
    assert!(
        text.contains(
            "✗ (command) — time-dependent: the command fails with no per-test results at 2027-01-01T00:00:00Z: \
             its 2 tests did not run there; gives results again from "
        ),
        "{text}"
    );
    assert!(text.contains("its 2 tests did not run there"), "{text}");
    assert!(text.contains("(the run gave no per-test results)"), "{text}");
}

#[test]
fn failing_windows_end_where_the_test_passes_again() {
    let plan = plan(&[]);
    // Fails in the last second of each UTC year and on 29 February only.
    let suite: &Suite = &|p| {
        let ny = p.instant == ts("2026-12-31T23:59:59Z");
        let leap = p.instant == ts("2028-02-29T00:00:00Z");
        vec![("t", pass_if(!(ny || leap)))]
    };
    let results = full_pass(&plan, suite);
    let report = plan.report(&["x".into()], &results, Vec::new());
    let t = &report.tests[0];
    assert_eq!(t.verdict, Verdict::TimeDependent);
    let w: Vec<(&str, &str, Option<&str>)> = t
        .failing_windows
        .iter()
        .map(|w| {
            (
                w.from.instant.as_str(),
                w.to.instant.as_str(),
                w.passes_again.as_ref().map(|p| p.instant.as_str()),
            )
        })
        .collect();
    assert_eq!(
        w,
        [
            ("2026-12-31T23:59:59Z", "2026-12-31T23:59:59Z", Some("2027-01-01T00:00:00Z")),
            ("2028-02-29T00:00:00Z", "2028-02-29T00:00:00Z", Some(w_after_leap(&plan).as_str())),
        ]
    );
    let ff = t.first_failure.as_ref().unwrap();
    assert_eq!((ff.instant.as_str(), ff.days_from_now), ("2026-12-31T23:59:59Z", Some(40)));
    let text = render_text(&report);
    assert!(
        text.contains(&format!(
            "fails at 2026-12-31T23:59:59Z and at 2028-02-29T00:00:00Z; passes between and again from {}",
            w_after_leap(&plan)
        )),
        "{text}"
    );
    assert!(!text.contains("fails from"), "{text}");
}

/// The first probed instant after the leap day.
fn w_after_leap(plan: &Plan) -> String {
    let leap = ts("2028-02-29T00:00:00Z");
    plan.hazards().iter().find(|h| h.instant > leap).map(|h| h.instant.to_string()).unwrap_or_default()
}

#[test]
fn a_test_failing_in_every_zone_but_one_is_shown_once_with_its_failing_zones() {
    let plan = plan(&[]);
    // Passes only in Los Angeles; the zone in effect (Berlin) fails at every
    // instant.
    let suite: &Suite = &|p| vec![("la_only", pass_if(p.tz.as_deref() == Some("America/Los_Angeles")))];
    let results = full_pass(&plan, suite);
    let report = plan.report(&["x".into()], &results, Vec::new());
    let t = &report.tests[0];
    assert_eq!(t.verdict, Verdict::ZoneDependent);
    assert_eq!(t.now, Mark::Failed);
    assert_eq!(
        t.failing_zones,
        [
            "Europe/Berlin",
            "UTC",
            "Pacific/Pago_Pago",
            "Pacific/Kiritimati",
            "Asia/Kolkata",
            "Australia/Lord_Howe"
        ]
    );
    assert_eq!(t.passing_zones, ["America/Los_Angeles"]);
    assert!(t.first_failure.is_none() && t.failing_windows.len() == 1);
    let text = render_text(&report);
    assert!(
        text.contains(
            "✗ la_only — zone-dependent: fails in Europe/Berlin, UTC, Pacific/Pago_Pago, Pacific/Kiritimati, \
             Asia/Kolkata and Australia/Lord_Howe; passes in America/Los_Angeles (already fails at now)"
        ),
        "{text}"
    );
    // The instants probed are one row, not one per instant.
    let n = plan.probes().iter().filter(|p| p.tz.is_none()).count();
    assert!(n < plan.hazards().len());
    assert!(text.contains(&format!("✗ every instant ({n})")), "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("    ")).count(), 1 + DEFAULT_ZONES.len(), "{text}");
}

#[test]
fn instants_of_the_same_calendar_facts_run_once_and_edges_are_refined() {
    let every = plan(&[]).every_instant();
    let some = plan(&[]);
    let (n_all, n_some) = (every.probes().len(), some.probes().len());
    assert!(n_some < n_all, "{n_some} of {n_all}");
    // An expiry in the middle of 2027 (between two month boundaries that
    // another month's boundary stands for) and a month-length bomb: a 30-day
    // month's last second.
    let suite: &Suite = &|p| {
        let expiry = ts("2027-06-15T00:00:00Z");
        let local = p.instant.to_zoned(zone("Europe/Berlin").unwrap().tz);
        let thirty = local.date().day() == 30 && local.date().days_in_month() == 30 && local.hour() == 23;
        // Flaky: a coin by label, turned over on the re-run.
        let coin = (p.label.len() % 2 == 0) == (p.attempt == 1);
        vec![
            ("expiry", pass_if(p.instant < expiry)),
            ("thirty", pass_if(!thirty)),
            ("ok", Outcome::Passed),
            ("coin", pass_if(coin)),
        ]
    };
    let windows = |plan: &Plan| {
        let results = full_pass(plan, suite);
        let report = plan.report(&["x".into()], &results, Vec::new());
        let runs: usize = report.probes.iter().map(|p| p.runs.len()).sum();
        let tests = plan.classify(&results);
        let exp = find(&tests, "expiry").clone();
        let thirty = find(&tests, "thirty").clone();
        (exp, thirty, runs, report)
    };
    let (exp_all, thirty_all, runs_all, _) = windows(&every);
    let (exp, thirty, runs, report) = windows(&some);
    assert!(runs < runs_all, "{runs} runs against {runs_all}");
    // The expiry's window starts where the full set starts it.
    assert_eq!(exp.verdict, Verdict::TimeDependent);
    assert_eq!(exp.first_failure, exp_all.first_failure);
    assert_eq!(exp.failing_windows[0].from, exp_all.failing_windows[0].from);
    // The month-length bomb is found at the first 30-day month end.
    assert_eq!(thirty.verdict, Verdict::TimeDependent);
    assert_eq!(thirty.first_failure, thirty_all.first_failure);
    assert!(thirty.failing_instants.len() <= thirty_all.failing_instants.len());
    // Skipped instants are not "not run" findings, and say who stood for them.
    assert!(find(&some.classify(&full_pass(&some, suite)), "ok").not_run.is_empty());
    let skipped: Vec<_> = report.probes.iter().filter(|p| p.runs.is_empty()).collect();
    assert!(!skipped.is_empty());
    assert!(skipped.iter().all(|p| p.stood_for_by.is_some()), "{skipped:?}");
    let text = render_text(&report);
    assert!(text.contains("not probed: each has the calendar facts of an earlier probed one"), "{text}");
    // The set's size and what of it ran, with the runs they took.
    let c = report.probe_counts;
    let set = some.hazards().len() + some.zones().len();
    assert_eq!((c.instants + c.zones, c.first_pass), (set, n_some));
    assert_eq!(c.probed, report.probes.len() - skipped.len());
    assert!(c.probed > c.first_pass, "the expiry's edge refined: {c:?}");
    assert_eq!(
        (c.runs, c.reruns),
        (runs, report.probes.iter().flat_map(|p| &p.runs).filter(|r| r.attempt > 1).count())
    );
    let line = format!("{} of {set} probes run ({} instants, {} zones); ", c.probed, c.instants, c.zones);
    assert!(text.contains(&line), "{line} in {text}");
    assert!(render_markdown(&report).contains(&format!("{} of {set} probes run", c.probed)));
    let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    assert_eq!(json["probe_counts"]["first_pass"], n_some);
}

/// Failed at the first pass at alternate instant probes and zones, passes
/// whenever re-run: a random failure, many stretches.
fn noisy(p: &Probe) -> Outcome {
    let odd = match p.target {
        Target::Instant(i) => i % 2 == 1,
        Target::Zone(i) => i % 2 == 0,
    };
    pass_if(!(odd && p.attempt == 1))
}

/// How many probes at which `t` differed were never re-run.
fn unconfirmed(t: &TestVerdict) -> usize {
    t.timeline.iter().filter(|e| e.result == Mark::Unconfirmed).count()
}

#[test]
fn a_flaky_tests_other_stretches_are_not_confirmed_once_it_is_shown_flaky() {
    let plan = plan(&[]);
    let suite: &Suite = &|p| {
        vec![
            ("noisy", noisy(p)),
            ("bomb", pass_if(p.instant < ts("2038-01-19T03:14:08Z"))),
            ("stable", Outcome::Passed),
        ]
    };
    let mut results = run(&plan.probes(), suite);
    let rounds = confirm(&plan, &mut results, 1, &result_of(suite));
    let v = plan.classify(&results);
    let n = find(&v, "noisy");
    assert_eq!(n.verdict, Verdict::Flaky);
    // One round: now and a re-run for each test (one serving both when
    // there is one); the noisy test's other differences are left as they
    // were seen.
    assert_eq!(rounds.len(), 1, "{rounds:?}");
    assert!(rounds[0].len() <= 3, "{:?}", rounds[0]);
    // Each re-run selects the tests it is for, never the stable one; now's
    // is the whole suite (every test's reference).
    let (now, others) = rounds[0].split_first().expect("now");
    assert_eq!((now.label.as_str(), &now.tests), ("now", &None));
    for p in others {
        let sel = p.tests.as_ref().expect("test cases: selected");
        assert!(!sel.is_empty() && !sel.contains(&"stable".to_string()), "{p:?}");
    }
    assert!(unconfirmed(n) >= 10, "{n:#?}");
    let b = find(&v, "bomb");
    assert_eq!(b.verdict, Verdict::TimeDependent);
    assert_eq!(unconfirmed(b), 0);
    assert_eq!(b.first_failure.as_ref().map(|f| f.instant.as_str()), Some("2038-01-19T03:14:08Z"));
    assert_eq!(find(&v, "stable").verdict, Verdict::Stable);

    // Nothing differs at now or anywhere but for a test shown flaky:
    // nothing more to run.
    assert!(plan.confirmations(&results, 1).is_empty());
}

#[test]
fn a_test_whose_confirmations_agree_has_every_stretch_confirmed_in_doubling_rounds() {
    let plan = plan(&[]).every_instant();
    // Fails on the first day of every month (local): one stretch per month.
    let berlin = zone("Europe/Berlin").unwrap().tz;
    let monthly = move |p: &Probe| pass_if(p.instant.to_zoned(berlin.clone()).day() != 1);
    let suite: &Suite = &move |p| vec![("monthly", monthly(p)), ("stable", Outcome::Passed)];
    let mut results = run(&plan.probes(), suite);
    let rounds = confirm(&plan, &mut results, 1, &result_of(suite));
    let v = plan.classify(&results);
    let m = find(&v, "monthly");
    assert_eq!(m.verdict, Verdict::TimeDependent);
    assert_eq!(unconfirmed(m), 0, "{m:#?}");
    let stretches = m.failing_windows.len();
    assert!(stretches >= 10, "{stretches}");
    // Now and one stretch, then 2^k when k have agreed: every one of them
    // in the end, each once.
    let instants: Vec<usize> =
        rounds.iter().map(|r| r.iter().filter(|p| p.tz.is_none() && p.label != "now").count()).collect();
    assert_eq!(rounds[0][0].label, "now");
    let mut want = Vec::new();
    let mut left = stretches;
    while left > 0 {
        let quota = 1usize << (stretches - left);
        want.push(quota.min(left));
        left -= quota.min(left);
    }
    assert_eq!(instants, want);

    // Two at a time: a round is topped up to fill both slots (but for
    // the last, when nothing is left), with the same findings.
    let mut two = run(&plan.probes(), suite);
    let rounds2 = confirm(&plan, &mut two, 2, &result_of(suite));
    let (last, full) = rounds2.split_last().expect("some round");
    assert!(full.iter().all(|r| r.len() % 2 == 0), "{rounds2:?}");
    assert!(!last.is_empty());
    assert!(rounds2.len() <= rounds.len());
    assert_eq!(rounds2.concat().len(), 1 + stretches);
    assert_eq!(find(&plan.classify(&two), "monthly"), m);
}

#[test]
fn a_flaky_test_that_agrees_at_first_is_still_found_flaky() {
    let plan = plan(&[]).every_instant();
    // Fails at alternate instants; a re-run agrees before 2030, not after.
    let sly = move |p: &Probe| {
        let odd = matches!(p.target, Target::Instant(i) if i % 2 == 1);
        pass_if(!(odd && (p.attempt == 1 || p.instant < ts("2030-01-01T00:00:00Z"))))
    };
    let suite: &Suite = &move |p| vec![("sly", sly(p))];
    let mut results = run(&plan.probes(), suite);
    confirm(&plan, &mut results, 1, &result_of(suite));
    let v = plan.classify(&results);
    assert_eq!(find(&v, "sly").verdict, Verdict::Flaky);
}

#[test]
fn a_test_a_selection_missed_is_confirmed_by_a_whole_suite_re_run() {
    let plan = plan(&[]);
    let bomb = |p: &Probe| pass_if(p.instant < ts("2038-01-19T03:14:08Z"));
    let suite: &Suite = &move |p| vec![("found", bomb(p)), ("odd id", bomb(p)), ("stable", Outcome::Passed)];
    // A runner that does not find "odd id" by its name when selecting.
    let runner = |p: &Probe| {
        let mut r = result_of(suite)(p);
        if p.tests.is_some() {
            r.tests.remove("odd id");
        }
        r
    };
    let mut results = run(&plan.probes(), suite);
    let rounds = confirm(&plan, &mut results, 1, &runner);
    let v = plan.classify(&results);
    for name in ["found", "odd id"] {
        let t = find(&v, name);
        assert_eq!(t.verdict, Verdict::TimeDependent, "{name}: {t:#?}");
        assert_eq!(unconfirmed(t), 0, "{name}: {t:#?}");
    }
    // The focused re-run, then the same instant again as the whole suite.
    let at_2038: Vec<&Probe> =
        rounds.iter().flatten().filter(|p| p.instant >= ts("2038-01-19T03:14:08Z")).collect();
    assert_eq!(at_2038.len(), 2, "{rounds:?}");
    assert!(at_2038[0].tests.is_some() && at_2038[1].tests.is_none(), "{at_2038:?}");
    assert!(at_2038[1].attempt > at_2038[0].attempt);
}

#[test]
fn a_daily_pattern_is_confirmed_by_one_re_run() {
    fn last_second_of_a_utc_day(p: &Probe) -> bool {
        let t = p.instant.to_zoned(jiff::tz::TimeZone::UTC).time();
        (t.hour(), t.minute(), t.second()) == (23, 59, 59)
    }
    // The token test: fails in the last second of every UTC day (two probes
    // for this now: today's UTC midnight and the UTC New Year), at no other.
    fn token(p: &Probe) -> Outcome {
        pass_if(!last_second_of_a_utc_day(p))
    }
    // The same and at +1 year: not one time of day, so a re-run per stretch.
    fn plus(p: &Probe) -> Outcome {
        pass_if(!last_second_of_a_utc_day(p) && p.label != "+1 year")
    }
    let plan = plan(&[]);
    // (test, its outcome, instants where it fails, re-runs at instants).
    type Case = (&'static str, fn(&Probe) -> Outcome, usize, usize);
    let cases: [Case; 2] = [("token", token, 2, 1), ("plus", plus, 3, 3)];
    for (name, test, differing, reruns) in cases {
        let suite: &Suite = &move |p| vec![(name, test(p))];
        let mut results = run(&plan.probes(), suite);
        let failed = results.iter().filter(|r| r.tests.get(name) == Some(&Outcome::Failed)).count();
        assert_eq!(failed, differing, "{name}");
        let rounds = confirm(&plan, &mut results, 1, &result_of(suite));
        let instants = rounds.concat().iter().filter(|p| p.tz.is_none() && p.label != "now").count();
        assert_eq!(instants, reruns, "{name}: {rounds:?}");
        let v = plan.classify(&results);
        let t = find(&v, name);
        assert_eq!(t.verdict, Verdict::TimeDependent, "{name}");
        assert_eq!(t.failing_windows.len(), differing, "{name}: {t:#?}");
        assert_eq!(unconfirmed(t), 0, "{name}: every failing instant confirmed: {t:#?}");
    }
}
