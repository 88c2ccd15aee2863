//! One sandboxed run as a child `flakebox run` process, for `diagnose` and
//! `timetravel`. A child process rather than an in-process sandbox: the
//! sandbox must be cloned from a single-threaded process, and these commands
//! draw progress bars and may run probes in parallel.

use anyhow::{Context, Result};
use factors::{Factor, FactorSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// PostgreSQL options passed through to `run --postgres`.
#[derive(Clone, Debug, Default)]
pub struct PgArgs {
    pub bin: Option<PathBuf>,
    pub init: Option<PathBuf>,
}

/// What one child run should look like.
pub struct ChildRun<'a> {
    pub command: &'a [OsString],
    pub isolate: FactorSet,
    /// `--time` for the run, when time is isolated.
    pub time: Option<String>,
    /// TZ for the command.
    pub tz: Option<String>,
    /// Persistent copy-on-write state when fs is not isolated.
    pub state_dirs: Option<[PathBuf; 2]>,
    /// (file CMD writes, where we want it on the host).
    pub collect: Vec<(PathBuf, PathBuf)>,
    pub postgres: Option<&'a PgArgs>,
    pub timeout: Option<&'a str>,
    /// Where the child writes its report and its output (both are ours).
    pub report_path: PathBuf,
    pub log_path: PathBuf,
}

pub struct ChildResult {
    /// The child's `--report`, absent when flakebox itself failed.
    pub report: Option<serde_json::Value>,
    pub exit_code: i32,
    pub wall: Duration,
    pub started_at: SystemTime,
    /// The tail of the command's output (stdout and stderr together).
    pub output_tail: String,
}

impl ChildResult {
    /// flakebox itself failed (not the command): exit 125 and no report.
    pub fn flakebox_error(&self) -> Option<String> {
        (self.report.is_none()).then(|| {
            let msg = self.output_tail.lines().filter(|l| l.starts_with("flakebox:")).collect::<Vec<_>>();
            if msg.is_empty() {
                format!(
                    "flakebox run exited {} without a report: {}",
                    self.exit_code,
                    self.output_tail.trim()
                )
            } else {
                msg.join("\n")
            }
        })
    }
}

pub fn run_child(c: &ChildRun) -> Result<ChildResult> {
    // /proc/self/exe is this very binary even if the file has since been
    // replaced (a rebuild during a long diagnosis); its path may be gone.
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg("run").arg("--report").arg(&c.report_path).arg("--trace");
    let shared: Vec<&str> = [Factor::Net, Factor::Fs, Factor::Time]
        .iter()
        .filter(|f| !c.isolate.contains(**f))
        .map(|f| f.name())
        .collect();
    if !shared.is_empty() {
        cmd.arg("--share").arg(shared.join(","));
    }
    if let Some(t) = &c.time {
        cmd.arg("--time").arg(t);
    }
    if let Some([a, b]) = &c.state_dirs {
        cmd.arg("--state-dirs").arg(a).arg(b);
    }
    for (src, dest) in &c.collect {
        let _ = std::fs::remove_file(dest);
        cmd.arg("--collect").arg(src).arg(dest);
    }
    if let (true, Some(pg)) = (c.isolate.contains(Factor::Db), c.postgres) {
        cmd.arg("--postgres");
        if let Some(b) = &pg.bin {
            cmd.arg("--postgres-bin").arg(b);
        }
        if let Some(i) = &pg.init {
            cmd.arg("--postgres-init").arg(i);
        }
    }
    if let Some(t) = c.timeout {
        cmd.arg("--timeout").arg(t);
    }
    if let Some(tz) = &c.tz {
        cmd.env("TZ", tz);
    }
    cmd.arg("--").args(c.command);
    let log =
        std::fs::File::create(&c.log_path).with_context(|| format!("creating {}", c.log_path.display()))?;
    let log2 = log.try_clone().context("duplicating the log file")?;
    cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
    let _ = std::fs::remove_file(&c.report_path);
    let started_at = SystemTime::now();
    let start = Instant::now();
    let status = cmd.status().context("starting flakebox run")?;
    let wall = start.elapsed();
    let report = std::fs::read(&c.report_path).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let output_tail = tail(&c.log_path, 4096);
    let exit_code = status.code().unwrap_or(128);
    Ok(ChildResult { report, exit_code, wall, started_at, output_tail })
}

fn tail(path: &Path, max: usize) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let start = bytes.len().saturating_sub(max);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// Remove a tree that may hold overlayfs work directories (mode 000).
pub fn remove_tree(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if std::fs::remove_dir_all(path).is_ok() || !path.exists() {
        return;
    }
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.filter_map(Result::ok) {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    stack.push(e.path());
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(path);
}
