//! The command line: one struct per subcommand (clap derive).

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "flakebox",
    version,
    about = "Hermetic test execution and flaky-test root-causing on Linux",
    long_about = "flakebox is prefixed to any test command. `run` executes it once, hermetically: no \
network but loopback, a fresh /tmp, copy-on-write for every other write, a frozen wall clock and, if \
asked, a throwaway PostgreSQL. `diagnose` runs it many times with and without each of those \
isolations and says which one its flakiness comes from. `timetravel` finds the tests that will break \
on a coming date or in another time zone. `doctor` tells whether this host can do all that.",
    after_help = "Examples:\n  flakebox run -- pytest -q\n  flakebox run --share net --time 2024-02-29T23:59:58Z -- cargo test\n  flakebox diagnose -- pytest -q\n  flakebox timetravel -- ./run_tests.sh\n  flakebox doctor\n\nEach command's --help has more."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a command once, hermetically.
    Run(RunArgs),
    /// Run a command many times, with and without each factor isolated, and
    /// say which factor (net, fs, time, db) its flakiness comes from.
    Diagnose(DiagnoseArgs),
    /// Run a command with the clock at calendar hazards (New Year, leap day,
    /// DST, midnight, 2038, ...) and in far time zones: find time bombs early.
    Timetravel(TimetravelArgs),
    /// Check whether this host can run sandboxes, and how to fix it if not.
    Doctor(DoctorArgs),
    /// Merge the parts of a sharded diagnosis (`diagnose --shard K/N`) into
    /// one report, with the verdicts computed on the pooled rounds.
    Merge(MergeArgs),
}

#[derive(Args, Debug, Clone)]
#[command(
    long_about = "Run CMD hermetically (as `run` does) with the wall clock frozen at each calendar \
hazard computed from now and the zone in effect — local and UTC midnight ±1 s, the end of the \
month, New Year, the next 29 February, the next DST switches, +1 day/year/5/10 years, the 2038 \
rollover — and, with the clock at now, under far-apart time zones. A result that differs from \
now is re-run at the same point before it is reported, so a flaky test is called flaky, not \
time-dependent. For a test runner flakebox recognises (pytest, cargo test, go test, jest, ...; \
see --runner), or with --junit, every test case gets its own finding, with the first instant it \
fails at and how many days from today that is.\n\n\
Exit status: 0 no time bomb, 20 time bombs found, 2 usage error, 125 flakebox failed.",
    after_help = "Examples:\n  flakebox timetravel -- pytest -q\n  flakebox timetravel -- go test ./...\n  flakebox timetravel --junit report.xml -- ./run_tests.sh\n  flakebox timetravel --at 2030-01-01T00:00:00Z --zones UTC,Asia/Tokyo -- cargo test\n  flakebox timetravel --html timetravel.html -- pytest -q\n\nProbes run in parallel, --jobs at a time (default: the number of CPUs: each probe is one\nfull run of the suite, so more would only queue for CPU)."
)]
pub struct TimetravelArgs {
    /// Also probe this instant (repeatable): RFC 3339 (2027-01-01T00:00:00Z),
    /// or a date alone for its midnight UTC, as `run --time` reads instants.
    #[arg(long, value_name = "INSTANT")]
    pub at: Vec<String>,

    /// Time zones to probe instead of the default far-apart set (comma-separated or repeated).
    #[arg(long, value_name = "LIST")]
    pub zones: Vec<String>,

    /// Probe no time zones.
    #[arg(long, conflicts_with = "zones")]
    pub no_zones: bool,

    /// Probe no calendar hazards (only now and --at instants).
    #[arg(long)]
    pub no_instants: bool,

    /// Probe every month boundary and offset-crossing day, also those with
    /// the same calendar facts as an earlier one (by default one of each
    /// kind runs, and the others where a test's outcome changes around them).
    #[arg(long)]
    pub all_probes: bool,

