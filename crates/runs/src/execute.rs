//! The child side: a [`RunRequest`] made into a sandbox config, run, and
//! reported on.

use crate::error::{io, RunsError};
use crate::postgres::PgService;
use crate::report::{RandInfo, TimeInfo, Warning};
use crate::request::RunRequest;
use factors::Factor;
use sandbox::{Config, FsMode, PrivateFile, PRIVATE_DIR, TRACE_FILE};
use std::ffi::{OsStr, OsString};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A request made ready to run: the sandbox config and what the report
/// needs beyond the outcome.
pub struct Prepared {
    pub config: Config,
    /// The clock the command will see, when time is isolated.
    pub time: Option<TimeInfo>,
    /// The seed of its OS randomness, when rand is isolated.
    pub rand: Option<RandInfo>,
    /// Warnings known before the run (print them before it starts).
    pub warnings: Vec<Warning>,
    /// The PostgreSQL template, when db is isolated: (version, directory, built now).
    pub postgres_template: Option<(String, PathBuf, bool)>,
    /// The shim is loaded (it traces connects, lookups and execs).
    pub traced: bool,
    /// The command's binary, when the shim cannot reach it: what it does is
    /// not traced ([`crate::RunReport::untraced`]).
    pub untraced: Vec<PathBuf>,
}

/// Build the sandbox config for `req` (taking over its inherited
/// descriptors), with the clock resolved at `now`.
pub fn prepare(req: &RunRequest, now: SystemTime) -> Result<Prepared, RunsError> {
    let mut cfg = Config::new(req.command.clone())
        .map_err(|source| RunsError::SandboxContext { context: "preparing the sandbox".into(), source })?;
    let Inputs { time, rand, warnings, traced, untraced } = configure(&mut cfg, req, now)?;
    let mut postgres_template = None;
    if req.isolate.contains(Factor::Db) {
        let mut pg = PgService::prepare(req.postgres.bin.as_deref(), req.postgres.init.as_deref())?;
        pg.want_evidence = req.want_service_evidence;
        postgres_template = Some(pg.template_info());
        cfg.services.push(Box::new(pg));
    }
    if req.start_gate.is_some() && req.start_gate == req.done_fd {
        return Err(RunsError::Invalid(
            "the start gate and the done signal name the same descriptor; they are two pipes".into(),
        ));
    }
    cfg.start_gate = req.start_gate.map(|fd| inherited_fd("the start gate", fd)).transpose()?;
    cfg.done_signal = req.done_fd.map(|fd| inherited_fd("the done signal", fd)).transpose()?;
    Ok(Prepared { config: cfg, time, rand, warnings, postgres_template, traced, untraced })
}

/// A descriptor number this process inherited, checked to be open.
pub(crate) fn inherited_fd(what: &str, fd: i32) -> Result<OwnedFd, RunsError> {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(RunsError::Invalid(format!("{what} {fd}: not an open file descriptor")));
    }
    // SAFETY: an inherited descriptor that nothing else in this process
    // owns; the caller takes it over.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// OpenSSL (Node's own copy too: Math.random and crypto are seeded from it)
/// mixes the CPU's timestamp counter into its generator and may draw from
/// RDRAND, neither of which the shim can serve; this mask hides both CPU
/// features from it (`~` clears bits: 4 TSC, 62 RDRAND), leaving only the
/// OS sources the shim serves. A value the user set is left alone.
const OPENSSL_IA32CAP: &str = "OPENSSL_ia32cap";
const OPENSSL_NO_TSC_NO_RDRAND: &str = "~0x4000000000000010";

/// The inputs from outside the command that the run controls, and what it
/// cannot.
struct Inputs {
    time: Option<TimeInfo>,
    rand: Option<RandInfo>,
    warnings: Vec<Warning>,
    traced: bool,
    untraced: Vec<PathBuf>,
}

