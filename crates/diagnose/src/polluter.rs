//! Order dependency: which earlier tests make a test fail (polluters), which
//! make it pass again (cleaners), and which a test needs before it (state
//! setters, for a "brittle" test that fails alone).
//!
//! Pure: every decision (which tests to run, in which order, how often) is
//! made here; an [`Oracle`] only runs the order it is given and says whether
//! the victim failed. Unit tests drive it with a fake oracle.
//!
//! # Method
//!
//! One search looks for a minimal set of *candidate* tests whose presence
//! (in their original relative order, after the *pinned* tests, before the
//! victim) moves the victim's failure rate from the rate of the *base* order
//! (`pinned + victim`) to the rate of the *effect*. A polluter search has no
//! pinned tests, the victim alone as base, and the tests that ran before the
//! victim in a failing order as candidates; a cleaner search pins the
//! polluters; a state-setter search is a polluter search whose effect is
//! passing.
//!
//! * Every probe (one order) is a sequential probability ratio test between
//!   "the victim fails at the base rate" and "at the effect rate", both
//!   estimated from the runs the caller has already made (clamped away from
//!   0 and 1). A deterministic victim decides each probe in one run; one
//!   failing 20% alone needs three failures in a row before a probe counts
//!   as polluted, and any pass clears it. So the halving is not misled by a
//!   victim's own flakiness, up to the probe error rate.
//! * Halving: try the first half of the candidates; if it has the effect,
//!   recurse into it; else try the second half; if neither half alone has
//!   it, the effect needs tests from both halves: minimise the first half
//!   with the whole second half present, then the second half with the
//!   first's minimum present (delta debugging). At most two probes per
//!   level, so at most `2 + 2·log2(N)` runs for a deterministic victim and
//!   `N` candidates (the `2`: the whole prefix and the base order).
//! * Confirmation: the minimal order against the base order with Fisher's
//!   exact one-sided test, alternating runs until `p < alpha` or the
//!   confirmation budget is spent. The found order's runs made by the
//!   probes chose it, so only fresh ones count (the base order's runs are
//!   all used: they chose nothing). A confirmation that fails
//!   (the probes were misled) restarts the halving once, with the rates
//!   re-estimated from every run made so far.

use crate::stats::{fisher_exact, Alternative};
use runners::TestId;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Failure rates estimated from runs are kept this far from 0 and 1, so one
/// unexpected outcome weighs a lot but never decides alone against a rate
/// that was measured, not assumed.
const RATE_CLAMP: f64 = 0.005;
/// Rates closer than this cannot be told apart by a bounded number of runs.
const MIN_CONTRAST: f64 = 0.1;
/// Consecutive runs of one order in which the victim did not run at all
/// before the search gives up on that order.
const MAX_MISSING: usize = 3;

/// Runs and failures of the victim in one order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub runs: u64,
    pub fails: u64,
}

impl Tally {
    pub fn new(runs: u64, fails: u64) -> Self {
        Tally { runs, fails }
    }
    fn add(&mut self, failed: bool) {
        self.runs += 1;
        self.fails += u64::from(failed);
    }
    fn rate(self) -> Option<f64> {
        (self.runs > 0).then(|| (self.fails as f64 / self.runs as f64).clamp(RATE_CLAMP, 1.0 - RATE_CLAMP))
    }
    /// Both tallies' runs together.
    pub fn merged(self, o: Tally) -> Tally {
        Tally { runs: self.runs + o.runs, fails: self.fails + o.fails }
    }
}

/// Runs one order of tests (the victim last) once.
pub trait Oracle {
    type Error: std::error::Error + 'static;
    /// Run exactly these tests in this order. `Some(true)` when the victim
    /// (the last test) failed, `Some(false)` when it passed, `None` when it
    /// did not run.
    fn run(&mut self, order: &[TestId]) -> Result<Option<bool>, Self::Error>;
}

