//! `flakebox diagnose`: run the command under every condition, interleaved,
//! until the engine (crate `diagnose`) can attribute its flakiness.

use crate::cli::{DiagnoseArgs, OutputFormat};
use crate::report_file;
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
    if let Some(code) = report_file::check_all(&[("--html", &args.html), ("--junit-out", &args.junit_out)]) {
        return Ok(code);
    }
    // A shard's plan first: a bad --shard is reported before any set-up.
    let shard = crate::shard::Shard::from_args(&args)?;
    // `order` is not an environment factor: the order factor's runs follow
    // the diagnosis (crate::order).
    let (factor_list, order) = crate::order::split_factors(args.factors.as_deref());
    if let Some(e) = crate::order::usage_error(order, shard.is_some(), &args.tests) {
        eprintln!("flakebox: {e}");
        return Ok(crate::exit::USAGE);
    }
    let order_only = order && factor_list.as_deref() == Some("");
    let mut factors = match factor_list.as_ref().filter(|_| !order_only) {
        // Only order: its runs isolate net, fs and time (db when named:
        // a throwaway database per run costs its start).
        None if order_only => FactorSet::only(Factor::Net).with(Factor::Fs).with(Factor::Time),
        Some(list) => FactorSet::parse_lists(std::slice::from_ref(list))?,
        // rand too: without it, randomness would read as `intrinsic`.
        None => FactorSet::all(),
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
    if factors.is_empty() && !order {
        bail!("--factors: no factor left to diagnose");
    }
    let spec: clock::TimeSpec = match &args.time {
        Some(s) => s.parse().map_err(|e: clock::TimeSpecError| anyhow::anyhow!("--time: {e}"))?,
        None => clock::TimeSpec::default(),
    };
    // One instant for every time-isolated run: a clock frozen at each run's
    // own start would still differ from run to run.
    let clock = spec.resolve(shard.as_ref().map_or_else(SystemTime::now, |s| s.now()));
    let cwd = std::env::current_dir().context("reading the working directory")?;
    let argv: Vec<String> = args.command.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let chosen = test_runner::choose(&args.runner, args.junit.as_deref(), &args.command, &cwd)?;
    if let (Some(note), OutputFormat::Text) = (chosen.unsure_note("diagnosing"), args.format) {
        eprintln!("flakebox: {note}");
    }
    let adapter = chosen.adapter.as_ref();
    if order {
        crate::order::check_runner(adapter)?;
    }
    let focus = adapter.is_some_and(|a| a.capabilities().can_select);
    let opts = Options {
        factors,
        max_runs: args.max_runs,
        min_runs: args.min_runs.min(args.max_runs),
        fixed_runs: args.runs,
        alpha: args.alpha,
        seed: shard.as_ref().map(|s| s.plan.seed).or(args.seed).unwrap_or_else(|| fastrand::u64(..)),
        focus: focus && args.runs.is_none(),
        prune: !args.keep_unused,
        // The order factor's hypothesis joins each test's Holm family.
        extra_hypotheses: usize::from(order),
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
    base.tmp_size = args.tmp.tmp_size;
    let (work, note) = Workspace::new("flakebox-diagnose-", Some(base.tmp_size))?;
    if let Some(note) = note {
        eprintln!("flakebox: note: {note}");
    }
    let runner_kind = adapter.map(|a| a.kind);
    let base_timeout_none = base.timeout.is_none();
    let mut runs = Runs::new(chosen.command.as_ref(), base, &work);
    if factors.contains(Factor::Rand) {
        // One seed for every rand-isolated run, so randomness-caused
        // flakiness stabilizes; a recorded one per round for the others.
        // A shard's seeds come from its plan, so every shard derives the same.
        runs = runs.with_entropy(shard.as_ref().map_or(opts.seed, |s| s.plan.seed));
    }
    let mut runner = DiagnoseRunner::new(&runs, &INTERRUPTED);
    if base_timeout_none {
        runner = runner.with_derived_timeout();
    }
    if args.format == OutputFormat::Text && order_only {
        eprintln!(
            "flakebox: diagnosing the order of the tests of {} ({}); every run isolates {}",
            shell_words(&args.command),
            runner_kind.map(|k| k.name()).unwrap_or("?"),
            factors.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
        );
    } else if args.format == OutputFormat::Text {
        eprintln!(
            "flakebox: diagnosing {} under {} conditions; time-isolated runs see {} (replay: flakebox run --time {})",
            shell_words(&args.command),
            diagnose::plan(factors).len(),
            clock.instant_rfc3339(),
            clock.replay_spec()
        );
        if factors.contains(Factor::Rand) {
            eprintln!(
                "flakebox: rand-isolated runs draw their randomness from entropy seed {} (derived from the diagnosis seed {}, not the same number); every other run from a recorded seed of its round",
                diagnose::entropy_seed(opts.seed),
                opts.seed
            );
        }
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
    let started = std::time::Instant::now();
    let started_at = SystemTime::now();
    let mut part = None;
    let mut unknown_test = None;
    let mut result = match (&shard, order_only) {
        // Only the order factor: no environment factor to compare.
        (_, true) => Ok(None),
        (Some(s), false) => {
            s.run(&argv, &opts, clock.replay_spec(), &mut runner, &mut progress).map(|(r, p)| {
                part = Some(p);
                Some(r)
            })
        }
        (None, false) => diagnose::diagnose(&argv, &opts, &mut runner, &mut progress).map(Some),
    };
    // State left on the machine before the diagnosis: tested by hiding it
    // (not for a shard: its part holds only its planned rounds).
    if let (Ok(Some(report)), None) = (&mut result, &shard) {
        let say = args.format == OutputFormat::Text;
        crate::stale_state::check(report, &mut runner, &cwd, started_at, opts.alpha, say);
    }
    // On stderr in every format: a JSON report's reader may wonder too.
    if let Some((first, limit)) = runner.derived_timeout() {
        eprintln!(
            "flakebox: each run after the first was limited to {:.1}s (10 s + 5 × the first baseline run's {:.1}s; --timeout sets it)",
            limit.as_secs_f64(),
            first.as_secs_f64()
        );
    }
    if let (true, Ok(report), Some(a)) = (order, &mut result, adapter) {
        if report.as_ref().is_none_or(|r| r.stopped != diagnose::StopReason::Interrupted) {
            let o = crate::order::options(a, factors, &opts, report.as_ref(), &args.tests);
            let replay = |tests: &[String]| crate::order::replay(a, tests);
            match diagnose::order::diagnose_order(&mut runner, &o, &replay) {
                Ok(found) => match report {
                    Some(r) => diagnose::order_verdict::fold(r, found),
                    None => {
                        let wall = started.elapsed().as_secs_f64();
                        *report =
                            Some(diagnose::order::order_only_report(argv.clone(), found, opts.alpha, wall))
                    }
                },
                Err(e @ diagnose::order::OrderError::UnknownTests { .. }) => {
                    unknown_test = Some(e.to_string());
                }
                Err(e) => {
                    result = Err(diagnose::DiagnoseError::Runner {
                        condition: "order".into(),
                        run_no: 0,
                        message: e.to_string(),
                    })
                }
            }
        }
    }
    let mut result = result.and_then(|r| {
        r.ok_or_else(|| {
            diagnose::DiagnoseError::InvalidOptions("--factors order: the order factor made no report".into())
        })
    });
    // Each test worth a look gets the command that replays its failure, in
    // its runner's own syntax (every report shows it).
    if let (Ok(report), Some(a)) = (&mut result, adapter) {
        diagnose::replay::assign(report, &|tests| crate::order::command(a, tests));
    }
    bar.finish_and_clear();
    // A run prepared for a round the engine did not make is cancelled, and
    // gone, before the workspace goes.
    drop(runner);
    drop(runs);
    drop(work);
    if let Some(e) = unknown_test {
        eprintln!("flakebox: --test: {e}");
        return Ok(crate::exit::USAGE);
    }
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
        OutputFormat::Html => diagnose::render_html(&report),
    };
    println!("{}", out.trim_end());
    report_file::write_diagnosis(&report, &args.html, &args.junit_out)?;
    if let (Some(s), Some(part)) = (&shard, part) {
        return s.finish(part, &report);
    }
    // Interrupted is 130 whatever the partial runs suggest: a cancelled CI
    // job must not read as "stable, passed".
    if report.stopped == diagnose::StopReason::Interrupted || INTERRUPTED.load(Ordering::SeqCst) {
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
