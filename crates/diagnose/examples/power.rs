//! Power, false-positive rates and runs to a verdict of the method on
//! simulated commands: `cargo run --release -p flakebox-diagnose --example power`.
//!
//! Prints, for commands whose failures come from one factor (at several
//! rates, or through state kept between runs) and for purely random commands
//! (the null: no factor matters), the verdicts over many seeded diagnoses,
//! the mean rounds and the mean runs they took.

use factors::{Factor, FactorSet};
use flakebox_diagnose::{diagnose, Options, RunOutcome, RunSpec, Runner, RunnerError};
use std::collections::{BTreeMap, HashMap};

/// A simulated command: `pass(isolate, seen, rng)` where `seen` counts the
/// earlier runs sharing this run's persistent state (per condition unless fs
/// is isolated), and `shared` the earlier runs that used the environment's
/// database (every condition without db isolated).
struct Sim<F> {
    rng: fastrand::Rng,
    seen: HashMap<FactorSet, usize>,
    shared: usize,
    pass: F,
}

impl<F: FnMut(FactorSet, usize, usize, &mut fastrand::Rng) -> bool> Runner for Sim<F> {
    fn run(&mut self, spec: &RunSpec) -> Result<RunOutcome, RunnerError> {
        let seen = self.seen.entry(spec.isolate).or_insert(0);
        let n = if spec.isolate.contains(Factor::Fs) { 0 } else { *seen };
        *seen += 1;
        let shared = self.shared;
        if !spec.isolate.contains(Factor::Db) {
            self.shared += 1;
        }
        Ok(RunOutcome::new((self.pass)(spec.isolate, n, shared, &mut self.rng)))
    }
}

type Pass = fn(FactorSet, usize, usize, &mut fastrand::Rng) -> bool;

fn simulate(n: u64, pass: Pass) -> (f64, f64, BTreeMap<String, usize>) {
    let (mut rounds, mut runs) = (0usize, 0usize);
    let mut verdicts = BTreeMap::new();
    for seed in 0..n {
        let o = Options { factors: FactorSet::all(), seed, ..Options::default() };
        let mut runner =
            Sim { rng: fastrand::Rng::with_seed(seed ^ 0x1234_5678), seen: HashMap::new(), shared: 0, pass };
        let Ok(rep) = diagnose(&["sim".into()], &o, &mut runner, &mut |_| {}) else {
            continue;
        };
        rounds += rep.rounds;
        runs += rep.runs_total;
        let key = match rep.factors.first() {
            Some(f) => format!("{} {} {}", rep.verdict.name(), f.factor, f.effect.name()),
            None => rep.verdict.name().to_string(),
        };
        *verdicts.entry(key).or_default() += 1;
    }
    (rounds as f64 / n as f64, runs as f64 / n as f64, verdicts)
}

fn main() {
    let cases: [(&str, u64, Pass); 12] = [
        ("net-caused 50%", 300, |iso, _, _, r| iso.contains(Factor::Net) || r.f64() >= 0.5),
        ("net-caused 30%", 300, |iso, _, _, r| iso.contains(Factor::Net) || r.f64() >= 0.3),
        ("net-caused 10%", 300, |iso, _, _, r| iso.contains(Factor::Net) || r.f64() >= 0.1),
        ("db-caused 95%", 300, |iso, _, _, r| iso.contains(Factor::Db) || r.f64() >= 0.95),
        // A fixed key inserted into a database every condition without db
        // isolated shares: only the very first such run passes.
        ("shared db, fixed key", 300, |iso, _, shared, _| iso.contains(Factor::Db) || shared == 0),
        // A file left by the previous run of the same condition.
        ("fails after its first run", 300, |iso, seen, _, _| iso.contains(Factor::Fs) || seen == 0),
        ("needs the network", 300, |iso, _, _, _| !iso.contains(Factor::Net)),
        ("random 40%", 1000, |_, _, _, r| r.f64() >= 0.4),
        ("random 10%", 1000, |_, _, _, r| r.f64() >= 0.1),
        ("random 5%", 1000, |_, _, _, r| r.f64() >= 0.05),
        ("random 2%", 1000, |_, _, _, r| r.f64() >= 0.02),
        ("stable", 100, |_, _, _, _| true),
    ];
    for (name, n, pass) in cases {
        let (rounds, runs, v) = simulate(n, pass);
        println!("{name:<26} mean rounds {rounds:5.1}  runs {runs:6.1}  {v:?}");
    }
}
