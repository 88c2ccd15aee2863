//! The plan every shard derives on its own from the plan id: the seeds and
//! the rounds each shard owns. Pure: two machines given the same id, shard
//! count and total rounds compute the same plan.

use crate::ShardError;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest plan id accepted (a commit SHA with a run id fits many times).
pub const MAX_PLAN_ID: usize = 200;

/// The rounds and seeds of a sharded diagnosis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// As given (`--plan-id`), e.g. the commit SHA.
    pub plan_id: String,
    /// How many shards (N of `--shard K/N`).
    pub shards: usize,
    /// Rounds over all shards (`--runs`): each round runs every condition once.
    pub rounds: usize,
    /// The diagnosis' seed, from the plan id: the merged report's seed, and
    /// the one rand-isolated runs derive their entropy seed from.
    pub seed: u64,
}

impl Plan {
    /// The plan of `plan_id` for `shards` shards and `rounds` rounds in all.
    pub fn derive(plan_id: &str, shards: usize, rounds: usize) -> Result<Plan, ShardError> {
        check_plan_id(plan_id)?;
        if rounds < shards {
            return Err(ShardError::TooFewRounds { rounds, shards });
        }
        Ok(Plan { plan_id: plan_id.to_string(), shards, rounds, seed: plan_seed(plan_id) })
    }

    /// The rounds shard `index` (0-based) owns: consecutive blocks, sizes
    /// differing by one at most, together every round once.
    pub fn owned(&self, index: usize) -> Range<usize> {
        let at = |k: usize| k * self.rounds / self.shards;
        at(index)..at(index + 1)
    }

    /// The seed of shard `index`'s within-round shuffles: its own, so shards
    /// do not all run their conditions in one order.
    pub fn shard_seed(&self, index: usize) -> u64 {
        mix(self.seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    /// The entropy seed of every rand-isolated run, on every shard alike (so
    /// a rand-caused flake is stabilized the same way everywhere).
    pub fn entropy_seed(&self) -> u64 {
        diagnose::entropy_seed(self.seed)
    }
}

fn check_plan_id(id: &str) -> Result<(), ShardError> {
    let bad = |reason: &str| ShardError::BadPlanId { given: id.to_string(), reason: reason.into() };
    if id.trim().is_empty() {
        return Err(bad("it is empty: give one every shard shares, e.g. the commit SHA"));
    }
    if id.len() > MAX_PLAN_ID {
        return Err(bad("longer than 200 bytes: use a shorter one, e.g. the commit SHA"));
    }
    if id.chars().any(char::is_control) {
        return Err(bad("it has control characters"));
    }
    Ok(())
}

/// FNV-1a over the id's bytes, then a SplitMix64 finalizer: a hash fixed by
/// this code, not by the standard library's (which may change between
/// releases, and shards may run different builds).
pub fn plan_seed(plan_id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in plan_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The "now" a shard resolves `--time` against: noon UTC of the day `now`
/// falls in, so shards started at different moments of one day freeze the
/// clock at the same instant (a clock frozen at each shard's own start
/// would differ from shard to shard). Shards started on different days
/// differ, and `merge` refuses them by the frozen instant: give `--time`
/// (e.g. the commit's date) when shards may straddle midnight UTC.
pub fn plan_now(now: SystemTime) -> SystemTime {
    const DAY: u64 = 86_400;
    let secs = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    UNIX_EPOCH + Duration::from_secs(secs / DAY * DAY + DAY / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_id_gives_the_same_plan_and_another_id_another_seed() {
        let a = Plan::derive("abc123", 4, 40).unwrap();
        assert_eq!(a, Plan::derive("abc123", 4, 40).unwrap());
        assert_ne!(a.seed, Plan::derive("abc124", 4, 40).unwrap().seed);
        // Fixed by this code: a shard built from another release agrees.
        assert_eq!(plan_seed(""), mix(0xcbf2_9ce4_8422_2325));
        assert_eq!(plan_seed("a"), mix(0xaf63_dc4c_8601_ec8c));
    }

    #[test]
    fn every_round_is_owned_by_exactly_one_shard() {
        for shards in 1..=9 {
            for rounds in shards..=30 {
                let p = Plan::derive("x", shards, rounds).unwrap();
                let mut all: Vec<usize> = (0..shards).flat_map(|k| p.owned(k)).collect();
                all.sort();
                assert_eq!(all, (0..rounds).collect::<Vec<_>>());
                let sizes: Vec<usize> = (0..shards).map(|k| p.owned(k).len()).collect();
                let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(*lo >= 1 && hi - lo <= 1, "{sizes:?}");
            }
        }
        let p = Plan::derive("x", 3, 10).unwrap();
        assert_eq!([p.owned(0), p.owned(1), p.owned(2)], [0..3, 3..6, 6..10]);
    }

    #[test]
    fn shards_shuffle_differently_but_share_the_entropy_seed() {
        let p = Plan::derive("x", 3, 9).unwrap();
        assert_ne!(p.shard_seed(0), p.shard_seed(1));
        assert_ne!(p.shard_seed(0), p.seed);
        assert_eq!(p.entropy_seed(), diagnose::entropy_seed(p.seed));
    }

    #[test]
    fn bad_plans_are_named() {
        let e = Plan::derive("x", 8, 5).unwrap_err().to_string();
        assert!(e.contains("--runs 5") && e.contains("8 shards") && e.contains("--runs 8"), "{e}");
        let e = Plan::derive(" ", 2, 5).unwrap_err().to_string();
        assert!(e.contains("commit SHA"), "{e}");
        assert!(Plan::derive(&"x".repeat(201), 2, 5).is_err());
        assert!(Plan::derive("a\nb", 2, 5).is_err());
    }

    #[test]
    fn plan_now_is_noon_utc_of_the_day() {
        let day = 20_000 * 86_400;
        for offset in [0, 1, 43_200, 86_399] {
            let t = UNIX_EPOCH + Duration::from_secs(day + offset);
            assert_eq!(plan_now(t), UNIX_EPOCH + Duration::from_secs(day + 43_200));
        }
    }
}
