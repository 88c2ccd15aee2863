//! Launching the postmaster on a data directory, and knowing when it is ready:
//! `postmaster.pid` rewritten with the status `ready`, watched with inotify.

use std::fs::{self, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::Signal;

use crate::binaries::Binaries;
use crate::error::{io_err, nix_err, PgError};
use crate::listen::Listen;
use crate::proc::{clean_command, configure_server_child, log_stdio, log_tail, pidfd_open, wait_exited};
use crate::run_as::make_traversable;
use crate::server::{Server, QUIT_GRACE};

/// How long a server may take to become ready before we give up. Generous: a
/// loaded CI machine can be slow, and early exits are detected at once anyway.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A server that has been spawned but may not be ready yet. Lets the sandbox do
/// other setup while postgres starts; [`Starting::wait_ready`] finishes the job.
/// Dropping it kills the server.
#[derive(Debug)]
pub struct Starting {
    pub(crate) server: Server,
    inotify: Inotify,
}

/// Starts postgres on an existing cluster directory. Shared by
/// [`crate::Server::spawn`] and the template build (which seeds the cluster in
/// place).
pub(crate) fn launch(
    bins: &Binaries,
    data_dir: &Path,
    log_path: &Path,
    listen: &Listen,
    run_as: Option<(u32, u32)>,
    // A template build's: the reaper waits for the server too.
    reaper: Option<&hostfs::Reaper>,
) -> Result<Starting, PgError> {
    // sun_path holds 107 bytes plus NUL; postgres would fail later with a vaguer
    // message.
    let sock = listen.socket_path();
    if sock.as_os_str().len() > 107 {
        return Err(PgError::BadPath {
            path: sock,
            reason: "unix socket path longer than 107 bytes; use a shorter socket directory".into(),
        });
    }
    if !listen.unix_dir.is_dir() {
        fs::create_dir_all(&listen.unix_dir)
            .map_err(io_err(format!("mkdir {}", listen.unix_dir.display())))?;
    }
    if let Some((uid, gid)) = run_as {
        std::os::unix::fs::chown(&listen.unix_dir, Some(uid), Some(gid))
            .map_err(io_err(format!("chown {}", listen.unix_dir.display())))?;
        make_traversable(&listen.unix_dir, uid, gid)?;
    }

    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .open(log_path)
        .map_err(io_err(format!("create {}", log_path.display())))?;

    // Watch before spawning, so the "ready" rewrite cannot slip between spawn and
    // watch.
    let inotify =
        Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).map_err(nix_err("inotify_init"))?;
    inotify
        .add_watch(
            data_dir,
            AddWatchFlags::IN_CLOSE_WRITE
                | AddWatchFlags::IN_MODIFY
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_CREATE,
        )
        .map_err(nix_err(format!("inotify watch {}", data_dir.display())))?;

    let mut cmd = clean_command(&bins.postgres(), &bins.bindir);
    cmd.arg("-D").arg(data_dir).args(listen.server_args());
    let (out, err) = log_stdio(&log).map_err(io_err("dup log fd"))?;
    cmd.stdout(out).stderr(err);
    configure_server_child(&mut cmd, run_as);
    if let Some(r) = reaper {
        r.hold_in(&mut cmd);
    }
    let child = cmd.spawn().map_err(io_err(format!("spawn {}", bins.postgres().display())))?;
    let pidfd = pidfd_open(child.id());
    Ok(Starting {
        server: Server {
            child: Some(child),
            pidfd,
            data_dir: data_dir.to_path_buf(),
            log: log_path.to_path_buf(),
            listen: listen.clone(),
            overlay: false,
        },
        inotify,
    })
}

impl Starting {
    /// Waits until postmaster.pid says `ready` (inotify, no polling), or fails with
    /// the log tail as soon as the postmaster exits.
    pub fn wait_ready(self) -> Result<Server, PgError> {
        self.wait_ready_timeout(START_TIMEOUT)
    }

    /// [`Starting::wait_ready`] with a custom bound.
    pub fn wait_ready_timeout(self, timeout: Duration) -> Result<Server, PgError> {
        let deadline = Instant::now() + timeout;
        let pidfile = self.server.data_dir.join("postmaster.pid");
        loop {
            if pidfile_ready(&pidfile) {
                return Ok(self.server);
            }
            // Checked without reaping: `fail` reaps, and until then the pid (also
            // the process group id) cannot be reused.
            let exited = match self.server.child.as_ref() {
                Some(c) => wait_exited(c, None, Duration::ZERO)?,
                None => true,
            };
            if exited {
                return Err(self.fail("postgres exited".into(), true));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.fail(format!("not ready after {timeout:?}"), false));
            }
            // inotify and the pidfd wake us at once. The cap is a backstop for
            // filesystems that might not report the pidfile rewrite, and for kernels
            // without pidfds (< 5.3), where an early exit is then noticed within 5 ms.
            let cap = if self.server.pidfd.is_some() { 20 } else { 5 };
            let ms = PollTimeout::try_from(left.as_millis().min(cap) as i32 + 1).unwrap_or(PollTimeout::MAX);
            let mut fds = vec![PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN)];
            if let Some(fd) = &self.server.pidfd {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, ms) {
                Ok(_) | Err(nix::Error::EINTR) => {}
                Err(e) => return Err(nix_err("poll")(e)),
            }
            // Drain the (non-blocking) inotify queue; the file itself is re-read above.
            let _ = self.inotify.read_events();
        }
    }

    /// The server, whether ready or not (e.g. to read its pid or log path).
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// `exited`: it exited by itself, so its exit status belongs in the reason.
    fn fail(mut self, reason: String, exited: bool) -> PgError {
        let log = self.server.log.clone();
        // Make sure it is gone before reading its last words.
        let reason = match self.server.shutdown(Signal::SIGQUIT, QUIT_GRACE) {
            Ok(Some(status)) if exited => format!("{reason} ({status})"),
            _ => reason,
        };
        PgError::Start { reason, tail: log_tail(&log, 3000), log }
    }
}

/// Line 8 of postmaster.pid is the postmaster's status, `ready` once it accepts
/// connections (PostgreSQL 10+; pg_ctl -w reads the same line).
fn pidfile_ready(pidfile: &Path) -> bool {
    match fs::read_to_string(pidfile) {
        Ok(text) => is_ready(&text),
        Err(_) => false,
    }
}

fn is_ready(pidfile: &str) -> bool {
    pidfile.lines().nth(7).map(str::trim) == Some("ready")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_is_line_eight() {
        let head = "1234\n/d\n1700000000\n5432\n/s\n*\n  5432001     98310\n";
        assert!(is_ready(&format!("{head}ready   \n")));
        assert!(!is_ready(&format!("{head}starting\n")));
        assert!(!is_ready(head));
    }
}
