//! `flakebox timetravel`: run the command, hermetically, with the clock frozen
//! at calendar hazards and under far-apart time zones, and report the tests
//! whose outcome depends on the date or the zone (crate `timetravel`).

use crate::cli::{OutputFormat, TimetravelArgs};
use crate::subrun::{self, ChildRun};
use anyhow::{bail, Context, Result};
use factors::{Factor, FactorSet};
use std::collections::{BTreeMap, VecDeque};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;
use timetravel::{Outcome, Plan, Probe, ProbeResult};

pub fn main(args: TimetravelArgs) -> Result<i32> {
    let parse_instant = |s: &str, flag: &str| -> Result<jiff::Timestamp> {
        s.parse::<jiff::Timestamp>().map_err(|e| {
            anyhow::anyhow!("{flag} {s:?} is not an RFC 3339 instant (e.g. 2027-01-01T00:00:00Z): {e}")
        })
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
    let plan = Plan::new(now, &zone, &zone_name, hazards, zones);
    let cwd = std::env::current_dir().context("reading the working directory")?;
    let junit = args.junit.as_ref().map(|p| if p.is_absolute() { p.clone() } else { cwd.join(p) });
    let work = tempfile::Builder::new()
        .prefix("flakebox-timetravel-")
        .tempdir()
        .context("creating a scratch dir")?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
        .max(1);

    let first_probes = plan.probes();
    if args.format == OutputFormat::Text {
        eprintln!(
            "flakebox: timetravel: {} probes ({} instants, {} zones) around {} in {}, {} at a time",
            first_probes.len(),
            plan.hazards().len(),
            plan.zones().len(),
            now,
            zone_name,
            jobs
        );
    }
    let runner = ProbeRunner { args: &args, junit, dir: work.path().to_path_buf() };
    let mut warnings = Vec::new();
    let first = runner.run_all(&first_probes, jobs, &mut warnings)?;
    let again = runner.run_all(&plan.confirmations(&first), jobs, &mut warnings)?;
    let all: Vec<ProbeResult> = first.into_iter().chain(again).collect();
    let command: Vec<String> = args.command.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let report = plan.report(&command, &all, warnings);
    let out = match args.format {
        OutputFormat::Text => timetravel::render_text(&report),
        OutputFormat::Json => report.to_json()?,
        OutputFormat::Markdown => timetravel::render_markdown(&report),
    };
    println!("{}", out.trim_end());
    Ok(report.exit_code())
}

/// One probe's result and the warnings its run gave.
type Probed = (ProbeResult, Vec<String>);

struct ProbeRunner<'a> {
    args: &'a TimetravelArgs,
    junit: Option<PathBuf>,
    dir: PathBuf,
}

impl ProbeRunner<'_> {
    /// Run `probes`, `jobs` at a time (each in its own sandbox), in order of
    /// the input in the result.
    fn run_all(&self, probes: &[Probe], jobs: usize, warnings: &mut Vec<String>) -> Result<Vec<ProbeResult>> {
        let queue = Mutex::new(probes.iter().enumerate().collect::<VecDeque<_>>());
        let results: Mutex<Vec<Option<Result<Probed>>>> =
            Mutex::new((0..probes.len()).map(|_| None).collect());
        let bar = if std::io::stderr().is_terminal() && self.args.format == OutputFormat::Text {
            indicatif::ProgressBar::new(probes.len() as u64)
        } else {
            indicatif::ProgressBar::hidden()
        };
        std::thread::scope(|s| {
            for worker in 0..jobs.min(probes.len()) {
                let (queue, results, bar) = (&queue, &results, &bar);
                s.spawn(move || loop {
                    let next = queue.lock().map(|mut q| q.pop_front()).unwrap_or(None);
                    let Some((i, probe)) = next else { break };
                    bar.set_message(probe.label.clone());
                    let r = self.run_one(probe, worker);
                    if let Ok(mut res) = results.lock() {
                        res[i] = Some(r);
                    }
                    bar.inc(1);
                });
            }
        });
        bar.finish_and_clear();
        let mut out = Vec::new();
        for r in results.into_inner().map_err(|_| anyhow::anyhow!("a probe worker panicked"))? {
            let (res, warns) = r.context("a probe did not run")??;
            for w in warns {
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
            }
            out.push(res);
        }
        Ok(out)
    }

    fn run_one(&self, probe: &Probe, worker: usize) -> Result<Probed> {
        let junit_copy = self.dir.join(format!("junit-{worker}.xml"));
        let child = ChildRun {
            command: &self.args.command,
            isolate: FactorSet::all().without(Factor::Db),
            time: Some(probe.instant.to_string()),
            tz: probe.tz.clone(),
            state_dirs: None,
            collect: self.junit.iter().map(|j| (j.clone(), junit_copy.clone())).collect(),
            postgres: None,
            timeout: self.args.timeout.as_deref(),
            report_path: self.dir.join(format!("report-{worker}.json")),
            log_path: self.dir.join(format!("output-{worker}.log")),
        };
        let res = subrun::run_child(&child)?;
        let Some(rep) = &res.report else {
            bail!("{}", res.flakebox_error().unwrap_or_default());
        };
        let warnings: Vec<String> = rep["warnings"]
            .as_array()
            .map(|a| a.iter().filter_map(|w| w.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let unreliable = warnings.iter().any(|w| w.contains("NOT frozen"))
            || rep["trace"]
                .as_array()
                .is_some_and(|t| t.iter().any(|l| l.as_str().is_some_and(|l| l.contains("NOT frozen"))));
        let passed = res.exit_code == 0;
        let tests = std::fs::read_to_string(&junit_copy)
            .ok()
            .and_then(|xml| diagnose::parse_junit(&xml).ok())
            .map(|cases| {
                let mut map = BTreeMap::new();
                for c in cases {
                    let o = match c.outcome {
                        diagnose::Outcome::Passed => Outcome::Passed,
                        diagnose::Outcome::Skipped => Outcome::Skipped,
                        _ => Outcome::Failed,
                    };
                    map.insert(c.name, o);
                }
                map
            });
        let _ = std::fs::remove_file(&junit_copy);
        let mut result = match tests {
            Some(map) if !map.is_empty() => ProbeResult::new(probe, map),
            _ => ProbeResult::from_exit(probe, passed),
        };
        result.unreliable = unreliable;
        Ok((result, warnings))
    }
}
