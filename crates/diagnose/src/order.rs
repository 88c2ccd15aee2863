//! The `order` factor: does a test fail only after some other test (a
//! *victim* of a polluter), or only without one (a *brittle* test that needs
//! a state setter)? Which test, what it left behind, and the command that
//! replays it.
//!
//! Runs through the same abstract [`Runner`] as the rest of the engine,
//! with every chosen factor isolated (each run starts from a fresh
//! sandbox, so only what the tests of one run share can couple them), and
//! needs a runner that selects tests and runs them in the order listed.
//!
//! # Method
//!
//! 1. `suite_runs` runs of the whole suite in its own order, and `shuffles`
//!    runs of all its tests in orders shuffled with recorded seeds (listed
//!    explicitly, so any runner that orders tests can replay them).
//! 2. Each test that failed in one of them, each suspect the caller
//!    passes and each test the user named (`--test`; a name the suite's
//!    first run does not have is refused), runs `alone_runs` times alone.
//! 3. Per test, Fisher's exact test of its failures in the suite's order
//!    against alone: `victim` when more in the suite (2/3 of the test's
//!    share of `alpha`), `brittle` when more alone (1/3), split in advance as
//!    for the environment factors, at two looks (`alone_runs` alone runs,
//!    then four times as many more unless the first decided) each at half of
//!    it. Those four weighted p-values give the order hypothesis one p-value
//!    (Bonferroni), which joins the test's environment factors in one Holm
//!    family ([`crate::order_verdict`]): the family-wise error of all the
//!    claims about a test is at most `alpha`.
//! 4. A victim's polluter search ([`crate::polluter`]) over the tests before
//!    it in an order where it failed, with its alone and in-suite runs as
//!    the prior; a cleaner search over the tests between the polluter and
//!    the victim in an order where it passed; a brittle test's state-setter
//!    search over the tests before it in an order where it passed.
//! 5. The shared state: the polluter (or setter) runs alone, and what the
//!    sandbox saw it leave (files in the copy-on-write layer, rows in the
//!    throwaway database, processes) and the victim alone did not, is the
//!    state. Nothing: the state is in the test process (module globals,
//!    mocks, fixtures, class attributes).

use crate::junit;
use crate::polluter::{self, Oracle, Prior, SearchOptions, SearchResult, Tally};
use crate::report::{Report, StableOutcome, StopReason, Verdict};
use crate::runner::{RunObservations, RunOutcome, RunSpec, Runner, RunnerError};
use crate::stats::{fisher_exact, Alternative};
use factors::FactorSet;
use runners::TestId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How the order factor is diagnosed.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderOptions {
    /// Factors isolated in every run (all those diagnosed).
    pub isolate: FactorSet,
    /// Whole-suite runs in the suite's own order.
    pub suite_runs: usize,
    /// Runs of every test in a shuffled order.
    pub shuffles: usize,
    /// Runs of each candidate selected alone.
    pub alone_runs: usize,
    /// Family-wise error rate of each test's order claims.
    pub alpha: f64,
    /// Seeds the shuffles (each shuffle's own seed is reported).
    pub seed: u64,
    pub search: SearchOptions,
    /// Tests to examine besides those that fail in the suite orders (the
    /// diagnosis's suspects and the tests the user named, runner ids).
    pub tests: Vec<String>,
    /// Tests the user named (`--test`): each must be one of the suite's,
    /// else [`OrderError::UnknownTests`].
    pub named: Vec<String>,
    /// Per test, the p-values (before any correction for their number) of
    /// the other hypotheses in its Holm family: its environment factors'.
    pub family: BTreeMap<String, Vec<f64>>,
}

impl Default for OrderOptions {
    fn default() -> Self {
        OrderOptions {
            isolate: FactorSet::EMPTY,
            suite_runs: 3,
            shuffles: 3,
            alone_runs: 6,
            alpha: 0.05,
            seed: 0,
            search: SearchOptions::default(),
            tests: Vec::new(),
            named: Vec::new(),
            family: BTreeMap::new(),
        }
    }
}

