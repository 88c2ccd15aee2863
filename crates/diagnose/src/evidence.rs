//! Human-checkable evidence per factor, assembled from the runs' observations ([`crate::RunObservations`]).

use crate::pollution::{self, LayerAfter};
use crate::report::FailingSeed;
use crate::{Engine, FileChangeKind};
use factors::{Factor, FactorSet};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

const MAX_LINES: usize = 6;

pub(crate) fn for_factor(engine: &Engine, factor: Factor, fails: &[Option<bool>]) -> Vec<String> {
    let base = 0usize;
    let iso = engine.cond_index(FactorSet::only(factor)).unwrap_or(base);
    let mut out = timeouts(engine, factor, base, iso, fails);
    out.extend(match factor {
        Factor::Net => net(engine, base, iso, fails),
        Factor::Fs => fs(engine, base, iso, fails),
        Factor::Time => time(engine, base, iso, fails),
        Factor::Db => db(engine, factor, fails),
        Factor::Rand => rand(engine, iso, fails),
        // Never one of the engine's conditions: the order factor's evidence
        // is its own (crate::order_verdict).
        Factor::Order => Vec::new(),
    });
    out
}

/// Runs stopped at their time limit, baseline's and the isolated
/// condition's: a timeout is not an ordinary failure.
fn timeouts(engine: &Engine, factor: Factor, base: usize, iso: usize, fails: &[Option<bool>]) -> Vec<String> {
    let mut out = Vec::new();
    for (cond, label) in [(base, "baseline".to_string()), (iso, format!("{factor} isolated"))] {
        let runs = runs_of(engine, cond, fails);
        let n = runs.iter().filter(|&&i| engine.records[i].timed_out).count();
        if n == 0 {
            continue;
        }
        let mut line = format!("{label}: {n} of {} runs timed out", runs.len());
        if factor == Factor::Time && cond == iso {
            line.push_str(
                "; clock frozen — a wait on the wall clock never ends; try `--time now~tick` (a clock that runs)",
            );
        }
        out.push(line);
    }
    out
}

fn runs_of(engine: &Engine, cond: usize, fails: &[Option<bool>]) -> Vec<usize> {
    engine
        .records
        .iter()
        .enumerate()
        .filter(|(i, r)| r.cond == cond && fails.get(*i).copied().flatten().is_some())
        .map(|(i, _)| i)
        .collect()
}

fn failed(fails: &[Option<bool>], i: usize) -> bool {
    fails.get(i).copied().flatten() == Some(true)
}

/// Events (deduplicated within a run) with the runs they appeared in and
/// how many of those failed.
fn event_lines(
    label: &str,
    runs: &[usize],
    fails: &[Option<bool>],
    events: impl Fn(usize) -> Vec<String>,
) -> Vec<String> {
    let mut seen: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for &i in runs {
        let mut evs = events(i);
        evs.sort();
        evs.dedup();
        for e in evs {
            let s = seen.entry(e).or_insert((0, 0));
            s.0 += 1;
            if failed(fails, i) {
                s.1 += 1;
            }
        }
    }
    let mut v: Vec<(String, (usize, usize))> = seen.into_iter().collect();
    v.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(&b.0)));
    let total = runs.len();
    let total_failed = runs.iter().filter(|&&i| failed(fails, i)).count();
    let mut out: Vec<String> = v
        .iter()
        .take(MAX_LINES)
        .map(|(e, (n, f))| {
            if *n == total {
                format!("{label}: `{e}` in every run ({f} of {total} failed)")
            } else {
                // Contrast runs with and without the event: a person can
                // see at once whether failures go with it.
                format!(
                    "{label}: `{e}` in {n} of {total} runs, {f} of which failed; {} of the {} runs without it failed",
                    total_failed - f,
                    total - n
                )
            }
        })
        .collect();
    if v.len() > MAX_LINES {
        out.push(format!("{label}: … and {} more distinct events", v.len() - MAX_LINES));
    }
    out
}

fn net(engine: &Engine, base: usize, iso: usize, fails: &[Option<bool>]) -> Vec<String> {
    let ev = |i: usize| engine.records[i].evidence.net_events.clone();
    let mut out = event_lines("baseline", &runs_of(engine, base, fails), fails, ev);
    out.extend(event_lines("net isolated", &runs_of(engine, iso, fails), fails, ev));
    if out.is_empty() {
        out.push("no name lookups or connections recorded, with or without the network".into());
    }
    out
}

