//! `flakebox run`: one hermetic run of a command.

use crate::cli::RunArgs;
use crate::duration;
use anyhow::{bail, Context, Result};
use factors::{Factor, FactorSet};
use sandbox::{Config, FsMode, Outcome, PrivateFile, Status, PRIVATE_DIR, TRACE_FILE};
use serde::Serialize;
use std::ffi::{OsStr, OsString};
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// `--report` JSON: what one run did. Fields are only ever added.
#[derive(Serialize)]
pub struct RunReport {
    pub schema: u32,
    pub command: Vec<String>,
    pub isolated: FactorSet,
    pub exit_code: i32,
    pub status: Status,
    pub duration_ms: u128,
    /// The clock the command saw, when time was isolated.
    pub time: Option<TimeInfo>,
    /// Connects and name lookups from the shim's trace, one line each:
    /// "connect 1.2.3.4:443 failed ENETUNREACH", "resolve example.com ok".
    pub net_events: Vec<String>,
    #[serde(flatten)]
    pub evidence: sandbox::Evidence,
}

#[derive(Serialize, Clone)]
pub struct TimeInfo {
    pub mode: String,
    pub instant: String,
    /// Pass to `--time` to replay this run's clock.
    pub replay: String,
}

/// What `configure` decided beyond the sandbox config, for the report.
pub struct Plan {
    pub isolated: FactorSet,
    pub time: Option<TimeInfo>,
    pub warnings: Vec<String>,
}

pub fn main(args: RunArgs) -> Result<i32> {
    let shared = FactorSet::parse_lists(&args.share)?;
    let mut isolated: FactorSet = FactorSet::all().iter().filter(|f| !shared.contains(*f)).collect();
    if !args.postgres {
        isolated.remove(Factor::Db);
    } else if shared.contains(Factor::Db) {
        bail!("--postgres asks for a throwaway database but --share db keeps the environment's; drop one of them");
    }
    let mut cfg = Config::new(args.command.clone()).context("preparing the sandbox")?;
    let plan = configure(&mut cfg, &args, isolated, SystemTime::now())?;
    if isolated.contains(Factor::Db) {
        let mut pg = crate::pg::PgService::prepare(
            args.postgres_bin.as_deref(),
            args.postgres_init.as_deref(),
            args.verbose,
        )?;
        pg.want_evidence = args.report.is_some() || args.verbose;
        cfg.services.push(Box::new(pg));
    }
    if args.start_gate.is_some() && args.start_gate == args.done_fd {
        bail!("--start-gate and --done-fd name the same descriptor; they are two pipes");
    }
    cfg.start_gate = inherited_fd("--start-gate", args.start_gate)?;
    cfg.done_signal = inherited_fd("--done-fd", args.done_fd)?;
    for w in &plan.warnings {
        eprintln!("{w}");
    }
    if let (true, Some(t)) = (args.verbose, &plan.time) {
        eprintln!("flakebox: clock {} at {} (replay with --time {})", t.mode, t.instant, t.replay);
    }
    let outcome = match sandbox::run(cfg) {
        Ok(o) => o,
        Err(e) => {
            let hint = match e {
                sandbox::SandboxError::Setup(_) => "\n  run `flakebox doctor` for a full check of this host",
                _ => "",
            };
            bail!("{e}{hint}");
        }
    };
    report(&args, &plan, &outcome)?;
    Ok(outcome.status.exit_code())
}

/// A descriptor number given on the command line, checked to be open.
fn inherited_fd(flag: &str, fd: Option<i32>) -> Result<Option<std::os::fd::OwnedFd>> {
    let Some(fd) = fd else { return Ok(None) };
    // SAFETY: F_GETFD only reads the descriptor's flags.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        bail!("{flag} {fd}: not an open file descriptor");
    }
    // SAFETY: an inherited descriptor that nothing else in this process
    // owns; the sandbox takes it over.
    Ok(Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }))
}

