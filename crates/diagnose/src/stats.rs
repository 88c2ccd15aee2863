//! Exact statistics: Fisher's exact test, the sequential paired sign test used
//! while runs are adaptive, Holm's step-down correction and the
//! "never failed" bound.
//!
//! Everything is computed exactly (log-factorials and hypergeometric /
//! binomial sums): the counts involved are small and approximations (chi²,
//! normal) are poor exactly where flakiness lives (a handful of failures).

use std::collections::HashMap;

/// `ln(n!)` for `n` up to the size of the table, built once per use.
#[derive(Debug, Clone)]
pub struct LnFact(Vec<f64>);

impl LnFact {
    pub fn new(max: usize) -> Self {
        let mut v = Vec::with_capacity(max + 1);
        v.push(0.0);
        let mut acc = 0.0f64;
        for i in 1..=max {
            acc += (i as f64).ln();
            v.push(acc);
        }
        LnFact(v)
    }

    fn get(&self, n: usize) -> f64 {
        match self.0.get(n) {
            Some(v) => *v,
            // Outside the table: extend on the fly (only in unusual calls).
            None => {
                let last = self.0.len() - 1;
                let mut acc = self.0[last];
                for i in last + 1..=n {
                    acc += (i as f64).ln();
                }
                acc
            }
        }
    }

    fn ln_choose(&self, n: usize, k: usize) -> f64 {
        if k > n {
            return f64::NEG_INFINITY;
        }
        self.get(n) - self.get(k) - self.get(n - k)
    }
}

/// Which alternative a one-sided Fisher test looks at (as scipy names them,
/// for the 2×2 table `[[a, b], [c, d]]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alternative {
    /// Odds ratio > 1: `a` large.
    Greater,
    /// Odds ratio < 1: `a` small.
    Less,
    /// Either: sum of the probabilities of every table no more likely than
    /// the observed one (scipy's and R's definition).
    TwoSided,
}

/// Fisher's exact test on the 2×2 table `[[a, b], [c, d]]`; returns the
/// p-value. Matches `scipy.stats.fisher_exact(table, alternative)`.
pub fn fisher_exact(a: u64, b: u64, c: u64, d: u64, alt: Alternative) -> f64 {
    let (a, b, c, d) = (a as usize, b as usize, c as usize, d as usize);
    let n = a + b + c + d;
    if n == 0 {
        return 1.0;
    }
    let lf = LnFact::new(n);
    let row1 = a + b;
    let col1 = a + c;
    let row2 = c + d;
    // Support of the hypergeometric count in cell a.
    let lo = col1.saturating_sub(row2);
    let hi = row1.min(col1);
    let ln_denom = lf.ln_choose(n, col1);
    let pmf = |x: usize| -> f64 { (lf.ln_choose(row1, x) + lf.ln_choose(row2, col1 - x) - ln_denom).exp() };
    let p = match alt {
        Alternative::Greater => (a..=hi).map(pmf).sum::<f64>(),
        Alternative::Less => (lo..=a).map(pmf).sum::<f64>(),
        Alternative::TwoSided => {
            let p_obs = pmf(a);
            // Relative tolerance as in R/scipy, so tables tied with the
            // observed one in exact arithmetic are not lost to rounding.
            let cutoff = p_obs * (1.0 + 1e-7);
            (lo..=hi).map(pmf).filter(|&p| p <= cutoff).sum::<f64>()
        }
    };
    p.min(1.0)
}

/// Upper tail of Binomial(n, 1/2): P(X ≥ x).
pub fn binom_half_tail(lf: &LnFact, n: usize, x: usize) -> f64 {
    if x == 0 {
        return 1.0;
    }
    if x > n {
        return 0.0;
    }
    let ln_half_n = -(n as f64) * std::f64::consts::LN_2;
    let s: f64 = (x..=n).map(|k| (lf.ln_choose(n, k) + ln_half_n).exp()).sum();
    s.min(1.0)
}

/// The smallest failure rate ruled out at 95% confidence after `n` runs
/// without a failure: the exact one-sided binomial bound `1 − 0.05^(1/n)`
/// (≈ 3/n, the "rule of three"). `None` for `n = 0`.
pub fn never_failed_bound(n: usize) -> Option<f64> {
    if n == 0 {
        None
    } else {
        Some(1.0 - 0.05f64.powf(1.0 / n as f64))
    }
}

/// P(X ≥ k) for X ~ Binomial(n, p).
pub fn binom_tail(n: usize, k: usize, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let lf = LnFact::new(n);
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let s: f64 = (k..=n).map(|i| (lf.ln_choose(n, i) + i as f64 * lp + (n - i) as f64 * lq).exp()).sum();
    s.min(1.0)
}

