//! Spawning postgres-side programs under another uid, and waiting for a child with
//! a pidfd.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;

use crate::error::{nix_err, PgError};

/// A `Command` with a clean environment: the sandbox's PID 1 may carry flakebox's
/// clock shim (`LD_PRELOAD`) or the user's `PG*` variables, neither of which belongs
/// in the server or in our own psql calls.
pub(crate) fn clean_command(program: &Path, bindir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear();
    let mut path = bindir.as_os_str().to_owned();
    path.push(":/usr/local/bin:/usr/bin:/bin");
    cmd.env("PATH", path);
    // Messages in English regardless of the host locale: we show them to users and
    // grep nothing out of them, but a mixed-language log tail is confusing.
    cmd.env("LC_ALL", "C");
    cmd.stdin(Stdio::null());
    // The server's own choice (SIGQUIT, configure_server_child) comes later
    // and replaces this one.
    die_with_parent(&mut cmd, libc::SIGKILL);
    cmd
}

/// Makes `cmd` run as `run_as` (std clears supplementary groups when the parent is
/// root) and in its own process group, so the terminal's Ctrl-C reaches the test
/// command but not the server, and the whole server tree can be killed at once.
/// The child also gets SIGQUIT (postgres' immediate shutdown) if the thread that
/// spawned it dies: a backstop for use outside a PID namespace (tests, or a crash).
pub(crate) fn configure_server_child(cmd: &mut Command, run_as: Option<(u32, u32)>) {
    if let Some((uid, gid)) = run_as {
        cmd.uid(uid).gid(gid);
    }
    cmd.process_group(0);
    die_with_parent(cmd, libc::SIGQUIT);
}

/// `cmd`'s process gets `signal` when the thread that spawned it dies
/// (flakebox killed): a helper must not outlive the flakebox it serves, nor
/// go on writing into a directory flakebox's reaper is removing.
pub(crate) fn die_with_parent(cmd: &mut Command, signal: libc::c_int) {
    // SAFETY: getpid is async-signal-safe and called in the parent.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe syscalls (prctl, getppid), allocating nothing. It runs after
    // std's setuid, which is required because a credential change clears the
    // parent-death signal.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Opens a pidfd for `pid`, `None` on kernels before 5.3.
pub(crate) fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no
    // memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the syscall returned a fresh fd that nothing else owns.
    Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The last `max` bytes of a log file, from a line start, for error messages.
pub(crate) fn log_tail(path: &Path, max: usize) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return format!("(log {} unreadable)", path.display());
    };
    let start = bytes.len().saturating_sub(max);
    let mut s = &bytes[start..];
    if start > 0 {
        if let Some(nl) = s.iter().position(|b| *b == b'\n') {
            s = &s[nl + 1..];
        }
    }
    let text = String::from_utf8_lossy(s).trim_end().to_owned();
    if text.is_empty() {
        "(empty)".into()
    } else {
        text
    }
}

/// A log file both stdout and stderr of a child can write to.
pub(crate) fn log_stdio(log: &File) -> io::Result<(Stdio, Stdio)> {
    Ok((Stdio::from(log.try_clone()?), Stdio::from(log.try_clone()?)))
}

/// Waits (without reaping) until `child` has exited. `Ok(false)` on timeout.
pub(crate) fn wait_exited(
    child: &Child,
    pidfd: Option<&OwnedFd>,
    timeout: Duration,
) -> Result<bool, PgError> {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    let pid = Pid::from_raw(child.id() as i32);
    let deadline = Instant::now() + timeout;
    loop {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT | WaitPidFlag::WNOHANG;
        match waitid(Id::Pid(pid), flags) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(_) => return Ok(true),
            Err(nix::Error::EINTR) => continue,
            // Already reaped.
            Err(nix::Error::ECHILD) => return Ok(true),
            Err(e) => return Err(nix_err(format!("waitid {pid}"))(e)),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        match pidfd {
            Some(fd) => {
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32 + 1)
                    .unwrap_or(PollTimeout::MAX);
                match poll(&mut fds, ms) {
                    Ok(_) | Err(nix::Error::EINTR) => {}
                    Err(e) => return Err(nix_err("poll pidfd")(e)),
                }
            }
            None => std::thread::sleep(left.min(Duration::from_millis(2))),
        }
    }
}
