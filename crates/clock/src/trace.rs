//! The shim's trace file (`FLAKEBOX_TRACE`): connections, name lookups, execs and
//! warnings, used by diagnose as evidence.
//!
//! One event per line, fields separated by TAB:
//!
//! ```text
//! <pid>  connect  <target>  <result>   target: inet:1.2.3.4:80 | inet6:[::1]:80 |
//!                                              unix:/path | unix:@abstract | unix:
//!                                      result: ok | an errno name (ECONNREFUSED) |
//!                                              pending (a non-blocking start)
//! <pid>  connect-result <target> <result>   how a pending connect ended, traced
//!                                      when the program asked (SO_ERROR, connect again)
//! <pid>  resolve  <name>    <result>   getaddrinfo/gethostbyname*; result: ok |
//!                                      EAI_NONAME, EAI_AGAIN, HOST_NOT_FOUND, ... | fail
//! <pid>  exec     <path>               an exec or posix_spawn the shim saw
//! <pid>  warn     <message>            e.g. a child whose clock cannot be faked
//! <pid>  clock-set <call>   <result>   settimeofday, clock_settime, adjtimex,
//!                                      ntp_adjtime, clock_adjtime or adjtime asked
//!                                      to change the clock; result: ok | errno name
//! <pid>  open     <path> <result> <r|w|t> a file the command opened (absolute path);
//!                                      result: ok | EEXIST | EACCES | EISDIR (it was
//!                                      there); r read only, t truncated, w any other write
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

/// How a connect's outcome was learned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Completion {
    /// `connect` itself returned it.
    #[default]
    Immediate,
    /// A non-blocking connect (EINPROGRESS): the outcome is what the socket
    /// reported later, when the program asked (`SO_ERROR`, connecting again).
    Deferred,
    /// A non-blocking connect the kernel accepted and was carrying out, whose end
    /// the program never asked about while the shim watched. Its outcome is
    /// [`Outcome::Ok`]: nothing failed that anyone saw.
    Pending,
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

/// A call that asks to change the system clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockSetCall {
    Settimeofday,
    ClockSettime,
    Adjtimex,
    NtpAdjtime,
    ClockAdjtime,
    Adjtime,
}

impl ClockSetCall {
    pub const ALL: [ClockSetCall; 6] = [
        ClockSetCall::Settimeofday,
        ClockSetCall::ClockSettime,
        ClockSetCall::Adjtimex,
        ClockSetCall::NtpAdjtime,
        ClockSetCall::ClockAdjtime,
        ClockSetCall::Adjtime,
    ];

    /// The C function's name, as the shim writes it.
    pub fn name(self) -> &'static str {
        match self {
            ClockSetCall::Settimeofday => "settimeofday",
            ClockSetCall::ClockSettime => "clock_settime",
            ClockSetCall::Adjtimex => "adjtimex",
            ClockSetCall::NtpAdjtime => "ntp_adjtime",
            ClockSetCall::ClockAdjtime => "clock_adjtime",
            ClockSetCall::Adjtime => "adjtime",
        }
    }
}

