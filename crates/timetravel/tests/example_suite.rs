//! The example time-bomb suite (examples/timebombs) through plan → probes →
//! confirmations → classify, with libfaketime standing in for flakebox's
//! shim. This checks that the suite's bombs and the classifier agree; the
//! real end-to-end test (the flakebox binary, its sandbox and shim) lives
//! with the CLI.
//!
//! Skipped, with a message, when python3 + pytest or libfaketime are missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use flakebox_timetravel::{hazards, zone, Outcome, Plan, Probe, ProbeResult, Verdict, DEFAULT_ZONES};
use jiff::Timestamp;

const NOW: &str = "2026-11-22T12:00:00Z";
const ZONE: &str = "Europe/Berlin";

fn libfaketime() -> Option<PathBuf> {
    [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
        "/usr/local/lib/faketime/libfaketime.so.1",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// The real interpreter behind `python3` with pytest importable (resolved
/// once: version-manager shims such as pyenv's cost ~0.3 s per start).
fn python_with_pytest() -> Option<PathBuf> {
    let out =
        Command::new("python3").args(["-c", "import sys, pytest; print(sys.executable)"]).output().ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
}

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/timebombs")
}

/// One run of the suite with the clock frozen at the probe's instant.
fn run_probe(python: &Path, lib: &Path, p: &Probe) -> ProbeResult {
    let tz = p.tz.clone().unwrap_or_else(|| ZONE.to_string());
    let out = Command::new(python)
        .args(["-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider"])
        .current_dir(suite_dir())
        .env("TZ", &tz)
        .env("LD_PRELOAD", lib)
        // Frozen at an epoch second ("%s" avoids local-time parsing).
        .env("FAKETIME_FMT", "%s")
        .env("FAKETIME", p.instant.as_second().to_string())
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut tests = BTreeMap::new();
    for line in stdout.lines() {
        let (outcome, rest) = if let Some(r) = line.strip_prefix("PASSED ") {
            (Outcome::Passed, r)
        } else if let Some(r) = line.strip_prefix("FAILED ") {
            (Outcome::Failed, r)
        } else {
            continue;
        };
        let name = rest.split(" - ").next().unwrap_or(rest).trim();
        tests.insert(name.to_string(), outcome);
    }
    assert!(!tests.is_empty(), "no results at {p:?}:\n{stdout}");
    ProbeResult::new(p, tests)
}

fn run_all(python: &Path, lib: &Path, probes: &[Probe]) -> Vec<ProbeResult> {
    // Two at a time: the CI machines have two cores.
    let mid = probes.len() / 2;
    let (a, b) = probes.split_at(mid);
    std::thread::scope(|s| {
        let ha = s.spawn(|| a.iter().map(|p| run_probe(python, lib, p)).collect::<Vec<_>>());
        let mut rb: Vec<ProbeResult> = b.iter().map(|p| run_probe(python, lib, p)).collect();
        let mut ra = ha.join().expect("probe thread");
        ra.append(&mut rb);
        ra
    })
}

#[test]
#[ignore = "checked end to end through flakebox in crates/flakebox/tests/timetravel_e2e.rs; run with --ignored to check this crate alone under libfaketime"]
fn example_suite_bombs_are_found_with_the_right_first_instant() {
    let (Some(lib), Some(python)) = (libfaketime(), python_with_pytest()) else {
        eprintln!("skipped: needs python3 with pytest and libfaketime");
        return;
    };
    let now: Timestamp = NOW.parse().unwrap();
    let z = zone(ZONE).unwrap();
    let hz = hazards(now, &z.tz, &z.name, &[]);
    let zones = DEFAULT_ZONES.iter().map(|s| s.to_string()).collect();
    let plan = Plan::new(now, &z.tz, &z.name, hz, zones);

    let mut results = run_all(&python, &lib, &plan.probes());
    loop {
        let round = plan.confirmations(&results, 2);
        if round.is_empty() {
            break;
        }
        results.extend(run_all(&python, &lib, &round));
    }
    let report = plan.report(&["./run.sh".into()], &results, Vec::new());
    let by_name: BTreeMap<&str, _> =
        report.tests.iter().map(|t| (t.name.rsplit("::").next().unwrap_or(&t.name), t)).collect();

    let expect_time = [
        ("test_token_is_charged_to_the_day_it_was_issued", "2026-11-22T23:59:59Z", "UTC midnight (−1 s)", 1),
        ("test_licence_is_valid", "2027-01-01T00:00:00Z", "next New Year 2027 (UTC)", 40),
        (
            "test_nightly_job_runs_every_24_hours",
            "2027-03-28T00:59:59Z",
            "DST start in Europe/Berlin (−1 s)",
            126,
        ),
        ("test_renewal_is_one_year_later", "2028-02-29T00:00:00Z", "leap day 2028-02-29", 464),
        (
            "test_record_header_is_five_bytes",
            "2038-01-19T03:14:08Z",
            "2038 rollover (first second after)",
            4076,
        ),
    ];
    for (name, instant, label, days) in expect_time {
        let t = by_name[name];
        assert_eq!(t.verdict, Verdict::TimeDependent, "{name}: {t:#?}");
        let ff = t.first_failure.as_ref().unwrap();
        assert_eq!(
            (ff.instant.as_str(), ff.label.as_str(), ff.days_from_now),
            (instant, label, Some(days)),
            "{name}"
        );
    }
    let k = by_name["test_export_has_utc_offset"];
    assert_eq!(k.verdict, Verdict::ZoneDependent);
    assert_eq!(k.failing_zones, ["Pacific/Kiritimati"]);
    for name in ["test_add_months_clamps_to_month_end", "test_elapsed_time_uses_aware_utc"] {
        assert_eq!(by_name[name].verdict, Verdict::Stable, "{name}");
    }
    // ~30 % per run over 29 targets: called stable with odds ~0.7^29 ≈ 3e-5.
    assert_eq!(by_name["test_sampled_batch_is_large_enough"].verdict, Verdict::Flaky);
    assert_eq!(report.time_bombs, 6);
}
