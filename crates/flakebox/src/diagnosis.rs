//! `flakebox diagnose`: run the command under every condition, interleaved,
//! until the engine (crate `diagnose`) can attribute its flakiness.

use crate::cli::{DiagnoseArgs, OutputFormat};
use crate::subrun::{self, ChildRun, PgArgs};
use anyhow::{bail, Context, Result};
use diagnose::{Evidence, JunitFile, Options, Progress, RunOutcome, RunSpec, Runner, RunnerError};
use factors::{Factor, FactorSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

pub fn main(args: DiagnoseArgs) -> Result<i32> {
    let mut factors = match &args.factors {
        Some(list) => FactorSet::parse_lists(std::slice::from_ref(list))?,
        None => FactorSet::all(),
    };
    let mut pg = PgArgs { bin: args.postgres_bin.clone(), init: args.postgres_init.clone() };
    if factors.contains(Factor::Db) {
        // Prepare the template once, before any timed run; without server
        // binaries, db is left out (or refused when asked for by name).
        match crate::pg::PgService::prepare(pg.bin.as_deref(), pg.init.as_deref(), false) {
            // Each run is told where the binaries are: no pg_config search.
            Ok(service) => pg.bin = Some(service.bindir().to_path_buf()),
            Err(e) if args.factors.is_none() => {
                eprintln!("flakebox: db is not diagnosed: {e:#}");
                factors.remove(Factor::Db);
            }
            Err(e) => return Err(e.context("--factors db needs PostgreSQL")),
        }
    }
    if factors.is_empty() {
        bail!("--factors: no factor left to diagnose");
    }
    let spec: clock::TimeSpec = match &args.time {
        Some(s) => s.parse().map_err(|e: clock::TimeSpecError| anyhow::anyhow!("--time: {e}"))?,
        None => clock::TimeSpec::default(),
    };
    // One instant for every time-isolated run: a clock frozen at each run's
    // own start would still differ from run to run.
    let clock = spec.resolve(SystemTime::now());
    let opts = Options {
        factors,
        max_runs: args.max_runs,
        min_runs: args.min_runs.min(args.max_runs),
        fixed_runs: args.runs,
        alpha: args.alpha,
        seed: args.seed.unwrap_or_else(|| fastrand::u64(..)),
        ..Options::default()
    };
    let cwd = std::env::current_dir().context("reading the working directory")?;
    let junit = args.junit.as_ref().map(|p| if p.is_absolute() { p.clone() } else { cwd.join(p) });
    // Before the scratch directories exist: a Ctrl-C from here on ends the
    // diagnosis through Drop, which removes them.
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_interrupt as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_interrupt as *const () as libc::sighandler_t);
        libc::signal(libc::SIGHUP, on_interrupt as *const () as libc::sighandler_t);
    }
    let work = Workspace::new()?;
    let mut runner = SandboxRunner {
        command: &args.command,
        instant: clock.replay_spec(),
        junit: junit.clone(),
        pg: &pg,
        timeout: args.timeout.as_deref(),
        work: &work,
        count: 0,
        next: None,
        prepared: None,
    };
    if args.format == OutputFormat::Text {
        eprintln!(
            "flakebox: diagnosing {} under {} conditions; time-isolated runs see {} (replay: flakebox run --time {})",
            shell_words(&args.command),
            diagnose::plan(factors).len(),
            clock.instant_rfc3339(),
            clock.replay_spec()
        );
    }
    let bar = progress_bar();
    let mut progress = |p: &Progress| {
        bar.set_length(p.planned_max as u64);
        bar.set_position(p.done as u64);
        if let Some(eta) = p.eta_max {
            bar.set_message(format!("round {} (at most {}s left)", p.round, eta.as_secs()));
        }
    };
    let command: Vec<String> = args.command.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let result = diagnose::diagnose(&command, &opts, &mut runner, &mut progress);
    bar.finish_and_clear();
    // A run prepared for a round the engine did not make is cancelled, and
    // gone, before the workspace goes.
    drop(runner);
    drop(work);
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("flakebox: {e}");
            return Ok(diagnose::exit::for_error(&e));
        }
    };
    let out = match args.format {
        OutputFormat::Text => diagnose::render_text(&report, std::io::stdout().is_terminal()),
        OutputFormat::Json => diagnose::render_json(&report)?,
        OutputFormat::Markdown => diagnose::render_markdown(&report),
    };
    println!("{}", out.trim_end());
    // Interrupted is 130 whatever the partial runs suggest: a cancelled CI
    // job must not read as "stable, passed".
    if report.stopped == diagnose::StopReason::Interrupted {
        return Ok(diagnose::exit::INTERRUPTED);
    }
    Ok(report.exit_code())
}

