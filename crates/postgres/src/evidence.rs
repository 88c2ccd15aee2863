//! Evidence after a run: the tables the command left rows in, in every
//! database of the throwaway cluster, over the wire client.

use std::time::Duration;

use crate::client_env::{DATABASE, USER};
use crate::error::PgError;
use crate::listen::Listen;
use crate::wire::Conn;

/// A test may leave a prepared transaction or a stuck session holding a
/// lock; evidence collection must not hang on it.
const OPTIONS: &str = "-c lock_timeout=2000 -c statement_timeout=20000";
const SOCKET_TIMEOUT: Duration = Duration::from_secs(30);

/// One count statement per table. Partitioned tables count their
/// partitions, so partitions themselves are left out.
const COUNT_STATEMENTS: &str = "select format('select %L, count(*) from %I.%I',
         translate(n.nspname || '.' || c.relname, E'\\n\\r', '  '), n.nspname, c.relname)
   from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'p') and not c.relispartition
    and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
    and n.nspname not like 'pg_temp_%' and n.nspname not like 'pg_toast_temp_%'
  order by 1";

/// Sessions opened by others since the server started: `pg_stat_database`
/// counts every session, this one included (a new backend reports its
/// connection before it first waits for a query); the counters start at zero
/// because every run's data directory starts without the template's saved
/// statistics ([`crate::start`]).
pub(crate) fn client_sessions(listen: &Listen) -> Result<u64, PgError> {
    let mut conn = Conn::connect(&listen.unix_dir, listen.port(), USER, DATABASE, OPTIONS, SOCKET_TIMEOUT)
        .map_err(PgError::Query)?;
    let rows = conn
        .query("select coalesce(sum(sessions), 0) from pg_stat_database")
        .map_err(PgError::Query)?
        .map_err(PgError::Query)?;
    let total = rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| PgError::Query("pg_stat_database gave no session count".into()))?;
    Ok(total.saturating_sub(1))
}

/// The tables with rows in every database of the server listening at `listen`.
pub(crate) fn tables_with_rows(listen: &Listen) -> Result<Vec<(String, u64)>, PgError> {
    let connect = |db: &str| {
        Conn::connect(&listen.unix_dir, listen.port(), USER, db, OPTIONS, SOCKET_TIMEOUT)
            .map_err(PgError::Query)
    };
    let mut conn = connect(DATABASE)?;
    let others = conn
        .query(&format!(
            "select datname from pg_database where datallowconn and not datistemplate and datname <> '{DATABASE}' order by 1"
        ))
        .map_err(PgError::Query)?
        .map_err(PgError::Query)?;
    let mut result = Vec::new();
    count_tables(&mut conn, None, &mut result)?;
    drop(conn);
    for db in others.into_iter().filter_map(|r| r.into_iter().next().flatten()) {
        // A database dropped meanwhile, or one the superuser cannot enter.
        let Ok(mut conn) = connect(&db) else { continue };
        count_tables(&mut conn, Some(&db), &mut result)?;
    }
    result.sort();
    Ok(result)
}

/// Each table counted by its own statement: one that cannot be read (a lock
/// timeout) does not hide the others.
fn count_tables(conn: &mut Conn, db: Option<&str>, result: &mut Vec<(String, u64)>) -> Result<(), PgError> {
    let statements = conn.query(COUNT_STATEMENTS).map_err(PgError::Query)?.map_err(PgError::Query)?;
    for sql in statements.into_iter().filter_map(|r| r.into_iter().next().flatten()) {
        let Ok(rows) = conn.query(&sql).map_err(PgError::Query)? else { continue };
        if let Some([Some(name), Some(count)]) = rows.first().map(Vec::as_slice) {
            push_count(result, db, name, count);
        }
    }
    Ok(())
}

/// A table with rows, named `schema.table` in the default database and
/// `db.schema.table` in others.
fn push_count(result: &mut Vec<(String, u64)>, db: Option<&str>, name: &str, count: &str) {
    let Ok(count) = count.trim().parse::<u64>() else { return };
    if count > 0 {
        result.push((db.map_or_else(|| name.to_owned(), |db| format!("{db}.{name}")), count));
    }
}
