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

/// Run one child to completion.
pub fn run_child(c: &ChildRun) -> Result<ChildResult> {
    spawn_child(c, false)?.wait()
}

/// A started child `flakebox run`. A gated one builds its sandbox and starts
/// its services, then waits for [`Pending::release`]; dropping it (or
/// [`Pending::cancel`]) before then cancels the run, which leaves nothing
/// behind.
pub struct Pending {
    child: Option<std::process::Child>,
    /// Our end of the start gate, until released.
    gate: Option<std::fs::File>,
    /// Our end of the done signal, until it has spoken.
    done: Option<std::fs::File>,
    released: bool,
    started_at: SystemTime,
    start: Instant,
    report_path: PathBuf,
    log_path: PathBuf,
}

/// Start a child run; with `gated`, its command waits for the release.
pub fn spawn_child(c: &ChildRun, gated: bool) -> Result<Pending> {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    // /proc/self/exe is this very binary even if the file has since been
    // replaced (a rebuild during a long diagnosis); its path may be gone.
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg("run").arg("--report").arg(&c.report_path).arg("--trace");
    // Gated: a start gate (we write, it reads) and a done signal (it writes,
    // we read). Both pipes close-on-exec: only this child gets its ends, below.
    let pipes = if gated {
        let gate = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating the start gate")?;
        let done = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating the done signal")?;
        Some((gate, done))
    } else {
        None
    };
    if let Some(((gate_r, _), (_, done_w))) = &pipes {
        let fds = [gate_r.as_raw_fd(), done_w.as_raw_fd()];
        cmd.arg("--start-gate").arg(fds[0].to_string()).arg("--done-fd").arg(fds[1].to_string());
        // SAFETY: fcntl is async-signal-safe; in the child it clears
        // close-on-exec on the child's two ends only.
        unsafe {
            cmd.pre_exec(move || {
                for fd in fds {
                    if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }
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
    let child = cmd.spawn().context("starting flakebox run")?;
    // The child's ends close here, so EOF means the child is gone.
    let (gate, done) = match pipes {
        Some(((_, gate_w), (done_r, _))) => {
            (Some(std::fs::File::from(gate_w)), Some(std::fs::File::from(done_r)))
        }
        None => (None, None),
    };
    Ok(Pending {
        child: Some(child),
        gate,
        done,
        released: !gated,
        started_at: SystemTime::now(),
        start: Instant::now(),
        report_path: c.report_path.clone(),
        log_path: c.log_path.clone(),
    })
}

impl Pending {
    /// Let the command start (a no-op for an ungated or released child).
    /// A child that died meanwhile shows in [`Pending::wait`].
    pub fn release(&mut self) {
        if let Some(mut gate) = self.gate.take() {
            use std::io::Write;
            let _ = gate.write_all(b"g");
            self.started_at = SystemTime::now();
            self.start = Instant::now();
            self.released = true;
        }
    }

    /// Block until the command has exited and its leftovers are killed (the
    /// child still gathers evidence and dismantles its sandbox after that),
    /// or the child is gone. Returns at once for an ungated child.
    pub fn wait_command(&mut self) {
        if let Some(mut done) = self.done.take() {
            let mut byte = [0u8; 1];
            let _ = std::io::Read::read(&mut done, &mut byte);
        }
    }

    /// Release if need be, and wait for the child to finish.
    pub fn wait(mut self) -> Result<ChildResult> {
        self.release();
        let Some(mut child) = self.child.take() else {
            anyhow::bail!("the run was already cancelled");
        };
        let status = child.wait().context("waiting for flakebox run")?;
        let wall = self.start.elapsed();
        let report = std::fs::read(&self.report_path).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let output_tail = tail(&self.log_path, 4096);
        let exit_code = status.code().unwrap_or(128);
        Ok(ChildResult { report, exit_code, wall, started_at: self.started_at, output_tail })
    }

    /// Cancel an unreleased run (EOF on its gate), or stop a released one
    /// (SIGTERM, which it forwards to the command), and wait until it is gone.
    pub fn cancel(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.gate = None;
        if let Some(mut child) = self.child.take() {
            if self.released {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(child.id() as i32),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.stop();
    }
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
