//! `flakebox run`: one hermetic run of a command.

use crate::cli::RunArgs;
use crate::duration;
use anyhow::{bail, Context, Result};
use factors::{Factor, FactorSet};
use sandbox::{Config, FsMode, Outcome, Status};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// `--report` JSON: what one run did. Fields are only ever added.
#[derive(Serialize)]
pub struct RunReport {
    pub schema: u32,
    pub command: Vec<String>,
    pub isolated: FactorSet,
    pub exit_code: i32,
    pub status: Status,
    pub duration_ms: u128,
    #[serde(flatten)]
    pub evidence: sandbox::Evidence,
}

pub fn main(args: RunArgs) -> Result<i32> {
    let shared = FactorSet::parse_lists(&args.share)?;
    let isolated = FactorSet::all()
        .without(Factor::Db)
        .iter()
        .filter(|f| !shared.contains(*f))
        .collect();
    let mut cfg = Config::new(args.command.clone()).context("preparing the sandbox")?;
    configure(&mut cfg, &args, isolated)?;
    let outcome = match sandbox::run(cfg) {
        Ok(o) => o,
        Err(e) => {
            let hint = match e {
                sandbox::SandboxError::Setup(_) => {
                    "\n  run `flakebox doctor` for a full check of this host"
                }
                _ => "",
            };
            bail!("{e}{hint}");
        }
    };
    report(&args, isolated, &outcome)?;
    Ok(outcome.status.exit_code())
}

/// Fill a sandbox config from the command line.
pub fn configure(cfg: &mut Config, args: &RunArgs, isolated: FactorSet) -> Result<()> {
    cfg.isolate_net = isolated.contains(Factor::Net);
    cfg.fs = if isolated.contains(Factor::Fs) {
        FsMode::Fresh
    } else {
        FsMode::Host
    };
    cfg.timeout = args
        .timeout
        .as_deref()
        .map(duration::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    cfg.kill_after = duration::parse(&args.kill_after).map_err(anyhow::Error::msg)?;
    cfg.keep = args
        .keep
        .iter()
        .map(|k| absolute(&cfg.cwd, k))
        .collect::<Result<_>>()?;
    Ok(())
}

/// An absolute path with symlinks resolved as far as it exists, so the
/// sandbox binds the real location.
fn absolute(cwd: &Path, p: &Path) -> Result<PathBuf> {
    let full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    };
    let mut existing = full.as_path();
    let mut tail = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            let mut out = real;
            out.extend(tail.iter().rev());
            return Ok(out);
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name.to_os_string());
                existing = parent;
            }
            _ => bail!("--keep {}: cannot resolve this path", p.display()),
        }
    }
}

fn report(args: &RunArgs, isolated: FactorSet, outcome: &Outcome) -> Result<()> {
    let ev = &outcome.evidence;
    if let Status::NotRun { message, .. } = &outcome.status {
        eprintln!("flakebox: {message}");
    }
    for w in &ev.warnings {
        eprintln!("flakebox: warning: {w}");
    }
    if !ev.leftover_processes.is_empty() {
        let list: Vec<String> = ev
            .leftover_processes
            .iter()
            .map(|l| format!("{} ({})", l.pid, l.name))
            .collect();
        eprintln!(
            "flakebox: the command left {} process(es) running, now killed: {}",
            list.len(),
            list.join(", ")
        );
    }
    if args.verbose {
        eprintln!(
            "flakebox: exit {} after {:.3}s; isolated: {}; {} file(s) written outside tmp",
            outcome.status.exit_code(),
            outcome.duration.as_secs_f64(),
            isolated,
            ev.files_written.len() + ev.files_omitted
        );
        for f in ev.files_written.iter().take(20) {
            eprintln!("flakebox:   {} {}", f.change, f.path);
        }
    }
    if let Some(path) = &args.report {
        let rep = RunReport {
            schema: 1,
            command: args
                .command
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            isolated,
            exit_code: outcome.status.exit_code(),
            status: outcome.status.clone(),
            duration_ms: outcome.duration.as_millis(),
            evidence: ev.clone(),
        };
        let json = serde_json::to_vec_pretty(&rep)?;
        std::fs::write(path, json)
            .with_context(|| format!("writing the report to {}", path.display()))?;
    }
    Ok(())
}