/// Exact (Clopper–Pearson) one-sided upper confidence bound, at level
/// `1 − err`, on a binomial rate after `x` events in `n` trials: the largest
/// `p` under which `x` or fewer events still have probability `err`.
pub fn rate_upper_bound(n: usize, x: usize, err: f64) -> f64 {
    if n == 0 || x >= n {
        return 1.0;
    }
    // P(X ≤ x) = 1 − P(X ≥ x + 1) falls as p grows: bisect.
    let (mut lo, mut hi) = (x as f64 / n as f64, 1.0f64);
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if 1.0 - binom_tail(n, x + 1, mid) > err {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// The matching lower bound: the smallest `p` under which `x` or more events
/// still have probability `err`.
pub fn rate_lower_bound(n: usize, x: usize, err: f64) -> f64 {
    if n == 0 || x == 0 {
        return 0.0;
    }
    let (mut lo, mut hi) = (0.0f64, x as f64 / n as f64);
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if binom_tail(n, x, mid) < err {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Holm's step-down procedure. Returns the Holm-adjusted p-values (in the
/// input order): hypothesis `i` is rejected at family-wise level `alpha` iff
/// `adjusted[i] <= alpha`. Valid under any dependence between the tests.
pub fn holm_adjust(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut idx: Vec<usize> = (0..m).collect();
    idx.sort_by(|&i, &j| p[i].total_cmp(&p[j]).then(i.cmp(&j)));
    let mut out = vec![1.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in idx.iter().enumerate() {
        let adj = ((m - rank) as f64 * p[i]).min(1.0);
        running = running.max(adj);
        out[i] = running;
    }
    out
}

/// Bonferroni adjustment (kept for comparison and tests; Holm dominates it).
pub fn bonferroni_adjust(p: &[f64]) -> Vec<f64> {
    let m = p.len() as f64;
    p.iter().map(|&x| (x * m).min(1.0)).collect()
}

/// Share of a factor's alpha spent on the "isolation removes failures"
/// direction (`fixes`); the rest goes to "isolation adds failures"
/// (`stabilizes`, `breaks`). Fixed before seeing data, so the split is
/// legitimate; it favours `fixes` because that is where failures are rare
/// and evidence is slow to accumulate, while `breaks`/`stabilizes` usually
/// show many discordant rounds quickly.
pub const WEIGHT_FIXES: f64 = 2.0 / 3.0;
/// See [`WEIGHT_FIXES`].
pub const WEIGHT_WORSE: f64 = 1.0 / 3.0;

/// Part of the sequential boundary given to non-extreme paths (see
/// [`SequentialSignTest`]): a non-extreme state counts as level `t` only if
/// its nominal p-value is ≤ `LAMBDA · t`. Small, so that the repeated looks
/// cost the extreme ("all discordant rounds one way") claims only ~3%.
pub const LAMBDA: f64 = 0.005;

/// A sequential, exact, one-sided sign test on discordant paired rounds,
/// valid under any number of looks up to `d_max` discordant pairs.
///
/// Each round runs every condition once in a random order, so under the
/// null hypothesis "isolating this factor changes nothing" the two runs of
/// a round are exchangeable and, in a round where exactly one of the two
/// failed, it is baseline's run with probability 1/2 independently of
/// everything before (this holds even when the failure rate drifts over the
/// diagnosis: that is what the interleaving buys). The count `X` of
/// discordant rounds in the claimed direction after `D` discordant rounds is
/// therefore a fair ±1 random walk.
///
/// A state `(D, X)` has level `t = 2^-D` when `X = D` (all discordant rounds
/// one way: the shape every `fixes`/`stabilizes`/`breaks` claim has) and
/// `t = tail(D, X) / LAMBDA` otherwise. The p-value of a state is
/// `π(t) = P_null(the walk ever reaches a state of level ≤ t within d_max
/// steps)`, computed exactly by dynamic programming. Since at most one
/// discordant pair is added per round, looking after every round is no more
/// than looking at every step of the walk, so `P(p ≤ u) ≤ u` for any
/// data-dependent stopping rule and any look schedule.
#[derive(Debug)]
pub struct SequentialSignTest {
    d_max: usize,
    lf: LnFact,
    cache: HashMap<u64, f64>,
    tails: Vec<Vec<f64>>,
}

impl SequentialSignTest {
    pub fn new(d_max: usize) -> Self {
        let lf = LnFact::new(d_max.max(1) + 1);
        // Row by row with suffix sums: O(d_max²), not O(d_max³).
        let tails = (0..=d_max)
            .map(|d| {
                let ln_half_d = -(d as f64) * std::f64::consts::LN_2;
                let mut row = vec![0.0f64; d + 1];
                let mut acc = 0.0f64;
                for x in (0..=d).rev() {
                    acc += (lf.ln_choose(d, x) + ln_half_d).exp();
                    row[x] = acc.min(1.0);
                }
                row[0] = 1.0;
                row
            })
            .collect();
        SequentialSignTest { d_max, lf, cache: HashMap::new(), tails }
    }

    fn tail(&self, d: usize, x: usize) -> f64 {
        match self.tails.get(d).and_then(|r| r.get(x)) {
            Some(v) => *v,
            None => binom_half_tail(&self.lf, d, x),
        }
    }

    /// The level of a state (smaller is more extreme).
    fn level(&self, d: usize, x: usize) -> f64 {
        if d == 0 {
            return f64::INFINITY;
        }
        if x == d {
            (0.5f64).powi(d as i32)
        } else {
            self.tail(d, x) / LAMBDA
        }
    }

    /// One-sided sequential p-value for `x` discordant rounds in the claimed
    /// direction out of `d`.
    pub fn p_value(&mut self, d: usize, x: usize) -> f64 {
        if d == 0 || x == 0 {
            return 1.0;
        }
        let t = self.level(d, x);
        if !t.is_finite() || t >= 1.0 {
            return 1.0;
        }
        let key = t.to_bits();
        if let Some(p) = self.cache.get(&key) {
            return *p;
        }
        // A state beyond the planned horizon (should not happen: d_max is
        // the maximum number of rounds) is handled by extending it.
        let horizon = self.d_max.max(d);
        let p = self.crossing_probability(t, horizon);
        self.cache.insert(key, p);
        p
    }

    /// P(the fair walk ever visits a state of level ≤ t within `horizon`
    /// steps).
    fn crossing_probability(&self, t: f64, horizon: usize) -> f64 {
        // alive[x] = P(at step D with X = x and not yet crossed)
        let mut alive = vec![0.0f64; horizon + 2];
        alive[0] = 1.0;
        let mut hit = 0.0f64;
        let slack = 1.0 + 1e-9; // ties in exact arithmetic count as crossing
        for d in 1..=horizon {
            let mut next = vec![0.0f64; horizon + 2];
            for x in 0..d {
                let p = alive[x];
                if p == 0.0 {
                    continue;
                }
                next[x] += p * 0.5;
                next[x + 1] += p * 0.5;
            }
            for (x, p) in next.iter_mut().enumerate().take(d + 1) {
                if *p > 0.0 && self.level(d, x) <= t * slack {
                    hit += *p;
                    *p = 0.0;
                }
            }
            alive = next;
        }
        hit.min(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn fisher_matches_scipy() {
        // scipy.stats.fisher_exact([[8, 2], [1, 5]]) -> 0.034965034965034...
        let p = fisher_exact(8, 2, 1, 5, Alternative::TwoSided);
        assert!(close(p, 0.034_965_034_965_034_96, 1e-9), "{p}");
        // scipy docs: [[6, 2], [1, 4]] two-sided 0.10256410256410256
        let p = fisher_exact(6, 2, 1, 4, Alternative::TwoSided);
        assert!(close(p, 0.102_564_102_564_102_56, 1e-9), "{p}");
        // Lady tasting tea [[3,1],[1,3]]: one-sided 17/70, two-sided 34/70.
        let p = fisher_exact(3, 1, 1, 3, Alternative::Greater);
        assert!(close(p, 17.0 / 70.0, 1e-9), "{p}");
        let p = fisher_exact(3, 1, 1, 3, Alternative::TwoSided);
        assert!(close(p, 34.0 / 70.0, 1e-9), "{p}");
        let p = fisher_exact(3, 1, 1, 3, Alternative::Less);
        assert!(close(p, 69.0 / 70.0, 1e-9), "{p}");
        // Extreme table: 6 of 20 failed vs 0 of 20: C(20,6)/C(40,6).
        let p = fisher_exact(6, 14, 0, 20, Alternative::Greater);
        assert!(close(p, 38760.0 / 3_838_380.0, 1e-9), "{p}");
        // Degenerate margins.
        assert_eq!(fisher_exact(0, 0, 0, 0, Alternative::TwoSided), 1.0);
        assert!(close(fisher_exact(5, 0, 5, 0, Alternative::TwoSided), 1.0, 1e-12));
    }

    #[test]
    fn binomial_tail_and_bound() {
        let lf = LnFact::new(100);
        assert!(close(binom_half_tail(&lf, 7, 7), 1.0 / 128.0, 1e-12));
        assert!(close(binom_half_tail(&lf, 4, 3), 5.0 / 16.0, 1e-12));
        assert_eq!(binom_half_tail(&lf, 4, 0), 1.0);
        let b = never_failed_bound(100).unwrap_or(1.0);
        assert!((b - 0.0295).abs() < 0.0005, "{b}"); // ≈ 3/n
        assert!(never_failed_bound(0).is_none());
        assert!(close(never_failed_bound(1).unwrap_or(0.0), 0.95, 1e-12));
    }

    #[test]
    fn general_binomial_tail_and_rate_bounds() {
        // P(Bin(10, 0.3) >= 3) = 0.6172172 (scipy.stats.binom.sf(2, 10, 0.3)).
        assert!(close(binom_tail(10, 3, 0.3), 0.617_217_2, 1e-6));
        assert_eq!(binom_tail(10, 0, 0.3), 1.0);
        assert_eq!(binom_tail(10, 11, 0.3), 0.0);
        // Zero events: the bound is 1 − err^(1/n), as never_failed_bound.
        let u = rate_upper_bound(20, 0, 0.05);
        assert!(close(u, never_failed_bound(20).unwrap_or(0.0), 1e-9), "{u}");
        // Clopper–Pearson 95% two-sided for 3 of 10: [0.0667, 0.6525].
        assert!((rate_upper_bound(10, 3, 0.025) - 0.6525).abs() < 1e-3);
        assert!((rate_lower_bound(10, 3, 0.025) - 0.0667).abs() < 1e-3);
        assert_eq!(rate_lower_bound(10, 0, 0.025), 0.0);
        assert_eq!(rate_upper_bound(10, 10, 0.025), 1.0);
    }

    #[test]
    fn holm_and_bonferroni() {
        let p = [0.01, 0.04, 0.03, 0.5];
        let h = holm_adjust(&p);
        // sorted: 0.01*4=0.04, 0.03*3=0.09, 0.04*2=0.08->0.09, 0.5*1 -> 0.5
        assert!(close(h[0], 0.04, 1e-12));
        assert!(close(h[2], 0.09, 1e-12));
        assert!(close(h[1], 0.09, 1e-12));
        assert!(close(h[3], 0.5, 1e-12));
        let b = bonferroni_adjust(&p);
        assert!(close(b[1], 0.16, 1e-12));
        assert!(b.iter().zip(&h).all(|(b, h)| h <= b));
    }

    #[test]
    fn sequential_extreme_costs_little() {
        let mut s = SequentialSignTest::new(100);
        let p7 = s.p_value(7, 7);
        // Never below the single-look value, and only a few percent above.
        assert!(p7 >= 1.0 / 128.0);
        assert!(p7 <= 1.05 / 128.0, "{p7}");
        // 4 factors at alpha 0.05: 7 clean fixes are enough, 6 are not.
        assert!(p7 / WEIGHT_FIXES * 4.0 <= 0.05);
        assert!(s.p_value(6, 6) / WEIGHT_FIXES * 4.0 > 0.05);
        // 8 rounds that all break suffice for the other direction.
        assert!(s.p_value(8, 8) / WEIGHT_WORSE * 4.0 <= 0.05);
        assert_eq!(s.p_value(0, 0), 1.0);
        // Monotone in evidence.
        assert!(s.p_value(20, 19) < s.p_value(20, 15));
        // The table agrees with the direct sum.
        let lf = LnFact::new(100);
        assert!(close(s.tail(37, 25), binom_half_tail(&lf, 37, 25), 1e-9));
    }

    #[test]
    fn large_horizon_is_fast_enough() {
        let mut s = SequentialSignTest::new(crate::MAX_RUNS_LIMIT);
        let p = s.p_value(9, 9);
        assert!((1.0 / 512.0..1.3 / 512.0).contains(&p), "{p}");
    }

    #[test]
    fn sequential_p_is_valid_by_simulation() {
        // Under the null, P(p <= u) <= u at any stopping time; check by
        // simulating walks and taking the minimum p over all looks.
        let mut s = SequentialSignTest::new(60);
        let mut rng = fastrand::Rng::with_seed(7);
        let trials = 20_000;
        let u = 0.02;
        let mut rejected = 0;
        for _ in 0..trials {
            let mut x = 0;
            for d in 1..=60 {
                if rng.bool() {
                    x += 1;
                }
                if s.p_value(d, x) <= u {
                    rejected += 1;
                    break;
                }
            }
        }
        let rate = rejected as f64 / trials as f64;
        assert!(rate <= u * 1.15, "{rate}");
    }
}