fn shell_words(cmd: &[std::ffi::OsString]) -> String {
    cmd.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ")
}

fn progress_bar() -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} runs, {msg}") {
        bar.set_style(style);
    }
    bar
}

/// Private scratch for one diagnosis: reports, logs, and each condition's
/// persistent copy-on-write state, in two trees (/tmp and /var/tmp) so every
/// overlay finds one outside its own lower layer. Removed when dropped.
struct Workspace {
    roots: [PathBuf; 2],
}

impl Workspace {
    fn new() -> Result<Self> {
        let mk = |base: &str| -> Result<PathBuf> {
            let d = tempfile::Builder::new()
                .prefix("flakebox-diagnose-")
                .tempdir_in(base)
                .with_context(|| format!("creating a scratch directory in {base}"))?;
            Ok(d.keep())
        };
        let a = mk("/tmp")?;
        let b = match mk("/var/tmp") {
            Ok(b) => b,
            Err(e) => {
                subrun::remove_tree(&a);
                return Err(e);
            }
        };
        // As root, keep the state on a tmpfs of our own: overlayfs mounts
        // faster on a tmpfs upper layer than on disk, and the state cannot
        // outlive us. Otherwise (or if that fails) it stays on disk.
        if sandbox::host::is_root() {
            if let Err(e) = sandbox::scratch::private_tmpfs(&[&a, &b]) {
                eprintln!("flakebox: note: diagnosis state kept on disk ({e})");
            }
        }
        Ok(Workspace { roots: [a, b] })
    }

    fn state_dirs(&self, isolate: FactorSet) -> Result<[PathBuf; 2]> {
        let name = format!("state-{}", isolate.to_string().replace(',', "+"));
        let dirs = [self.roots[0].join(&name), self.roots[1].join(&name)];
        for d in &dirs {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        Ok(dirs)
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        for r in &self.roots {
            // Our tmpfs first (if mounted), then the empty directory under it.
            let _ = nix::mount::umount2(r.as_path(), nix::mount::MntFlags::MNT_DETACH);
            subrun::remove_tree(r);
        }
    }
}

struct SandboxRunner<'a> {
    command: &'a [std::ffi::OsString],
    instant: String,
    junit: Option<PathBuf>,
    pg: &'a PgArgs,
    timeout: Option<&'a str>,
    work: &'a Workspace,
    count: usize,
    /// The run the engine said comes next.
    next: Option<(FactorSet, usize)>,
    /// That run, built and waiting at its start gate while the current one
    /// executes (sandbox set-up and PostgreSQL's start leave the critical
    /// path), and released once the current command has exited.
    prepared: Option<Prepared>,
}

/// A child run and the files that are its alone (runs overlap).
struct Prepared {
    isolate: FactorSet,
    run_no: usize,
    pending: subrun::Pending,
    report: PathBuf,
    log: PathBuf,
    junit_copy: PathBuf,
}

impl SandboxRunner<'_> {
    /// Start the child for one run, gated.
    fn start(&mut self, isolate: FactorSet, run_no: usize) -> Result<Prepared> {
        self.count += 1;
        let state_dirs =
            if isolate.contains(Factor::Fs) { None } else { Some(self.work.state_dirs(isolate)?) };
        let file = |name: &str| self.work.roots[0].join(format!("{name}-{}", self.count));
        // Each run's JUnit file is collected into our workspace: the user's
        // copy at that path is never touched.
        let (report, log, junit_copy) = (file("report.json"), file("output.log"), file("junit.xml"));
        let child = ChildRun {
            command: self.command,
            isolate,
            time: isolate.contains(Factor::Time).then(|| self.instant.clone()),
            tz: None,
            state_dirs,
            collect: self.junit.iter().map(|j| (j.clone(), junit_copy.clone())).collect(),
            postgres: Some(self.pg),
            timeout: self.timeout,
            report_path: report.clone(),
            log_path: log.clone(),
        };
        let pending = subrun::spawn_child(&child, true)?;
        Ok(Prepared { isolate, run_no, pending, report, log, junit_copy })
    }
}

