//! What one run did: the child writes it (`--report FILE`, and for a parent
//! the file its request names), the parent reads it back, both as
//! [`RunReport`].

use crate::error::RunsError;
use clock::reach::NotFrozen;
use factors::FactorSet;
use sandbox::{ServiceEvidence, Status};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `--report` JSON: what one run did. Fields are only ever added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub schema: u32,
    pub command: Vec<String>,
    pub isolated: FactorSet,
    pub exit_code: i32,
    pub status: Status,
    pub duration_ms: u64,
    /// The clock the command saw, when time was isolated.
    pub time: Option<TimeInfo>,
    /// The seed of the command's OS randomness, when rand was isolated.
    #[serde(default)]
    pub rand: Option<RandInfo>,
    /// Connects and name lookups from the shim's trace, one line each:
    /// "connect 1.2.3.4:443 failed ENETUNREACH", "resolve example.com ok".
    pub net_events: Vec<String>,
    /// What the sandbox saw; its `warnings` are every warning of the run,
    /// rendered as printed.
    #[serde(flatten)]
    pub evidence: sandbox::Evidence,
    /// The same warnings, typed: what a program decides by.
    #[serde(default)]
    pub warning_details: Vec<Warning>,
    /// Calls that asked to change the system clock (from the shim's trace),
    /// refused by the sandbox unless `--cap-add CAP_SYS_TIME`.
    #[serde(default)]
    pub clock_set_attempts: Vec<ClockSetAttempt>,
    /// Programs of the run the shim could not reach (static, Go, musl):
    /// their connects and lookups are not in `net_events`. Only known when
    /// the run was traced (`traced`).
    #[serde(default)]
    pub untraced: Vec<PathBuf>,
    /// The shim traced the run (time or rand isolated, or a trace asked for).
    #[serde(default)]
    pub traced: bool,
}

/// One kind of attempt to change the system clock: the call, how it ended,
/// and how many times the run made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockSetAttempt {
    pub call: clock::trace::ClockSetCall,
    pub outcome: clock::trace::Outcome,
    pub count: u32,
}

impl ClockSetAttempt {
    /// The call and its result, as diagnose's evidence lists it:
    /// "clock_settime failed EPERM".
    pub fn event(&self) -> String {
        match &self.outcome {
            clock::trace::Outcome::Ok => format!("{} ok", self.call),
            clock::trace::Outcome::Err(e) => format!("{} failed {e}", self.call),
        }
    }
}

/// Without the count, so the same attempt in many runs reads the same; a
/// refused attempt is a note, one that set the clock a warning.
impl std::fmt::Display for ClockSetAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            clock::trace::Outcome::Ok => write!(
                f,
                "the command set the host's clock ({}): --cap-add CAP_SYS_TIME allowed it",
                self.call
            ),
            clock::trace::Outcome::Err(e) => write!(
                f,
                "the command tried to set the clock ({}) and got {e}: the sandbox keeps the \
                 host's clock (a test that sets the clock fails or skips that part here)",
                self.call
            ),
        }
    }
}

/// The clock-setting calls of a trace, one entry per call and outcome, in
/// the order first made.
pub fn clock_set_attempts(trace: &[String]) -> Vec<ClockSetAttempt> {
    let mut out: Vec<ClockSetAttempt> = Vec::new();
    for ev in clock::trace::parse(&trace.join("\n")) {
        let clock::trace::TraceEvent::ClockSet { call, outcome, .. } = ev else { continue };
        match out.iter_mut().find(|a| a.call == call && a.outcome == outcome) {
            Some(a) => a.count = a.count.saturating_add(1),
            None => out.push(ClockSetAttempt { call, outcome, count: 1 }),
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeInfo {
    pub mode: String,
    pub instant: String,
    /// Pass to `--time` to replay this run's clock.
    pub replay: String,
}

/// The run's entropy seed: pass it to `--seed` to replay the randomness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RandInfo {
    pub seed: u64,
}

/// Something that was not as asked but did not stop the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Warning {
    /// The shim cannot reach the command's binary: its clock is not frozen.
    ClockNotFrozen(NotFrozen),
    /// The shim cannot reach the command's binary, but the clockwatch
    /// supervisor does: its clock is frozen.
    ClockWatched { binary: std::path::PathBuf, reason: String },
    /// A program whose randomness does not follow the run's seed.
    NotSeeded(crate::NotSeeded),
    /// The sandbox could not do or vouch for something.
    Sandbox { message: String },
}

/// What a wall-clock read costs a program clockwatch reaches (see crates/clockwatch).
#[cfg(target_arch = "x86_64")]
const WATCHED_COST: &str =
    "its vDSO's wall-clock functions are redirected to code that answers inside the program \
     (a read costs nanoseconds, as through the vDSO; in step mode each read is a system call answered by the \
     supervisor, microseconds)";
#[cfg(not(target_arch = "x86_64"))]
const WATCHED_COST: &str =
    "each wall-clock read is a system call answered by it (microseconds instead of nanoseconds)";

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::ClockNotFrozen(w) => w.fmt(f),
            Warning::ClockWatched { binary, reason } => write!(
                f,
                "flakebox: note: {}: {reason}; its clock IS frozen, through the clockwatch supervisor: {}",
                binary.display(),
                WATCHED_COST
            ),
            Warning::NotSeeded(w) => w.fmt(f),
            Warning::Sandbox { message } => f.write_str(message),
        }
    }
}