impl std::fmt::Display for ClockSetCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a file was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Access {
    /// For reading only.
    Read,
    /// For writing, truncated: what was there is gone.
    Truncate,
    /// Any other write (appending, updating in place, creating exclusively),
    /// or a write that failed on a file that was there.
    Write,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TraceEvent {
    Connect {
        pid: u32,
        target: ConnectTarget,
        outcome: Outcome,
        #[serde(default)]
        completion: Completion,
    },
    Resolve {
        pid: u32,
        name: String,
        outcome: Outcome,
    },
    Exec {
        pid: u32,
        path: String,
    },
    Warn {
        pid: u32,
        message: String,
    },
    /// An attempt to change the system clock, and how the kernel answered
    /// (in the sandbox: EPERM, CAP_SYS_TIME being dropped).
    ClockSet {
        pid: u32,
        call: ClockSetCall,
        outcome: Outcome,
    },
    /// A file the command opened, or found there when opening it failed
    /// (`O_EXCL` on an existing file, permission denied).
    Open {
        pid: u32,
        path: String,
        outcome: Outcome,
        access: Access,
    },
}

impl TraceEvent {
    pub fn pid(&self) -> u32 {
        match self {
            TraceEvent::Connect { pid, .. }
            | TraceEvent::Resolve { pid, .. }
            | TraceEvent::Exec { pid, .. }
            | TraceEvent::Warn { pid, .. }
            | TraceEvent::ClockSet { pid, .. } => *pid,
            TraceEvent::Open { pid, .. } => *pid,
        }
    }
}

/// Parses a whole trace file; malformed lines are skipped. The end of a
/// non-blocking connect (`connect-result`) is folded into the event of its start
/// (the earliest unresolved one of that process to that target), so each connect
/// is one event.
pub fn parse(text: &str) -> Vec<TraceEvent> {
    let mut events: Vec<TraceEvent> = Vec::new();
    // (pid, target) -> indices of pending starts, oldest first.
    let mut pending: Vec<((u32, ConnectTarget), usize)> = Vec::new();
    for ev in text.lines().filter_map(parse_line) {
        match ev {
            TraceEvent::Connect { pid, target, completion: Completion::Pending, outcome } => {
                pending.push(((pid, target.clone()), events.len()));
                events.push(TraceEvent::Connect { pid, target, outcome, completion: Completion::Pending });
            }
            TraceEvent::Connect { pid, target, outcome, completion: Completion::Deferred } => {
                let key = (pid, target);
                match pending.iter().position(|(k, _)| *k == key) {
                    Some(i) => {
                        let (_, at) = pending.remove(i);
                        if let Some(TraceEvent::Connect { outcome: o, completion: c, .. }) =
                            events.get_mut(at)
                        {
                            *o = outcome;
                            *c = Completion::Deferred;
                        }
                    }
                    // Its start was traced by another process (a fork) or lost.
                    None => events.push(TraceEvent::Connect {
                        pid: key.0,
                        target: key.1,
                        outcome,
                        completion: Completion::Deferred,
                    }),
                }
            }
            ev => events.push(ev),
        }
    }
    events
}

/// Parses one line (without its LF).
pub fn parse_line(line: &str) -> Option<TraceEvent> {
    let mut f = line.split('\t');
    let pid: u32 = f.next()?.parse().ok()?;
    let kind = f.next()?;
    let a = unescape(f.next()?)?;
    let b = f.next().map(unescape);
    let c = f.next();
    let outcome = |b: Option<Option<String>>| -> Option<Outcome> {
        match b?? {
            s if s == "ok" => Some(Outcome::Ok),
            s if s.is_empty() => None,
            s => Some(Outcome::Err(s)),
        }
    };
    let ev = match kind {
        "connect" => {
            let target = parse_target(&a)?;
            let (outcome, completion) = match outcome(b)? {
                // pending, or the errno an older shim wrote for it: under way.
                Outcome::Err(e) if matches!(e.as_str(), "pending" | "EINPROGRESS" | "EALREADY") => {
                    (Outcome::Ok, Completion::Pending)
                }
                // Connected already: a program asking again after a non-blocking start.
                Outcome::Err(e) if e == "EISCONN" => (Outcome::Ok, Completion::Immediate),
                o => (o, Completion::Immediate),
            };
            TraceEvent::Connect { pid, target, outcome, completion }
        }
        "connect-result" => {
            let outcome = match outcome(b)? {
                Outcome::Err(e) if e == "EISCONN" => Outcome::Ok,
                o => o,
            };
            TraceEvent::Connect { pid, target: parse_target(&a)?, outcome, completion: Completion::Deferred }
        }
        "resolve" => TraceEvent::Resolve { pid, name: a, outcome: outcome(b)? },
        "exec" => TraceEvent::Exec { pid, path: a },
        "warn" => TraceEvent::Warn { pid, message: a },
        "clock-set" => TraceEvent::ClockSet {
            pid,
            call: ClockSetCall::ALL.into_iter().find(|c| c.name() == a)?,
            outcome: outcome(b)?,
        },
        "open" => {
            let access = match c? {
                "r" => Access::Read,
                "t" => Access::Truncate,
                "w" => Access::Write,
                _ => return None,
            };
            TraceEvent::Open { pid, path: a, outcome: outcome(b)?, access }
        }
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
                    15\twarn\t/bin/static: statically linked; its clock is NOT frozen\n\
                    16\tclock-set\tclock_settime\tEPERM\n\
                    16\tclock-set\tadjtimex\tok\n\
                    16\topen\t/home/u/.cache/app/state.csv\tEEXIST\tw\n\
                    16\topen\t/w/conf\\x20x\tok\tr\n\
                    16\topen\t/w/out\tok\tt\n\
                    16\topen\t/w/odd\tok\tq\n\
                    16\topen\t/w/truncated\tok\n";
        let ev = parse(text);
        assert_eq!(
            ev,
            vec![
                TraceEvent::Connect {
                    pid: 12,
                    target: ConnectTarget::Inet("127.0.0.1:5432".parse().expect("address")),
                    outcome: Outcome::Ok,
                    completion: Completion::Immediate
                },
                TraceEvent::Connect {
                    pid: 12,
                    target: ConnectTarget::Inet("[::1]:80".parse().expect("address")),
                    outcome: Outcome::Err("ECONNREFUSED".into()),
                    completion: Completion::Immediate
                },
                TraceEvent::Connect {
                    pid: 13,
                    target: ConnectTarget::Unix("/run/postgresql/.s.PGSQL.5432".into()),
                    outcome: Outcome::Err("ENOENT".into()),
                    completion: Completion::Immediate
                },
                TraceEvent::Connect {
                    pid: 13,
                    target: ConnectTarget::Unix("@/tmp/.X11-unix/X0".into()),
                    outcome: Outcome::Ok,
                    completion: Completion::Immediate
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
                TraceEvent::ClockSet {
                    pid: 16,
                    call: ClockSetCall::ClockSettime,
                    outcome: Outcome::Err("EPERM".into())
                },
                TraceEvent::ClockSet { pid: 16, call: ClockSetCall::Adjtimex, outcome: Outcome::Ok },
                TraceEvent::Open {
                    pid: 16,
                    path: "/home/u/.cache/app/state.csv".into(),
                    outcome: Outcome::Err("EEXIST".into()),
                    access: Access::Write
                },
                TraceEvent::Open {
                    pid: 16,
                    path: "/w/conf x".into(),
                    outcome: Outcome::Ok,
                    access: Access::Read
                },
                TraceEvent::Open {
                    pid: 16,
                    path: "/w/out".into(),
                    outcome: Outcome::Ok,
                    access: Access::Truncate
                },
                // Without its mode the line is truncated: skipped.
            ]
        );
        assert_eq!(ev[0].pid(), 12);
    }

    #[test]
    fn a_non_blocking_connect_is_one_event_with_its_end() {
        let text = "7\tconnect\tinet:127.0.0.1:5432\tpending\n\
                    7\tconnect\tinet:127.0.0.1:9\tpending\n\
                    7\tresolve\tlocalhost\tok\n\
                    7\tconnect-result\tinet:127.0.0.1:5432\tok\n\
                    7\tconnect-result\tinet:127.0.0.1:9\tECONNREFUSED\n\
                    7\tconnect\tinet:127.0.0.1:80\tEINPROGRESS\n\
                    8\tconnect-result\tinet:127.0.0.1:80\tEISCONN\n\
                    8\tconnect\tunix:/s\tEISCONN\n";
        let inet = |port: u16| ConnectTarget::Inet(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
        let connect = |pid, port, outcome, completion| TraceEvent::Connect {
            pid,
            target: inet(port),
            outcome,
            completion,
        };
        assert_eq!(
            parse(text),
            vec![
                connect(7, 5432, Outcome::Ok, Completion::Deferred),
                connect(7, 9, Outcome::Err("ECONNREFUSED".into()), Completion::Deferred),
                TraceEvent::Resolve { pid: 7, name: "localhost".into(), outcome: Outcome::Ok },
                // An older shim's EINPROGRESS, never resolved: under way, not failed.
                connect(7, 80, Outcome::Ok, Completion::Pending),
                // The end seen by another process (a fork): its own event.
                connect(8, 80, Outcome::Ok, Completion::Deferred),
                TraceEvent::Connect {
                    pid: 8,
                    target: ConnectTarget::Unix("/s".into()),
                    outcome: Outcome::Ok,
                    completion: Completion::Immediate
                },
            ]
        );
    }

    #[test]
    fn skips_malformed_lines() {
        for line in [
            "",
            "x\texec\t/bin/sh",
            "1\tfrobnicate\tx",
            "1\tconnect\tinet:nonsense\tok",
            "1\tconnect\tinet:1.2.3.4:80",
            "1\tconnect-result\tinet:1.2.3.4:80",
            "1\texec\tbad\\q",
            "1\texec\tbad\\x4",
            "1\tresolve\thost\t",
            "1\tclock-set\tstime\tEPERM",
            "1\tclock-set\tclock_settime",
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