/// How hard a search tries and what it must show.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SearchOptions {
    /// Significance of the confirmation: the found order against the base
    /// order, Fisher's exact test, one-sided.
    pub alpha: f64,
    /// Each probe's error rates (both ways) in its sequential test.
    pub probe_error: f64,
    /// Most runs one probe may take before it is decided by its leaning.
    pub max_probe_runs: usize,
    /// Most runs of the confirmation of one found set.
    pub max_confirm_runs: usize,
    /// Most runs of the whole search.
    pub max_runs: usize,
    /// Sets to look for: after one is confirmed, the candidates without it
    /// are tried again (a second, independent polluter).
    pub max_sets: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            alpha: 0.01,
            probe_error: 0.01,
            max_probe_runs: 40,
            max_confirm_runs: 40,
            max_runs: 400,
            max_sets: 1,
        }
    }
}

/// What the caller already knows about the victim, from earlier runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prior {
    /// Runs of the base order (the victim alone, or after the pinned tests).
    pub base: Tally,
    /// Runs that showed the effect (e.g. the whole suite, where it failed).
    pub effect: Tally,
}

/// One minimal set found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoundSet {
    /// The tests, in their original order (one for a single polluter).
    pub tests: Vec<TestId>,
    /// The order that shows the effect: pinned tests, these, the victim.
    pub order: Vec<TestId>,
    /// The victim in that order, in the confirmation's fresh runs.
    pub with: Tally,
    /// The victim in the base order.
    pub base: Tally,
    /// Fisher's exact one-sided p-value of `with` against `base`.
    pub p_value: f64,
    /// `p_value < alpha`.
    pub confirmed: bool,
}

/// How a search ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Ending {
    /// At least one set found (see `sets`; the last may be unconfirmed).
    Found,
    /// The victim, after every candidate, does not show the effect.
    NotReproduced,
    /// The base and effect rates are too close to search with.
    NoContrast,
    /// `max_runs` spent before the search ended.
    Budget,
}

/// The result of one search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    pub ending: Ending,
    pub sets: Vec<FoundSet>,
    /// Runs made by this search (the prior's runs not counted).
    pub runs: usize,
    /// Of `runs`, those of the confirmations after the halving found a set.
    pub confirm_runs: usize,
    /// The victim's failure rates the probes assumed (base, effect).
    pub base_rate: f64,
    pub effect_rate: f64,
    pub alpha: f64,
}

/// Errors that stop a search.
#[derive(Debug, thiserror::Error)]
pub enum SearchError<E: std::error::Error + 'static> {
    #[error("running tests for the order search failed: {0}")]
    Oracle(#[source] E),
    #[error("test {victim} did not run in {missing} runs of the order {}", order.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(" "))]
    VictimDidNotRun { victim: TestId, order: Vec<TestId>, missing: usize },
    #[error("invalid order search options: {0}")]
    InvalidOptions(String),
}

/// Look for the tests among `before` (those that ran before `victim` in an
/// order where it failed, in that order) after which `victim` fails.
pub fn find_polluters<O: Oracle>(
    victim: &TestId,
    before: &[TestId],
    prior: Prior,
    opts: SearchOptions,
    oracle: &mut O,
) -> Result<SearchResult, SearchError<O::Error>> {
    Search::new(victim, &[], before, opts, oracle).run(prior)
}

/// For a brittle test (fails alone): look for the tests among `before`
/// (those that ran before it in an order where it passed) after which it
/// passes. `prior.base` is its runs alone, `prior.effect` its passing runs:
/// the same search as [`find_polluters`], towards passing.
pub fn find_state_setters<O: Oracle>(
    victim: &TestId,
    before: &[TestId],
    prior: Prior,
    opts: SearchOptions,
    oracle: &mut O,
) -> Result<SearchResult, SearchError<O::Error>> {
    find_polluters(victim, before, prior, opts, oracle)
}

