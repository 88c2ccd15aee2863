//! The flakebox sandbox: run one command in fresh user (when not root), mount,
//! PID, network, UTS and IPC namespaces, with a copy-on-write view of the host
//! filesystem, and report what it left behind.
//!
//! Two processes, as in Bazel's linux-sandbox:
//! - the **supervisor** ([`spawn`]) stays on the host side: it clones PID 1,
//!   writes the user-namespace id maps, makes the network namespace while
//!   PID 1 builds the mounts ([`net`]), relays a start gate, forwards
//!   signals, enforces the timeout and collects PID 1's report;
//! - **PID 1** ([`pid1`]) builds the mount tree ([`mounts`] executes the
//!   list of mount operations [`mount_plan`] computes, a pure function of
//!   the config and the host's mount table), brings up loopback ([`net`]),
//!   starts services, runs the command ([`exec`]; as root with the
//!   capabilities [`capabilities`] keeps), reaps zombies, kills what the
//!   command left running and gathers evidence ([`evidence`]).
//!
//! As root, before the clone, the supervisor also makes the read-only files
//! the caller hands down impossible to reopen for writing ([`inherited`]).
//!
//! Nothing is created on the host: every scratch directory lives on a tmpfs
//! inside the sandbox's own mount namespace, so when PID 1 dies — normally or
//! because the supervisor was SIGKILLed (PR_SET_PDEATHSIG) — the kernel takes
//! the processes and mounts with it.

mod capabilities;
mod error;
pub mod evidence;
mod exec;
pub mod host;
mod inherited;
mod ipc;
mod mount_plan;
pub mod mountinfo;
mod mounts;
mod net;
mod pid1;
pub mod scratch;
mod spawn;
pub mod step_times;
mod tmp_size;
mod user;

pub use capabilities::{parse as parse_capability, Capability, HOST_REACHING as HOST_REACHING_CAPABILITIES};
pub use error::SandboxError;
pub use evidence::{Evidence, FileChange, Leftover, ServiceEvidence, TableRows};
pub use mount_plan::{check_hide, HideBy, DEV_TEMPLATES};
pub use spawn::run;
pub use tmp_size::{TmpSize, TmpSizeError};

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// Inside the sandbox: flakebox's private directory (the shim, the trace log,
/// service sockets). It lives on the sandbox's own root tmpfs, so it exists in
/// every filesystem mode without touching the host.
pub const PRIVATE_DIR: &str = "/.flakebox";

/// The clock shim's trace log, in [`PRIVATE_DIR`]; PID 1 reads it into the
/// evidence when the command ends.
pub const TRACE_FILE: &str = "trace.log";

/// The hostname every sandbox gets (UTS namespace).
pub const HOSTNAME: &str = "flakebox";

/// How the command sees the host filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsMode {
    /// The host filesystem itself: writes persist (`--share fs`).
    Host,
    /// Fresh tmpfs on /tmp, /var/tmp and /dev/shm; every other write lands in
    /// a throwaway copy-on-write layer (the default).
    Fresh,
    /// Every write, /tmp included, lands in a copy-on-write layer kept in
    /// host directories, so state persists from one run to the next without
    /// touching the user's files (diagnose's non-fs conditions). Two
    /// directories on different top-level trees (e.g. under /tmp and
    /// /var/tmp): an overlay's upper layer may not lie inside its own lower
    /// layer, so each overlay uses whichever of the two is outside it.
    Persistent { state: [PathBuf; 2] },
}

/// A file written into [`PRIVATE_DIR`] before the command starts.
#[derive(Debug, Clone)]
pub struct PrivateFile {
    pub name: String,
    /// Borrowed when static (the embedded shim is not copied).
    pub contents: std::borrow::Cow<'static, [u8]>,
    pub mode: u32,
}

/// What a service sees when PID 1 starts it.
#[derive(Debug, Clone)]
pub struct ServiceContext {
    /// [`PRIVATE_DIR`], writable by PID 1.
    pub private_dir: PathBuf,
    /// Whether the sandbox has its own network namespace.
    pub net_isolated: bool,
    /// True when PID 1 runs as real root (no user namespace).
    pub is_root: bool,
}

/// A helper process PID 1 starts before the command and stops after it (the
/// throwaway PostgreSQL). Implemented outside this crate; it runs inside PID 1,
/// which is single-threaded, so it may fork and allocate freely.
pub trait Service {
    /// A short name for messages ("postgres").
    fn name(&self) -> &str;
    /// Start and wait until ready; return variables for the command's environment.
    fn start(&mut self, ctx: &ServiceContext) -> Result<Vec<(String, String)>, String>;
    /// Process ids that belong to the service (not leftovers of the command).
    fn pids(&self) -> Vec<i32>;
    /// Evidence gathered after the command exited (e.g. tables with rows).
    fn evidence(&mut self) -> ServiceEvidence;
    /// Stop it; PID 1 kills whatever is left afterwards anyway.
    fn stop(&mut self);
}