/// Fill a sandbox config from the command line.
pub fn configure(cfg: &mut Config, args: &RunArgs, isolated: FactorSet, now: SystemTime) -> Result<Plan> {
    cfg.isolate_net = isolated.contains(Factor::Net);
    cfg.fs = match (isolated.contains(Factor::Fs), args.state_dirs.as_slice()) {
        (true, _) => FsMode::Fresh,
        (false, [a, b]) => FsMode::Persistent { state: [a.clone(), b.clone()] },
        (false, _) => FsMode::Host,
    };
    cfg.timeout = args.timeout.as_deref().map(duration::parse).transpose().map_err(anyhow::Error::msg)?;
    cfg.kill_after = duration::parse(&args.kill_after).map_err(anyhow::Error::msg)?;
    cfg.keep = args.keep.iter().map(|k| absolute(&cfg.cwd, k)).collect::<Result<_>>()?;
    for pair in args.collect.chunks(2) {
        if let [src, dest] = pair {
            cfg.collect.push((absolute(&cfg.cwd, src)?, absolute(&cfg.cwd, dest)?));
        }
    }
    let mut plan = Plan { isolated, time: None, warnings: Vec::new() };
    if args.time.is_some() && !isolated.contains(Factor::Time) {
        bail!("--time was given but time is shared (--share time); drop one of them");
    }
    // The command itself stays visible even if it lives under /tmp.
    let command_path = resolve_command(cfg);
    if let Some(dir) = command_path.as_deref().and_then(|p| std::fs::canonicalize(p).ok()) {
        cfg.visible.extend(dir.parent().map(Path::to_path_buf));
    }
    if isolated.contains(Factor::Time) || args.trace {
        install_shim(cfg);
    }
    if isolated.contains(Factor::Time) {
        let spec: clock::TimeSpec = match &args.time {
            Some(s) => s.parse().map_err(|e: clock::TimeSpecError| anyhow::anyhow!("--time: {e}"))?,
            None => clock::TimeSpec::default(),
        };
        let c = spec.resolve(now);
        for (k, v) in c.env() {
            set_env(cfg, &k, OsString::from(v));
        }
        plan.time = Some(TimeInfo {
            mode: c.mode.as_str().to_string(),
            instant: c.instant_rfc3339(),
            replay: c.replay_spec(),
        });
        // Programs the shim cannot reach (static, Go, musl), the command or any
        // program it execs, get the clock from the clockwatch supervisor.
        let watch = clockwatch::probe();
        if watch.is_ok() {
            cfg.clock_watch = Some(clockwatch::Options { clock: c, routes: Default::default() });
            set_env(cfg, clock::ENV_CLOCKWATCH, OsString::from("1"));
        }
        if let Some(path) = &command_path {
            if let Ok(reach) = clock::reach::inspect(path) {
                match (&watch, reach.reason()) {
                    (Ok(()), Some(why)) if clockwatch::needs_watch(&reach) => plan.warnings.push(format!(
                        "flakebox: note: {}: {why}; its clock IS frozen, through the clockwatch supervisor: \
                         each wall-clock read is a system call answered by it (~10 us instead of ~30 ns)",
                        path.display()
                    )),
                    (Err(e), Some(_)) => {
                        plan.warnings.extend(reach.warning(path).map(|w| format!("{w} ({e})")))
                    }
                    _ => plan.warnings.extend(reach.warning(path)),
                }
            }
        }
    }
    Ok(plan)
}

/// Put the shim and an empty trace log into the sandbox's private directory
/// and preload it, after whatever LD_PRELOAD the caller already had.
fn install_shim(cfg: &mut Config) {
    cfg.private_files.push(PrivateFile {
        name: clock::SHIM_FILE_NAME.to_string(),
        contents: clock::SHIM.into(),
        mode: 0o755,
    });
    // Every uid in the sandbox (postgres too) appends to it.
    cfg.private_files.push(PrivateFile {
        name: TRACE_FILE.to_string(),
        contents: Default::default(),
        mode: 0o666,
    });
    let dir = Path::new(PRIVATE_DIR);
    let existing = cfg.env.iter().find(|(k, _)| k == "LD_PRELOAD").map(|(_, v)| v.clone());
    let preload = clock::ld_preload_value(existing.as_deref(), &dir.join(clock::SHIM_FILE_NAME));
    set_env(cfg, "LD_PRELOAD", preload);
    set_env(cfg, clock::ENV_TRACE, dir.join(TRACE_FILE).into_os_string());
}

fn set_env(cfg: &mut Config, key: &str, value: OsString) {
    cfg.env.retain(|(k, _)| k != key);
    cfg.env.push((OsString::from(key), value));
}

/// The file `argv[0]` names, searched in the command's PATH as exec will.
fn resolve_command(cfg: &Config) -> Option<PathBuf> {
    let first = Path::new(cfg.argv.first()?);
    if first.components().count() > 1 || first.is_absolute() {
        return Some(cfg.cwd.join(first));
    }
    let path =
        cfg.env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.as_os_str()).unwrap_or(OsStr::new(""));
    std::env::split_paths(path).map(|d| cfg.cwd.join(d).join(first)).find(|p| p.is_file())
}

/// One line per connect and name lookup the shim recorded.
pub fn net_events(trace: &[String]) -> Vec<String> {
    use clock::trace::{ConnectTarget, TraceEvent};
    let mut out = Vec::new();
    for ev in clock::trace::parse(&trace.join("\n")) {
        let (what, outcome) = match ev {
            TraceEvent::Connect { target: ConnectTarget::Inet(addr), outcome, .. } => {
                (format!("connect {addr}"), outcome)
            }
            TraceEvent::Resolve { name, outcome, .. } => (format!("resolve {name}"), outcome),
            _ => continue,
        };
        let line = match outcome {
            clock::trace::Outcome::Ok => format!("{what} ok"),
            clock::trace::Outcome::Err(e) => format!("{what} failed {e}"),
        };
        if !out.contains(&line) {
            out.push(line);
        }
    }
    out
}

/// An absolute path with symlinks resolved as far as it exists, so the
/// sandbox binds the real location.
fn absolute(cwd: &Path, p: &Path) -> Result<PathBuf> {
    let full = if p.is_absolute() { p.to_path_buf() } else { cwd.join(p) };
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

fn report(args: &RunArgs, plan: &Plan, outcome: &Outcome) -> Result<()> {
    let isolated = plan.isolated;
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
            command: args.command.iter().map(|a| a.to_string_lossy().into_owned()).collect(),
            isolated,
            exit_code: outcome.status.exit_code(),
            status: outcome.status.clone(),
            duration_ms: outcome.duration.as_millis(),
            time: plan.time.clone(),
            net_events: net_events(&ev.trace),
            evidence: {
                let mut ev = ev.clone();
                ev.warnings.extend(plan.warnings.iter().cloned());
                ev
            },
        };
        let json = serde_json::to_vec_pretty(&rep)?;
        std::fs::write(path, json).with_context(|| format!("writing the report to {}", path.display()))?;
    }
    Ok(())
}
