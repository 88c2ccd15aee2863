//! Which shard this process is: `--shard K/N`, or the CI's own parallel-job
//! variables.

use crate::ShardError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Shard `index + 1` of `count` (0-based inside, 1-based when shown, as
/// `--shard K/N` is written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ShardSpec {
    /// 0-based.
    pub index: usize,
    pub count: usize,
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index + 1, self.count)
    }
}

/// Most shards a plan may have: more shards than that would each own a
/// sliver of rounds, and the run limit per condition bounds the rounds.
pub const MAX_SHARDS: usize = diagnose::MAX_RUNS_LIMIT;

/// Where a shard spec came from, for messages.
const FLAG: &str = "--shard";

impl ShardSpec {
    /// Shard `k` (1-based) of `n`, checked.
    pub fn new(k: usize, n: usize, source: &str, given: &str) -> Result<Self, ShardError> {
        let bad = |reason: String| ShardError::BadSpec { origin: source.into(), given: given.into(), reason };
        if n == 0 {
            return Err(bad("a plan has at least 1 shard (e.g. 1/1)".into()));
        }
        if n > MAX_SHARDS {
            return Err(bad(format!("at most {MAX_SHARDS} shards")));
        }
        if k == 0 || k > n {
            return Err(bad(format!(
                "shard {k} of {n} does not exist: K goes from 1 to {n} (e.g. {FLAG} {}/{n})",
                k.clamp(1, n)
            )));
        }
        Ok(ShardSpec { index: k - 1, count: n })
    }

    /// `K/N` as `--shard` takes it: K from 1 to N.
    pub fn parse(s: &str) -> Result<Self, ShardError> {
        let bad = |reason: &str| ShardError::BadSpec {
            origin: FLAG.into(),
            given: s.into(),
            reason: reason.into(),
        };
        let Some((k, n)) = s.split_once('/') else {
            return Err(bad("write it K/N, shard K (from 1) of N, e.g. 2/4"));
        };
        let num = |x: &str| x.trim().parse::<usize>().map_err(|_| bad("K and N are whole numbers, e.g. 2/4"));
        ShardSpec::new(num(k)?, num(n)?, FLAG, s)
    }

