//! `flakebox timetravel`: run the command, hermetically, with the clock frozen
//! at calendar hazards and under far-apart time zones, and report the tests
//! whose outcome depends on the date or the zone (crate `timetravel`).

use crate::cli::{OutputFormat, TimetravelArgs};
use crate::report_file;
use crate::test_runner;
use anyhow::{bail, Context, Result};
use diagnose::{junit, JunitFile, RunSpec, TestCase};
use factors::{Factor, FactorSet};
use runs::{RunRequest, Runs, Workspace};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use timetravel::{Outcome, Plan, Probe, ProbeResult};

pub fn main(args: TimetravelArgs) -> Result<i32> {
    if let Some(code) = report_file::check_all(&[("--html", &args.html)]) {
        return Ok(code);
    }
    // The same instant grammar as `run --time`.
    let parse_instant = |s: &str, flag: &str| -> Result<jiff::Timestamp> {
        let t = clock::parse_instant(s).map_err(|e| {
            anyhow::anyhow!(
                "{flag} {s:?} is not an RFC 3339 instant: {:?}: {} (e.g. 2027-01-01T00:00:00Z)",
                e.part,
                e.reason
            )
        })?;
        jiff::Timestamp::new(t.sec, t.nsec as i32)
            .map_err(|e| anyhow::anyhow!("{flag} {s:?}: out of the supported range: {e}"))
    };
    let now = match &args.now {
        Some(s) => parse_instant(s, "--now")?,
        None => jiff::Timestamp::now(),
    };
    let at = args.at.iter().map(|s| parse_instant(s, "--at")).collect::<Result<Vec<_>>>()?;
    let (zone_name, zone) = timetravel::zone_in_effect();
    let hazards = if args.no_instants {
        at.iter()
            .map(|&t| timetravel::Hazard {
                instant: t,
                label: "--at".into(),
                family: timetravel::Family::Extra,
            })
            .collect()
    } else {
        timetravel::hazards(now, &zone, &zone_name, &at)
    };
    let zones: Vec<String> = if args.no_zones {
        Vec::new()
    } else if args.zones.is_empty() {
        timetravel::default_zones()?.into_iter().map(|z| z.name).collect()
    } else {
        timetravel::parse_zone_lists(&args.zones)?.into_iter().map(|z| z.name).collect()
    };
    let mut plan = Plan::new(now, &zone, &zone_name, hazards, zones);
    if args.all_probes {
        plan = plan.every_instant();
    }
    let cwd = std::env::current_dir().context("reading the working directory")?;
    let chosen = test_runner::choose(&args.runner, args.junit.as_deref(), &args.command, &cwd)?;
    let mut base = RunRequest::new(Vec::new());
    base.timeout = args.timeout.as_deref().map(clock::parse_duration).transpose()?;
    base.tmp_size = args.tmp.tmp_size;
    // Every probe has a fresh filesystem: no state to keep, no tmpfs for it.
    let (work, _) = Workspace::new("flakebox-timetravel-", None).context("creating a scratch dir")?;
    let runs = Runs::new(chosen.command.as_ref(), base, &work);
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
        .max(1);

    let first_probes = plan.probes();
    if args.format == OutputFormat::Text {
        eprintln!(
            "flakebox: timetravel: {} of {} probes ({} of {} instants, {} zones) around {} in {}, {} at a time",
            first_probes.len(),
            plan.hazards().len() + plan.zones().len(),
            first_probes.iter().filter(|p| p.tz.is_none()).count(),
            plan.hazards().len(),
            plan.zones().len(),
            now,
            zone_name,
            jobs
        );
        if let Some(note) = chosen.unsure_note("probing") {
            eprintln!("flakebox: {note}");
        }
        if let Some(a) = &chosen.adapter {
            eprintln!(
                "flakebox: test runner: {} (per-test results; --runner none probes the command as a whole)",
                a.kind
            );
        }
    }
    let runner = ProbeRunner { runs: &runs, format: args.format };
    let mut warnings = Vec::new();
    let mut all = runner.run_all(&first_probes, jobs, &mut warnings)?;
    // Confirmation rounds: each one's outcomes decide what the next re-runs
    // (a test shown flaky needs none), so they run one after the other. A
    // recognised runner runs only the tests a re-run is for.
    let selects = chosen.adapter.is_some();
    loop {
        let round = plan.confirmations(&all, jobs);
        if round.is_empty() {
            break;
        }
        let round: Vec<Probe> =
            round.into_iter().map(|p| if selects { p } else { p.whole_suite() }).collect();
        all.extend(runner.run_all(&round, jobs, &mut warnings)?);
    }
    // Skipped instants where a time-dependent test's outcome changes around them.
    let refined = runner.run_all(&plan.refinements(&all), jobs, &mut warnings)?;
    all.extend(refined);
    let command: Vec<String> = args.command.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let report = plan.report(&command, &all, warnings);
    let out = match args.format {
        OutputFormat::Text => timetravel::render_text(&report),
        OutputFormat::Json => report.to_json()?,
        OutputFormat::Markdown => timetravel::render_markdown(&report),
        OutputFormat::Html => timetravel::render_html(&report),
    };
    println!("{}", out.trim_end());
    if let Some(path) = &args.html {
        report_file::write(path, "HTML report", &timetravel::render_html(&report))?;
    }
    Ok(report.exit_code())
}

/// One probe's result and the warnings its run gave.
type Probed = (ProbeResult, Vec<String>);