    /// The JUnit XML file CMD writes, for per-test findings. Not needed for a
    /// test runner flakebox recognises (see --runner).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,

    /// The test runner CMD starts: auto (recognise it: pytest, cargo test, a
    /// libtest binary, cargo nextest, go test, jest, vitest, rspec, mvn,
    /// gradle), none (probe CMD as a whole), or one of those names. With a
    /// runner, every test gets its own finding with no wiring.
    #[arg(long, value_name = "NAME", default_value = "auto")]
    pub runner: String,

    /// Pretend now is this instant (hazards are computed from it); the same
    /// grammar as --at.
    #[arg(long, value_name = "INSTANT")]
    pub now: Option<String>,

    /// How many probes run at once.
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Stop any single probe after this long (it counts as a failure).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    #[command(flatten)]
    pub tmp: TmpSizeArg,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    /// Also write the report as a self-contained HTML page to FILE (beside
    /// --format's output: the terminal text and a CI artifact in one go).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// A table of conditions, the verdict and the evidence.
    Text,
    /// Schema 1 report on stdout (nothing else there).
    Json,
    /// For a CI job summary.
    Markdown,
    /// One self-contained HTML page (inline CSS and SVG, no script): a CI
    /// artifact a browser opens anywhere.
    Html,
}

#[derive(Args, Debug, Clone)]
#[command(
    long_about = "Run CMD under several conditions: baseline (nothing isolated: the real network, \
clock and DATABASE_URL), each factor isolated alone, and all isolated. Runs are interleaved \
(round robin, shuffled within a round) and continue until every factor is decided or --max-runs \
is reached. Each condition's file writes persist across its own runs (that is how pollution \
shows) in a private copy-on-write layer: your files are left as they were.\n\n\
Verdicts: environment (a factor fixes, stabilizes or breaks the outcome, significantly), \
intrinsic (flaky even with everything isolated, randomness included: races, timing), stable (same outcome \
everywhere), undecided.\n\n\
Exit status: 0 stable pass, 1 stable failure, 10 environment, 11 intrinsic, 12 undecided, \
2 usage error, 3 a run could not be made, 125 flakebox failed, 130 interrupted.",
    after_help = "Examples:\n  flakebox diagnose -- ./run_tests.sh\n  flakebox diagnose -- pytest -q\n  flakebox diagnose -- go test ./...\n  flakebox diagnose --junit report.xml -- ./run_tests.sh\n  flakebox diagnose --factors net,time --runs 30 --format json -- cargo test\n  flakebox diagnose --format markdown -- make test >> \"$GITHUB_STEP_SUMMARY\"\n  flakebox diagnose --html diagnosis.html --junit-out verdicts.xml -- pytest -q\n  flakebox diagnose --factors order -- pytest -q\n  flakebox diagnose --factors order --test tests/test_b.py::test_counts -- pytest -q"
)]
pub struct DiagnoseArgs {
    /// Factors to test: net, fs, time, db, rand (default: all, db only when
    /// PostgreSQL is installed). With rand, every run draws its OS randomness
    /// from a recorded entropy seed: one for all rand-isolated runs, one per
    /// round for the others, all derived from --seed and printed apart from it.
    /// Add `order` (or give it alone) to find tests that fail only after
    /// another test (victims: `order fixes`, running them alone does) or only
    /// alone (brittle: `order breaks`), their polluter or state setter, what
    /// it left and a replay; needs a runner that selects tests (pytest, go
    /// test, ...). Not with --shard: diagnose order once, unsharded.
    #[arg(long, value_name = "LIST")]
    pub factors: Option<String>,

    /// A test the order factor examines, whether or not any run of the suite
    /// fails it (repeatable; needs order in --factors). Name it as its runner
    /// does and as the report lists it: pytest `tests/test_x.py::test_y`, go
    /// `example.com/m/pkg TestY`. A name the suite does not have stops the
    /// diagnosis after the suite's first run, with some names it has.
    #[arg(long = "test", value_name = "ID")]
    pub tests: Vec<String>,

