//! Which files a command left behind are pollution: a file counts only when
//! it persists after the run that wrote it (it is in the persistent layer
//! when a later run starts) and the runs that start with it fail more often
//! than those that start without it. Directories never count (a run that
//! creates and removes its temporary files still leaves the directory it
//! used, e.g. `/tmp/` copied up by pytest's capture files), and files the
//! command removes itself never reach the layer. Pure: unit-tested here.

use crate::stats::{self, Alternative};

/// One baseline run as the ranking sees it: its round, the files in its
/// persistent layer after it ran (no directories), and whether it failed.
pub(crate) struct LayerAfter<'a> {
    pub round: usize,
    pub files: Vec<&'a str>,
    pub failed: bool,
}

/// How one file goes with the outcomes of the runs after it appeared.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FileScore<'a> {
    pub path: &'a str,
    /// The first round after which the file was in the layer.
    pub first_round: usize,
    /// Runs that started with the file in place: (runs, failed).
    pub with: (usize, usize),
    /// Runs that started without it: (runs, failed).
    pub without: (usize, usize),
    /// The file was in the layer at the start of every run after it first
    /// appeared (it was never removed).
    pub stayed: bool,
    /// One-sided exact p-value (Fisher) of "the runs that start with it fail
    /// more": it orders the evidence, it is not a claim (the factor's test is).
    pub association: f64,
}

impl FileScore<'_> {
    /// Left behind and associated with later failures.
    pub fn is_pollution(&self) -> bool {
        let rate = |(n, f): (usize, usize)| if n == 0 { 0.0 } else { f as f64 / n as f64 };
        self.with.0 > 0 && self.with.1 > 0 && rate(self.with) > rate(self.without)
    }
}

/// Score every file seen in `runs` (any order; sorted by round here): a run
/// starts with a file when the layer after the previous baseline run held
/// it. Returned pollution first, by association (strongest first), then
/// `tie` order (index into the files as first seen), then the rest.
pub(crate) fn score<'a>(runs: &[LayerAfter<'a>], tie: impl Fn(&str) -> usize) -> Vec<FileScore<'a>> {
    let mut order: Vec<&LayerAfter<'a>> = runs.iter().collect();
    order.sort_by_key(|r| r.round);
    let mut paths: Vec<(&'a str, usize)> = Vec::new();
    for r in &order {
        for &p in &r.files {
            if !paths.iter().any(|(q, _)| *q == p) {
                paths.push((p, r.round));
            }
        }
    }
    let mut out: Vec<FileScore<'a>> = paths
        .into_iter()
        .map(|(path, first_round)| {
            let (mut with, mut without, mut stayed) = ((0, 0), (0, 0), true);
            for (k, r) in order.iter().enumerate() {
                let before = k > 0 && order[k - 1].files.contains(&path);
                let slot = if before { &mut with } else { &mut without };
                slot.0 += 1;
                slot.1 += usize::from(r.failed);
                if r.round > first_round && !before {
                    stayed = false;
                }
            }
            let association = stats::fisher_exact(
                with.1 as u64,
                (with.0 - with.1) as u64,
                without.1 as u64,
                (without.0 - without.1) as u64,
                Alternative::Greater,
            );
            FileScore { path, first_round, with, without, stayed, association }
        })
        .collect();
    out.sort_by(|a, b| {
        b.is_pollution()
            .cmp(&a.is_pollution())
            .then(a.association.total_cmp(&b.association))
            .then(tie(a.path).cmp(&tie(b.path)))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(round: usize, files: &[&'static str], failed: bool) -> LayerAfter<'static> {
        LayerAfter { round, files: files.to_vec(), failed }
    }

    fn no_tie(_: &str) -> usize {
        0
    }

    #[test]
    fn a_file_kept_and_followed_by_failures_is_pollution() {
        let runs: Vec<_> = (0..6).map(|r| layer(r, &["/home/u/.cache/marker"], r > 0)).collect();
        let s = score(&runs, no_tie);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].with, s[0].without, s[0].stayed), ((5, 5), (1, 0), true));
        assert!(s[0].is_pollution());
    }

    #[test]
    fn a_file_kept_but_not_followed_by_more_failures_is_not() {
        // Failures at random, the log always there after the first run.
        let fails = [true, false, true, false, false, true];
        let runs: Vec<_> = (0..6).map(|r| layer(r, &["/srv/app.log"], fails[r])).collect();
        let s = score(&runs, no_tie);
        assert_eq!((s[0].with, s[0].without), ((5, 2), (1, 1)));
        assert!(!s[0].is_pollution(), "40% with it against 100% without");
    }

    #[test]
    fn a_file_removed_by_a_later_run_counts_only_the_runs_that_started_with_it() {
        // pytest keeps its last basetemp directories and removes older ones:
        // here the file is in the layer after runs 0 and 1 only.
        let runs = vec![
            layer(0, &["/tmp/pytest-of-u/pytest-0/x"], false),
            layer(1, &["/tmp/pytest-of-u/pytest-0/x"], false),
            layer(2, &[], true),
            layer(3, &[], true),
        ];
        let s = score(&runs, no_tie);
        assert_eq!((s[0].with, s[0].without, s[0].stayed), ((2, 1), (2, 1), false));
        assert!(!s[0].is_pollution());
    }

    #[test]
    fn the_culprit_ranks_before_files_that_merely_persist() {
        // The marker appears in round 2 and every run after it fails; a
        // cache written in round 0 is there before passing runs too.
        let mut runs = Vec::new();
        for r in 0..8 {
            let mut files = vec!["/root/.cache/pip/http/a"];
            if r >= 2 {
                files.push("/home/u/state.csv");
            }
            runs.push(layer(r, &files, r >= 3));
        }
        // Runs given out of order: the ranking sorts them by round.
        runs.reverse();
        let s = score(&runs, no_tie);
        assert_eq!(s[0].path, "/home/u/state.csv");
        assert_eq!((s[0].first_round, s[0].with, s[0].without), (2, (5, 5), (3, 0)));
        assert!(s[0].association < s[1].association);
        assert!(s[1].is_pollution(), "the cache still goes with later failures, only less");
    }

    #[test]
    fn ties_keep_the_callers_order() {
        let runs: Vec<_> = (0..4).map(|r| layer(r, &["/b", "/a"], r > 0)).collect();
        let s = score(&runs, |p| usize::from(p == "/a"));
        assert_eq!(s.iter().map(|f| f.path).collect::<Vec<_>>(), ["/b", "/a"]);
        let s = score(&runs, |p| usize::from(p == "/b"));
        assert_eq!(s.iter().map(|f| f.path).collect::<Vec<_>>(), ["/a", "/b"]);
    }
}