/// A test's order effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderEffect {
    /// Fails after some other test, passes alone.
    Victim,
    /// Fails alone, passes after some other test.
    Brittle,
    /// No significant difference.
    None,
}

impl OrderEffect {
    pub fn name(self) -> &'static str {
        match self {
            OrderEffect::Victim => "victim",
            OrderEffect::Brittle => "brittle",
            OrderEffect::None => "none",
        }
    }
}

/// What a polluter (or state setter) left that the next test can see.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedState {
    /// Files written outside the tmp directories (copy-on-write layer),
    /// runtime caches left out; those the victim alone writes too first.
    pub files: Vec<String>,
    /// Tables with rows left in the throwaway database: (table, rows).
    pub db_tables: Vec<(String, u64)>,
    /// Processes still running when the tests ended.
    pub processes: Vec<String>,
    /// Nothing outside the test process changed: the state is in-process
    /// (module globals, mocks, fixtures, class attributes).
    pub in_process: bool,
    /// One line a person can read.
    pub summary: String,
}

/// One shuffled run, replayable from its seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShuffledRun {
    pub seed: u64,
    /// Whether the test failed (`None`: it did not run).
    pub failed: Option<bool>,
}

/// The order factor for one test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderTest {
    /// The runner's id.
    pub name: String,
    pub effect: OrderEffect,
    /// The test in the suite's own order (at the second look, also in the
    /// order where it failed, cut after it): what `alone` is compared with.
    pub in_suite: Tally,
    pub shuffled: Vec<ShuffledRun>,
    /// The test selected alone.
    pub alone: Tally,
    /// Fisher's one-sided p-values: more failures in the suite orders than
    /// alone (victim), fewer (brittle).
    pub p_victim: f64,
    pub p_brittle: f64,
    /// The order hypothesis's p-value, Holm-adjusted in the test's family
    /// (its looks, its two directions and the test's environment factors
    /// accounted for): the effect is claimed because `p_value <= alpha`.
    #[serde(default = "one")]
    pub p_value: f64,
    /// Before the correction for the rest of the family (its looks and
    /// directions accounted for).
    #[serde(default = "one")]
    pub p_unadjusted: f64,
    /// For a victim, the polluters (together, in order); for a brittle
    /// test, the state setters. Empty when the search found none.
    pub polluters: Vec<String>,
    /// A test that, run between the polluters and the victim, makes it pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleaner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SharedState>,
    /// The command that replays the failure, in the runner's own syntax
    /// (for a brittle test: the test alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// Runs the polluter (or setter) and cleaner searches took.
    pub search_runs: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleaner_search: Option<SearchResult>,
    /// One sentence a person can read.
    pub summary: String,
}

fn one() -> f64 {
    1.0
}

/// The order factor's part of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderReport {
    /// Every test examined, victims and brittle tests first.
    pub tests: Vec<OrderTest>,
    /// Runs the order factor made, searches included.
    pub runs: usize,
    pub alpha: f64,
    pub seed: u64,
    /// The run was interrupted: the tests examined so far.
    #[serde(default)]
    pub incomplete: bool,
    /// Runs of the suite in its own order, and those in which a test failed.
    #[serde(default)]
    pub suite_runs: usize,
    #[serde(default)]
    pub suite_runs_failed: usize,
    /// The factors every run isolated.
    #[serde(default)]
    pub isolate: FactorSet,
}

impl OrderReport {
    /// A report with no test examined and no run made yet.
    pub fn empty(alpha: f64, seed: u64, isolate: FactorSet) -> Self {
        OrderReport {
            tests: Vec::new(),
            runs: 0,
            alpha,
            seed,
            incomplete: false,
            suite_runs: 0,
            suite_runs_failed: 0,
            isolate,
        }
    }
}