fn fs(engine: &Engine, base: usize, iso: usize, fails: &[Option<bool>]) -> Vec<String> {
    let mut out = Vec::new();
    let base_runs = runs_of(engine, base, fails);
    let scores = written_scores(engine, &base_runs, fails);
    let (files, others): (Vec<_>, Vec<_>) = scores.iter().partition(|s| s.is_pollution());
    for s in files.iter().take(MAX_LINES) {
        let (path, r0) = (s.path, s.first_round);
        if s.stayed {
            out.push(format!(
                "baseline run {} wrote {path} (kept between runs): {} of {} later baseline runs failed, {} of {} up to then",
                r0 + 1,
                s.with.1,
                s.with.0,
                s.without.1,
                s.without.0
            ));
        } else {
            out.push(format!(
                "baseline run {} wrote {path} (kept, later removed): {} of {} baseline runs that started with it failed, {} of {} without it",
                r0 + 1,
                s.with.1,
                s.with.0,
                s.without.1,
                s.without.0
            ));
        }
    }
    // Files that stayed but that failures do not follow: named after the
    // others, as what the command changed, not as pollution.
    let room = MAX_LINES.saturating_sub(files.len());
    for s in others.iter().take(room) {
        out.push(format!(
            "baseline run {} wrote {} (kept, not followed by more failures)",
            s.first_round + 1,
            s.path
        ));
    }
    let shown = files.len().min(MAX_LINES) + others.len().min(room);
    if scores.len() > shown {
        out.push(format!("… and {} more files written outside tmp", scores.len() - shown));
    }
    if scores.is_empty() && !base_runs.is_empty() {
        out.push("no files written outside tmp in baseline runs".into());
    }
    let iso_runs = runs_of(engine, iso, fails);
    if !iso_runs.is_empty() {
        let f = iso_runs.iter().filter(|&&i| failed(fails, i)).count();
        out.push(format!(
            "fs isolated (fresh tmp and a throwaway layer each run): {f} of {} runs failed",
            iso_runs.len()
        ));
    }
    // Leftover processes, from every condition.
    let all: Vec<usize> =
        (0..engine.records.len()).filter(|&i| fails.get(i).copied().flatten().is_some()).collect();
    let procs =
        event_lines("left running", &all, fails, |i| engine.records[i].evidence.leftover_processes.clone());
    out.extend(procs);
    out
}

/// The files baseline runs left in their layer, scored and ranked
/// ([`pollution::score`]; ties: [`rank_written`]).
fn written_scores<'a>(
    engine: &'a Engine,
    base_runs: &[usize],
    fails: &[Option<bool>],
) -> Vec<pollution::FileScore<'a>> {
    // path -> first round a baseline run wrote it: the tie-break order.
    let mut first: BTreeMap<&str, usize> = BTreeMap::new();
    let layers: Vec<LayerAfter> = base_runs
        .iter()
        .map(|&i| {
            let r = &engine.records[i];
            let files: Vec<&str> = r
                .evidence
                .file_changes
                .iter()
                .filter(|f| f.kind != FileChangeKind::Dir)
                .map(|f| f.path.as_str())
                .collect();
            for p in &files {
                let e = first.entry(p).or_insert(r.round);
                *e = (*e).min(r.round);
            }
            LayerAfter { round: r.round, files, failed: failed(fails, i) }
        })
        .collect();
    let ranked = rank_written(first.into_iter().collect());
    let tie = |p: &str| ranked.iter().position(|(q, _)| *q == p).unwrap_or(usize::MAX);
    pollution::score(&layers, tie)
}

/// State a factor's evidence found that later failures go with: for fs, the
/// file left behind most associated with them.
pub(crate) fn state_found(engine: &Engine, factor: Factor, fails: &[Option<bool>]) -> Option<String> {
    match factor {
        Factor::Fs => {
            let base_runs = runs_of(engine, 0, fails);
            let scores = written_scores(engine, &base_runs, fails);
            scores.iter().find(|s| s.is_pollution()).map(|s| format!("{} left behind", s.path))
        }
        _ => None,
    }
}

