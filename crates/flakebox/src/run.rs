//! `flakebox run`: one hermetic run of a command, as the command line asks
//! or, for a parent `diagnose` or `timetravel`, as the request it passed on
//! an inherited descriptor says (crate `runs`).

use crate::cli::RunArgs;
use anyhow::{bail, Result};
use factors::{Factor, FactorSet};
use runs::{PgOptions, RunReport, RunRequest};
use sandbox::{Outcome, Status};
use std::time::SystemTime;

pub fn main(args: RunArgs) -> Result<i32> {
    let req = match args.request_fd {
        Some(fd) => RunRequest::read_from_fd(fd)?,
        None => request(&args)?,
    };
    let res = execute(&req);
    // A parent reads why from there, not from our output.
    if let (Err(e), Some(path)) = (&res, &req.error_file) {
        let _ = std::fs::write(path, format!("flakebox: {e:#}"));
    }
    res
}

fn execute(req: &RunRequest) -> Result<i32> {
    let prepared = runs::prepare(req, SystemTime::now())?;
    if let (true, Some((version, dir, built))) = (req.verbose, &prepared.postgres_template) {
        let how = if *built { "built" } else { "cached" };
        eprintln!("flakebox: PostgreSQL {version} template {how} at {}", dir.display());
    }
    for w in &prepared.warnings {
        eprintln!("{w}");
    }
    if let (true, Some(t)) = (req.verbose, &prepared.time) {
        eprintln!("flakebox: clock {} at {} (replay with --time {})", t.mode, t.instant, t.replay);
    }
    let (time, warnings) = (prepared.time.clone(), prepared.warnings.clone());
    let outcome = match sandbox::run(prepared.config) {
        Ok(o) => o,
        Err(e) => {
            let hint = match e {
                sandbox::SandboxError::Setup(_) => "\n  run `flakebox doctor` for a full check of this host",
                _ => "",
            };
            bail!("{e}{hint}");
        }
    };
    report(req, &outcome)?;
    if let Some(path) = &req.report {
        let rep = RunReport::new(&req.command, req.isolate, time, &warnings, &outcome);
        runs::write_report(path, &rep)?;
    }
    Ok(outcome.status.exit_code())
}

/// The request the command line makes.
fn request(args: &RunArgs) -> Result<RunRequest> {
    let shared = FactorSet::parse_lists(&args.share)?;
    let mut isolated: FactorSet = FactorSet::all().iter().filter(|f| !shared.contains(*f)).collect();
    if !args.postgres {
        isolated.remove(Factor::Db);
    } else if shared.contains(Factor::Db) {
        bail!("--postgres asks for a throwaway database but --share db keeps the environment's; drop one of them");
    }
    let mut req = RunRequest::new(args.command.clone());
    req.isolate = isolated;
    req.keep = args.keep.clone();
    req.time = args.time.clone();
    req.timeout = args.timeout.as_deref().map(clock::parse_duration).transpose()?;
    req.kill_after = clock::parse_duration(&args.kill_after)?;
    req.postgres = PgOptions { bin: args.postgres_bin.clone(), init: args.postgres_init.clone() };
    req.report = args.report.clone();
    req.want_service_evidence = args.report.is_some() || args.verbose;
    req.verbose = args.verbose;
    req.cap_add = args.cap_add.iter().map(|c| c.to_string()).collect();
    Ok(req)
}

/// What the run did, on stderr.
fn report(req: &RunRequest, outcome: &Outcome) -> Result<()> {
    let ev = &outcome.evidence;
    if let Status::NotRun { message, .. } = &outcome.status {
        eprintln!("flakebox: {message}");
    }
    for w in &ev.warnings {
        eprintln!("flakebox: warning: {w}");
    }
    if !ev.leftover_processes.is_empty() {
        let list: Vec<String> =
            ev.leftover_processes.iter().map(|l| format!("{} ({})", l.pid, l.name)).collect();
        eprintln!(
            "flakebox: the command left {} process(es) running, now killed: {}",
            list.len(),
            list.join(", ")
        );
    }
    if req.verbose {
        eprintln!(
            "flakebox: exit {} after {:.3}s; isolated: {}; {} file(s) written outside tmp",
            outcome.status.exit_code(),
            outcome.duration.as_secs_f64(),
            req.isolate,
            ev.files_written.len() + ev.files_omitted
        );
        for f in ev.files_written.iter().take(20) {
            eprintln!("flakebox:   {} {}", f.change, f.path);
        }
    }
    Ok(())
}