/// Why the order factor could not be diagnosed.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error(transparent)]
    Runner(#[from] RunnerError),
    /// Tests named with `--test` that the suite does not have.
    #[error(
        "no test named {} in this suite ({} tests, e.g. {}): name tests by the runner's own id, as the report lists them",
        .unknown.iter().map(|n| format!("`{}`", n.escape_debug())).collect::<Vec<_>>().join(", "),
        .known,
        .examples.iter().map(|n| format!("`{}`", n.escape_debug())).collect::<Vec<_>>().join(", ")
    )]
    UnknownTests { unknown: Vec<String>, known: usize, examples: Vec<String> },
}

/// The named tests the suite does not have (`None`: all are known).
pub fn unknown_tests(named: &[String], suite: &[String]) -> Option<OrderError> {
    let unknown: Vec<String> = named.iter().filter(|n| !suite.contains(n)).cloned().collect();
    (!unknown.is_empty()).then(|| OrderError::UnknownTests {
        unknown,
        known: suite.len(),
        examples: suite.iter().take(3).cloned().collect(),
    })
}

/// Renders the command that runs exactly these tests in this order, in the
/// runner's own syntax (`None` when it cannot be said).
pub type Replay<'a> = &'a dyn Fn(&[String]) -> Option<String>;

/// One run's tests, in the order they ran: (id, failed first attempt).
type Ran = Vec<(String, Option<bool>)>;

struct Runs<'r, R: Runner + ?Sized> {
    runner: &'r mut R,
    isolate: FactorSet,
    made: usize,
}

impl<R: Runner + ?Sized> Runs<'_, R> {
    fn run(&mut self, tests: Option<Vec<String>>) -> Result<(Ran, RunObservations), RunnerError> {
        // Each run is its condition's first: a fresh sandbox.
        let spec = RunSpec { tests, ..RunSpec::suite(self.isolate, 0) };
        self.made += 1;
        let mut out = self.runner.run(&spec)?;
        let evidence = std::mem::take(&mut out.evidence);
        Ok((cases(out), evidence))
    }
}

/// A run's per-test results, in the order they ran.
fn cases(out: RunOutcome) -> Ran {
    let mut all = Vec::new();
    for f in &out.junit {
        if let Ok(text) = &f.contents {
            all.extend(junit::parse_raw(text).unwrap_or_default());
        }
    }
    all.extend(out.tests);
    junit::disambiguate(all).into_iter().map(|c| (c.name.clone(), c.first_attempt_failed())).collect()
}

fn outcome_of(ran: &Ran, name: &str) -> Option<bool> {
    ran.iter().find(|(n, _)| n == name).and_then(|(_, f)| *f)
}

/// The search's oracle: one run of the listed tests, the victim's outcome.
struct RunOracle<'a, 'r, R: Runner + ?Sized> {
    runs: &'a mut Runs<'r, R>,
}

impl<R: Runner + ?Sized> Oracle for RunOracle<'_, '_, R> {
    type Error = RunnerError;
    fn run(&mut self, order: &[TestId]) -> Result<Option<bool>, RunnerError> {
        let Some(victim) = order.last() else { return Ok(None) };
        let (ran, _) = self.runs.run(Some(order.iter().map(|t| t.0.clone()).collect()))?;
        Ok(outcome_of(&ran, victim.as_str()))
    }
}

/// One run of the suite (its own order or a shuffle): its tests in order.
struct OrderRun {
    ran: Ran,
}

/// Diagnose the order factor for the suite `runner` runs.
pub fn diagnose_order<R: Runner + ?Sized>(
    runner: &mut R,
    opts: &OrderOptions,
    replay: Replay<'_>,
) -> Result<OrderReport, OrderError> {
    let mut runs = Runs { runner, isolate: opts.isolate, made: 0 };
    let mut report = OrderReport::empty(opts.alpha, opts.seed, opts.isolate);
    match examine(&mut runs, opts, replay, &mut report) {
        Ok(()) => {}
        Err(OrderError::Runner(RunnerError::Interrupted)) => report.incomplete = true,
        Err(e) => return Err(e),
    }
    report.runs = runs.made;
    report.tests.sort_by_key(|t| (t.effect == OrderEffect::None, t.name.clone()));
    Ok(report)
}

