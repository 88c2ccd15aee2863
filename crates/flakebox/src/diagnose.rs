//! `flakebox diagnose`: run the command under every condition, interleaved,
//! until the engine (crate `diagnose`) can attribute its flakiness.

use crate::cli::{DiagnoseArgs, OutputFormat};
use crate::test_runner;
use anyhow::{bail, Context, Result};
use diagnose::{Options, Progress};
use factors::{Factor, FactorSet};
use runners::{Detection, RunnerKind};
use runs::{DiagnoseRunner, PgOptions, RunRequest, Runs, Workspace};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

pub fn main(args: DiagnoseArgs) -> Result<i32> {
    let mut factors = match &args.factors {
        Some(list) => FactorSet::parse_lists(std::slice::from_ref(list))?,
        // rand is diagnosed only when asked for: a default condition costs runs.
        None => FactorSet::all().without(Factor::Rand),
    };
    let mut pg = PgOptions { bin: args.postgres_bin.clone(), init: args.postgres_init.clone() };
    if factors.contains(Factor::Db) {
        // Prepare the template once, before any timed run; without server
        // binaries, db is left out (or refused when asked for by name).
        match runs::PgService::prepare(pg.bin.as_deref(), pg.init.as_deref()) {
            // Each run is told where the binaries are: no pg_config search.
            Ok(service) => pg.bin = Some(service.bindir().to_path_buf()),
            Err(e) if args.factors.is_none() => {
                eprintln!("flakebox: db is not diagnosed: {}", runs::chain(&e));
                factors.remove(Factor::Db);
            }
            Err(e) => return Err(anyhow::Error::new(e).context("--factors db needs PostgreSQL")),
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
    let cwd = std::env::current_dir().context("reading the working directory")?;
    let argv: Vec<String> = args.command.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let chosen = test_runner::choose(&args.runner, args.junit.as_deref(), &args.command, &cwd)?;
    if let (Some(note), OutputFormat::Text) = (chosen.unsure_note("diagnosing"), args.format) {
        eprintln!("flakebox: {note}");
    }
    let adapter = chosen.adapter.as_ref();
    let focus = adapter.is_some_and(|a| a.capabilities().can_select);
    let opts = Options {
        factors,
        max_runs: args.max_runs,
        min_runs: args.min_runs.min(args.max_runs),
        fixed_runs: args.runs,
        alpha: args.alpha,
        seed: args.seed.unwrap_or_else(|| fastrand::u64(..)),
        focus: focus && args.runs.is_none(),
        prune: !args.keep_unused,
        ..Options::default()
    };
    // Before the scratch directories exist: a Ctrl-C from here on ends the
    // diagnosis through Drop, which removes them.
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_interrupt as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_interrupt as *const () as libc::sighandler_t);
        libc::signal(libc::SIGHUP, on_interrupt as *const () as libc::sighandler_t);
    }
    let mut base = RunRequest::new(Vec::new());
    base.time = Some(clock.replay_spec());
    base.postgres = pg;
    base.timeout = args.timeout.as_deref().map(clock::parse_duration).transpose()?;
    // One seed for every rand-isolated run, so randomness-caused flakiness stabilizes.
    base.seed = factors.contains(Factor::Rand).then(|| diagnose::entropy_seed(opts.seed));
    let (work, note) = Workspace::new("flakebox-diagnose-", true)?;
    if let Some(note) = note {
        eprintln!("flakebox: note: {note}");
    }
    let runner_kind = adapter.map(|a| a.kind);
    let runs = Runs::new(chosen.command.as_ref(), base, &work);
    let mut runner = DiagnoseRunner::new(&runs, &INTERRUPTED);
    if args.format == OutputFormat::Text {
        eprintln!(
            "flakebox: diagnosing {} under {} conditions; time-isolated runs see {} (replay: flakebox run --time {})",
            shell_words(&args.command),
            diagnose::plan(factors).len(),
            clock.instant_rfc3339(),
            clock.replay_spec()
        );
        if let Some(kind) = runner_kind {
            let how = match opts.focus {
                true => "per-test results; after screening runs of the whole suite, only the tests that failed are rerun",
                false => "per-test results",
            };
            eprintln!(
                "flakebox: test runner: {kind} ({how}; --runner none diagnoses the command as a whole)"
            );
        }
    }
    let bar = progress_bar();
    let mut progress = |p: &Progress| {
        bar.set_length(p.planned_max as u64);
        bar.set_position(p.done as u64);
        if let Some(eta) = p.eta_max {
            bar.set_message(format!("round {} (at most {}s left)", p.round, eta.as_secs()));
        }
    };
    let result = diagnose::diagnose(&argv, &opts, &mut runner, &mut progress);
    bar.finish_and_clear();
    // A run prepared for a round the engine did not make is cancelled, and
    // gone, before the workspace goes.
    drop(runner);
    drop(runs);
    drop(work);
    let report = match result {
        Ok(r) => r,
        Err(diagnose::DiagnoseError::ResultsMissing { path, reason, .. }) if runner_kind.is_some() => {
            eprintln!(
                "flakebox: the first run gave no per-test results ({path}: {reason}); the test runner \
                 may have failed before running any test: try the command alone, or `--runner none` to \
                 diagnose it as a whole"
            );
            return Ok(diagnose::exit::RUNNER_FAILED);
        }
        Err(diagnose::DiagnoseError::ResultsMissing { path, reason, hint: None }) => {
            let hint = runners::detect(&argv, &cwd);
            let hint = match hint {
                Detection::Detected(a) => junit_flag(a.kind, &path),
                _ => None,
            };
            let e = diagnose::DiagnoseError::ResultsMissing { path, reason, hint };
            eprintln!("flakebox: {e}");
            return Ok(diagnose::exit::for_error(&e));
        }
        Err(e) => {
            eprintln!("flakebox: {e}");
            return Ok(diagnose::exit::for_error(&e));
        }
    };
    let render =
        diagnose::RenderOptions { color: std::io::stdout().is_terminal(), all_tests: args.all_tests };
    let out = match args.format {
        OutputFormat::Text => diagnose::render_text_with(&report, render),
        OutputFormat::Json => diagnose::render_json(&report)?,
        OutputFormat::Markdown => diagnose::render_markdown_with(&report, args.all_tests),
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
    render::shell_line(cmd)
}

/// How a runner is told to write JUnit XML to `path`, for a `--junit` file
/// the command never wrote.
fn junit_flag(kind: RunnerKind, path: &str) -> Option<String> {
    Some(match kind {
        RunnerKind::Pytest => format!("`--junitxml={path}`"),
        RunnerKind::Vitest => format!("`--reporter=junit --outputFile={path}`"),
        RunnerKind::Jest => format!("the jest-junit reporter (`--reporters=jest-junit`, JEST_JUNIT_OUTPUT_FILE={path})"),
        RunnerKind::Go => format!("gotestsum (`gotestsum --junitfile {path}`)"),
        RunnerKind::Nextest => "a nextest profile's `[profile.NAME.junit] path`, or drop --junit: flakebox reads nextest's results itself".to_string(),
        _ => return None,
    })
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