struct ProbeRunner<'a> {
    runs: &'a Runs<'a>,
    format: OutputFormat,
}

impl ProbeRunner<'_> {
    /// Run `probes`, `jobs` at a time (each in its own sandbox), in order of
    /// the input in the result.
    fn run_all(&self, probes: &[Probe], jobs: usize, warnings: &mut Vec<String>) -> Result<Vec<ProbeResult>> {
        let bar = if std::io::stderr().is_terminal() && self.format == OutputFormat::Text {
            indicatif::ProgressBar::new(probes.len() as u64)
        } else {
            indicatif::ProgressBar::hidden()
        };
        let results = runs::parallel(probes, jobs, |probe, _| {
            bar.set_message(probe.label.clone());
            let r = self.run_one(probe);
            bar.inc(1);
            r
        });
        bar.finish_and_clear();
        let mut out = Vec::new();
        for r in results {
            let (res, warns) = r?;
            for w in warns {
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
            }
            out.push(res);
        }
        Ok(out)
    }

    fn run_one(&self, probe: &Probe) -> Result<Probed> {
        let spec =
            RunSpec { tests: probe.tests.clone(), ..RunSpec::suite(FactorSet::all().without(Factor::Db), 0) };
        let done = self.runs.run(&spec, |req| {
            req.time = Some(probe.instant.to_string());
            req.env.extend(probe.tz.as_ref().map(|tz| ("TZ".into(), tz.into())));
        })?;
        let Some(rep) = &done.result.report else {
            bail!("{}", done.result.flakebox_error().unwrap_or_default());
        };
        let passed = done.result.exit_code == 0;
        let (tests, mut warnings) = probe_tests(&done.junit, done.tests);
        let mut result = match tests.is_empty() {
            false => ProbeResult::new(probe, tests),
            true => ProbeResult::from_exit(probe, passed),
        };
        result.unreliable = rep.clock_not_frozen();
        warnings.extend(rep.evidence.warnings.iter().cloned());
        Ok((result, warnings))
    }
}

/// A probe's per-test outcomes, from what its run gave: the JUnit files
/// (`--junit`) and the tests a runner adapter read, as the diagnose engine
/// merges them (a retried test counts by its first attempt). With none, the
/// probe is judged by its exit status; a results file that could not be
/// read is a warning, worded the same at every probe so it shows once.
fn probe_tests(junit: &[JunitFile], tests: Vec<TestCase>) -> (BTreeMap<String, Outcome>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut cases = Vec::new();
    for f in junit {
        let read = f.contents.clone().and_then(|xml| junit::parse_raw(&xml).map_err(|e| e.to_string()));
        match read {
            Ok(mut c) => cases.append(&mut c),
            Err(e) => warnings.push(format!(
                "no per-test results from {} at some probes, judged by their exit status: {e}",
                f.path
            )),
        }
    }
    cases.extend(tests);
    let map = junit::disambiguate(cases)
        .into_iter()
        .map(|c| {
            let o = match c.first_attempt_failed() {
                Some(true) => Outcome::Failed,
                Some(false) => Outcome::Passed,
                None => Outcome::Skipped,
            };
            (c.name, o)
        })
        .collect();
    (map, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use diagnose::Outcome as Case;

    fn case(name: &str, outcome: Case, flaky_reruns: u32) -> TestCase {
        TestCase { name: name.into(), outcome, flaky_reruns }
    }

    #[test]
    fn adapter_results_are_the_probe_s_tests_and_a_retry_counts_by_its_first_attempt() {
        let tests = vec![
            case("t.py::ok", Case::Passed, 0),
            case("t.py::bad", Case::Error, 0),
            case("t.py::retried", Case::Passed, 1),
            case("t.py::skip", Case::Skipped, 0),
            case("t.py", Case::Error, 0),
        ];
        let (map, warnings) = probe_tests(&[], tests);
        let want = [
            ("t.py", Outcome::Failed),
            ("t.py::bad", Outcome::Failed),
            ("t.py::ok", Outcome::Passed),
            ("t.py::retried", Outcome::Failed),
            ("t.py::skip", Outcome::Skipped),
        ];
        assert_eq!(map, want.into_iter().map(|(n, o)| (n.to_string(), o)).collect());
        assert!(warnings.is_empty());
    }

    #[test]
    fn junit_files_are_merged_and_an_unreadable_one_is_a_warning_that_reads_the_same_at_every_probe() {
        let xml = r#"<testsuite name="pytest"><testcase classname="t" name="a" file="t.py"/>
            <testcase classname="t" name="a" file="t.py"><failure/></testcase></testsuite>"#;
        let missing = |p: &str| JunitFile { path: p.into(), contents: Err("not written".into()) };
        let files = [JunitFile { path: "/w/r.xml".into(), contents: Ok(xml.into()) }, missing("/w/s.xml")];
        let (map, warnings) = probe_tests(&files, Vec::new());
        let want = [("t.py::a", Outcome::Passed), ("t.py::a#2", Outcome::Failed)];
        assert_eq!(map, want.into_iter().map(|(n, o)| (n.to_string(), o)).collect());
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("/w/s.xml") && warnings[0].contains("not written"), "{warnings:?}");
        assert_eq!(probe_tests(&[missing("/w/s.xml")], Vec::new()).1, warnings);
        let (map, _) = probe_tests(&[JunitFile { path: "x".into(), contents: Ok("<html/>".into()) }], vec![]);
        assert!(map.is_empty(), "judged by the exit status");
    }
}
