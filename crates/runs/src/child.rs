//! One sandboxed run as a child `flakebox run` process, for `diagnose` and
//! `timetravel`. A child process rather than an in-process sandbox: the
//! sandbox must be cloned from a single-threaded process, and these commands
//! draw progress bars and may run probes in parallel.

use crate::error::{io, RunsError};
use crate::report::RunReport;
use crate::request::{RunRequest, REQUEST_FD_FLAG};
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// The files of one child run that are its alone (runs overlap): where it
/// writes its report, its output, and why flakebox itself failed.
#[derive(Debug, Clone)]
pub struct ChildFiles {
    pub report: PathBuf,
    pub log: PathBuf,
    pub error: PathBuf,
}

/// A finished child run.
#[derive(Debug)]
pub struct ChildResult {
    /// The child's report, absent when flakebox itself failed.
    pub report: Option<RunReport>,
    pub exit_code: i32,
    /// From the release to the child's exit.
    pub wall: Duration,
    /// Host wall clock at the release.
    pub started_at: SystemTime,
    /// The tail of the command's output (stdout and stderr together).
    pub output_tail: String,
    /// Why flakebox itself failed, as the child said it.
    pub error: Option<String>,
}

impl ChildResult {
    /// flakebox itself failed (not the command): exit 125 and no report.
    pub fn flakebox_error(&self) -> Option<String> {
        self.report.is_none().then(|| match &self.error {
            Some(e) => e.clone(),
            None => {
                format!(
                    "flakebox run exited {} without a report: {}",
                    self.exit_code,
                    self.output_tail.trim()
                )
            }
        })
    }
}

/// A started child `flakebox run`. A gated one builds its sandbox and starts
/// its services, then waits for [`Child::release`]; dropping it (or
/// [`Child::cancel`]) before then cancels the run, which leaves nothing
/// behind.
pub struct Child {
    child: Option<std::process::Child>,
    /// Our end of the start gate, until released.
    gate: Option<std::fs::File>,
    /// Our end of the done signal, until it has spoken.
    done: Option<std::fs::File>,
    released: bool,
    started_at: SystemTime,
    start: Instant,
    files: ChildFiles,
}

/// Run one child to completion.
pub fn run(req: &RunRequest, files: &ChildFiles) -> Result<ChildResult, RunsError> {
    spawn(req, files, false)?.wait()
}

fn cloexec_pipe(what: &str) -> Result<(OwnedFd, OwnedFd), RunsError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| RunsError::Io { context: format!("creating {what}"), source: std::io::Error::from(e) })
}

/// Start a child run of `req` (its report and gate are set here); with
/// `gated`, its command waits for the release.
pub fn spawn(req: &RunRequest, files: &ChildFiles, gated: bool) -> Result<Child, RunsError> {
    use std::os::unix::process::CommandExt;
    let mut req = req.clone();
    req.report = Some(files.report.clone());
    req.error_file = Some(files.error.clone());
    req.trace = true;
    req.want_service_evidence = true;
    // The request travels on a pipe; a gated child also gets a start gate (we
    // write, it reads) and a done signal (it writes, we read). All close-on-
    // exec: only this child gets its ends, below.
    let (req_r, req_w) = cloexec_pipe("the run request pipe")?;
    let gate_pipes =
        if gated { Some((cloexec_pipe("the start gate")?, cloexec_pipe("the done signal")?)) } else { None };
    let mut fds = vec![req_r.as_raw_fd()];
    if let Some(((gate_r, _), (_, done_w))) = &gate_pipes {
        (req.start_gate, req.done_fd) = (Some(gate_r.as_raw_fd()), Some(done_w.as_raw_fd()));
        fds.extend([gate_r.as_raw_fd(), done_w.as_raw_fd()]);
    }
    for (_, dest) in &req.collect {
        let _ = std::fs::remove_file(dest);
    }
    // /proc/self/exe is this very binary even if the file has since been
    // replaced (a rebuild during a long diagnosis); its path may be gone.
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg("run").arg(REQUEST_FD_FLAG).arg(req_r.as_raw_fd().to_string());
    // SAFETY: fcntl is async-signal-safe; in the child it clears
    // close-on-exec on the child's own ends only.
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &fds {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let log = std::fs::File::create(&files.log).map_err(io(format!("creating {}", files.log.display())))?;
    let log2 = log.try_clone().map_err(io("duplicating the log file"))?;
    cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
    let _ = std::fs::remove_file(&files.report);
    let _ = std::fs::remove_file(&files.error);
    let child = cmd.spawn().map_err(io("starting flakebox run"))?;
    // The child's ends close here, so EOF means the child is gone.
    drop(req_r);
    // A child that died before reading shows at wait (no report).
    let _ = std::fs::File::from(req_w).write_all(&req.to_json());
    let (gate, done) = match gate_pipes {
        Some(((_, gate_w), (done_r, _))) => {
            (Some(std::fs::File::from(gate_w)), Some(std::fs::File::from(done_r)))
        }
        None => (None, None),
    };
    Ok(Child {
        child: Some(child),
        gate,
        done,
        released: !gated,
        started_at: SystemTime::now(),
        start: Instant::now(),
        files: files.clone(),
    })
}

impl Child {
    /// Let the command start (a no-op for an ungated or released child).
    /// A child that died meanwhile shows in [`Child::wait`].
    pub fn release(&mut self) {
        if let Some(mut gate) = self.gate.take() {
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
    pub fn wait(mut self) -> Result<ChildResult, RunsError> {
        self.release();
        let Some(mut child) = self.child.take() else {
            return Err(RunsError::Invalid("the run was already cancelled".into()));
        };
        let status = child.wait().map_err(io("waiting for flakebox run"))?;
        let wall = self.start.elapsed();
        let report = RunReport::read(&self.files.report).ok();
        let output_tail = tail(&self.files.log, 4096);
        let error = std::fs::read_to_string(&self.files.error).ok().filter(|e| !e.is_empty());
        let exit_code = status.code().unwrap_or(128);
        Ok(ChildResult { report, exit_code, wall, started_at: self.started_at, output_tail, error })
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

impl Drop for Child {
    fn drop(&mut self) {
        self.stop();
    }
}

fn tail(path: &Path, max: usize) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let start = bytes.len().saturating_sub(max);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flakebox_errors_come_from_the_error_file_else_the_output() {
        let mut r = ChildResult {
            report: None,
            exit_code: 125,
            wall: Duration::ZERO,
            started_at: SystemTime::UNIX_EPOCH,
            output_tail: "some output\n".into(),
            error: Some("flakebox: preparing the sandbox: no".into()),
        };
        assert_eq!(r.flakebox_error().as_deref(), Some("flakebox: preparing the sandbox: no"));
        r.error = None;
        assert_eq!(
            r.flakebox_error().as_deref(),
            Some("flakebox run exited 125 without a report: some output")
        );
    }
}
