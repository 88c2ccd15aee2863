//! A running server's lifecycle: what it offers the test command, evidence,
//! and stopping it (orderly, immediate, or by killing it with its sandbox).

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::Duration;

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use crate::error::{io_err, PgError};
use crate::listen::Listen;
use crate::proc::wait_exited;

/// How long an immediate shutdown may take before SIGKILL.
pub(crate) const QUIT_GRACE: Duration = Duration::from_secs(5);

/// A running throwaway server. Dropping it kills it (immediate shutdown).
///
/// Made by [`crate::Server::start`] (see `start.rs`) through
/// [`crate::Starting`] (see `postmaster.rs`).
#[derive(Debug)]
pub struct Server {
    pub(crate) child: Option<Child>,
    pub(crate) pidfd: Option<OwnedFd>,
    pub(crate) data_dir: PathBuf,
    pub(crate) log: PathBuf,
    pub(crate) listen: Listen,
    /// `data_dir` is an overlay mount of ours, to unmount after the server exits.
    pub(crate) overlay: bool,
}

impl Server {
    /// Whether the data directory is an overlay on the template (else a copy).
    pub fn is_overlay(&self) -> bool {
        self.overlay
    }
    /// The postmaster's pid (in the caller's PID namespace).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The port in use (TCP, and the number in the unix socket's name).
    pub fn port(&self) -> u16 {
        self.listen.port()
    }

    /// The cluster directory (`scratch/data`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server log (`scratch/postgres.log`).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Where the server listens.
    pub fn listen(&self) -> &Listen {
        &self.listen
    }

    /// A libpq URL: over TCP when the server listens there, else over the socket.
    pub fn database_url(&self) -> String {
        crate::client_env::database_url(&self.listen)
    }

    /// The environment for the test command (libpq variables, `DATABASE_URL`,
    /// the Docker image's `POSTGRES_*`, `JDBC_DATABASE_URL`).
    pub fn env(&self) -> Vec<(String, String)> {
        crate::client_env::env(&self.listen)
    }

    /// User tables (in every connectable database) that hold rows now, with exact
    /// counts, sorted by name. Names are `schema.table` for the test's database
    /// ([`crate::DATABASE`]) and `db.schema.table` for any other database.
    pub fn tables_with_rows(&self) -> Result<Vec<(String, u64)>, PgError> {
        crate::evidence::tables_with_rows(&self.listen)
    }

    /// How many client sessions were opened on this server since it started,
    /// but the one this call opens (every database; counted by the server
    /// itself, so a program the shim cannot trace is counted too). Call it
    /// once, before any other evidence: the sessions of earlier calls and of
    /// [`Server::tables_with_rows`] are counted like the command's.
    pub fn client_sessions(&self) -> Result<u64, PgError> {
        crate::evidence::client_sessions(&self.listen)
    }

    /// Immediate shutdown: SIGQUIT to the postmaster (it quits its children and
    /// removes its socket, lock file and shared memory), SIGKILL to the whole process
    /// group if that takes longer than a few seconds. Returns once nothing is left.
    pub fn stop(mut self) -> Result<(), PgError> {
        self.shutdown(Signal::SIGQUIT, QUIT_GRACE).map(drop)
    }

    /// For a server inside a sandbox that is about to end: SIGKILL to its
    /// whole process group, and reap. Nothing is cleaned up, because nothing
    /// needs to be: the sandbox's IPC namespace takes the shared memory, and its
    /// mount namespace the data directory, socket and lock files. Saves the
    /// milliseconds of an orderly stop on every run.
    pub fn kill_in_sandbox(mut self) {
        let Some(mut child) = self.child.take() else { return };
        // Still our unreaped child, so the pid (= process group) is ours.
        let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
        let _ = child.wait();
        self.overlay = false;
    }

    /// Fast (clean) shutdown with a shutdown checkpoint, for the template build.
    pub(crate) fn stop_clean(mut self) -> Result<(), PgError> {
        self.shutdown(Signal::SIGINT, Duration::from_secs(120)).map(drop)
    }

    /// Signals, waits (SIGKILL after `grace`), reaps; the exit status if it ran.
    pub(crate) fn shutdown(&mut self, sig: Signal, grace: Duration) -> Result<Option<ExitStatus>, PgError> {
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        let pid = Pid::from_raw(child.id() as i32);
        // Still our unreaped child, so the pid cannot have been reused.
        let _ = kill(pid, sig);
        let mut killed = false;
        if !wait_exited(&child, self.pidfd.as_ref(), grace)? {
            let _ = killpg(pid, Signal::SIGKILL);
            killed = true;
            if !wait_exited(&child, self.pidfd.as_ref(), Duration::from_secs(10))? {
                return Err(PgError::StopTimeout { pid: child.id() });
            }
        }
        // The postmaster is a zombie now, so its pid (= process group id) is still
        // reserved: any straggling backend can be killed without hitting a stranger.
        let _ = killpg(pid, Signal::SIGKILL);
        let status = match child.wait() {
            Ok(st) => Some(st),
            // A PID 1 that reaps every child may have collected it first.
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => None,
            Err(e) => return Err(io_err(format!("wait for postgres pid {pid}"))(e)),
        };
        if killed {
            self.cleanup_after_kill();
        }
        if self.overlay {
            self.overlay = false;
            crate::overlay::unmount(&self.data_dir)?;
        }
        Ok(status)
    }

    /// After a SIGKILL the postmaster could not remove its SysV interlock segment,
    /// socket and lock files. Inside the sandbox the IPC namespace and tmpfs take
    /// them away anyway; elsewhere (tests, `--share`), do it here.
    fn cleanup_after_kill(&self) {
        let pidfile = self.data_dir.join("postmaster.pid");
        if let Ok(text) = fs::read_to_string(&pidfile) {
            if let Some(id) = shm_id(&text) {
                // SAFETY: IPC_RMID with a null buffer only marks the segment for removal;
                // the id comes from this server's own postmaster.pid.
                unsafe {
                    libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
                }
            }
            let _ = fs::remove_file(&pidfile);
        }
        let socket = self.listen.socket_path();
        let mut lock = socket.clone().into_os_string();
        lock.push(".lock");
        for p in [socket, PathBuf::from(lock)] {
            let _ = fs::remove_file(p);
        }
    }
}

/// The SysV shared memory id in a postmaster.pid text (line 7: "<key> <id>").
fn shm_id(pidfile: &str) -> Option<libc::c_int> {
    pidfile.lines().nth(6)?.split_whitespace().nth(1)?.parse().ok()
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.shutdown(Signal::SIGQUIT, QUIT_GRACE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shm_id_is_the_second_field_of_line_seven() {
        let text = "1234\n/d\n1700000000\n5432\n/s\n*\n  5432001     98310\nready   \n";
        assert_eq!(shm_id(text), Some(98310));
        assert_eq!(shm_id("1234\n/d\n"), None);
    }
}