    /// Exactly N runs per condition (no adaptive stopping).
    #[arg(long, value_name = "N", value_parser = parse_runs)]
    pub runs: Option<usize>,

    /// At most N runs per condition while factors are undecided.
    #[arg(long, value_name = "N", default_value_t = diagnose::DEFAULT_MAX_RUNS, value_parser = parse_runs)]
    pub max_runs: usize,

    /// At least N runs per condition before stopping early.
    #[arg(long, value_name = "N", default_value_t = diagnose::DEFAULT_MIN_RUNS)]
    pub min_runs: usize,

    /// Family-wise significance level for claiming an effect.
    #[arg(long, default_value_t = 0.05, value_parser = parse_alpha)]
    pub alpha: f64,

    /// The diagnosis seed: it orders the runs (printed in the report, for replay)
    /// and derives every run's entropy seed (other numbers, printed apart: the
    /// ones to give `flakebox run --seed`).
    #[arg(long)]
    pub seed: Option<u64>,

    /// The JUnit XML file CMD writes; every run's copy is read and each test
    /// case gets its own verdict. flakebox carries it out of the sandbox.
    /// Not needed for a test runner flakebox recognises (see --runner).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,

    /// The test runner CMD starts: auto (recognise it: pytest, cargo test, a
    /// libtest binary, cargo nextest, go test, jest, vitest, rspec, mvn,
    /// gradle), none (diagnose CMD as a whole), or one of those names. With a
    /// runner, every test gets its own verdict with no wiring, and after a
    /// few screening runs of the whole suite only the tests that failed are
    /// rerun (focused reruns).
    #[arg(long, value_name = "NAME", default_value = "auto")]
    pub runner: String,

    /// List every test in the text and markdown reports, stable ones too
    /// (by default they are summed up in one line; JSON always lists all).
    #[arg(long)]
    pub all_tests: bool,

    /// Keep isolating every factor to the end: by default a factor the
    /// command provably never used (no session on the throwaway database in
    /// the first round; no lookup or connect in fully traced runs) is left
    /// out after the first round, and the report says why.
    #[arg(long)]
    pub keep_unused: bool,

    /// The clock for time-isolated runs (default: frozen at the moment the
    /// diagnosis starts; every run sees the same instant). Grammar as `run --time`.
    #[arg(long, value_name = "SPEC", allow_hyphen_values = true)]
    pub time: Option<String>,

    /// Stop any single run after this long (it counts as a failure, and as a
    /// timeout). Default: the first baseline run has no limit and every other
    /// run stops at 10 s + 5 × its duration (a baseline run is made first to
    /// measure it, uncounted, when the shuffle puts another condition first).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,

    #[command(flatten)]
    pub tmp: TmpSizeArg,

    #[arg(long, value_name = "DIR")]
    /// PostgreSQL server binaries for the db factor.
    pub postgres_bin: Option<PathBuf>,

    /// SQL to seed every throwaway database with (file or directory of *.sql).
    #[arg(long, value_name = "PATH")]
    pub postgres_init: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    /// Also write the report as a self-contained HTML page to FILE (beside
    /// --format's output: the terminal text and a CI artifact in one go).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Also write the per-test verdicts as JUnit XML to FILE, for a CI's
    /// test-report view: a test flaky because of a factor fails with the
    /// cause, p-value and replay; undecided tests are skipped with the reason.
    #[arg(long, value_name = "FILE")]
    pub junit_out: Option<PathBuf>,
    /// Run shard K (from 1) of a diagnosis planned for N shards, e.g. 2/4, and
    /// write its part to --out for `flakebox merge`. Needs --plan-id and --runs
    /// (the rounds over all shards). Default under sharding: the CI's own
    /// index (GitLab CI_NODE_INDEX/CI_NODE_TOTAL, Buildkite
    /// BUILDKITE_PARALLEL_JOB/_COUNT, Kubernetes JOB_COMPLETION_INDEX with
    /// --shard-count).
    #[arg(long, value_name = "K/N", requires = "plan_id")]
    pub shard: Option<String>,