/// Files baseline wrote, `(path, first round)`, in the order to show them:
/// a build tool's own state (caches and locks under ~/.gradle, ~/.m2, ...:
/// [`crate::stale::is_tool_state`]) last; otherwise earliest round first,
/// and within a round the files written alone before those written in bulk
/// under one directory (a build or package cache writes hundreds in one go;
/// the state a test leaves is a file or two), so the few lines shown name
/// the likely culprit.
fn rank_written(mut files: Vec<(&str, usize)>) -> Vec<(&str, usize)> {
    // Two levels up: caches fan out into subdirectories (go-build/ab/…).
    let area = |p: &str| std::path::Path::new(p).parent().and_then(|d| d.parent()).map(|d| d.to_path_buf());
    let mut bulk: BTreeMap<(usize, Option<std::path::PathBuf>), usize> = BTreeMap::new();
    for (p, r0) in &files {
        *bulk.entry((*r0, area(p))).or_insert(0) += 1;
    }
    let size = |p: &str, r0: usize| bulk.get(&(r0, area(p))).copied().unwrap_or(0);
    // A build tool's caches and locks (~/.gradle, ~/.m2, ...) after the rest.
    let tool = |p: &str| crate::stale::is_tool_state(p);
    files.sort_by(|a, b| {
        tool(a.0)
            .cmp(&tool(b.0))
            .then(a.1.cmp(&b.1))
            .then(size(a.0, a.1).cmp(&size(b.0, b.1)))
            .then(a.0.cmp(b.0))
    });
    files
}

fn db(engine: &Engine, factor: Factor, fails: &[Option<bool>]) -> Vec<String> {
    let runs: Vec<usize> = engine
        .records
        .iter()
        .enumerate()
        .filter(|(i, r)| {
            // After pruning, a condition that lists db shares it.
            let pruned = engine.pruned.iter().any(|p| p.factor == factor && r.round >= p.after_rounds);
            engine.conds[r.cond].isolate.contains(factor)
                && !pruned
                && fails.get(*i).copied().flatten().is_some()
        })
        .map(|(i, _)| i)
        .collect();
    let mut tables: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    for &i in &runs {
        for (t, rows) in &engine.records[i].evidence.db_tables {
            if *rows > 0 {
                let e = tables.entry(t.as_str()).or_insert((0, 0));
                e.0 += 1;
                e.1 = e.1.max(*rows);
            }
        }
    }
    let mut out: Vec<String> = tables
        .iter()
        .take(MAX_LINES * 2)
        .map(|(t, (n, max))| {
            format!(
                "table {t}: rows left behind (up to {max}) after {n} of {} runs with a throwaway database",
                runs.len()
            )
        })
        .collect();
    if out.is_empty() && !runs.is_empty() {
        out.push(format!("no rows left behind in the throwaway database ({} runs)", runs.len()));
    }
    let base_runs = runs_of(engine, 0, fails);
    if !base_runs.is_empty() {
        let f = base_runs.iter().filter(|&&i| failed(fails, i)).count();
        out.push(format!(
            "baseline (the environment's DATABASE_URL, state kept between runs): {f} of {} runs failed",
            base_runs.len()
        ));
    }
    out
}