/// Look for a test among `candidates` that, run between `polluters` and
/// `victim`, makes the victim pass again. `prior.base` is the victim's runs
/// after the polluters, `prior.effect` its runs alone.
pub fn find_cleaner<O: Oracle>(
    victim: &TestId,
    polluters: &[TestId],
    candidates: &[TestId],
    prior: Prior,
    opts: SearchOptions,
    oracle: &mut O,
) -> Result<SearchResult, SearchError<O::Error>> {
    Search::new(victim, polluters, candidates, opts, oracle).run(prior)
}

/// The upper bound on the halving's runs for `n` candidates and a
/// deterministic victim: `2 + 2·log2(n)` (the whole prefix and the base
/// order, then at most two probes per halving).
pub fn deterministic_run_bound(n: usize) -> f64 {
    2.0 + 2.0 * (n.max(1) as f64).log2()
}

enum Probe {
    Effect,
    NoEffect,
}

struct Search<'a, O: Oracle> {
    victim: &'a TestId,
    pinned: &'a [TestId],
    cands: &'a [TestId],
    opts: SearchOptions,
    oracle: &'a mut O,
    tallies: HashMap<Vec<TestId>, Tally>,
    decided: HashMap<Vec<TestId>, bool>,
    runs: usize,
    q_base: f64,
    q_effect: f64,
}

/// The search ran out of runs: unwinds the halving.
struct OutOfRuns;

enum Stop<E: std::error::Error + 'static> {
    Budget,
    Err(SearchError<E>),
}

impl<E: std::error::Error + 'static> From<SearchError<E>> for Stop<E> {
    fn from(e: SearchError<E>) -> Self {
        Stop::Err(e)
    }
}
impl<E: std::error::Error + 'static> From<OutOfRuns> for Stop<E> {
    fn from(_: OutOfRuns) -> Self {
        Stop::Budget
    }
}

impl<'a, O: Oracle> Search<'a, O> {
    fn new(
        victim: &'a TestId,
        pinned: &'a [TestId],
        cands: &'a [TestId],
        opts: SearchOptions,
        oracle: &'a mut O,
    ) -> Self {
        Search {
            victim,
            pinned,
            cands,
            opts,
            oracle,
            tallies: HashMap::new(),
            decided: HashMap::new(),
            runs: 0,
            q_base: 0.0,
            q_effect: 0.0,
        }
    }

    fn result(&self, ending: Ending, sets: Vec<FoundSet>, confirm_runs: usize) -> SearchResult {
        SearchResult {
            ending,
            sets,
            runs: self.runs,
            confirm_runs,
            base_rate: self.q_base,
            effect_rate: self.q_effect,
            alpha: self.opts.alpha,
        }
    }

    fn run(mut self, prior: Prior) -> Result<SearchResult, SearchError<O::Error>> {
        let o = self.opts;
        if !(o.alpha > 0.0 && o.alpha < 1.0 && o.probe_error > 0.0 && o.probe_error < 0.5) {
            return Err(SearchError::InvalidOptions(format!(
                "alpha {} must be in (0, 1) and probe error {} in (0, 0.5)",
                o.alpha, o.probe_error
            )));
        }
        if o.max_probe_runs == 0 || o.max_sets == 0 {
            return Err(SearchError::InvalidOptions("max_probe_runs and max_sets must be at least 1".into()));
        }
        let mut confirm_runs = 0;
        match self.search(prior, &mut confirm_runs) {
            Ok((ending, sets)) => Ok(self.result(ending, sets, confirm_runs)),
            Err(Stop::Budget) => Ok(self.result(Ending::Budget, Vec::new(), confirm_runs)),
            Err(Stop::Err(e)) => Err(e),
        }
    }

    fn order_of(&self, idx: &[usize]) -> Vec<TestId> {
        let mut sorted = idx.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut order: Vec<TestId> = self.pinned.to_vec();
        order.extend(sorted.iter().map(|&i| self.cands[i].clone()));
        order.push(self.victim.clone());
        order
    }