impl Runner for SandboxRunner<'_> {
    fn upcoming(&mut self, spec: &RunSpec) {
        self.next = Some((spec.isolate, spec.run_no));
    }

    fn run(&mut self, spec: &RunSpec) -> Result<RunOutcome, RunnerError> {
        let (isolate, run_no) = (spec.isolate, spec.run_no);
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Err(RunnerError::Interrupted);
        }
        let fail = |e: anyhow::Error| RunnerError::Failed(format!("{e:#}"));
        let mut current = match self.prepared.take() {
            Some(p) if p.isolate == isolate && p.run_no == run_no => p,
            other => {
                if let Some(p) = other {
                    p.pending.cancel();
                }
                self.start(isolate, run_no).map_err(fail)?
            }
        };
        current.pending.release();
        // Build the next run now, unless it is this condition's own: two
        // overlays must not share its state directories.
        if let Some((next, next_no)) = self.next.take() {
            if next != isolate {
                // A failure here shows again, reported, when that run's turn comes.
                self.prepared = self.start(next, next_no).ok();
            }
        }
        let Prepared { mut pending, report, log, junit_copy, .. } = current;
        // As soon as this command has exited (and what it left running is
        // dead), the next one may start: this run's evidence gathering and
        // teardown (a database's questioning and stop, ~20 ms) overlap it.
        pending.wait_command();
        if !INTERRUPTED.load(Ordering::SeqCst) {
            if let Some(next) = &mut self.prepared {
                next.pending.release();
            }
        }
        let res = pending.wait().map_err(fail);
        let outcome = res.and_then(|res| self.outcome(&res, &junit_copy));
        for f in [&report, &log, &junit_copy] {
            let _ = std::fs::remove_file(f);
        }
        outcome
    }
}

impl SandboxRunner<'_> {
    fn outcome(&self, res: &subrun::ChildResult, junit_copy: &Path) -> Result<RunOutcome, RunnerError> {
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Err(RunnerError::Interrupted);
        }
        let Some(rep) = &res.report else {
            return Err(RunnerError::Failed(res.flakebox_error().unwrap_or_default()));
        };
        let junit = self
            .junit
            .iter()
            .map(|p| JunitFile {
                path: p.display().to_string(),
                contents: std::fs::read_to_string(junit_copy)
                    .map_err(|e| format!("{} was not written by this run: {e}", p.display())),
            })
            .collect();
        let duration = rep["duration_ms"].as_u64().map(Duration::from_millis).unwrap_or(res.wall);
        Ok(RunOutcome {
            exit_code: res.exit_code,
            passed: res.exit_code == 0,
            duration,
            started_at: res.started_at,
            junit,
            evidence: evidence(rep),
            ..RunOutcome::new(res.exit_code == 0)
        })
    }
}

/// The engine's evidence from a `run --report` document.
pub fn evidence(rep: &serde_json::Value) -> Evidence {
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let files_written = rep["files_written"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    let path = f["path"].as_str().unwrap_or("?");
                    match f["change"].as_str() {
                        Some("deleted") => format!("{path} (deleted)"),
                        Some("dir") => format!("{path}/"),
                        _ => path.to_string(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let leftover_processes = rep["leftover_processes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| {
                    format!("{} ({})", l["cmdline"].as_str().unwrap_or(""), l["name"].as_str().unwrap_or("?"))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut db_tables = Vec::new();
    for svc in rep["services"].as_array().into_iter().flatten() {
        if svc[0] == "postgres" {
            for t in svc[1]["tables_with_rows"].as_array().into_iter().flatten() {
                db_tables
                    .push((t["table"].as_str().unwrap_or("?").to_string(), t["rows"].as_u64().unwrap_or(0)));
            }
        }
    }
    Evidence {
        files_written,
        leftover_processes,
        net_events: strings(&rep["net_events"]),
        db_tables,
        frozen_instant: rep["time"]["instant"].as_str().map(str::to_string),
        clock_reads: None,
        warnings: strings(&rep["warnings"]),
    }
}