impl RunReport {
    /// The report of a finished run: `warnings` are the run's own (the
    /// plan's), the sandbox's are added after them.
    pub fn new(
        command: &[std::ffi::OsString],
        isolated: FactorSet,
        time: Option<TimeInfo>,
        rand: Option<RandInfo>,
        warnings: &[Warning],
        outcome: &sandbox::Outcome,
    ) -> Self {
        let mut evidence = outcome.evidence.clone();
        let mut details: Vec<Warning> =
            evidence.warnings.iter().map(|m| Warning::Sandbox { message: m.clone() }).collect();
        details.extend(warnings.iter().cloned());
        evidence.warnings = details.iter().map(Warning::to_string).collect();
        RunReport {
            schema: 1,
            command: command.iter().map(|a| a.to_string_lossy().into_owned()).collect(),
            isolated,
            exit_code: outcome.status.exit_code(),
            status: outcome.status.clone(),
            duration_ms: u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX),
            time,
            rand,
            net_events: net_events(&outcome.evidence.trace),
            evidence,
            warning_details: details,
            clock_set_attempts: clock_set_attempts(&outcome.evidence.trace),
            untraced: Vec::new(),
            traced: false,
        }
    }

    pub fn read(path: &Path) -> Result<Self, RunsError> {
        let bytes = std::fs::read(path).map_err(crate::error::io(format!("reading {}", path.display())))?;
        serde_json::from_slice(&bytes)
            .map_err(|source| RunsError::Report { path: path.to_path_buf(), source })
    }

    pub fn to_json_pretty(&self) -> Vec<u8> {
        // Strings, numbers and enums of them always serialise.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.duration_ms)
    }

    /// Whether the trace saw every program of the run: it was traced, the
    /// command's binary is in the shim's reach, and the shim reported no
    /// program it could not reach.
    pub fn trace_complete(&self) -> bool {
        self.traced && self.untraced.is_empty() && !self.clock_not_frozen()
    }

    /// The programs the run executed (the shim traces each exec) that the
    /// shim cannot reach, or that are gone and cannot be checked: with the
    /// clock shared the shim does not warn about them, so they are found
    /// here. Read where the run's files are still visible (its parent).
    pub fn untraced_execs(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for ev in clock::trace::parse(&self.evidence.trace.join("\n")) {
            if let clock::trace::TraceEvent::Exec { path, .. } = ev {
                let p = PathBuf::from(&path);
                let reached = clock::reach::inspect(&p).ok().is_some_and(|r| r.warning(&p).is_none());
                if !reached && !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        out
    }

    /// Whether some program of the run kept the real clock: the command's
    /// own binary (checked before the run), or one it executed (the shim
    /// traces a `warn` event for each, and for nothing else).
    pub fn clock_not_frozen(&self) -> bool {
        self.warning_details.iter().any(|w| matches!(w, Warning::ClockNotFrozen(_)))
            || clock::trace::parse(&self.evidence.trace.join("\n"))
                .iter()
                .any(|e| matches!(e, clock::trace::TraceEvent::Warn { .. }))
    }

    /// The diagnose engine's evidence.
    pub fn diagnose_evidence(&self) -> diagnose::RunObservations {
        let ev = &self.evidence;
        let files_written = ev
            .files_written
            .iter()
            .map(|f| match f.change.as_str() {
                "deleted" => format!("{} (deleted)", f.path),
                "dir" => format!("{}/", f.path),
                _ => f.path.clone(),
            })
            .collect();
        let file_changes = ev
            .files_written
            .iter()
            .map(|f| diagnose::FileChanged {
                path: f.path.clone(),
                kind: match f.change.as_str() {
                    "deleted" => diagnose::FileChangeKind::Deleted,
                    "dir" => diagnose::FileChangeKind::Dir,
                    _ => diagnose::FileChangeKind::Written,
                },
            })
            .collect();
        let leftover_processes =
            ev.leftover_processes.iter().map(|l| format!("{} ({})", l.cmdline, l.name)).collect();
        let db_tables = ev
            .services
            .iter()
            .flat_map(|(_, s)| match s {
                ServiceEvidence::Database { tables_with_rows, .. } => tables_with_rows.as_slice(),
                _ => &[],
            })
            .map(|t| (t.table.clone(), t.rows))
            .collect();
        let db_sessions = ev.services.iter().find_map(|(_, s)| match s {
            ServiceEvidence::Database { sessions, .. } => *sessions,
            _ => None,
        });
        diagnose::RunObservations {
            db_sessions,
            trace_complete: self.trace_complete(),
            files_written,
            file_changes,
            leftover_processes,
            net_events: self.net_events.clone(),
            db_tables,
            frozen_instant: self.time.as_ref().map(|t| t.instant.clone()),
            entropy_seed: self.rand.map(|r| r.seed),
            clock_reads: None,
            // Also among the warnings: shown whatever the verdict.
            warnings: ev
                .warnings
                .iter()
                .cloned()
                .chain(self.clock_set_attempts.iter().map(|a| a.to_string()))
                .collect(),
            clock_set_attempts: self.clock_set_attempts.iter().map(ClockSetAttempt::event).collect(),
            files_opened: files_opened(&ev.trace),
        }
    }
}

/// The files the shim saw opened, each once with every way it was.
pub fn files_opened(trace: &[String]) -> Vec<diagnose::FileOpen> {
    use clock::trace::{Access, TraceEvent};
    let mut seen: std::collections::BTreeMap<String, diagnose::FileOpen> = std::collections::BTreeMap::new();
    for ev in clock::trace::parse(&trace.join("\n")) {
        if let TraceEvent::Open { path, access, .. } = ev {
            let f =
                seen.entry(path.clone()).or_insert_with(|| diagnose::FileOpen { path, ..Default::default() });
            match access {
                Access::Read => f.read = true,
                Access::Write => f.updated = true,
                Access::Truncate => f.replaced = true,
            }
        }
    }
    seen.into_values().collect()
}

/// One line per connect and name lookup the shim recorded.
pub fn net_events(trace: &[String]) -> Vec<String> {
    use clock::trace::{ConnectTarget, TraceEvent};
    let mut out = Vec::new();
    for ev in clock::trace::parse(&trace.join("\n")) {
        let (what, outcome) = match ev {
            TraceEvent::Connect { target: ConnectTarget::Inet(addr), outcome, .. } => {
                (format!("connect {addr}"), outcome)
            }
            TraceEvent::Resolve { name, outcome, .. } => (format!("resolve {name}"), outcome),
            _ => continue,
        };
        let line = match outcome {
            clock::trace::Outcome::Ok => format!("{what} ok"),
            clock::trace::Outcome::Err(e) => format!("{what} failed {e}"),
        };
        if !out.contains(&line) {
            out.push(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox::{Evidence, FileChange, Leftover, Outcome, TableRows};

    fn outcome(trace: Vec<String>) -> Outcome {
        Outcome {
            status: Status::Exited { code: 1 },
            duration: Duration::from_millis(1234),
            evidence: Evidence {
                files_written: vec![
                    FileChange { path: "/w/out".into(), change: "written".into() },
                    FileChange { path: "/w/gone".into(), change: "deleted".into() },
                ],
                files_omitted: 0,
                leftover_processes: vec![Leftover {
                    pid: 7,
                    name: "sleep".into(),
                    cmdline: "sleep 100".into(),
                }],
                trace,
                services: vec![(
                    "postgres".into(),
                    ServiceEvidence::Database {
                        tables_with_rows: vec![TableRows { table: "public.t".into(), rows: 2 }],
                        sessions: Some(1),
                    },
                )],
                warnings: vec!["could not do X".into()],
            },
        }
    }

    #[test]
    fn round_trips_and_keeps_the_documented_shape() {
        let not_frozen = Warning::ClockNotFrozen(NotFrozen {
            binary: "/w/static".into(),
            reason: "statically linked (LD_PRELOAD does not apply)".into(),
        });
        let time =
            TimeInfo { mode: "frozen".into(), instant: "2024-02-29T23:59:58Z".into(), replay: "x".into() };
        let rep = RunReport::new(
            &["./t.sh".into()],
            FactorSet::all(),
            Some(time),
            Some(RandInfo { seed: u64::MAX }),
            std::slice::from_ref(&not_frozen),
            &outcome(vec!["1\tconnect\tinet:93.184.216.34:443\tENETUNREACH".into()]),
        );
        let back: RunReport = serde_json::from_slice(&rep.to_json_pretty()).expect("parses");
        assert_eq!(back, rep);
        // What `run --report` users read: plain strings, services as pairs.
        let json: serde_json::Value = serde_json::from_slice(&rep.to_json_pretty()).expect("json");
        assert_eq!(
            json["warnings"],
            serde_json::json!([
                "could not do X",
                "flakebox: warning: /w/static: statically linked (LD_PRELOAD does not apply); its clock is NOT frozen"
            ])
        );
        assert_eq!(
            json["services"],
            serde_json::json!([["postgres", {"tables_with_rows": [{"table": "public.t", "rows": 2}], "sessions": 1}]])
        );
        assert_eq!(json["duration_ms"], 1234);
        assert_eq!(json["rand"], serde_json::json!({"seed": u64::MAX}));
        assert_eq!(json["net_events"], serde_json::json!(["connect 93.184.216.34:443 failed ENETUNREACH"]));
        assert!(back.clock_not_frozen());

        let ev = back.diagnose_evidence();
        assert_eq!(ev.files_written, vec!["/w/out".to_string(), "/w/gone (deleted)".to_string()]);
        let kinds: Vec<diagnose::FileChangeKind> = ev.file_changes.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [diagnose::FileChangeKind::Written, diagnose::FileChangeKind::Deleted]);
        assert_eq!(ev.leftover_processes, vec!["sleep 100 (sleep)".to_string()]);
        assert_eq!(ev.db_tables, vec![("public.t".to_string(), 2)]);
        assert_eq!(ev.db_sessions, Some(1));
        assert!(!ev.trace_complete, "a report that does not say it was traced is not complete");
        assert_eq!(ev.frozen_instant.as_deref(), Some("2024-02-29T23:59:58Z"));
        assert_eq!(ev.warnings, back.evidence.warnings);
    }

    #[test]
    fn the_clock_is_unreliable_after_a_warning_or_a_traced_warn() {
        let none = RunReport::new(&[], FactorSet::all(), None, None, &[], &outcome(Vec::new()));
        assert!(!none.clock_not_frozen(), "a sandbox warning is not about the clock");
        let traced = RunReport::new(
            &[],
            FactorSet::all(),
            None,
            None,
            &[],
            &outcome(vec!["12\twarn\t/w/static: statically linked; its clock is NOT frozen".into()]),
        );
        assert!(traced.clock_not_frozen());
    }

    #[test]
    fn clock_set_attempts_are_typed_counted_and_evidence() {
        let rep = RunReport::new(
            &[],
            FactorSet::all(),
            None,
            None,
            &[],
            &outcome(vec![
                "12\tclock-set\tclock_settime\tEPERM".into(),
                "12\tconnect\tinet:127.0.0.1:9\tECONNREFUSED".into(),
                "13\tclock-set\tclock_settime\tEPERM".into(),
                "13\tclock-set\tadjtimex\tEPERM".into(),
            ]),
        );
        use clock::trace::{ClockSetCall, Outcome};
        let eperm = Outcome::Err("EPERM".into());
        assert_eq!(
            rep.clock_set_attempts,
            vec![
                ClockSetAttempt { call: ClockSetCall::ClockSettime, outcome: eperm.clone(), count: 2 },
                ClockSetAttempt { call: ClockSetCall::Adjtimex, outcome: eperm, count: 1 },
            ]
        );
        let json: serde_json::Value = serde_json::from_slice(&rep.to_json_pretty()).expect("json");
        assert_eq!(
            json["clock_set_attempts"][0],
            serde_json::json!({"call": "clock_settime", "outcome": {"Err": "EPERM"}, "count": 2})
        );
        let ev = rep.diagnose_evidence();
        assert_eq!(ev.clock_set_attempts, vec!["clock_settime failed EPERM", "adjtimex failed EPERM"]);
        assert!(
            ev.warnings.iter().any(|w| w.contains("tried to set the clock (clock_settime) and got EPERM")),
            "{:?}",
            ev.warnings
        );
        // A report from before the field existed still reads.
        let mut old = json.clone();
        old.as_object_mut().expect("object").remove("clock_set_attempts");
        let back: RunReport = serde_json::from_value(old).expect("old report");
        assert!(back.clock_set_attempts.is_empty());
    }

    #[test]
    fn a_program_out_of_the_shims_reach_makes_the_trace_incomplete() {
        let trace = vec!["12\texec\t/bin/sh".into(), "13\texec\t/nonexistent/flakebox-static".into()];
        let mut rep = RunReport::new(&[], FactorSet::EMPTY, None, None, &[], &outcome(trace));
        assert_eq!(rep.untraced_execs(), [PathBuf::from("/nonexistent/flakebox-static")]);
        rep.traced = true;
        assert!(rep.trace_complete(), "only the command's own check was recorded");
        rep.untraced = rep.untraced_execs();
        assert!(!rep.trace_complete());
        assert!(!rep.diagnose_evidence().trace_complete);
    }
}