    fn tally(&self, order: &[TestId]) -> Tally {
        self.tallies.get(order).copied().unwrap_or_default()
    }

    /// One more run of `order`, counted in its tally.
    fn run_once(&mut self, order: &[TestId]) -> Result<bool, Stop<O::Error>> {
        let mut missing = 0;
        loop {
            if self.runs >= self.opts.max_runs {
                return Err(OutOfRuns.into());
            }
            self.runs += 1;
            match self.oracle.run(order).map_err(SearchError::Oracle)? {
                Some(failed) => {
                    self.tallies.entry(order.to_vec()).or_default().add(failed);
                    return Ok(failed);
                }
                None => {
                    missing += 1;
                    if missing >= MAX_MISSING {
                        return Err(SearchError::VictimDidNotRun {
                            victim: self.victim.clone(),
                            order: order.to_vec(),
                            missing,
                        }
                        .into());
                    }
                }
            }
        }
    }

    /// Log-likelihood ratio of "effect" over "base" for this tally.
    fn llr(&self, t: Tally) -> f64 {
        let (q0, q1) = (self.q_base, self.q_effect);
        t.fails as f64 * (q1 / q0).ln() + (t.runs - t.fails) as f64 * ((1.0 - q1) / (1.0 - q0)).ln()
    }

    /// Does the victim after these candidates show the effect? A sequential
    /// test on the order's runs, made until it decides.
    fn probe(&mut self, idx: &[usize]) -> Result<Probe, Stop<O::Error>> {
        let order = self.order_of(idx);
        if let Some(&d) = self.decided.get(&order) {
            return Ok(if d { Probe::Effect } else { Probe::NoEffect });
        }
        let e = self.opts.probe_error;
        let upper = ((1.0 - e) / e).ln();
        let lower = (e / (1.0 - e)).ln();
        let mut made = 0;
        let effect = loop {
            let l = self.llr(self.tally(&order));
            if l >= upper {
                break true;
            }
            if l <= lower {
                break false;
            }
            if made >= self.opts.max_probe_runs {
                break l > 0.0;
            }
            self.run_once(&order)?;
            made += 1;
        };
        self.decided.insert(order, effect);
        Ok(if effect { Probe::Effect } else { Probe::NoEffect })
    }

    fn search(
        &mut self,
        prior: Prior,
        confirm_runs: &mut usize,
    ) -> Result<(Ending, Vec<FoundSet>), Stop<O::Error>> {
        let base_order = self.order_of(&[]);
        self.tallies.insert(base_order.clone(), prior.base);
        if prior.base.runs == 0 {
            self.run_once(&base_order)?;
        }
        let all: Vec<usize> = (0..self.cands.len()).collect();
        let full = self.order_of(&all);
        let mut effect_prior = prior.effect;
        if effect_prior.runs == 0 {
            effect_prior = Tally::new(1, u64::from(self.run_once(&full)?));
        }
        let mut sets = Vec::new();
        let mut remaining = all;
        for attempt in 0..2 {
            self.estimate(effect_prior);
            if (self.q_base - self.q_effect).abs() < MIN_CONTRAST {
                return Ok((Ending::NoContrast, sets));
            }
            if attempt > 0 {
                // The probes' runs misled the halving: decide afresh from
                // new runs, keeping only the base order's.
                let base = self.tally(&base_order);
                self.tallies.clear();
                self.tallies.insert(base_order.clone(), base);
            }
            self.decided.clear();
            let mut restart = false;
            while sets.len() < self.opts.max_sets && !remaining.is_empty() {
                if let Probe::NoEffect = self.probe(&remaining)? {
                    break;
                }
                let found = self.minimize(&[], &remaining)?;
                let before = self.runs;
                let set = self.confirm(&found)?;
                *confirm_runs += self.runs - before;
                let confirmed = set.confirmed;
                if !confirmed && attempt == 0 {
                    restart = true;
                    break;
                }
                sets.push(set);
                if !confirmed {
                    break;
                }
                remaining.retain(|i| !found.contains(i));
            }
            if !restart {
                break;
            }
        }
        Ok((if sets.is_empty() { Ending::NotReproduced } else { Ending::Found }, sets))
    }

