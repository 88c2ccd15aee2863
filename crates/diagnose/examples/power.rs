//! Power, false-positive rates and runs to a verdict of the method on
//! simulated commands: `cargo run --release -p flakebox-diagnose --example power`.
//!
//! Prints, for commands whose failures come from one factor (at several
//! rates, or through state kept between runs) and for purely random commands
//! (the null: no factor matters), the verdicts over many seeded diagnoses,
//! the mean rounds and the mean runs they took.

use factors::{Factor, FactorSet};
use flakebox_diagnose::{diagnose, junit, Options, Outcome, RunOutcome, RunSpec, Runner, RunnerError};
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

fn simulate(n: u64, factors: FactorSet, pass: Pass) -> (f64, f64, usize, BTreeMap<String, usize>) {
    let (mut rounds, mut runs, mut most) = (0usize, 0usize, 0usize);
    let mut verdicts = BTreeMap::new();
    for seed in 0..n {
        let o = Options { factors, seed, ..Options::default() };
        let mut runner =
            Sim { rng: fastrand::Rng::with_seed(seed ^ 0x1234_5678), seen: HashMap::new(), shared: 0, pass };
        let Ok(rep) = diagnose(&["sim".into()], &o, &mut runner, &mut |_| {}) else {
            continue;
        };
        rounds += rep.rounds;
        runs += rep.runs_total;
        most = most.max(rep.runs_total);
        let key = match rep.factors.first() {
            Some(f) => format!("{} {} {}", rep.verdict.name(), f.factor, f.effect.name()),
            None => rep.verdict.name().to_string(),
        };
        *verdicts.entry(key).or_default() += 1;
    }
    (rounds as f64 / n as f64, runs as f64 / n as f64, most, verdicts)
}

/// The target of focused reruns: a suite of `SUITE` passing tests plus one
/// failing on the wall-clock second (`clock_rate` of runs, unless time is
/// isolated) and one failing in every run after its condition's first
/// (unless fs is isolated). Honours `RunSpec::tests`; state is per
/// (condition, screening).
struct Suite {
    rng: fastrand::Rng,
    clock_rate: f64,
    state: HashMap<(FactorSet, bool), usize>,
    runs: usize,
    whole: usize,
}

const SUITE: usize = 2000;

impl Runner for Suite {
    fn run(&mut self, spec: &RunSpec) -> Result<RunOutcome, RunnerError> {
        let prior = self.state.entry((spec.isolate, spec.screening)).or_insert(0);
        let left = !spec.isolate.contains(Factor::Fs) && *prior > 0;
        *prior += 1;
        self.runs += 1;
        let case = |name: &str, failed: bool| junit::TestCase {
            name: name.into(),
            outcome: if failed { Outcome::Failed } else { Outcome::Passed },
            flaky_reruns: 0,
        };
        let clock = !spec.isolate.contains(Factor::Time) && self.rng.f64() < self.clock_rate;
        let mut tests = vec![case("clock", clock), case("scratch", left)];
        if spec.tests.is_none() {
            self.whole += 1;
            tests.extend((0..SUITE).map(|k| case(&format!("t{k}"), false)));
        } else {
            tests.retain(|t| spec.tests.as_ref().is_some_and(|s| s.contains(&t.name)));
        }
        let passed = tests.iter().all(|t| t.outcome == Outcome::Passed);
        Ok(RunOutcome { tests, ..RunOutcome::new(passed) })
    }
}

/// Runs, and the cost in whole-suite runs when a focused run costs
/// `overhead` of one (start-up, collection) plus its tests' share.
fn focused(n: u64, factors: FactorSet, clock_rate: f64, overhead: f64) -> String {
    let (mut runs, mut cost, mut found, mut worst) = (0usize, 0f64, 0usize, 0f64);
    for seed in 0..n {
        let o = Options { factors, seed, focus: true, ..Options::default() };
        let mut s = Suite {
            rng: fastrand::Rng::with_seed(seed ^ 0x5eed),
            clock_rate,
            state: HashMap::new(),
            runs: 0,
            whole: 0,
        };
        let Ok(rep) = diagnose(&["sim".into()], &o, &mut s, &mut |_| {}) else {
            continue;
        };
        let focused_runs = s.runs - s.whole;
        let c = s.whole as f64 + focused_runs as f64 * (overhead + 2.0 / SUITE as f64);
        runs += rep.runs_total;
        cost += c;
        worst = f64::max(worst, c);
        let both = ["clock", "scratch"].iter().all(|t| {
            rep.tests.iter().any(|r| r.name == *t && r.verdict == flakebox_diagnose::Verdict::Environment)
        });
        found += usize::from(both);
    }
    format!(
        "mean runs {:5.1}  mean cost {:4.1} suite runs (worst {:4.1})  both found {found} of {n}",
        runs as f64 / n as f64,
        cost / n as f64,
        worst
    )
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
    // The default factors, with and without rand: its condition's cost in
    // runs and in power (one more factor in the Holm correction). The
    // simulated commands draw no randomness from a seed, so rand is a null
    // factor here, like every factor but the cause.
    for (label, factors) in [
        ("net,fs,time,db", FactorSet::all().without(Factor::Rand)),
        ("net,fs,time,db,rand", FactorSet::all()),
    ] {
        println!("factors {label}:");
        for (name, n, pass) in cases {
            let (rounds, runs, most, v) = simulate(n, factors, pass);
            println!("{name:<26} mean rounds {rounds:5.1}  runs {runs:6.1} (most {most:3})  {v:?}");
        }
        println!();
    }
    println!();
    println!("focused reruns, {SUITE} passing tests + a clock flake + a scratch-file test:");
    let three = FactorSet::only(Factor::Net).with(Factor::Fs).with(Factor::Time);
    for (label, factors) in
        [("net,fs,time", three), ("net,fs,time,db", FactorSet::all().without(Factor::Rand))]
    {
        for rate in [0.3, 0.5] {
            for overhead in [0.02, 0.1] {
                println!(
                    "  {label:<15} clock {:2.0}%, a focused run costs {:3.0}% of the suite: {}",
                    rate * 100.0,
                    overhead * 100.0,
                    focused(100, factors, rate, overhead)
                );
            }
        }
    }
}