    /// The number of shards, when only the index comes from the environment
    /// (a Kubernetes Indexed Job's JOB_COMPLETION_INDEX).
    #[arg(long, value_name = "N", requires = "plan_id")]
    pub shard_count: Option<usize>,

    /// The plan every shard shares, e.g. the commit SHA: the seeds and the
    /// rounds each shard owns derive from it, so shards agree without talking.
    /// Makes this run a shard (of --shard, or of the CI's parallel jobs).
    #[arg(long, value_name = "ID", requires = "out", conflicts_with = "seed")]
    pub plan_id: Option<String>,

    /// Where a shard writes its part (JSON, for `flakebox merge`).
    #[arg(long, value_name = "FILE", requires = "plan_id")]
    pub out: Option<PathBuf>,

    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

#[derive(Args, Debug, Clone)]
#[command(
    long_about = "Merge the parts written by `flakebox diagnose --shard K/N --plan-id ID --out FILE` \
into one report, as `diagnose` prints it, with every verdict (the command's and each test's) \
computed on the pooled rounds. The parts must come from one plan (same plan id, shard count, \
rounds, command, factors, alpha and clock); a part of another plan or a shard given twice is \
refused, naming what differs. A missing shard is named, and the report covers the rounds present.\n\n\
Exit status: as `diagnose` (0 stable pass, 1 stable failure, 10 environment, 11 intrinsic, \
12 undecided), 2 usage error or parts that do not fit together, 125 flakebox failed.",
    after_help = "Examples:\n  flakebox merge parts/*.json\n  flakebox merge --format markdown part-*.json >> \"$GITHUB_STEP_SUMMARY\""
)]
pub struct MergeArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    /// List every test in the text and markdown reports, stable ones too.
    #[arg(long)]
    pub all_tests: bool,

    /// Also write the merged report as a self-contained HTML page to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Also write the per-test verdicts as JUnit XML to FILE (as diagnose's).
    #[arg(long, value_name = "FILE")]
    pub junit_out: Option<PathBuf>,

    /// The part files, one per shard.
    #[arg(required = true, value_name = "PART")]
    pub parts: Vec<PathBuf>,
}

fn parse_runs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (2..=diagnose::MAX_RUNS_LIMIT).contains(&n) => Ok(n),
        _ => Err(format!("`{s}` is not a run count from 2 to {}", diagnose::MAX_RUNS_LIMIT)),
    }
}

fn parse_alpha(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(a) if a > 0.0 && a < 0.5 => Ok(a),
        _ => Err(format!("`{s}` is not a significance level between 0 and 0.5 (e.g. 0.05)")),
    }
}

#[derive(Args, Debug, Clone)]
#[command(
    long_about = "Run CMD in new mount, PID, network, UTS and IPC namespaces (and a user namespace \
when not root). The network is loopback only; /tmp, /var/tmp and /dev/shm are fresh; every other \
write lands in a throwaway copy-on-write layer, so the host is unchanged afterwards; the wall \
clock is frozen; OS randomness comes from a seed (fresh each run unless --seed), and a failing \
run prints the line that replays it. Processes CMD leaves running are killed and reported.\n\n\
Exit status: CMD's own; 128+N if it died of signal N; 127 not found; 126 not executable; \
124 timed out; 125 flakebox itself failed (the cause is printed).",
    after_help = "Examples:\n  flakebox run -- pytest -q\n  flakebox run --keep junit.xml -- pytest --junitxml=junit.xml\n  flakebox run --share net,fs -- ./integration.sh\n  flakebox run --timeout 5m -- make test\n  flakebox run --postgres --postgres-init db/schema.sql -- cargo test\n\nAs a test runner:\n  .cargo/config.toml:  [target.x86_64-unknown-linux-gnu] runner = [\"flakebox\", \"run\", \"--\"]\n  go test -exec 'flakebox run --' ./...\n  bazel test --run_under='flakebox run --' //..."
)]
pub struct RunArgs {
    /// Leave these factors unisolated: net, fs, time, db, rand (comma-separated or repeated).
    #[arg(long, value_name = "LIST")]
    pub share: Vec<String>,