/// Everything one sandboxed run needs.
pub struct Config {
    /// The command and its arguments; `argv[0]` is searched in the `PATH` of `env`.
    pub argv: Vec<OsString>,
    /// The command's complete environment (services add theirs).
    pub env: Vec<(OsString, OsString)>,
    /// Working directory (an absolute host path; it stays visible).
    pub cwd: PathBuf,
    /// Directories that stay visible even under a fresh tmp directory (as the
    /// working directory always does), e.g. the command's own directory.
    pub visible: Vec<PathBuf>,
    /// A new network namespace with only loopback, up.
    pub isolate_net: bool,
    pub fs: FsMode,
    /// Absolute paths whose writes reach the host.
    pub keep: Vec<PathBuf>,
    /// Absolute paths that look absent to the command (`--hide`): removed
    /// from its copy-on-write view, never from the host. See [`check_hide`].
    pub hide: Vec<PathBuf>,
    /// (path in the sandbox, host file): copied out when the command ends and
    /// removed in the sandbox before it starts and after, so a stale copy is
    /// never collected and none persists (how diagnose and timetravel fetch
    /// each run's JUnit file without touching the user's).
    pub collect: Vec<(PathBuf, PathBuf)>,
    /// SIGTERM after this long, SIGKILL `kill_after` later; exit 124.
    pub timeout: Option<Duration>,
    pub kill_after: Duration,
    pub private_files: Vec<PrivateFile>,
    pub services: Vec<Box<dyn Service>>,
    /// A prepared start: the sandbox is built and its services started, then
    /// the command waits until one byte can be read from this descriptor
    /// (EOF instead cancels the run: [`SandboxError::Cancelled`]). The
    /// timeout and the reported duration count from the release. How
    /// `diagnose` builds the next run while the current one executes.
    pub start_gate: Option<std::os::fd::OwnedFd>,
    /// One byte is written here as soon as the command has exited and what
    /// it left running is killed, before services are questioned and stopped
    /// and file evidence is gathered: the caller may start its next run then.
    /// EOF instead means the sandbox ended without the command finishing.
    pub done_signal: Option<std::os::fd::OwnedFd>,
    /// As root, capabilities the command keeps beyond the default set (see
    /// the `capabilities` module), each with a warning in the evidence.
    pub cap_add: Vec<Capability>,
    /// The fake clock for programs the shim cannot reach: PID 1 starts the
    /// clockwatch supervisor and the command under its filter (see the
    /// clockwatch crate). `None`: the shim alone.
    pub clock_watch: Option<clockwatch::Options>,
    /// The run's entropy seed: the command's starting pid is derived from it
    /// and its addresses are not randomized (bash seeds `$RANDOM` with its
    /// pid and a stack address). `None`: a random pid, ASLR as the host's.
    pub entropy_seed: Option<u64>,
    /// The size limit of each fresh tmp directory (/tmp, /var/tmp, /dev/shm).
    pub tmp_size: TmpSize,
}

impl Config {
    /// A config with every factor isolated for `argv`, inheriting this
    /// process's environment and working directory.
    pub fn new(argv: Vec<OsString>) -> Result<Self, SandboxError> {
        let cwd =
            std::env::current_dir().map_err(|e| SandboxError::io("cannot read the working directory", e))?;
        Ok(Config {
            argv,
            env: std::env::vars_os().collect(),
            cwd,
            visible: Vec::new(),
            isolate_net: true,
            fs: FsMode::Fresh,
            keep: Vec::new(),
            hide: Vec::new(),
            collect: Vec::new(),
            timeout: None,
            kill_after: Duration::from_secs(5),
            private_files: Vec::new(),
            services: Vec::new(),
            start_gate: None,
            done_signal: None,
            cap_add: Vec::new(),
            clock_watch: None,
            entropy_seed: None,
            tmp_size: TmpSize::DEFAULT,
        })
    }
}

/// How the command ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Status {
    /// Exited with this code.
    Exited { code: i32 },
    /// Killed by this signal.
    Signaled { signal: i32 },
    /// Could not be executed: 127 not found, 126 not executable.
    NotRun { code: i32, message: String },
    /// Stopped by `timeout`.
    TimedOut,
}

impl Status {
    /// The exit status a shell would show: the code, 128+N for signal N,
    /// 126/127 when not run, 124 for a timeout (as timeout(1)).
    pub fn exit_code(&self) -> i32 {
        match self {
            Status::Exited { code } => *code,
            Status::Signaled { signal } => 128 + signal,
            Status::NotRun { code, .. } => *code,
            Status::TimedOut => 124,
        }
    }

    pub fn success(&self) -> bool {
        matches!(self, Status::Exited { code: 0 })
    }
}

/// The result of [`run`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    pub status: Status,
    pub duration: Duration,
    pub evidence: Evidence,
}