/// Fill a sandbox config from the request.
fn configure(cfg: &mut Config, req: &RunRequest, now: SystemTime) -> Result<Inputs, RunsError> {
    let isolated = req.isolate;
    cfg.isolate_net = isolated.contains(Factor::Net);
    cfg.fs = match (isolated.contains(Factor::Fs), &req.state_dirs) {
        (true, _) => FsMode::Fresh,
        (false, Some([a, b])) => FsMode::Persistent { state: [a.clone(), b.clone()] },
        (false, None) => FsMode::Host,
    };
    cfg.timeout = req.timeout;
    cfg.kill_after = req.kill_after;
    cfg.tmp_size = req.tmp_size;
    cfg.cap_add = req
        .cap_add
        .iter()
        .map(|c| sandbox::parse_capability(c))
        .collect::<Result<_, _>>()
        .map_err(RunsError::Invalid)?;
    for (k, v) in &req.env {
        set_env(cfg, k, v.clone());
    }
    cfg.keep = req.keep.iter().map(|k| absolute(&cfg.cwd, k)).collect::<Result<_, _>>()?;
    for (src, dest) in &req.collect {
        cfg.collect.push((absolute(&cfg.cwd, src)?, absolute(&cfg.cwd, dest)?));
    }
    if req.time.is_some() && !isolated.contains(Factor::Time) {
        return Err(RunsError::Invalid(
            "--time was given but time is shared (--share time); drop one of them".into(),
        ));
    }
    if req.seed.is_some() && !isolated.contains(Factor::Rand) {
        return Err(RunsError::Invalid(
            "--seed was given but rand is shared (--share rand); drop one of them".into(),
        ));
    }
    // The command itself stays visible even if it lives under /tmp.
    let command_path = resolve_command(cfg);
    if let Some(dir) = command_path.as_deref().and_then(|p| std::fs::canonicalize(p).ok()) {
        cfg.visible.extend(dir.parent().map(Path::to_path_buf));
    }
    let mut notes = hide(cfg, &req.hide)?;
    let traced = isolated.contains(Factor::Time) || isolated.contains(Factor::Rand) || req.trace;
    let mut untraced = Vec::new();
    if traced {
        install_shim(cfg);
        // A binary out of the shim's reach does its connects untraced.
        if let Some(path) = &command_path {
            if let Some(w) = clock::reach::inspect(path).ok().and_then(|r| r.warning(path)) {
                untraced.push(w.binary);
            }
        }
    }
    // A seed in flakebox's own environment is not this run's.
    cfg.env.retain(|(k, _)| k != clock::ENV_SEED && k != clock::ENV_RAND_ID);
    let mut rand = None;
    if isolated.contains(Factor::Rand) {
        let seed = match req.seed {
            Some(seed) => seed,
            None => fresh_seed()?,
        };
        set_env(cfg, OsStr::new(clock::ENV_SEED), OsString::from(seed.to_string()));
        cfg.entropy_seed = Some(seed);
        if !cfg.env.iter().any(|(k, _)| k == OPENSSL_IA32CAP) {
            set_env(cfg, OsStr::new(OPENSSL_IA32CAP), OsString::from(OPENSSL_NO_TSC_NO_RDRAND));
        }
        rand = Some(RandInfo { seed });
    }
    for (name, contents) in &req.files {
        cfg.private_files.push(PrivateFile {
            name: name.clone(),
            contents: contents.clone().into_bytes().into(),
            mode: 0o644,
        });
    }
    let (mut time, mut warnings) = (None, Vec::new());
    warnings.append(&mut notes);
    if let (Some(_), Some(path)) = (&rand, &command_path) {
        warnings.extend(crate::rand_reach::warnings(path, !isolated.contains(Factor::Time)));
    }
    if isolated.contains(Factor::Time) {
        let spec: clock::TimeSpec = match &req.time {
            Some(s) => {
                s.parse().map_err(|e: clock::TimeSpecError| RunsError::Invalid(format!("--time: {e}")))?
            }
            None => clock::TimeSpec::default(),
        };
        let c = spec.resolve(now);
        for (k, v) in c.env() {
            set_env(cfg, OsStr::new(&k), OsString::from(v));
        }
        time = Some(TimeInfo {
            mode: c.mode.as_str().to_string(),
            instant: c.instant_rfc3339(),
            replay: c.replay_spec(),
        });
        // Programs the shim cannot reach (static, Go, musl), the command or
        // any program it execs, get the clock from the clockwatch supervisor.
        let watch = clockwatch::probe();
        if watch.is_ok() {
            cfg.clock_watch = Some(clockwatch::Options::new(c));
            set_env(cfg, OsStr::new(clock::ENV_CLOCKWATCH), OsString::from("1"));
        }
        // Say how the command's clock is reached, or that it is not.
        if let Some(path) = &command_path {
            if let Ok(reach) = clock::reach::inspect(path) {
                match (&watch, reach.warning(path)) {
                    (Ok(()), Some(w)) if clockwatch::needs_watch(&reach) => {
                        warnings.push(Warning::ClockWatched { binary: w.binary, reason: w.reason })
                    }
                    (Err(e), Some(mut w)) => {
                        w.reason =
                            format!("{} (and the clockwatch supervisor cannot work here: {e})", w.reason);
                        warnings.push(Warning::ClockNotFrozen(w));
                    }
                    (_, w) => warnings.extend(w.map(Warning::ClockNotFrozen)),
                }
            }
        }
    }
    Ok(Inputs { time, rand, warnings, traced, untraced })
}