/// The seed of shuffle `i`.
pub fn shuffle_seed(seed: u64, i: usize) -> u64 {
    seed.wrapping_add((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The order shuffle `seed` gives `tests`.
pub fn shuffled(tests: &[String], seed: u64) -> Vec<String> {
    let mut v = tests.to_vec();
    fastrand::Rng::with_seed(seed).shuffle(&mut v);
    v
}

fn examine<R: Runner + ?Sized>(
    runs: &mut Runs<'_, R>,
    opts: &OrderOptions,
    replay: Replay<'_>,
    report: &mut OrderReport,
) -> Result<(), OrderError> {
    let mut suite = Vec::new();
    for _ in 0..opts.suite_runs.max(1) {
        let ran = runs.run(None)?.0;
        report.suite_runs += 1;
        report.suite_runs_failed += usize::from(ran.iter().any(|(_, f)| *f == Some(true)));
        // A name the suite does not have is refused after its first run.
        if suite.is_empty() {
            let names: Vec<String> = ran.iter().map(|(n, _)| n.clone()).collect();
            if let Some(e) = unknown_tests(&opts.named, &names) {
                return Err(e);
            }
        }
        suite.push(OrderRun { ran });
    }
    let names: Vec<String> = suite[0].ran.iter().map(|(n, _)| n.clone()).collect();
    let mut shuffles = Vec::new();
    if names.len() > 1 {
        for i in 0..opts.shuffles {
            let seed = shuffle_seed(opts.seed, i);
            shuffles.push((seed, OrderRun { ran: runs.run(Some(shuffled(&names, seed)))?.0 }));
        }
    }
    let all_runs = || suite.iter().chain(shuffles.iter().map(|(_, r)| r));
    let mut candidates: Vec<String> = opts.named.clone();
    for n in &opts.tests {
        if !candidates.contains(n) {
            candidates.push(n.clone());
        }
    }
    for r in all_runs() {
        for (n, f) in &r.ran {
            if *f == Some(true) && !candidates.contains(n) {
                candidates.push(n.clone());
            }
        }
    }
    for name in candidates {
        let test = examine_test(runs, opts, replay, &name, &suite, &shuffles)?;
        report.tests.push(test);
    }
    Ok(())
}

fn tally_in(runs: &[&OrderRun], name: &str) -> Tally {
    let mut t = Tally::default();
    for r in runs {
        if let Some(f) = outcome_of(&r.ran, name) {
            t = t.merged(Tally::new(1, u64::from(f)));
        }
    }
    t
}

fn before(ran: &Ran, name: &str) -> Vec<TestId> {
    ran.iter().take_while(|(n, _)| n != name).map(|(n, _)| TestId::new(n.clone())).collect()
}

fn examine_test<R: Runner + ?Sized>(
    runs: &mut Runs<'_, R>,
    opts: &OrderOptions,
    replay: Replay<'_>,
    name: &str,
    suite: &[OrderRun],
    shuffles: &[(u64, OrderRun)],
) -> Result<OrderTest, RunnerError> {
    let suite_refs: Vec<&OrderRun> = suite.iter().collect();
    let in_suite = tally_in(&suite_refs, name);
    let shuffled: Vec<ShuffledRun> = shuffles
        .iter()
        .map(|(seed, r)| ShuffledRun { seed: *seed, failed: outcome_of(&r.ran, name) })
        .collect();
    let all: Vec<&OrderRun> = suite.iter().chain(shuffles.iter().map(|(_, r)| r)).collect();
    // The test: the suite's own order (chosen before any run, so no
    // selection) against alone, at two looks, each at half of alpha (so any
    // rule for taking the second keeps the family-wise bound). The second
    // adds fresh runs of the order where it failed (passed, when it leans
    // brittle; its own when there is none), cut after it, and four times as many alone runs: under the null
    // every run of it is alike whatever ran before, so pooling is valid.
    let mut ordered = in_suite;
    let mut alone = Tally::default();
    let mut alone_evidence = RunObservations::default();
    let (mut effect, mut p_victim, mut p_brittle) = (OrderEffect::None, 1.0f64, 1.0f64);
    // The smallest weighted p-value so far, and its direction (victim?).
    let (mut p_order, mut leans_victim) = (1.0f64, true);
    let mut p_value = 1.0f64;
    let others = opts.family.get(name).map(Vec::as_slice).unwrap_or_default();
    let n = opts.alone_runs.max(1);
    for (look, more_alone) in [n, 4 * n].into_iter().enumerate() {
        if look == 1 {
            let never_failed = ordered.fails == 0 && alone.fails == 0 && ordered_fails(&all, name) == 0;
            if never_failed {
                break;
            }
            // The way the first look leans: where it failed (a victim), or
            // where it passed (brittle).
            let lean = p_victim <= p_brittle;
            let from = all.iter().find(|r| outcome_of(&r.ran, name) == Some(lean)).unwrap_or(&all[0]);
            let mut prefix: Vec<String> = before(&from.ran, name).into_iter().map(|t| t.0).collect();
            prefix.push(name.to_string());
            for _ in 0..2 * opts.suite_runs.max(1) {
                let (ran, _) = runs.run(Some(prefix.clone()))?;
                if let Some(f) = outcome_of(&ran, name) {
                    ordered = ordered.merged(Tally::new(1, u64::from(f)));
                }
            }
        }
        for _ in 0..more_alone {
            let (ran, ev) = runs.run(Some(vec![name.to_string()]))?;
            if let Some(f) = outcome_of(&ran, name) {
                alone = alone.merged(Tally::new(1, u64::from(f)));
            }
            merge_evidence(&mut alone_evidence, ev);
        }
        let fisher = |alt| {
            fisher_exact(
                ordered.fails,
                ordered.runs - ordered.fails,
                alone.fails,
                alone.runs - alone.fails,
                alt,
            )
        };
        (p_victim, p_brittle) = (fisher(Alternative::Greater), fisher(Alternative::Less));
        let (v, b) = (
            crate::order_verdict::weighted(p_victim, true),
            crate::order_verdict::weighted(p_brittle, false),
        );
        if v.min(b) < p_order {
            (p_order, leans_victim) = (v.min(b), v <= b);
        }
        p_value = crate::order_verdict::holm_in_family(p_order, others);
        effect = match (p_value <= opts.alpha && p_order < 1.0, leans_victim) {
            (false, _) => OrderEffect::None,
            (true, true) => OrderEffect::Victim,
            (true, false) => OrderEffect::Brittle,
        };
        if effect != OrderEffect::None {
            break;
        }
    }
    let mut t = OrderTest {
        name: name.to_string(),
        effect,
        in_suite: ordered,
        shuffled,
        alone,
        p_victim,
        p_brittle,
        p_value,
        p_unadjusted: p_order,
        polluters: Vec::new(),
        cleaner: None,
        state: None,
        replay: None,
        search_runs: 0,
        search: None,
        cleaner_search: None,
        summary: String::new(),
    };
    let victim = TestId::new(name);
    let start = runs.made;
    match effect {
        OrderEffect::None => {}
        OrderEffect::Victim => {
            // The tests before it in an order where it failed.
            let failing = all.iter().find(|r| outcome_of(&r.ran, name) == Some(true));
            if let Some(r) = failing {
                let prior = Prior { base: alone, effect: ordered_failing(&all, name) };
                let res = polluter::find_polluters(
                    &victim,
                    &before(&r.ran, name),
                    prior,
                    opts.search,
                    &mut RunOracle { runs },
                )
                .map_err(search_error)?;
                if let Some(set) = res.sets.iter().find(|s| s.confirmed) {
                    t.polluters = set.tests.iter().map(|x| x.0.clone()).collect();
                    t.replay = replay(&ids(&set.order));
                    // A cleaner: between the polluters and the victim in an
                    // order where it passed after them.
                    let cands = all.iter().find_map(|r| between(&r.ran, &t.polluters, name));
                    if let Some(cands) = cands.filter(|c| !c.is_empty()) {
                        let prior = Prior { base: set.with, effect: alone };
                        let pol: Vec<TestId> = set.tests.clone();
                        let c = polluter::find_cleaner(
                            &victim,
                            &pol,
                            &cands,
                            prior,
                            opts.search,
                            &mut RunOracle { runs },
                        )
                        .map_err(search_error)?;
                        t.cleaner = c
                            .sets
                            .iter()
                            .find(|s| s.confirmed)
                            .and_then(|s| s.tests.first())
                            .map(|x| x.0.clone());
                        t.cleaner_search = Some(c);
                    }
                    t.search_runs = runs.made - start;
                    t.state = Some(state_left(runs, &t.polluters, &alone_evidence)?);
                }
                t.search = Some(res);
            }
        }
        OrderEffect::Brittle => {
            let passing = all.iter().find(|r| outcome_of(&r.ran, name) == Some(false));
            if let Some(r) = passing {
                let passed = Tally::new(ordered.runs - ordered.fails, 0);
                let prior = Prior { base: alone, effect: passed };
                let res = polluter::find_state_setters(
                    &victim,
                    &before(&r.ran, name),
                    prior,
                    opts.search,
                    &mut RunOracle { runs },
                )
                .map_err(search_error)?;
                if let Some(set) = res.sets.iter().find(|s| s.confirmed) {
                    t.polluters = set.tests.iter().map(|x| x.0.clone()).collect();
                    t.search_runs = runs.made - start;
                    t.state = Some(state_left(runs, &t.polluters, &alone_evidence)?);
                }
                t.search = Some(res);
            }
            t.replay = replay(&[name.to_string()]);
        }
    }
    if t.search_runs == 0 {
        t.search_runs = runs.made - start;
    }
    t.summary = summary(&t, opts.search.alpha);
    Ok(t)
}

fn ordered_fails(all: &[&OrderRun], name: &str) -> usize {
    all.iter().filter(|r| outcome_of(&r.ran, name) == Some(true)).count()
}

/// The victim's runs in the orders where it failed at least once: what the
/// polluted rate is estimated from.
fn ordered_failing(all: &[&OrderRun], name: &str) -> Tally {
    let f = all.iter().filter_map(|r| outcome_of(&r.ran, name)).filter(|&f| f).count() as u64;
    Tally::new(f, f)
}

fn ids(order: &[TestId]) -> Vec<String> {
    order.iter().map(|t| t.0.clone()).collect()
}

/// The tests between the last polluter and the victim in a run where every
/// polluter ran before the victim and the victim passed.
fn between(ran: &Ran, polluters: &[String], name: &str) -> Option<Vec<TestId>> {
    let v = ran.iter().position(|(n, _)| n == name)?;
    if ran[v].1 != Some(false) {
        return None;
    }
    let last = polluters.iter().map(|p| ran.iter().position(|(n, _)| n == p)).collect::<Option<Vec<_>>>()?;
    let last = last.into_iter().max()?;
    (last < v).then(|| ran[last + 1..v].iter().map(|(n, _)| TestId::new(n.clone())).collect())
}

fn search_error(e: polluter::SearchError<RunnerError>) -> RunnerError {
    match e {
        polluter::SearchError::Oracle(e) => e,
        other => RunnerError::Failed(other.to_string()),
    }
}

fn merge_evidence(into: &mut RunObservations, ev: RunObservations) {
    for f in ev.files_written {
        if !into.files_written.contains(&f) {
            into.files_written.push(f);
        }
    }
    for t in ev.db_tables {
        if !into.db_tables.iter().any(|(n, _)| *n == t.0) {
            into.db_tables.push(t);
        }
    }
    into.leftover_processes.extend(ev.leftover_processes);
}

/// Run `tests` alone and report what they left that the victim alone does
/// not leave itself.
fn state_left<R: Runner + ?Sized>(
    runs: &mut Runs<'_, R>,
    tests: &[String],
    victim_alone: &RunObservations,
) -> Result<SharedState, RunnerError> {
    let (_, ev) = runs.run(Some(tests.to_vec()))?;
    Ok(shared_state(&ev, victim_alone))
}

/// Paths a language runtime or toolchain writes in any run (bytecode and
/// build caches): never the state one test leaves for another.
const CACHES: &[&str] = &["/__pycache__/", "/.pytest_cache/", "/.cache/go-build/", "/node_modules/.cache/"];

fn is_cache(path: &str) -> bool {
    CACHES.iter().any(|c| path.contains(c) || path.ends_with(c.trim_end_matches('/')))
}

/// The state the polluter's run left: its files (caches left out; those
/// the victim writes too first: both use them), its rows beyond what the
/// victim alone leaves, the processes it left.
pub fn shared_state(polluter: &RunObservations, victim_alone: &RunObservations) -> SharedState {
    let mut files: Vec<String> = polluter.files_written.iter().filter(|f| !is_cache(f)).cloned().collect();
    let also_victims = |f: &String| victim_alone.files_written.contains(f);
    files.sort_by_key(|f| !also_victims(f));
    let db_tables: Vec<(String, u64)> = polluter
        .db_tables
        .iter()
        .filter(|(t, n)| *n > victim_alone.db_tables.iter().find(|(v, _)| v == t).map_or(0, |(_, m)| *m))
        .cloned()
        .collect();
    let processes = polluter.leftover_processes.clone();
    let in_process = files.is_empty() && db_tables.is_empty() && processes.is_empty();
    let mut parts = Vec::new();
    if !files.is_empty() {
        let f: Vec<String> = files
            .iter()
            .map(|f| match also_victims(f) {
                true => format!("{f} (the victim uses it too)"),
                false => f.clone(),
            })
            .collect();
        parts.push(format!("files written: {}", f.join(", ")));
    }
    if !db_tables.is_empty() {
        let t: Vec<String> = db_tables.iter().map(|(t, n)| format!("{t} ({n} rows)")).collect();
        parts.push(format!("rows left in the database: {}", t.join(", ")));
    }
    if !processes.is_empty() {
        parts.push(format!("processes left running: {}", processes.join(", ")));
    }
    let summary = match in_process {
        true => "in-process: nothing outside the test process changed (globals, monkey-patches and mocks, fixtures, class attributes, environment variables)".to_string(),
        false => parts.join("; "),
    };
    SharedState { files, db_tables, processes, in_process, summary }
}

fn summary(t: &OrderTest, alpha: f64) -> String {
    let shuffled_fails = t.shuffled.iter().filter(|s| s.failed == Some(true)).count();
    let mut counts = format!(
        "{}/{} failed in the suite's order, {}/{} alone",
        t.in_suite.fails, t.in_suite.runs, t.alone.fails, t.alone.runs
    );
    if !t.shuffled.is_empty() {
        counts.push_str(&format!(", {shuffled_fails}/{} in shuffled orders", t.shuffled.len()));
    }
    match t.effect {
        OrderEffect::None => format!("no order effect ({counts})"),
        OrderEffect::Victim if t.polluters.is_empty() => {
            format!(
                "fails after other tests, passes alone ({counts}, p = {:.2e}); no polluter confirmed",
                t.p_value
            )
        }
        OrderEffect::Victim => format!(
            "fails after {} ({counts}, p = {:.2e}); confirmed at {alpha}",
            t.polluters.join(" + "),
            t.p_value
        ),
        OrderEffect::Brittle if t.polluters.is_empty() => {
            format!(
                "fails alone, passes after other tests ({counts}, p = {:.2e}); no state setter confirmed",
                t.p_value
            )
        }
        OrderEffect::Brittle => {
            format!("fails alone, passes after {} ({counts}, p = {:.2e})", t.polluters.join(" + "), t.p_value)
        }
    }
}

/// The report of a diagnosis of the order factor alone (`--factors
/// order`): each examined test's verdict from its order effect, and the
/// suite's from its tests' ([`crate::order_verdict::fold`]).
pub fn order_only_report(command: Vec<String>, order: OrderReport, alpha: f64, wall_seconds: f64) -> Report {
    let mut report = Report {
        schema: 1,
        command,
        verdict: Verdict::Stable,
        factors: Vec::new(),
        conditions: Vec::new(),
        tests: Vec::new(),
        outcome: Some(StableOutcome::Pass),
        summary: String::new(),
        analysis: Vec::new(),
        never_failed_bound: None,
        alpha,
        method: "fisher".into(),
        seed: order.seed,
        entropy_seed: None,
        stopped: if order.incomplete { StopReason::Interrupted } else { StopReason::Decided },
        rounds: 0,
        runs_total: order.runs,
        wall_seconds,
        command_seconds: 0.0,
        frozen_instant: None,
        warnings: Vec::new(),
        screening: None,
        runs: Vec::new(),
        shards: None,
        order: None,
        categories: Vec::new(),
        stale_state: None,
        pruned: Vec::new(),
        interaction: None,
    };
    crate::order_verdict::fold_order_only(&mut report, order);
    report
}

/// The order section of the text and markdown reports. The tests in
/// `shown` have their order finding in the report's tests section already:
/// they are counted here, not repeated.
pub fn render(r: &OrderReport, markdown: bool, shown: &[&str]) -> String {
    let mut s = String::new();
    let head = format!("order factor ({} runs, seed {})", r.runs, r.seed);
    if markdown {
        s.push_str(&format!("\n### {}\n\n", head));
    } else {
        s.push_str(&format!("\n{head}:\n"));
    }
    let found: Vec<&OrderTest> = r.tests.iter().filter(|t| t.effect != OrderEffect::None).collect();
    let (said, rest): (Vec<&OrderTest>, Vec<&OrderTest>) =
        found.iter().partition(|t| shown.contains(&t.name.as_str()));
    let bullet = if markdown { "- " } else { "  " };
    match (found.is_empty(), said.len()) {
        (true, _) => s.push_str(&format!("{bullet}no test depends on the order of the tests\n")),
        (false, 0) => {}
        (false, 1) => {
            s.push_str(&format!("{bullet}1 order-dependent test, above with its evidence and replay\n"))
        }
        (false, n) => {
            s.push_str(&format!("{bullet}{n} order-dependent tests, above with their evidence and replays\n"))
        }
    }
    for t in rest {
        s.push_str(&format!("{bullet}{}: {}: {}\n", t.name, t.effect.name(), t.summary));
        let role = if t.effect == OrderEffect::Victim { "polluter" } else { "state setter" };
        if !t.polluters.is_empty() {
            s.push_str(&format!("    {role}: {}\n", t.polluters.join(" + ")));
        }
        if let Some(c) = &t.cleaner {
            s.push_str(&format!("    cleaner: {c}\n"));
        }
        if let Some(st) = &t.state {
            s.push_str(&format!("    state: {}\n", st.summary));
        }
        if let Some(r) = &t.replay {
            let r = if markdown { format!("`{r}`") } else { r.clone() };
            s.push_str(&format!("    replay: {r}\n"));
        }
        s.push_str(&format!("    search: {} runs\n", t.search_runs));
    }
    if r.incomplete {
        s.push_str("  (interrupted: the tests examined so far)\n");
    }
    s
}

#[cfg(test)]
#[path = "order_tests.rs"]
mod tests;
