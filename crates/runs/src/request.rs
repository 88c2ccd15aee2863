//! What one run should be: built by `flakebox run`'s command line, or by a
//! parent (`diagnose`, `timetravel`) and passed to a child `flakebox run` as
//! JSON on an inherited descriptor (`--request-fd N`).

use crate::error::{io, RunsError};
use factors::FactorSet;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// The hidden `flakebox run` flag naming the descriptor the request is read from.
pub const REQUEST_FD_FLAG: &str = "--request-fd";

/// One sandboxed run of a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    /// The command and its arguments.
    pub command: Vec<OsString>,
    /// The factors isolated; `db` means a throwaway PostgreSQL (`postgres`).
    pub isolate: FactorSet,
    /// Set in the command's environment, after this process's own.
    #[serde(default)]
    pub env: Vec<(OsString, OsString)>,
    /// Paths whose writes reach the host (`--keep`).
    #[serde(default)]
    pub keep: Vec<PathBuf>,
    /// Paths that look absent to the command (`--hide`): removed from its
    /// copy-on-write view, never from the host.
    #[serde(default)]
    pub hide: Vec<PathBuf>,
    /// (file the command writes, host file it is copied to when it ends).
    #[serde(default)]
    pub collect: Vec<(PathBuf, PathBuf)>,
    /// Persistent copy-on-write state when fs is not isolated (diagnose's
    /// conditions); without it, writes reach the host.
    #[serde(default)]
    pub state_dirs: Option<[PathBuf; 2]>,
    /// The clock spec (`--time`), when time is isolated; `None` freezes the
    /// clock at the run's start.
    #[serde(default)]
    pub time: Option<String>,
    /// The seed of the command's OS randomness (`--seed`), when rand is
    /// isolated; `None` picks a fresh one for this run.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Load the shim to trace connects, lookups and execs even when the
    /// clock is shared.
    #[serde(default)]
    pub trace: bool,
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL after the timeout.
    pub kill_after: Duration,
    /// The throwaway PostgreSQL's options, used when `isolate` has `db`.
    #[serde(default)]
    pub postgres: PgOptions,
    /// Where the report is written (JSON, a [`crate::RunReport`]).
    #[serde(default)]
    pub report: Option<PathBuf>,
    /// Where the child writes why, when flakebox itself fails (no report).
    #[serde(default)]
    pub error_file: Option<PathBuf>,
    /// Whether anyone reads what services report (a database's tables cost
    /// two psql calls).
    #[serde(default)]
    pub want_service_evidence: bool,
    /// An inherited descriptor: build the sandbox and start its services,
    /// then start the command when a byte can be read from it (EOF cancels
    /// the run). The timeout and the duration count from then.
    #[serde(default)]
    pub start_gate: Option<i32>,
    /// An inherited descriptor: one byte is written to it once the command
    /// has exited and what it left running is killed.
    #[serde(default)]
    pub done_fd: Option<i32>,
    #[serde(default)]
    pub verbose: bool,
    /// Files written into the sandbox's private directory before the
    /// command starts: (name, contents), e.g. a test runner's tool config.
    #[serde(default)]
    pub files: Vec<(String, String)>,
    /// As root, capabilities given back to the command (`--cap-add`), by
    /// their canonical names (CAP_SYS_TIME).
    #[serde(default)]
    pub cap_add: Vec<String>,
    /// The size limit of each fresh tmp directory (`--tmp-size`).
    #[serde(default)]
    pub tmp_size: sandbox::TmpSize,
}

/// PostgreSQL options (`--postgres-bin`, `--postgres-init`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgOptions {
    #[serde(default)]
    pub bin: Option<PathBuf>,
    #[serde(default)]
    pub init: Option<PathBuf>,
}

impl RunRequest {
    /// Every factor but db isolated, a fresh seed, default grace period, nothing else.
    pub fn new(command: Vec<OsString>) -> Self {
        RunRequest {
            command,
            isolate: FactorSet::all().without(factors::Factor::Db),
            env: Vec::new(),
            keep: Vec::new(),
            hide: Vec::new(),
            collect: Vec::new(),
            state_dirs: None,
            time: None,
            seed: None,
            trace: false,
            timeout: None,
            kill_after: Duration::from_secs(5),
            postgres: PgOptions::default(),
            report: None,
            error_file: None,
            want_service_evidence: false,
            start_gate: None,
            done_fd: None,
            verbose: false,
            files: Vec::new(),
            cap_add: Vec::new(),
            tmp_size: sandbox::TmpSize::DEFAULT,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        // A struct of strings, paths and numbers always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8], fd: i32) -> Result<Self, RunsError> {
        serde_json::from_slice(bytes).map_err(|source| RunsError::Request { fd, source })
    }

    /// Read the request a parent wrote on inherited descriptor `fd` (to EOF).
    pub fn read_from_fd(fd: i32) -> Result<Self, RunsError> {
        use std::io::Read;
        let mut file = std::fs::File::from(crate::execute::inherited_fd(REQUEST_FD_FLAG, fd)?);
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io(format!("reading the run request on descriptor {fd}")))?;
        Self::from_json(&bytes, fd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn round_trips_through_json_with_non_utf8_arguments() {
        let mut r = RunRequest::new(vec![OsString::from("sh"), OsString::from_vec(vec![b'-', 0xff])]);
        r.isolate = FactorSet::all();
        r.env.push(("TZ".into(), "Asia/Tokyo".into()));
        r.collect.push(("/w/junit.xml".into(), "/tmp/x/junit-1.xml".into()));
        r.hide.push("/home/u/.cache/app/state.csv".into());
        r.state_dirs = Some(["/tmp/a".into(), "/var/tmp/b".into()]);
        r.time = Some("2024-02-29T23:59:58Z".into());
        r.seed = Some(u64::MAX);
        r.timeout = Some(Duration::from_millis(1500));
        r.postgres.bin = Some("/usr/lib/postgresql/16/bin".into());
        (r.start_gate, r.done_fd) = (Some(5), Some(7));
        let back = RunRequest::from_json(&r.to_json(), 3).expect("parses");
        assert_eq!(back, r);
    }

    #[test]
    fn a_bad_request_names_its_descriptor() {
        let e = RunRequest::from_json(b"{\"command\": 1}", 9).expect_err("not a request");
        assert!(e.to_string().contains("descriptor 9"), "{e}");
    }
}
