//! `flakebox run`: one hermetic run of a command, as the command line asks
//! or, for a parent `diagnose` or `timetravel`, as the request it passed on
//! an inherited descriptor says (crate `runs`).

use crate::cli::RunArgs;
use anyhow::{bail, Result};
use factors::{Factor, FactorSet};
use runs::{PgOptions, RunReport, RunRequest, Warning};
use sandbox::{Outcome, Status};
use std::time::SystemTime;

pub fn main(args: RunArgs) -> Result<i32> {
    let req = match args.request_fd {
        Some(fd) => RunRequest::read_from_fd(fd)?,
        None => request(&args)?,
    };
    // A parent (diagnose, timetravel) says how to replay in its own terms.
    let res = execute(&req, args.request_fd.is_none());
    // A parent reads why from there, not from our output.
    if let (Err(e), Some(path)) = (&res, &req.error_file) {
        let _ = std::fs::write(path, format!("flakebox: {e:#}"));
    }
    res
}

fn execute(req: &RunRequest, own_command_line: bool) -> Result<i32> {
    let prepared = runs::prepare(req, SystemTime::now())?;
    if let (true, Some((version, dir, built))) = (req.verbose, &prepared.postgres_template) {
        let how = if *built { "built" } else { "cached" };
        eprintln!("flakebox: PostgreSQL {version} template {how} at {}", dir.display());
    }
    // What the seed does not reach matters when the seed is read: with -v,
    // or with the replay line of a failure.
    let (seed_warnings, other_warnings): (Vec<&Warning>, Vec<&Warning>) =
        prepared.warnings.iter().partition(|w| matches!(w, Warning::NotSeeded(_)));
    for w in other_warnings {
        eprintln!("{w}");
    }
    if let (true, Some(t)) = (req.verbose, &prepared.time) {
        eprintln!("flakebox: clock {} at {} (replay with --time {})", t.mode, t.instant, t.replay);
    }
    if let (true, Some(r)) = (req.verbose, &prepared.rand) {
        eprintln!("flakebox: randomness from seed {} (replay with --seed {})", r.seed, r.seed);
        eprintln!("flakebox: {}", runs::rand_reach::NEVER_REACHED);
        seed_warnings.iter().for_each(|w| eprintln!("{w}"));
    }
    let (time, rand, warnings) = (prepared.time.clone(), prepared.rand, prepared.warnings.clone());
    let (traced, untraced) = (prepared.traced, prepared.untraced.clone());
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
    if outcome.status.exit_code() != 0 && own_command_line {
        let replay = replay_line(req, time.as_ref().map(|t| t.replay.as_str()), rand.map(|r| r.seed));
        if let Some(line) = replay {
            if !req.verbose {
                seed_warnings.iter().for_each(|w| eprintln!("{w}"));
            }
            eprintln!("replay: {line}");
        }
    }
    if let Some(path) = &req.report {
        let mut rep = RunReport::new(&req.command, req.isolate, time, rand, &warnings, &outcome);
        (rep.traced, rep.untraced) = (traced, untraced);
        for p in rep.untraced_execs() {
            if !rep.untraced.contains(&p) {
                rep.untraced.push(p);
            }
        }
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
    req.hide = args.hide.clone();
    req.time = args.time.clone();
    if args.seed.is_some() && shared.contains(Factor::Rand) {
        bail!("--seed fixes the randomness but --share rand keeps the real one; drop one of them");
    }
    req.seed = args.seed;
    req.timeout = args.timeout.as_deref().map(clock::parse_duration).transpose()?;
    req.kill_after = clock::parse_duration(&args.kill_after)?;
    req.postgres = PgOptions { bin: args.postgres_bin.clone(), init: args.postgres_init.clone() };
    req.report = args.report.clone();
    req.want_service_evidence = args.report.is_some() || args.verbose;
    req.verbose = args.verbose;
    req.cap_add = args.cap_add.iter().map(|c| c.to_string()).collect();
    req.tmp_size = args.tmp.tmp_size;
    Ok(req)
}

/// The `flakebox run` line that replays this run's clock and randomness
/// (the factors as isolated, the seed, the frozen instant), or `None` when
/// neither was controlled: nothing to replay.
fn replay_line(req: &RunRequest, time: Option<&str>, seed: Option<u64>) -> Option<String> {
    if time.is_none() && seed.is_none() {
        return None;
    }
    let mut args: Vec<String> = vec!["flakebox".into(), "run".into()];
    let shared: FactorSet =
        Factor::ALL.into_iter().filter(|f| *f != Factor::Db && !req.isolate.contains(*f)).collect();
    if !shared.is_empty() {
        args.extend(["--share".into(), shared.to_string()]);
    }
    if req.isolate.contains(Factor::Db) {
        args.push("--postgres".into());
    }
    if let Some(seed) = seed {
        args.extend(["--seed".into(), seed.to_string()]);
    }
    if let Some(time) = time {
        args.extend(["--time".into(), time.to_string()]);
    }
    for p in &req.hide {
        args.extend(["--hide".into(), p.to_string_lossy().into_owned()]);
    }
    args.push("--".into());
    let mut line = render::shell_line(&args);
    line.push(' ');
    line.push_str(&render::shell_line(&req.command));
    Some(line)
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
    for a in runs::clock_set_attempts(&ev.trace) {
        let level = if a.outcome.is_ok() { "warning" } else { "note" };
        eprintln!("flakebox: {level}: {a}");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn req(isolate: FactorSet) -> RunRequest {
        let mut r = RunRequest::new(vec![
            "python3".into(),
            "-c".into(),
            "import random; print(random.random())".into(),
        ]);
        r.isolate = isolate;
        r
    }

    #[test]
    fn the_replay_line_names_the_seed_the_instant_and_the_shared_factors() {
        let all = FactorSet::all().without(Factor::Db);
        let line = replay_line(&req(all), Some("2024-02-29T23:59:58Z"), Some(42)).expect("a line");
        assert_eq!(
            line,
            "flakebox run --seed 42 --time 2024-02-29T23:59:58Z -- python3 -c 'import random; print(random.random())'"
        );
        let no_time = replay_line(&req(all.without(Factor::Time)), None, Some(7)).expect("a line");
        assert!(no_time.starts_with("flakebox run --share time --seed 7 -- "), "{no_time}");
        let pg = replay_line(&req(FactorSet::all().without(Factor::Rand)), Some("x"), None).expect("a line");
        assert!(pg.starts_with("flakebox run --share rand --postgres --time x -- "), "{pg}");
        assert_eq!(replay_line(&req(FactorSet::only(Factor::Net)), None, None), None);
        let mut hidden = req(all);
        hidden.hide = vec!["/home/u/.cache/a b.csv".into()];
        let line = replay_line(&hidden, Some("t"), Some(1)).expect("a line");
        assert!(
            line.starts_with("flakebox run --seed 1 --time t --hide '/home/u/.cache/a b.csv' -- "),
            "{line}"
        );
    }
}
