//! The command line: one struct per subcommand (clap derive).

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "flakebox",
    version,
    about = "Hermetic test execution and flaky-test root-causing on Linux",
    long_about = "flakebox is prefixed to any test command. `run` executes it once, hermetically: \
no network but loopback, a fresh /tmp, copy-on-write for every other write, a frozen wall clock \
and, if asked, a throwaway PostgreSQL. `doctor` tells whether this host can do that.",
    after_help = "Examples:\n  flakebox run -- pytest -q\n  flakebox run --share net --time 2024-02-29T23:59:58Z -- cargo test\n  flakebox doctor"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a command once, hermetically.
    Run(RunArgs),
    /// Check whether this host can run sandboxes, and how to fix it if not.
    Doctor(DoctorArgs),
}

#[derive(Args, Debug, Clone)]
#[command(
    long_about = "Run CMD in new mount, PID, network, UTS and IPC namespaces (and a user namespace \
when not root). The network is loopback only; /tmp, /var/tmp and /dev/shm are fresh; every other \
write lands in a throwaway copy-on-write layer, so the host is unchanged afterwards; the wall \
clock is frozen. Processes CMD leaves running are killed and reported.\n\n\
Exit status: CMD's own; 128+N if it died of signal N; 127 not found; 126 not executable; \
124 timed out; 125 flakebox itself failed (the cause is printed).",
    after_help = "Examples:\n  flakebox run -- pytest -q\n  flakebox run --keep junit.xml -- pytest --junitxml=junit.xml\n  flakebox run --share net,fs -- ./integration.sh\n  flakebox run --timeout 5m -- make test\n  flakebox run --postgres --postgres-init db/schema.sql -- cargo test\n\nAs a test runner:\n  .cargo/config.toml:  [target.x86_64-unknown-linux-gnu] runner = [\"flakebox\", \"run\", \"--\"]\n  go test -exec 'flakebox run --' ./...\n  bazel test --run_under='flakebox run --' //..."
)]
pub struct RunArgs {
    /// Leave these factors unisolated: net, fs, time, db (comma-separated or repeated).
    #[arg(long, value_name = "LIST")]
    pub share: Vec<String>,

    /// Let writes to PATH reach the host (JUnit files, coverage, artifacts). Repeatable.
    /// An existing path is bound through; a new one is copied out when CMD ends.
    #[arg(long, value_name = "PATH")]
    pub keep: Vec<PathBuf>,

    /// Stop CMD after this long: SIGTERM, then SIGKILL after --kill-after; exit 124.
    /// Examples: 30s, 5m, 1h30m, 250ms, 90 (seconds).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    /// Grace period between SIGTERM and SIGKILL for --timeout.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub kill_after: String,

    /// Write the evidence (exit status, duration, files written outside tmp,
    /// leftover processes, network attempts, frozen instant) to FILE as JSON.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Where the wall clock stands (time isolation is on unless --share time).
    /// Default: frozen at the instant the run starts, printed with -v and in
    /// --report so a failure can be replayed. See --help for the grammar.
    #[arg(long, value_name = "SPEC", long_help = clock::TIME_SPEC_HELP)]
    pub time: Option<String>,

    /// Load the shim to record connects, name lookups and execs even when the
    /// clock is shared (used by diagnose).
    #[arg(long, hide = true)]
    pub trace: bool,

    /// Keep every write, /tmp included, in copy-on-write layers under these two
    /// directories, so state persists from run to run (used by diagnose).
    #[arg(long, hide = true, num_args = 2, value_names = ["DIR", "DIR"])]
    pub state_dirs: Vec<PathBuf>,

    /// Print a short summary of the evidence on stderr.
    #[arg(short, long)]
    pub verbose: bool,

    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

#[derive(Args, Debug, Clone)]
pub struct DoctorArgs {
    /// Print the checks as JSON.
    #[arg(long)]
    pub json: bool,
}
