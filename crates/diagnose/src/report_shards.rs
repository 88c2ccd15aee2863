//! The shards section of a merged report (`flakebox merge`): which shards
//! the pooled rounds came from, each shard's own counts and evidence, and
//! the shards that are missing. Built by crate `shards`; rendered here, with
//! the rest of the report.

use crate::report::ConditionReport;
use factors::Factor;
use render::md_escape;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Where a merged report's rounds came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardsSection {
    /// The plan id every part carries.
    pub plan_id: String,
    /// Shards planned (N).
    pub shards: usize,
    /// Rounds planned over all shards; the report counts the present ones'.
    pub rounds_planned: usize,
    /// The shards merged, in shard order.
    pub present: Vec<ShardLine>,
    /// The shards with no part, 1-based, with the rounds they own.
    #[serde(default)]
    pub missing: Vec<MissingShard>,
}

/// One merged shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardLine {
    /// 1-based (K of `--shard K/N`).
    pub shard: usize,
    /// The plan's rounds it ran: `first_round` (0-based) and how many.
    pub first_round: usize,
    pub rounds: usize,
    /// The machine it ran on (its hostname).
    pub host: String,
    pub wall_seconds: f64,
    /// Its own runs per condition.
    pub conditions: Vec<ConditionReport>,
    /// Its own evidence for the factors with an effect in the merged
    /// report, with its own counts.
    #[serde(default)]
    pub evidence: Vec<ShardEvidence>,
}

/// One factor's evidence from one shard's runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardEvidence {
    pub factor: Factor,
    pub lines: Vec<String>,
}

/// A shard with no part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissingShard {
    /// 1-based.
    pub shard: usize,
    pub first_round: usize,
    pub rounds: usize,
}

fn rounds_text(first: usize, n: usize) -> String {
    match n {
        1 => format!("round {}", first + 1),
        _ => format!("rounds {}-{}", first + 1, first + n),
    }
}

fn failed_per_condition(conds: &[ConditionReport]) -> String {
    conds.iter().map(|c| format!("{} {}/{}", c.name, c.failed, c.runs)).collect::<Vec<_>>().join(", ")
}

impl ShardsSection {
    fn headline(&self) -> String {
        let rounds: usize = self.present.iter().map(|s| s.rounds).sum();
        format!(
            "shards: plan `{}`, {} of {} shards merged, {} of {} rounds",
            self.plan_id,
            self.present.len(),
            self.shards,
            rounds,
            self.rounds_planned
        )
    }

    /// The section for the text report.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.headline());
        for s in &self.present {
            let _ = writeln!(
                out,
                "  {}/{}  {}  on {}, {:.1}s: failed {}",
                s.shard,
                self.shards,
                rounds_text(s.first_round, s.rounds),
                s.host,
                s.wall_seconds,
                failed_per_condition(&s.conditions)
            );
            for e in &s.evidence {
                for l in &e.lines {
                    let _ = writeln!(out, "      {}: {l}", e.factor);
                }
            }
        }
        for m in &self.missing {
            let _ = writeln!(
                out,
                "  {}/{}  {}  missing: not counted",
                m.shard,
                self.shards,
                rounds_text(m.first_round, m.rounds)
            );
        }
        out
    }

    /// The section for the markdown report.
    pub(crate) fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", md_escape(&self.headline()));
        let _ = writeln!(out);
        let _ = writeln!(out, "| shard | host | rounds | failed per condition | evidence |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for s in &self.present {
            let ev: Vec<String> = s
                .evidence
                .iter()
                .flat_map(|e| e.lines.iter().map(move |l| md_escape(&format!("{}: {l}", e.factor))))
                .collect();
            let _ = writeln!(
                out,
                "| {}/{} | {} | {} | {} | {} |",
                s.shard,
                self.shards,
                md_escape(&s.host),
                rounds_text(s.first_round, s.rounds),
                failed_per_condition(&s.conditions),
                ev.join("<br>")
            );
        }
        for m in &self.missing {
            let _ = writeln!(
                out,
                "| {}/{} | | {} | **missing**: not counted | |",
                m.shard,
                self.shards,
                rounds_text(m.first_round, m.rounds)
            );
        }
        out
    }
}