    /// The shard from the command line or, without `--shard`, from the CI's
    /// parallel-job variables: GitLab's `CI_NODE_INDEX` (1-based) and
    /// `CI_NODE_TOTAL`, Buildkite's `BUILDKITE_PARALLEL_JOB` (0-based) and
    /// `BUILDKITE_PARALLEL_JOB_COUNT`, or a Kubernetes Indexed Job's
    /// `JOB_COMPLETION_INDEX` (0-based) with `count` (`--shard-count`; the
    /// Job does not export its completions). `count`, when given, must agree
    /// with the CI's total. `Ok(None)`: no shard anywhere.
    pub fn resolve(
        flag: Option<&str>,
        count: Option<usize>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ShardError> {
        let spec = if let Some(s) = flag {
            ShardSpec::parse(s)?
        } else if let Some(k) = env("CI_NODE_INDEX") {
            ci_pair("CI_NODE_INDEX", &k, "CI_NODE_TOTAL", env("CI_NODE_TOTAL"), 1)?
        } else if let Some(k) = env("BUILDKITE_PARALLEL_JOB") {
            ci_pair(
                "BUILDKITE_PARALLEL_JOB",
                &k,
                "BUILDKITE_PARALLEL_JOB_COUNT",
                env("BUILDKITE_PARALLEL_JOB_COUNT"),
                0,
            )?
        } else if let Some(k) = env("JOB_COMPLETION_INDEX") {
            let Some(n) = count else {
                return Err(ShardError::CountMissing { var: "JOB_COMPLETION_INDEX".into() });
            };
            let i = env_number("JOB_COMPLETION_INDEX", &k)?;
            let given = format!("JOB_COMPLETION_INDEX={k} with --shard-count {n}");
            ShardSpec::new(i + 1, n, "JOB_COMPLETION_INDEX (0-based)", &given)?
        } else {
            return match count {
                Some(_) => Err(ShardError::IndexMissing),
                None => Ok(None),
            };
        };
        match count {
            Some(n) if n != spec.count => {
                Err(ShardError::CountDisagrees { count: n, shard: spec.to_string() })
            }
            _ => Ok(Some(spec)),
        }
    }
}

fn env_number(var: &str, value: &str) -> Result<usize, ShardError> {
    value.trim().parse::<usize>().map_err(|_| ShardError::BadSpec {
        origin: var.into(),
        given: value.into(),
        reason: "not a whole number".into(),
    })
}

/// An index variable with its total; `base` is the index of the first shard.
fn ci_pair(
    index_var: &str,
    index: &str,
    total_var: &str,
    total: Option<String>,
    base: usize,
) -> Result<ShardSpec, ShardError> {
    let Some(total) = total else {
        return Err(ShardError::BadSpec {
            origin: index_var.into(),
            given: index.into(),
            reason: format!("{total_var} is not set: the job is not parallel, or give --shard K/N"),
        });
    };
    let k = env_number(index_var, index)?;
    let n = env_number(total_var, &total)?;
    let given = format!("{index_var}={index}, {total_var}={total}");
    let source = if base == 1 { "the CI (1-based index)" } else { "the CI (0-based index)" };
    if k < base {
        return Err(ShardError::BadSpec {
            origin: source.into(),
            given,
            reason: format!("{index_var} counts from {base}"),
        });
    }
    ShardSpec::new(k - base + 1, n, source, &given)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn parses_k_of_n_from_one() {
        assert_eq!(ShardSpec::parse("1/3").unwrap(), ShardSpec { index: 0, count: 3 });
        assert_eq!(ShardSpec::parse("3/3").unwrap().to_string(), "3/3");
    }

    #[test]
    fn names_the_bad_spec_and_the_fix() {
        let e = ShardSpec::parse("4/3").unwrap_err().to_string();
        assert!(e.contains("`4/3`") && e.contains("K goes from 1 to 3") && e.contains("--shard 3/3"), "{e}");
        let e = ShardSpec::parse("0/3").unwrap_err().to_string();
        assert!(e.contains("--shard 1/3"), "{e}");
        for bad in ["3", "a/b", "1/0", "-1/2", ""] {
            let e = ShardSpec::parse(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
        }
    }

    #[test]
    fn gitlab_counts_from_one_buildkite_and_kubernetes_from_zero() {
        let g = [("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "4")];
        assert_eq!(ShardSpec::resolve(None, None, env(&g)).unwrap(), Some(ShardSpec { index: 1, count: 4 }));
        let b = [("BUILDKITE_PARALLEL_JOB", "0"), ("BUILDKITE_PARALLEL_JOB_COUNT", "4")];
        assert_eq!(ShardSpec::resolve(None, None, env(&b)).unwrap(), Some(ShardSpec { index: 0, count: 4 }));
        let k = [("JOB_COMPLETION_INDEX", "3")];
        assert_eq!(
            ShardSpec::resolve(None, Some(4), env(&k)).unwrap(),
            Some(ShardSpec { index: 3, count: 4 })
        );
    }

    #[test]
    fn the_flag_wins_over_the_environment() {
        let g = [("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "4")];
        assert_eq!(
            ShardSpec::resolve(Some("1/2"), None, env(&g)).unwrap(),
            Some(ShardSpec { index: 0, count: 2 })
        );
        assert_eq!(ShardSpec::resolve(None, None, env(&[])).unwrap(), None);
    }

    #[test]
    fn bad_ci_variables_are_named() {
        let e = ShardSpec::resolve(None, None, env(&[("CI_NODE_INDEX", "0"), ("CI_NODE_TOTAL", "4")]));
        assert!(e.unwrap_err().to_string().contains("CI_NODE_INDEX counts from 1"));
        let e = ShardSpec::resolve(None, None, env(&[("CI_NODE_INDEX", "2")]));
        assert!(e.unwrap_err().to_string().contains("CI_NODE_TOTAL is not set"));
        let e = ShardSpec::resolve(
            None,
            None,
            env(&[("BUILDKITE_PARALLEL_JOB", "4"), ("BUILDKITE_PARALLEL_JOB_COUNT", "4")]),
        );
        assert!(e.unwrap_err().to_string().contains("shard 5 of 4"));
        let e = ShardSpec::resolve(None, None, env(&[("JOB_COMPLETION_INDEX", "x")]));
        assert!(e.unwrap_err().to_string().contains("--shard-count"));
        let e = ShardSpec::resolve(None, Some(3), env(&[("JOB_COMPLETION_INDEX", "x")]));
        assert!(e.unwrap_err().to_string().contains("`x`"));
        let e = ShardSpec::resolve(None, Some(3), env(&[("CI_NODE_INDEX", "1"), ("CI_NODE_TOTAL", "4")]));
        assert!(e.unwrap_err().to_string().contains("--shard-count 3"));
        let e = ShardSpec::resolve(None, Some(3), env(&[]));
        assert!(e.unwrap_err().to_string().contains("which shard"));
    }
}