    /// The seed of CMD's OS randomness (getrandom, /dev/urandom, arc4random, and
    /// what runtimes draw from them; bash's $RANDOM through the starting pid).
    /// Default: a fresh seed per run, printed with -v, in --report and on failure.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Let writes to PATH reach the host (JUnit files, coverage, artifacts). Repeatable.
    /// An existing path is bound through; a new one is copied out when CMD ends.
    #[arg(long, value_name = "PATH")]
    pub keep: Vec<PathBuf>,

    /// Make PATH (a file or directory, absolute) look absent to CMD: it is
    /// removed from the sandbox's copy-on-write view, never from your disk.
    /// Tests whether a file left on this machine makes CMD fail. Repeatable.
    #[arg(long, value_name = "PATH")]
    pub hide: Vec<PathBuf>,

    /// As root, give CMD back a capability the sandbox drops (CAP_SYS_TIME or
    /// sys_time), with a warning: it then acts on the host's kernel. Repeatable.
    #[arg(long, value_name = "CAP", value_parser = sandbox::parse_capability)]
    pub cap_add: Vec<sandbox::Capability>,

    #[command(flatten)]
    pub tmp: TmpSizeArg,

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
    #[arg(long, value_name = "SPEC", long_help = clock::TIME_SPEC_HELP, allow_hyphen_values = true)]
    pub time: Option<String>,

    /// Start a throwaway PostgreSQL for this run: it listens on 127.0.0.1:5432
    /// in the sandbox's own network (a free port with --share net) and a unix
    /// socket; DATABASE_URL, PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE point
    /// at it. It is gone when CMD ends; the tables left with rows are reported.
    #[arg(long)]
    pub postgres: bool,

    /// The PostgreSQL server binaries to use (default: pg_config --bindir, then
    /// /usr/lib/postgresql/*/bin, newest first).
    #[arg(long, value_name = "DIR", requires = "postgres")]
    pub postgres_bin: Option<PathBuf>,

    /// SQL applied once into the cached template, so every run starts from the
    /// seeded state: a file, or a directory of *.sql applied in lexical order.
    #[arg(long, value_name = "PATH", requires = "postgres")]
    pub postgres_init: Option<PathBuf>,

    /// Read the run's request (JSON, crate `runs`) from this inherited
    /// descriptor instead of the command line: how diagnose and timetravel
    /// start each run.
    #[arg(long, hide = true, value_name = "FD", exclusive = true)]
    pub request_fd: Option<i32>,

    /// Print a short summary of the evidence on stderr.
    #[arg(short, long)]
    pub verbose: bool,

    /// The command and its arguments.
    #[arg(last = true, required_unless_present = "request_fd", value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// `--tmp-size`, the same for every command that makes sandboxes.
#[derive(Args, Debug, Clone)]
pub struct TmpSizeArg {
    /// The size limit of each tmpfs of a sandbox (the host's memory): CMD's fresh
    /// /tmp, /var/tmp and /dev/shm, the copy-on-write layer its other writes land
    /// in, and flakebox's own (the throwaway database's files): bytes with an
    /// optional k, m or g suffix (512m, 4g), or a percentage of memory. Writes
    /// past it get ENOSPC ("No space left on device").
    #[arg(long, value_name = "SIZE", default_value_t = sandbox::TmpSize::DEFAULT)]
    pub tmp_size: sandbox::TmpSize,
}

#[derive(Args, Debug, Clone)]
pub struct DoctorArgs {
    /// Print the checks as JSON.
    #[arg(long)]
    pub json: bool,
}
