//! The part file one shard writes (`flakebox diagnose --shard K/N --out
//! FILE`) and `flakebox merge` reads: JSON, format
//! [`PART_FORMAT`] version [`PART_VERSION`].
//!
//! ```text
//! {
//!   "format": "flakebox-diagnose-part",
//!   "version": 1,
//!   "plan": {                      // identical in every part of one plan
//!     "plan_id": "3f2c…",          // --plan-id
//!     "shards": 4,                 // N
//!     "rounds": 40,                // --runs: rounds over all shards
//!     "seed": 123,                 // from the plan id
//!     "command": ["pytest", "-q"],
//!     "factors": ["net", "fs", "time"],
//!     "alpha": 0.05,
//!     "time": "2026-11-30T12:00:00Z"  // the clock of time-isolated runs (`run --time`)
//!   },
//!   "shard": 2,                    // K, from 1
//!   "first_round": 10,             // the plan's rounds this shard ran, 0-based
//!   "round_count": 10,
//!   "host": "runner-7",
//!   "flakebox_version": "0.1.0",
//!   "shard_seed": 456,             // this shard's within-round shuffles
//!   "wall_seconds": 81.5,
//!   "runs": [                      // one per condition per round owned
//!     { "round": 10, "isolate": ["net"], "outcome": { … } }
//!   ]
//! }
//! ```
//!
//! `outcome` is the engine's [`diagnose::RunOutcome`] as the run produced
//! it (exit code, pass, durations, JUnit text, per-test results, evidence):
//! everything `merge` needs to compute the report exactly as `diagnose`
//! would have. A later version adds fields only; a reader refuses a
//! version it does not know.

use crate::plan::Plan;
use crate::ShardError;
use diagnose::RunOutcome;
use factors::FactorSet;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// The `format` field of every part.
pub const PART_FORMAT: &str = "flakebox-diagnose-part";
/// The `version` this build writes and reads.
pub const PART_VERSION: u32 = 1;

/// What every shard of one plan must agree on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartPlan {
    pub plan_id: String,
    pub shards: usize,
    pub rounds: usize,
    pub seed: u64,
    pub command: Vec<String>,
    pub factors: FactorSet,
    pub alpha: f64,
    /// The clock of time-isolated runs, as `flakebox run --time` replays it.
    pub time: String,
}

impl PartPlan {
    /// The plan proper (rounds and seeds).
    pub fn plan(&self) -> Plan {
        Plan { plan_id: self.plan_id.clone(), shards: self.shards, rounds: self.rounds, seed: self.seed }
    }

    /// The first field in which `other` differs from `self`: its name and
    /// both values as shown to the user.
    pub fn first_difference(&self, other: &PartPlan) -> Option<(&'static str, String, String)> {
        let d = |name, a: String, b: String| (a != b).then_some((name, a, b));
        d("plan_id", self.plan_id.clone(), other.plan_id.clone())
            .or_else(|| d("shards", self.shards.to_string(), other.shards.to_string()))
            .or_else(|| d("rounds", self.rounds.to_string(), other.rounds.to_string()))
            .or_else(|| d("command", format!("{:?}", self.command), format!("{:?}", other.command)))
            .or_else(|| d("factors", self.factors.to_string(), other.factors.to_string()))
            .or_else(|| d("alpha", self.alpha.to_string(), other.alpha.to_string()))
            .or_else(|| d("time", self.time.clone(), other.time.clone()))
            .or_else(|| d("seed", self.seed.to_string(), other.seed.to_string()))
    }
}

/// One run of a shard, at its place in the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartRun {
    /// The plan's round (0-based, over all shards).
    pub round: usize,
    /// The condition: the factors isolated (empty = baseline).
    pub isolate: FactorSet,
    pub outcome: RunOutcome,
}

/// One shard's part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub format: String,
    pub version: u32,
    pub plan: PartPlan,
    /// K of `--shard K/N`, from 1.
    pub shard: usize,
    pub first_round: usize,
    pub round_count: usize,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub flakebox_version: String,
    #[serde(default)]
    pub shard_seed: u64,
    #[serde(default)]
    pub wall_seconds: f64,
    pub runs: Vec<PartRun>,
}

/// The two fields read before the rest, so a part of another version is
/// refused by its version, not by whichever field it lacks.
#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    format: String,
    #[serde(default)]
    version: u32,
}

impl Part {
    /// The plan's rounds this part ran.
    pub fn rounds(&self) -> Range<usize> {
        self.first_round..self.first_round + self.round_count
    }

    /// The part as written to a file.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// Read a part; `name` (its path) names it in errors.
    pub fn from_json(name: &str, text: &str) -> Result<Part, ShardError> {
        let bad = |reason: String| ShardError::BadPart { part: name.to_string(), reason };
        let h: Header = serde_json::from_str(text).map_err(|e| bad(format!("not a part file: {e}")))?;
        if h.format != PART_FORMAT {
            return Err(bad(format!(
                "its format is `{}`, not `{PART_FORMAT}`: give the files `flakebox diagnose --shard K/N --out FILE` wrote",
                h.format
            )));
        }
        if h.version != PART_VERSION {
            return Err(bad(format!(
                "it is version {} and this flakebox reads version {PART_VERSION}: merge with the flakebox that wrote it",
                h.version
            )));
        }
        serde_json::from_str(text).map_err(|e| bad(e.to_string()))
    }
}