/// `--hide`: each path checked (the errors say what to do instead) and
/// resolved as the sandbox will see it; one already absent is a note.
fn hide(cfg: &mut Config, paths: &[PathBuf]) -> Result<Vec<Warning>, RunsError> {
    let mut notes = Vec::new();
    let check = |p: &Path, cfg: &Config| sandbox::check_hide(p, &cfg.fs, &cfg.cwd, &cfg.visible, &cfg.keep);
    for p in paths {
        check(p, cfg).map_err(RunsError::Invalid)?;
        let path = absolute(&cfg.cwd, p)?;
        let note = |why: &str| Warning::Sandbox {
            message: format!("flakebox: note: --hide {}: {why}; nothing to hide", p.display()),
        };
        match check(&path, cfg).map_err(RunsError::Invalid)? {
            sandbox::HideBy::FreshTmp => {
                notes.push(note("already absent in the sandbox (its tmp directories are fresh)"))
            }
            sandbox::HideBy::Removing if std::fs::symlink_metadata(&path).is_err() => {
                notes.push(note("already absent on this machine"))
            }
            sandbox::HideBy::Removing => cfg.hide.push(path),
        }
    }
    Ok(notes)
}

/// A seed from the kernel: without `--seed`, every run's randomness differs,
/// as it would outside flakebox, but is recorded for replay.
fn fresh_seed() -> Result<u64, RunsError> {
    let mut buf = [0u8; 8];
    // SAFETY: getrandom fills the buffer we own, at most its length.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != 8 {
        return Err(io("drawing a seed from the kernel")(std::io::Error::last_os_error()));
    }
    Ok(u64::from_ne_bytes(buf))
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
    set_env(cfg, OsStr::new("LD_PRELOAD"), preload);
    set_env(cfg, OsStr::new(clock::ENV_TRACE), dir.join(TRACE_FILE).into_os_string());
}

fn set_env(cfg: &mut Config, key: &OsStr, value: OsString) {
    cfg.env.retain(|(k, _)| k != key);
    cfg.env.push((key.to_os_string(), value));
}

/// The file `argv[0]` names, searched in the command's PATH as exec will
/// (`hostfs::find_executable`: execvp's rules).
fn resolve_command(cfg: &Config) -> Option<PathBuf> {
    let first = cfg.argv.first()?;
    let path = cfg.env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.as_os_str());
    hostfs::find_executable(first, path, &cfg.cwd)
}

/// An absolute path with symlinks resolved as far as it exists, so the
/// sandbox binds the real location; but not a final symbolic link, which
/// the sandbox refuses to keep (it would make whatever it names writable).
fn absolute(cwd: &Path, p: &Path) -> Result<PathBuf, RunsError> {
    let full = if p.is_absolute() { p.to_path_buf() } else { cwd.join(p) };
    let mut existing = full.as_path();
    let mut tail = Vec::new();
    if let (true, Some(parent), Some(name)) = (full.is_symlink(), full.parent(), full.file_name()) {
        tail.push(name.to_os_string());
        existing = parent;
    }
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
            _ => return Err(RunsError::Invalid(format!("--keep {}: cannot resolve this path", p.display()))),
        }
    }
}

/// Write `report` where the request says.
pub fn write_report(path: &Path, report: &crate::RunReport) -> Result<(), RunsError> {
    std::fs::write(path, report.to_json_pretty())
        .map_err(io(format!("writing the report to {}", path.display())))
}
