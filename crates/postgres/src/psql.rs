//! The few client calls we need, through the server's own `psql` over its unix
//! socket (present in every configuration, needs no port and no password).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{io_err, PgError};
use crate::proc::clean_command;
use crate::server::Server;
use crate::{DATABASE, USER};

/// Field and record separators for `psql -A`: control characters that cannot occur
/// in identifiers or counts, unlike `|` and newline.
const FS: char = '\u{1f}';
const RS: char = '\u{1e}';

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

/// Runs `script` through psql's stdin; stdout on success, stderr (or the status)
/// on failure.
fn run(server: &Server, db: &str, extra: &[&str], script: &str) -> Result<String, PgError> {
    let psql = server.psql_path()?;
    let mut cmd = command(psql, server.bindir(), server.socket_dir(), server.port(), db);
    cmd.args(extra)
        // A test may leave a prepared transaction or a stuck session holding a lock;
        // evidence collection must not hang on it.
        .env("PGOPTIONS", "-c lock_timeout=2000 -c statement_timeout=20000")
        .arg("-f")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(io_err(format!("spawn {}", psql.display())))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).map_err(io_err("write to psql"))?;
    }
    let out = child.wait_with_output().map_err(io_err("wait for psql"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        Err(PgError::Psql(if err.is_empty() { format!("psql exited with {}", out.status) } else { err }))
    }
}

/// Splits `psql -A -t` output made with our separators into rows of fields. Rows
/// of one result are separated by RS, results of separate statements by newlines.
fn rows(out: &str) -> Vec<Vec<&str>> {
    out.split([RS, '\n']).filter(|r| !r.is_empty()).map(|r| r.split(FS).collect()).collect()
}

/// One count per table, each run as its own statement by \gexec: one table
/// that cannot be read (lock timeout) does not hide the others, and psql is
/// not told to stop on errors. Partitioned tables count their partitions, so
/// partitions themselves are left out.
const COUNT_TABLES: &str = "select format('select %L, count(*) from %I.%I',
         translate(n.nspname || '.' || c.relname, E'\\n\\r', '  '), n.nspname, c.relname)
   from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'p') and not c.relispartition
    and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
    and n.nspname not like 'pg_temp_%' and n.nspname not like 'pg_toast_temp_%'
  order by 1 \\gexec\n";

pub(crate) fn tables_with_rows(server: &Server) -> Result<Vec<(String, u64)>, PgError> {
    let fs = FS.to_string();
    let rs = RS.to_string();
    let sep = ["-A", "-t", "-F", fs.as_str(), "-R", rs.as_str()];
    // One psql for the usual case: the other databases' names (one-column
    // rows) and the default database's counts (two-column rows) together.
    let first = format!(
        "select datname from pg_database where datallowconn and not datistemplate and datname <> '{DATABASE}' order by 1;\n{COUNT_TABLES}"
    );
    let out = run(server, DATABASE, &sep, &first)?;
    let mut result = Vec::new();
    let mut others = Vec::new();
    for r in rows(&out) {
        match r[..] {
            [db] => others.push(db.to_owned()),
            [name, count] => push_count(&mut result, None, name, count),
            _ => {}
        }
    }
    for db in &others {
        let out = match run(server, db, &sep, COUNT_TABLES) {
            Ok(out) => out,
            // A database dropped meanwhile, or one the superuser cannot enter.
            Err(_) => continue,
        };
        for r in rows(&out) {
            if let [name, count] = r[..] {
                push_count(&mut result, Some(db), name, count);
            }
        }
    }
    result.sort();
    Ok(result)
}

/// A table with rows, named `schema.table` in the default database and
/// `db.schema.table` in others.
fn push_count(result: &mut Vec<(String, u64)>, db: Option<&str>, name: &str, count: &str) {
    let Ok(count) = count.trim().parse::<u64>() else { return };
    if count > 0 {
        result.push((db.map_or_else(|| name.to_owned(), |db| format!("{db}.{name}")), count));
    }
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