fn rand(engine: &Engine, iso: usize, fails: &[Option<bool>]) -> Vec<String> {
    let iso_runs = runs_of(engine, iso, fails);
    let mut seeds: Vec<u64> =
        iso_runs.iter().filter_map(|&i| engine.records[i].evidence.entropy_seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let f = iso_runs.iter().filter(|&&i| failed(fails, i)).count();
    let mut out = match seeds.as_slice() {
        [] => Vec::new(),
        [one] => vec![format!(
            "randomness from seed {one} in every rand-isolated run: {f} of {} failed (replay with `flakebox run --seed {one}`)",
            iso_runs.len()
        )],
        many => vec![format!("randomness from {} different seeds (expected one)", many.len())],
    };
    match failing_seed(engine, fails) {
        Some(s) => out.push(format!(
            "fails under seed {} ({} of {} runs with it failed): replay with `{}`{}",
            s.seed,
            s.failed,
            s.runs,
            render::shell_line(&s.replay),
            if s.suspects_only {
                " (those runs selected only the suspects: the whole command may draw its randomness in another order)"
            } else {
                ""
            }
        )),
        None if (0..engine.records.len()).any(|i| failed(fails, i)) => {
            out.push("no seed failed in every run that used it".into())
        }
        None => {}
    }
    out
}

/// A seed under which the unit failed in every run that used it: of those,
/// the one seen failing under the most isolation (the replay isolates
/// everything), then in the most runs, then the earliest. `None` when no
/// run recorded a seed, or every failing seed also passed.
pub(crate) fn failing_seed(engine: &Engine, fails: &[Option<bool>]) -> Option<FailingSeed> {
    // seed -> (runs, failed, most factors isolated in a failing run, the
    // first failing run so isolated)
    let mut by_seed: BTreeMap<u64, (usize, usize, usize, usize)> = BTreeMap::new();
    for (i, r) in engine.records.iter().enumerate() {
        let (Some(seed), Some(f)) = (r.evidence.entropy_seed, fails.get(i).copied().flatten()) else {
            continue;
        };
        let e = by_seed.entry(seed).or_insert((0, 0, 0, usize::MAX));
        e.0 += 1;
        if f {
            e.1 += 1;
            if e.3 == usize::MAX || r.isolated.len() > e.2 {
                (e.2, e.3) = (r.isolated.len(), i);
            }
        }
    }
    let (seed, (runs, failed, _, first)) = by_seed
        .into_iter()
        .filter(|(_, (runs, failed, _, _))| *failed > 0 && failed == runs)
        .max_by(|(_, a), (_, b)| a.2.cmp(&b.2).then(a.1.cmp(&b.1)).then(b.3.cmp(&a.3)))?;
    // That run: its clock and its selection are what the replay repeats.
    let first = &engine.records[first];
    let frozen_instant =
        first.isolated.contains(Factor::Time).then(|| first.evidence.frozen_instant.clone()).flatten();
    let mut opts = vec!["--seed".to_string(), seed.to_string()];
    if let Some(t) = &frozen_instant {
        opts.extend(["--time".to_string(), t.clone()]);
    }
    let replay = crate::replay::run_words(&opts, &engine.command);
    let suspects_only = engine.suspects.as_ref().is_some_and(|s| !s.is_empty());
    Some(FailingSeed {
        seed,
        runs,
        failed,
        replay,
        suspects_only,
        tests: first.selection.clone(),
        frozen_instant,
    })
}

fn time(engine: &Engine, base: usize, iso: usize, fails: &[Option<bool>]) -> Vec<String> {
    let mut out = Vec::new();
    let iso_runs: Vec<usize> = runs_of(engine, iso, fails);
    let mut instants: Vec<&str> =
        iso_runs.iter().filter_map(|&i| engine.records[i].evidence.frozen_instant.as_deref()).collect();
    instants.sort();
    instants.dedup();
    match instants.as_slice() {
        [] => {}
        [one] => out.push(format!(
            "clock frozen at {one} in every time-isolated run (replay with `flakebox run --time {one}`)"
        )),
        many => out.push(format!(
            "clock frozen at {} different instants (expected one): {}",
            many.len(),
            many.join(", ")
        )),
    }
    let mut reads: Vec<u64> =
        iso_runs.iter().filter_map(|&i| engine.records[i].evidence.clock_reads).collect();
    if !reads.is_empty() {
        reads.sort_unstable();
        let median = reads[reads.len() / 2];
        if reads.iter().all(|&r| r == 0) {
            out.push("the command never read the wall clock".into());
        } else {
            out.push(format!(
                "the command read the wall clock {median} times per run (median of {} runs)",
                reads.len()
            ));
        }
    }
    let base_runs = runs_of(engine, base, fails);
    let sets = |i: usize| engine.records[i].evidence.clock_set_attempts.clone();
    out.extend(event_lines("baseline, the command tried to set the clock", &base_runs, fails, sets));
    out.extend(event_lines("time isolated, the command tried to set the clock", &iso_runs, fails, sets));
    let samples: Vec<(u64, bool)> =
        base_runs.iter().map(|&i| (secs(engine.records[i].started_at), failed(fails, i))).collect();
    // A runner that does not report start times leaves them at the epoch:
    // nothing to correlate then.
    let known = samples.iter().all(|s| s.0 > 0) && samples.windows(2).any(|w| w[0].0 != w[1].0);
    if let Some(line) = time_of_day(&samples).filter(|_| known) {
        out.push(line);
    }
    out
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// How baseline outcomes line up with the time of day: the shortest
/// circular window (of the minute, the hour, the day) holding every failure,
/// and how many passes fell in it. A window with failures and no passes is a
/// pattern a person can check against the test's code.
pub(crate) fn time_of_day(samples: &[(u64, bool)]) -> Option<String> {
    let fails: Vec<u64> = samples.iter().filter(|s| s.1).map(|s| s.0).collect();
    let passes: Vec<u64> = samples.iter().filter(|s| !s.1).map(|s| s.0).collect();
    if fails.len() < 2 || passes.is_empty() {
        return None;
    }
    type Scale = (&'static str, u64, u64, fn(u64) -> u64);
    let scales: [Scale; 3] = [
        ("second of the minute", 60, 60, |t| t % 60),
        ("minute of the hour", 60, 3600, |t| (t / 60) % 60),
        ("hour of the day (UTC)", 24, 86400, |t| (t / 3600) % 24),
    ];
    let span =
        samples.iter().map(|s| s.0).max().unwrap_or(0) - samples.iter().map(|s| s.0).min().unwrap_or(0);
    let mut best: Option<(f64, u64, String)> = None;
    for (unit, period, period_secs, f) in scales {
        // Runs that did not cover a whole period cannot show a phase pattern:
        // a streak of failures (pollution after the first run, say) would
        // look like a window of the clock.
        if span < period_secs {
            continue;
        }
        let mut vals: Vec<u64> = fails.iter().map(|&t| f(t)).collect();
        vals.sort_unstable();
        vals.dedup();
        // Largest circular gap between consecutive failure values.
        let mut gap_after = vals.len() - 1;
        let mut gap = vals[0] + period - vals[vals.len() - 1];
        for k in 0..vals.len() - 1 {
            let g = vals[k + 1] - vals[k];
            if g > gap {
                gap = g;
                gap_after = k;
            }
        }
        let start = vals[(gap_after + 1) % vals.len()];
        let end = vals[gap_after];
        let width = period - gap + 1;
        let inside = |v: u64| (v + period - start) % period <= (end + period - start) % period;
        let passes_in = passes.iter().filter(|&&t| inside(f(t))).count();
        let frac = passes_in as f64 / passes.len() as f64;
        let line = if frac <= 0.2 && width * 2 <= period {
            format!(
                "baseline: all {} failures started at {unit} {start}–{end}, where {passes_in} of {} passes started: the outcome follows the time of day",
                fails.len(),
                passes.len()
            )
        } else {
            format!(
                "baseline: no time-of-day pattern: failures spread over {unit} {start}–{end} ({width} of {period}), where {passes_in} of {} passes also started",
                passes.len()
            )
        };
        let better = match &best {
            None => true,
            Some((bf, bw, _)) => frac < *bf || (frac == *bf && width * 60 / period < *bw),
        };
        if better {
            best = Some((frac, width * 60 / period, line));
        }
    }
    best.map(|b| b.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_written_alone_is_shown_before_a_cache_written_in_bulk() {
        let mut files: Vec<(String, usize)> =
            (0..20).map(|i| (format!("/root/.cache/go-build/{i:02x}/{i}-a"), 0)).collect();
        files.push(("/srv/state/app.marker".into(), 0));
        files.push(("/srv/later.txt".into(), 3));
        let ranked = super::rank_written(files.iter().map(|(p, r)| (p.as_str(), *r)).collect());
        assert_eq!(ranked[0], ("/srv/state/app.marker", 0));
        assert_eq!(ranked[ranked.len() - 1], ("/srv/later.txt", 3), "earliest round first");
        assert_eq!(ranked.len(), 22);
    }

    /// A build tool's caches, each file alone in its own directory (so not
    /// "bulk"), written in the same round as a test's marker: the marker first.
    #[test]
    fn a_build_tools_cache_is_shown_after_the_state_a_test_left() {
        let files = vec![
            ("/root/.gradle/caches/4.4.1/scripts/d4/proj/proj4a.lock", 0),
            ("/root/.gradle/caches/4.4.1/scripts-remapped/b/d4/cp/metadata/metadata.bin", 0),
            ("/srv/state/app.marker", 0),
            ("/srv/later.txt", 3),
        ];
        let ranked = super::rank_written(files);
        assert_eq!(ranked[0], ("/srv/state/app.marker", 0));
        assert_eq!(ranked[1], ("/srv/later.txt", 3), "a tool's state after every other file");
    }

    #[test]
    fn time_of_day_pattern() {
        // Failures at seconds 50..59, passes elsewhere.
        let mut s = Vec::new();
        for k in 0..30u64 {
            let t = 1_700_000_000 - 1_700_000_000 % 60 + k * 97;
            s.push((t, t % 60 >= 50));
        }
        let line = time_of_day(&s).unwrap_or_default();
        assert!(line.contains("second of the minute"), "{line}");
        assert!(line.contains("follows the time of day"), "{line}");
        assert!(line.contains(" 0 of "), "{line}");
    }

    #[test]
    fn no_pattern_claimed_from_a_short_streak() {
        // One pass, then nine failures within three seconds: pollution order,
        // not the clock.
        let s: Vec<(u64, bool)> = (0..10u64).map(|k| (1_700_000_003 + k / 4, k > 0)).collect();
        assert!(time_of_day(&s).is_none());
    }

    #[test]
    fn no_pattern_for_random_failures() {
        let mut rng = fastrand::Rng::with_seed(3);
        let s: Vec<(u64, bool)> = (0..40u64).map(|k| (1_700_000_000 + k * 7919, rng.f64() < 0.4)).collect();
        let line = time_of_day(&s).unwrap_or_default();
        assert!(line.contains("no time-of-day pattern"), "{line}");
        assert!(time_of_day(&[(1, true), (2, false)]).is_none());
    }
}
