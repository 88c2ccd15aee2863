//! Init files, through the server's own `psql` over its unix socket (present
//! in every configuration, needs no port and no password; \i, \copy and the
//! rest of psql's script language work as in the user's own migrations).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::client_env::{DATABASE, USER};
use crate::proc::clean_command;

/// A psql command connected to `db` on the server's socket, quiet, unaligned,
/// tuples only, no psqlrc.
pub(crate) fn command(psql: &Path, bindir: &Path, socket_dir: &Path, port: u16, db: &str) -> Command {
    let mut cmd = clean_command(psql, bindir);
    cmd.arg("-X")
        .arg("-q")
        .arg("-h")
        .arg(socket_dir)
        .arg("-p")
        .arg(port.to_string())
        .arg("-U")
        .arg(USER)
        .arg("-d")
        .arg(db);
    cmd
}

/// Runs one init file with `ON_ERROR_STOP`; the error is psql's stderr, which
/// names the file and line and carries the server's message.
pub(crate) fn run_init_file(
    psql: &Path,
    bindir: &Path,
    socket_dir: &Path,
    port: u16,
    file: &Path,
) -> Result<(), String> {
    let mut cmd = command(psql, bindir, socket_dir, port, DATABASE);
    cmd.arg("-v").arg("ON_ERROR_STOP=1").arg("-f").arg(file);
    // Relative \i and \copy paths in a migration are relative to its directory.
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        cmd.current_dir(dir);
    }
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let out = cmd.output().map_err(|e| format!("cannot run {}: {e}", psql.display()))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    Err(if err.is_empty() { format!("psql exited with {}", out.status) } else { err })
}
