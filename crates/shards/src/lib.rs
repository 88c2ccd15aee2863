//! Sharded diagnosis: one diagnosis spread over N machines (a CI's parallel
//! jobs), each running a fixed share of the rounds, merged into one report.
//!
//! - [`spec`]: which shard this is (`--shard K/N`, or the CI's variables).
//! - [`plan`]: what every shard derives alone from the plan id: the seeds
//!   and the rounds each owns.
//! - [`part`]: the versioned JSON a shard writes.
//! - [`pool`]: checking parts belong to one plan, pooling their rounds.
//! - [`replay`]: running a shard (recording a part) and merging parts
//!   (replaying the pooled runs through the `diagnose` engine).
//!
//! # Statistical guarantee
//!
//! A shard runs exactly the rounds the plan gives it, whatever it sees: no
//! adaptive stopping, since no shard sees the others' rounds. Every round,
//! on any shard, runs every condition once in a shuffled order, so under
//! the null hypothesis (isolating a factor changes nothing) the two runs of
//! a pair are exchangeable within their round, on whatever machine the
//! round ran. The merged report is the engine's fixed-runs analysis of the
//! pooled rounds (`diagnose --runs R`, R the rounds merged), hence the same
//! guarantee: the chance of any false effect claim is at most `alpha`. That
//! analysis tests each factor with Fisher's exact test on the pooled counts;
//! with one run of each condition per round, differences between rounds
//! (drift, or machines that fail more often) widen the spread Fisher's test
//! assumes more than that of the difference it tests, so they make it more
//! cautious, not less. A missing shard only removes whole rounds, chosen
//! before any run, so the guarantee holds for the rounds merged.

pub mod part;
pub mod plan;
pub mod pool;
pub mod replay;
pub mod spec;

pub use part::{Part, PartPlan, PartRun, PART_FORMAT, PART_VERSION};
pub use plan::{plan_now, plan_seed, Plan};
pub use pool::{pool, Pooled};
pub use replay::{merged_report, run_shard, shard_options};
pub use spec::ShardSpec;

/// What can be wrong with a shard spec, a plan or the parts.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("{origin} `{given}`: {reason}")]
    BadSpec { origin: String, given: String, reason: String },
    #[error(
        "{var} gives the shard's index but not how many shards: add --shard-count N (the Job's completions)"
    )]
    CountMissing { var: String },
    #[error("--shard-count without a shard index: which shard is this? give --shard K/N, or run it where the CI sets the index (CI_NODE_INDEX, BUILDKITE_PARALLEL_JOB, JOB_COMPLETION_INDEX)")]
    IndexMissing,
    #[error("--shard-count {count} disagrees with shard {shard}: drop --shard-count or make them agree")]
    CountDisagrees { count: usize, shard: String },
    #[error("--plan-id `{given}`: {reason}")]
    BadPlanId { given: String, reason: String },
    #[error("--runs {rounds} is fewer rounds than the plan's {shards} shards: every shard needs one at least (e.g. --runs {shards} or more; --runs counts the rounds over all shards)")]
    TooFewRounds { rounds: usize, shards: usize },
    #[error("{part}: {reason}")]
    BadPart { part: String, reason: String },
    #[error("no parts to merge: give the files the shards wrote with --out")]
    NoParts,
    #[error("{part} belongs to another plan: its {field} is {value}, but {first}'s is {first_value}; merge only the parts of one plan (same --plan-id, --shard N, --runs, --factors, --alpha, --time and command)")]
    OtherPlan { part: String, field: &'static str, value: String, first: String, first_value: String },
    #[error("shard {shard}/{shards} is given twice ({first} and {second}): give each shard's part once")]
    Duplicate { shard: usize, shards: usize, first: String, second: String },
}
