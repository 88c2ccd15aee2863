//! `flakebox diagnose --shard K/N --plan-id ID --out FILE`: one shard of a
//! diagnosis spread over machines (crate `shards`), its part written for
//! `flakebox merge`.

use crate::cli::DiagnoseArgs;
use anyhow::{bail, Context, Result};
use diagnose::{Options, Progress, Report, Runner};
use shards::{Part, PartPlan, Plan, ShardSpec};
use std::path::PathBuf;
use std::time::SystemTime;

/// A diagnosis run as one shard.
pub struct Shard {
    pub spec: ShardSpec,
    pub plan: Plan,
    out: PathBuf,
}

impl Shard {
    /// The shard the arguments ask for (`None`: an ordinary diagnosis).
    pub fn from_args(args: &DiagnoseArgs) -> Result<Option<Shard>> {
        let Some(plan_id) = &args.plan_id else { return Ok(None) };
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let Some(spec) = ShardSpec::resolve(args.shard.as_deref(), args.shard_count, env)? else {
            bail!(
                "--plan-id: which shard is this? give --shard K/N (on GitHub Actions, from the matrix), or run it \
                 as a GitLab `parallel:` job, a Buildkite parallel step or a Kubernetes Indexed Job (with --shard-count N)"
            );
        };
        let Some(rounds) = args.runs else {
            bail!("--plan-id: a shard runs a fixed number of rounds: add --runs R, the rounds over all shards (e.g. --runs {})", 10 * spec.count);
        };
        let plan = Plan::derive(plan_id, spec.count, rounds)?;
        let out = args.out.clone().context("--plan-id needs --out FILE, where the shard writes its part")?;
        Ok(Some(Shard { spec, plan, out }))
    }

    /// The moment `--time` is resolved against: one for every shard of the
    /// plan (see [`shards::plan_now`]).
    pub fn now(&self) -> SystemTime {
        shards::plan_now(SystemTime::now())
    }

    /// Run this shard's rounds: its own report, and its part.
    pub fn run(
        &self,
        command: &[String],
        opts: &Options,
        time: String,
        runner: &mut dyn Runner,
        progress: &mut dyn FnMut(&Progress),
    ) -> std::result::Result<(Report, Part), diagnose::DiagnoseError> {
        let plan = PartPlan {
            plan_id: self.plan.plan_id.clone(),
            shards: self.plan.shards,
            rounds: self.plan.rounds,
            seed: self.plan.seed,
            command: command.to_vec(),
            factors: opts.factors,
            alpha: opts.alpha,
            time,
        };
        shards::run_shard(opts, &plan, self.spec.index, runner, progress)
    }

    /// Write the part (not for an interrupted shard: its rounds are
    /// incomplete) and say so. A shard's exit status is 0 once its part is
    /// written: the verdict is the merge's.
    pub fn finish(&self, mut part: Part, report: &Report) -> Result<i32> {
        if report.stopped == diagnose::StopReason::Interrupted {
            eprintln!("flakebox: shard {} interrupted: no part written", self.spec);
            return Ok(diagnose::exit::INTERRUPTED);
        }
        part.host = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
        part.flakebox_version = env!("CARGO_PKG_VERSION").to_string();
        let json = part.to_json().context("encoding the part")?;
        std::fs::write(&self.out, json)
            .with_context(|| format!("writing the part to {}", self.out.display()))?;
        let r = part.rounds();
        eprintln!(
            "flakebox: shard {} of plan `{}` ran rounds {}-{} of {}; its part is {}: merge every shard's part with `flakebox merge`",
            self.spec,
            self.plan.plan_id,
            r.start + 1,
            r.end,
            self.plan.rounds,
            self.out.display()
        );
        Ok(0)
    }
}
