//! `flakebox timetravel`: run the command, hermetically, with the clock frozen
//! at calendar hazards and under far-apart time zones, and report the tests
//! whose outcome depends on the date or the zone (crate `timetravel`).

use crate::cli::{OutputFormat, TimetravelArgs};
use anyhow::{bail, Context, Result};
use diagnose::RunSpec;
use factors::{Factor, FactorSet};
use runs::{RunRequest, Runs, UserCommand, Workspace};
use std::collections::BTreeMap;
use std::io::IsTerminal;
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
    let mut base = RunRequest::new(Vec::new());
    base.timeout = args.timeout.as_deref().map(clock::parse_duration).transpose()?;
    // Every probe has a fresh filesystem: no state to keep, no tmpfs for it.
    let (work, _) = Workspace::new("flakebox-timetravel-", false).context("creating a scratch dir")?;
    let command = UserCommand { argv: args.command.clone(), junit };
    let runs = Runs::new(&command, base, &work);
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
    let runner = ProbeRunner { runs: &runs, format: args.format };
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
        let spec = RunSpec::suite(FactorSet::all().without(Factor::Db), 0);
        let done = self.runs.run(&spec, |req| {
            req.time = Some(probe.instant.to_string());
            req.env.extend(probe.tz.as_ref().map(|tz| ("TZ".into(), tz.into())));
        })?;
        let Some(rep) = &done.result.report else {
            bail!("{}", done.result.flakebox_error().unwrap_or_default());
        };
        let passed = done.result.exit_code == 0;
        let tests = done
            .junit
            .first()
            .and_then(|j| j.contents.as_ref().ok())
            .and_then(|xml| diagnose::parse_junit(xml).ok())
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
        let mut result = match tests {
            Some(map) if !map.is_empty() => ProbeResult::new(probe, map),
            _ => ProbeResult::from_exit(probe, passed),
        };
        result.unreliable = rep.clock_not_frozen();
        Ok((result, rep.evidence.warnings.clone()))
    }
}
