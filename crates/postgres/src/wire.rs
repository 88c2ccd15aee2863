//! A minimal PostgreSQL client for the evidence queries after each run: the
//! v3 protocol's simple-query flow over the server's unix socket, with trust
//! authentication (the only method the throwaway cluster has). Spawning psql
//! instead costs ~15 ms per run (its start-up and shared libraries); this
//! costs about one.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Protocol version 3.0.
const PROTOCOL: u32 = 196_608;
/// No reply we ask for comes near this; a larger length means a broken stream.
const MAX_MESSAGE: usize = 64 << 20;

pub(crate) struct Conn {
    stream: UnixStream,
}

/// One statement's result: its rows (each field as text, None for NULL), or
/// the server's error message.
pub(crate) type Reply = Result<Vec<Vec<Option<String>>>, String>;

impl Conn {
    /// Connect to `db` as `user`; `options` is the startup `options` string
    /// (e.g. `-c statement_timeout=20000`). Err: the reason, for a message.
    pub(crate) fn connect(
        socket_dir: &Path,
        port: u16,
        user: &str,
        db: &str,
        options: &str,
        timeout: Duration,
    ) -> Result<Conn, String> {
        let path = socket_dir.join(format!(".s.PGSQL.{port}"));
        let stream =
            UnixStream::connect(&path).map_err(|e| format!("connecting to {}: {e}", path.display()))?;
        stream.set_read_timeout(Some(timeout)).map_err(|e| format!("socket timeout: {e}"))?;
        stream.set_write_timeout(Some(timeout)).map_err(|e| format!("socket timeout: {e}"))?;
        let mut conn = Conn { stream };
        let mut body = PROTOCOL.to_be_bytes().to_vec();
        for (k, v) in [("user", user), ("database", db), ("options", options)] {
            for s in [k, v] {
                body.extend_from_slice(s.as_bytes());
                body.push(0);
            }
        }
        body.push(0);
        conn.send(None, &body)?;
        loop {
            let (tag, msg) = conn.receive()?;
            match tag {
                b'R' if msg.get(..4) == Some(&[0, 0, 0, 0]) => {} // AuthenticationOk
                b'R' => {
                    let method = msg.get(..4).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                    return Err(format!("the server asks for a password (authentication request {method})"));
                }
                b'E' => return Err(error_message(&msg)),
                b'Z' => return Ok(conn),
                _ => {} // parameter status, backend key, notices
            }
        }
    }

    /// Run one statement. The outer Err is a broken connection; the inner
    /// one the server's error for this statement (the connection stays usable).
    pub(crate) fn query(&mut self, sql: &str) -> Result<Reply, String> {
        let mut body = sql.as_bytes().to_vec();
        body.push(0);
        self.send(Some(b'Q'), &body)?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            let (tag, msg) = self.receive()?;
            match tag {
                b'D' => rows.push(data_row(&msg).ok_or("a malformed data row")?),
                b'E' => error = Some(error_message(&msg)),
                b'Z' => return Ok(error.map_or(Ok(rows), Err)),
                _ => {} // row description, command complete, notices
            }
        }
    }

    fn send(&mut self, tag: Option<u8>, body: &[u8]) -> Result<(), String> {
        let mut msg = Vec::with_capacity(body.len() + 5);
        msg.extend(tag);
        msg.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        msg.extend_from_slice(body);
        self.stream.write_all(&msg).map_err(|e| format!("writing to the server: {e}"))
    }

    fn receive(&mut self) -> Result<(u8, Vec<u8>), String> {
        let mut head = [0u8; 5];
        self.stream.read_exact(&mut head).map_err(|e| format!("reading from the server: {e}"))?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if !(4..=MAX_MESSAGE).contains(&len) {
            return Err(format!("a message of {len} bytes from the server"));
        }
        let mut body = vec![0u8; len - 4];
        self.stream.read_exact(&mut body).map_err(|e| format!("reading from the server: {e}"))?;
        Ok((head[0], body))
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let _ = self.send(Some(b'X'), &[]); // Terminate
    }
}

/// DataRow: a 16-bit field count, then each field as a 32-bit length (-1 for
/// NULL) and that many bytes.
fn data_row(msg: &[u8]) -> Option<Vec<Option<String>>> {
    let n = u16::from_be_bytes([*msg.first()?, *msg.get(1)?]) as usize;
    let mut at = 2;
    let mut fields = Vec::with_capacity(n);
    for _ in 0..n {
        let len = i32::from_be_bytes(msg.get(at..at + 4)?.try_into().ok()?);
        at += 4;
        if len < 0 {
            fields.push(None);
            continue;
        }
        let end = at.checked_add(len as usize)?;
        fields.push(Some(String::from_utf8_lossy(msg.get(at..end)?).into_owned()));
        at = end;
    }
    Some(fields)
}

/// ErrorResponse: (field type, NUL-terminated text) pairs; 'M' is the message.
fn error_message(msg: &[u8]) -> String {
    for field in msg.split(|&b| b == 0) {
        if let Some((&b'M', text)) = field.split_first() {
            return String::from_utf8_lossy(text).into_owned();
        }
        if field.is_empty() {
            break;
        }
    }
    "an error without a message".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_data_rows_and_errors() {
        let mut row = vec![0, 3];
        row.extend_from_slice(&2i32.to_be_bytes());
        row.extend_from_slice(b"ab");
        row.extend_from_slice(&(-1i32).to_be_bytes());
        row.extend_from_slice(&0i32.to_be_bytes());
        assert_eq!(data_row(&row), Some(vec![Some("ab".into()), None, Some(String::new())]));
        assert_eq!(data_row(&row[..7]), None, "truncated");
        let err = b"SERROR\0C42P01\0Mrelation \"t\" does not exist\0\0";
        assert_eq!(error_message(err), "relation \"t\" does not exist");
        assert_eq!(error_message(b"SERROR\0\0"), "an error without a message");
    }
}
