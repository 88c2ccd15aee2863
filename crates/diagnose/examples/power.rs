//! Power and false-positive rates of the method on simulated commands:
//! `cargo run --release -p flakebox-diagnose --example power`.
//!
//! Prints, for commands whose failures come from the network at several
//! rates and for purely random commands (the null: no factor matters), the
//! verdicts over many seeded diagnoses and the rounds they took.

use factors::{Factor, FactorSet};
use flakebox_diagnose::{diagnose, Options, RunOutcome};
use std::collections::BTreeMap;

fn simulate(n: u64, pass_prob: &dyn Fn(FactorSet) -> f64) -> (f64, BTreeMap<String, usize>) {
    let mut rounds = 0usize;
    let mut verdicts = BTreeMap::new();
    for seed in 0..n {
        let o = Options { factors: FactorSet::all(), seed, ..Options::default() };
        let mut rng = fastrand::Rng::with_seed(seed ^ 0x1234_5678);
        let mut runner = |iso: FactorSet, _| Ok(RunOutcome::new(rng.f64() < pass_prob(iso)));
        let Ok(rep) = diagnose(&["sim".into()], &o, &mut runner, &mut |_| {}) else {
            continue;
        };
        rounds += rep.rounds;
        let key = match rep.factors.first() {
            Some(f) => format!("{} {} {}", rep.verdict.name(), f.factor, f.effect.name()),
            None => rep.verdict.name().to_string(),
        };
        *verdicts.entry(key).or_default() += 1;
    }
    (rounds as f64 / n as f64, verdicts)
}

fn main() {
    for fail in [0.5, 0.3, 0.1] {
        let (r, v) = simulate(300, &|iso| {
            if iso.contains(Factor::Net) {
                1.0
            } else {
                1.0 - fail
            }
        });
        println!("net-caused failures {:>3.0}%: mean rounds {r:5.1}  {v:?}", fail * 100.0);
    }
    for fail in [0.4, 0.1, 0.05, 0.02] {
        let (r, v) = simulate(1000, &|_| 1.0 - fail);
        println!("random failures {:>3.0}%:     mean rounds {r:5.1}  {v:?}", fail * 100.0);
    }
}