    /// The rates the probes test between: the base order's runs, and the
    /// effect's (the prior's plus the whole prefix's when both show it).
    fn estimate(&mut self, effect_prior: Tally) {
        let base = self.tally(&self.order_of(&[]));
        self.q_base = base.rate().unwrap_or(0.5);
        self.q_effect = effect_prior.rate().unwrap_or(0.5);
    }

    /// A minimal subset `s` of `cands` such that `fixed + s` shows the
    /// effect, given that `fixed + cands` does.
    fn minimize(&mut self, fixed: &[usize], cands: &[usize]) -> Result<Vec<usize>, Stop<O::Error>> {
        if cands.len() <= 1 {
            return Ok(cands.to_vec());
        }
        let (a, b) = cands.split_at(cands.len().div_ceil(2));
        let with = |s: &[usize]| -> Vec<usize> { fixed.iter().chain(s).copied().collect() };
        if let Probe::Effect = self.probe(&with(a))? {
            return self.minimize(fixed, a);
        }
        if let Probe::Effect = self.probe(&with(b))? {
            return self.minimize(fixed, b);
        }
        // Neither half alone: the effect needs tests from both.
        let sa = self.minimize(&with(b), a)?;
        let sb = self.minimize(&with(&sa), b)?;
        Ok(sa.into_iter().chain(sb).collect())
    }

    /// Run the found order and the base order until Fisher's test tells
    /// them apart at `alpha`, or the confirmation budget is spent.
    fn confirm(&mut self, found: &[usize]) -> Result<FoundSet, Stop<O::Error>> {
        let order = self.order_of(found);
        let base_order = self.order_of(&[]);
        let alt = if self.q_effect > self.q_base { Alternative::Greater } else { Alternative::Less };
        let p_of =
            |w: Tally, b: Tally| fisher_exact(w.fails, w.runs - w.fails, b.fails, b.runs - b.fails, alt);
        let e = self.opts.probe_error;
        // The probes' runs of this order chose it, so the test counts only
        // the runs made from here on; the base order's runs chose nothing.
        let chosen_on = self.tally(&order);
        let mut made = 0;
        loop {
            let all = self.tally(&order);
            let w = Tally::new(all.runs - chosen_on.runs, all.fails - chosen_on.fails);
            let b = self.tally(&base_order);
            let p = p_of(w, b);
            // The found order's runs now say "no effect" as surely as a
            // probe would: the halving was misled, more runs cannot help.
            let refuted = self.llr(all) <= (e / (1.0 - e)).ln();
            if p < self.opts.alpha || refuted || made >= self.opts.max_confirm_runs {
                let mut sorted = found.to_vec();
                sorted.sort_unstable();
                return Ok(FoundSet {
                    tests: sorted.iter().map(|&i| self.cands[i].clone()).collect(),
                    order,
                    with: w,
                    base: b,
                    p_value: p,
                    confirmed: p < self.opts.alpha,
                });
            }
            // Run whichever order adds more to the test: the one with fewer
            // runs, the found order on a tie.
            let next = if w.runs <= b.runs { &order } else { &base_order };
            let next = next.clone();
            self.run_once(&next)?;
            made += 1;
        }
    }
}

impl SearchResult {
    /// The confirmed sets' tests.
    pub fn confirmed_tests(&self) -> Vec<&TestId> {
        self.sets.iter().filter(|s| s.confirmed).flat_map(|s| &s.tests).collect()
    }
}

#[cfg(test)]
#[path = "polluter_tests.rs"]
mod tests;
