//! The shim's trace file (`FLAKEBOX_TRACE`): connections, name lookups, execs and
//! warnings, used by diagnose as evidence.
//!
//! One event per line, fields separated by TAB:
//!
//! ```text
//! <pid>  connect  <target>  <result>   target: inet:1.2.3.4:80 | inet6:[::1]:80 |
//!                                              unix:/path | unix:@abstract | unix:
//!                                      result: ok | an errno name (ECONNREFUSED,
//!                                              EINPROGRESS for a non-blocking start)
//! <pid>  resolve  <name>    <result>   getaddrinfo/gethostbyname*; result: ok |
//!                                      EAI_NONAME, EAI_AGAIN, HOST_NOT_FOUND, ... | fail
//! <pid>  exec     <path>               an exec or posix_spawn the shim saw
//! <pid>  warn     <message>            e.g. a child whose clock cannot be faked
//! ```
//!
//! Fields escape `\` TAB LF CR as `\\` `\t` `\n` `\r` and other bytes outside
//! 0x20..=0x7e as `\xHH`, so the file is ASCII. Unknown or truncated lines are
//! skipped and extra trailing fields ignored, so newer shims can add to the format.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Where a `connect` went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectTarget {
    Inet(SocketAddr),
    /// A filesystem path; abstract sockets start with `@`; empty when unnamed.
    Unix(String),
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Ok,
    /// The errno, EAI_* or h_errno name the shim wrote.
    Err(String),
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TraceEvent {
    Connect { pid: u32, target: ConnectTarget, outcome: Outcome },
    Resolve { pid: u32, name: String, outcome: Outcome },
    Exec { pid: u32, path: String },
    Warn { pid: u32, message: String },
}

impl TraceEvent {
    pub fn pid(&self) -> u32 {
        match self {
            TraceEvent::Connect { pid, .. }
            | TraceEvent::Resolve { pid, .. }
            | TraceEvent::Exec { pid, .. }
            | TraceEvent::Warn { pid, .. } => *pid,
        }
    }
}

/// Parses a whole trace file; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<TraceEvent> {
    text.lines().filter_map(parse_line).collect()
}

/// Parses one line (without its LF).
pub fn parse_line(line: &str) -> Option<TraceEvent> {
    let mut f = line.split('\t');
    let pid: u32 = f.next()?.parse().ok()?;
    let kind = f.next()?;
    let a = unescape(f.next()?)?;
    let b = f.next().map(unescape);
    let outcome = |b: Option<Option<String>>| -> Option<Outcome> {
        match b?? {
            s if s == "ok" => Some(Outcome::Ok),
            s if s.is_empty() => None,
            s => Some(Outcome::Err(s)),
        }
    };
    let ev = match kind {
        "connect" => TraceEvent::Connect { pid, target: parse_target(&a)?, outcome: outcome(b)? },
        "resolve" => TraceEvent::Resolve { pid, name: a, outcome: outcome(b)? },
        "exec" => TraceEvent::Exec { pid, path: a },
        "warn" => TraceEvent::Warn { pid, message: a },
        _ => return None,
    };
    Some(ev)
}

fn parse_target(t: &str) -> Option<ConnectTarget> {
    if let Some(p) = t.strip_prefix("unix:") {
        return Some(ConnectTarget::Unix(p.to_string()));
    }
    let addr = t.strip_prefix("inet:").or_else(|| t.strip_prefix("inet6:"))?;
    addr.parse().ok().map(ConnectTarget::Inet)
}

/// Undoes the shim's escaping; invalid UTF-8 is replaced (U+FFFD).
fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b.get(i + 1)? {
            b'\\' => out.push(b'\\'),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'x' => {
                let hex = s.get(i + 2..i + 4)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            _ => return None,
        }
        i += 2;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_event() {
        let text = "12\tconnect\tinet:127.0.0.1:5432\tok\n\
                    12\tconnect\tinet6:[::1]:80\tECONNREFUSED\n\
                    13\tconnect\tunix:/run/postgresql/.s.PGSQL.5432\tENOENT\n\
                    13\tconnect\tunix:@/tmp/.X11-unix/X0\tok\n\
                    14\tresolve\texample.com\tEAI_NONAME\n\
                    14\tresolve\tlocalhost\tok\n\
                    15\texec\t/usr/bin/with\\ttab\\\\and\\x0anl\\xc3\\xa9\n\
                    15\twarn\t/bin/static: statically linked; its clock is NOT frozen\n";
        let ev = parse(text);
        assert_eq!(
            ev,
            vec![
                TraceEvent::Connect {
                    pid: 12,
                    target: ConnectTarget::Inet("127.0.0.1:5432".parse().expect("address")),
                    outcome: Outcome::Ok
                },
                TraceEvent::Connect {
                    pid: 12,
                    target: ConnectTarget::Inet("[::1]:80".parse().expect("address")),
                    outcome: Outcome::Err("ECONNREFUSED".into())
                },
                TraceEvent::Connect {
                    pid: 13,
                    target: ConnectTarget::Unix("/run/postgresql/.s.PGSQL.5432".into()),
                    outcome: Outcome::Err("ENOENT".into())
                },
                TraceEvent::Connect {
                    pid: 13,
                    target: ConnectTarget::Unix("@/tmp/.X11-unix/X0".into()),
                    outcome: Outcome::Ok
                },
                TraceEvent::Resolve {
                    pid: 14,
                    name: "example.com".into(),
                    outcome: Outcome::Err("EAI_NONAME".into())
                },
                TraceEvent::Resolve { pid: 14, name: "localhost".into(), outcome: Outcome::Ok },
                TraceEvent::Exec { pid: 15, path: "/usr/bin/with\ttab\\and\nnl\u{e9}".into() },
                TraceEvent::Warn {
                    pid: 15,
                    message: "/bin/static: statically linked; its clock is NOT frozen".into()
                },
            ]
        );
        assert_eq!(ev[0].pid(), 12);
    }

    #[test]
    fn skips_malformed_lines() {
        for line in [
            "",
            "x\texec\t/bin/sh",
            "1\tfrobnicate\tx",
            "1\tconnect\tinet:nonsense\tok",
            "1\tconnect\tinet:1.2.3.4:80",
            "1\texec\tbad\\q",
            "1\texec\tbad\\x4",
            "1\tresolve\thost\t",
        ] {
            assert_eq!(parse_line(line), None, "{line:?}");
        }
        // Extra trailing fields (a newer shim) are ignored.
        assert_eq!(
            parse_line("1\texec\t/bin/sh\textra"),
            Some(TraceEvent::Exec { pid: 1, path: "/bin/sh".into() })
        );
        // A truncated last line (writer killed) does not hide earlier ones.
        assert_eq!(parse("1\texec\t/bin/sh\n2\tconn").len(), 1);
    }
}
