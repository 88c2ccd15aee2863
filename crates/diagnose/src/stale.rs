//! State left on the machine before the diagnosis: files in which failing
//! runs kept state ([`crate::FileOpen::keeps_state`]: updated in place, found
//! by an exclusive create, or read and written anew) and that already
//! existed on the host. Files only read are left out (a command reads its
//! own code, its configuration and its dependencies), and so are files only
//! overwritten (reports, logs: what was there is thrown away). Every condition's
//! copy-on-write view starts from the host's files, so such a file is there
//! in every condition alike and no factor can show it; hiding it can. The
//! caller runs the command with the suspects hidden (`run --hide`, fs
//! isolated otherwise, so each run starts afresh) and [`judge`] compares
//! those runs with the fs-isolated ones (or baseline's, without fs): "this
//! file, left on your machine, makes the command fail" is then tested, not
//! guessed.

use crate::report::{Counts, Effect, FactorEffect, Report, Verdict};
use crate::runner::RunObservations;
use crate::stats::{fisher_exact, Alternative};
use factors::Factor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Path components of directories that hold installed dependencies,
/// caches of code or a build tool's own state, not state a test leaves.
pub const DEPENDENCY_DIRS: [&str; 14] = [
    "site-packages",
    "dist-packages",
    "node_modules",
    "__pycache__",
    ".git",
    ".venv",
    "venv",
    ".tox",
    ".rustup",
    ".cargo",
    ".npm",
    ".m2",
    ".gradle",
    ".yarn",
];

/// A tool's own state rather than a test's: under one of the
/// [`DEPENDENCY_DIRS`], or a lock file.
pub fn is_tool_state(path: &str) -> bool {
    is_lock(path)
        || std::path::Path::new(path)
            .components()
            .any(|c| DEPENDENCY_DIRS.iter().any(|d| c.as_os_str() == *d))
}

/// A lock file (`.cargo-lock`, `x.lock`, `x.lck`): opened for writing to be
/// locked, its contents never matter.
fn is_lock(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    name.ends_with("lock") || name.ends_with(".lck")
}

/// Most paths hidden together.
pub const MAX_HIDDEN: usize = 20;

/// What the diagnosis found about state left on the machine (JSON
/// `stale_state`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaleState {
    /// The paths hidden together, as on the host: files that existed before
    /// the diagnosis and that failing runs opened, most failing runs first.
    pub paths: Vec<String>,
    /// Runs with them hidden.
    pub hidden: Counts,
    /// The condition compared with (`fs`, or `baseline` without fs) and its runs.
    pub compared_with: String,
    pub compared: Counts,
    /// One-sided Fisher's exact test (hiding lowers the failure rate),
    /// Holm-adjusted in one family with the factors' tests (see [`judge`]).
    pub p_value: f64,
    /// Before the correction.
    #[serde(default)]
    pub p_unadjusted: f64,
    /// Significant at the diagnosis's alpha, family-wise with the factors.
    pub confirmed: bool,
}

/// The runs with the paths hidden for a compared condition of `runs` runs.
pub fn hidden_runs(compared_runs: usize) -> usize {
    compared_runs.clamp(5, 10)
}

/// The paths failing runs kept state in, outside [`DEPENDENCY_DIRS`] and
/// not lock files, for which `keep` holds (the
/// caller's: existed before the diagnosis, not the project's own), most
/// failing runs first, at most [`MAX_HIDDEN`].
pub fn candidates<'a>(
    runs: impl IntoIterator<Item = (bool, &'a RunObservations)>,
    keep: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for (failed, obs) in runs {
        if !failed {
            continue;
        }
        let mut paths: Vec<&str> =
            obs.files_opened.iter().filter(|f| f.keeps_state()).map(|f| f.path.as_str()).collect();
        paths.sort_unstable();
        paths.dedup();
        for p in paths {
            *count.entry(p).or_insert(0) += 1;
        }
    }
    let mut ranked: Vec<(&str, usize)> = count.into_iter().filter(|(p, _)| !is_tool_state(p)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ranked.into_iter().map(|(p, _)| p).filter(|p| keep(p)).take(MAX_HIDDEN).map(String::from).collect()
}

/// Compare the runs with the paths hidden with the condition's.
///
/// "Hiding them fixes it" is one more claim of the same diagnosis, so it
/// joins the factors' family: `factors_raw` are the factors' p-values before
/// the correction (the report's `analysis[].p_unadjusted`) and Holm's
/// step-down runs over them and this test together, keeping the family-wise
/// error at `alpha`. The check runs only when no factor was claimed, and
/// Holm's adjusted values only grow with the family, so the factors'
/// decisions stand ([`apply`] raises their adjusted p-values to the larger
/// family's).
pub fn judge(
    paths: Vec<String>,
    hidden: Counts,
    compared_with: &str,
    compared: Counts,
    factors_raw: &[f64],
    alpha: f64,
) -> StaleState {
    let p_unadjusted = fisher_exact(
        compared.failed as u64,
        compared.passed as u64,
        hidden.failed as u64,
        hidden.passed as u64,
        Alternative::Greater,
    );
    let p_value = family(factors_raw, p_unadjusted).pop().unwrap_or(p_unadjusted);
    let confirmed = p_value <= alpha && hidden.runs > 0;
    StaleState {
        paths,
        hidden,
        compared_with: compared_with.to_string(),
        compared,
        p_value,
        p_unadjusted,
        confirmed,
    }
}

/// Holm-adjusted p-values of the factors' tests and, last, the hiding test.
fn family(factors_raw: &[f64], hiding: f64) -> Vec<f64> {
    let mut raw = factors_raw.to_vec();
    raw.push(hiding);
    crate::stats::holm_adjust(&raw)
}

/// The lines that explain a finding about `command`, with how to clean up.
pub fn explain(s: &StaleState, command: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let which = if s.paths.len() == 1 { "this file" } else { "these files" };
    out.push(format!(
        "{which}, left on this machine before the diagnosis and opened by failing runs: {}",
        s.paths.join(", ")
    ));
    out.push(format!(
        "hidden (run --hide, fs isolated): failed {} of {} runs; {} failed {} of {} (p = {:.4})",
        s.hidden.failed, s.hidden.runs, s.compared_with, s.compared.failed, s.compared.runs, s.p_value
    ));
    let mut opts = vec!["--share".to_string(), "net,time,rand".into()];
    for p in &s.paths {
        opts.extend(["--hide".to_string(), p.clone()]);
    }
    let replay = crate::replay::run_line(&opts, command);
    if s.confirmed {
        let mut rm = vec!["rm"];
        rm.extend(s.paths.iter().map(String::as_str));
        out.push(format!("clean up: {}", render::shell_line(&rm)));
        let it = if s.paths.len() == 1 { "it" } else { "them" };
        out.push(format!("replay with {it} hidden: {replay}"));
    } else {
        out.push(format!(
            "hiding {} did not fix the failures: not the cause",
            if s.paths.len() == 1 { "it" } else { "them" }
        ));
    }
    out
}

/// Put the finding into the report. Confirmed, it is the `fs` factor's
/// effect (`fixes`, with this evidence) and the verdict becomes
/// `environment`; otherwise it is a warning.
pub fn apply(report: &mut Report, s: StaleState) {
    let lines = explain(&s, &report.command);
    // The factors' tests are now corrected in the larger family too.
    let raw: Vec<f64> = report.analysis.iter().map(|a| a.p_unadjusted).collect();
    let adjusted = family(&raw, s.p_unadjusted);
    for (a, p) in report.analysis.iter_mut().zip(adjusted) {
        a.p_value = a.p_value.max(p);
    }
    if s.confirmed {
        // Isolating fs alone changed nothing: the finding replaces that line.
        report.analysis.retain(|a| a.factor != Factor::Fs);
        report.factors.retain(|f| f.factor != Factor::Fs);
        report.factors.insert(
            0,
            FactorEffect {
                factor: Factor::Fs,
                effect: Effect::Fixes,
                p_value: s.p_value,
                evidence: lines,
                baseline: s.compared,
                isolated: s.hidden,
                failing_seed: None,
            },
        );
        report.verdict = Verdict::Environment;
        report.outcome = None;
        report.summary = format!(
            "fs fixes: state left on this machine makes the command fail ({} hidden: failed {} of {} runs, {} failed {} of {})",
            s.paths.join(", "),
            s.hidden.failed,
            s.hidden.runs,
            s.compared_with,
            s.compared.failed,
            s.compared.runs
        );
    } else {
        report.warnings.extend(lines);
    }
    report.stale_state = Some(s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::FileOpen;

    /// "PATH" updated in place; "r:PATH" only read; "t:PATH" only
    /// overwritten; "rt:PATH" read, then written anew.
    fn obs(opened: &[&str]) -> RunObservations {
        let open = |p: &&str| {
            let (how, path) = p.split_once(':').unwrap_or(("u", p));
            FileOpen {
                path: path.to_string(),
                read: how.contains('r'),
                updated: how.contains('u'),
                replaced: how.contains('t'),
            }
        };
        RunObservations { files_opened: opened.iter().map(open).collect(), ..RunObservations::default() }
    }

    fn counts(runs: usize, failed: usize) -> Counts {
        Counts { runs, passed: runs - failed, failed, timed_out: 0 }
    }

    #[test]
    fn candidates_are_the_files_failing_runs_kept_state_in_most_failing_runs_first() {
        let a = obs(&[
            "/h/.cache/app/state.csv",
            "/h/.local/lib/site-packages/x.py",
            "rt:/w/state.json",
            "r:/w/test_a.py",
            "t:/w/junit.xml",
            "/p/target/debug/.cargo-lock",
            "/h/.cargo/.package-cache",
        ]);
        let b = obs(&["/h/.cache/app/state.csv", "/h/new"]);
        let passing = obs(&["/h/only-when-passing"]);
        // Only read (the command's code), only overwritten (its reports),
        // locks and a build tool's own files: not state.
        let runs = [(true, &a), (true, &b), (false, &passing)];
        let all = candidates(runs, |_| true);
        assert_eq!(all, ["/h/.cache/app/state.csv", "/h/new", "/w/state.json"]);
        // The caller's filter: what predates the diagnosis and is not the project's.
        let kept = candidates(runs, |p| p != "/h/new");
        assert_eq!(kept, ["/h/.cache/app/state.csv", "/w/state.json"]);
        let many: Vec<String> = (0..30).map(|i| format!("/h/f{i:02}")).collect();
        let big = obs(&many.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(candidates([(true, &big)], |_| true).len(), MAX_HIDDEN);
    }

    #[test]
    fn hiding_that_fixes_the_failures_is_confirmed_and_becomes_fs_fixes() {
        let s = judge(vec!["/h/state.csv".into()], counts(5, 0), "fs", counts(3, 3), &[], 0.05);
        assert!(s.confirmed, "{s:?}");
        assert!((s.p_value - 1.0 / 56.0).abs() < 1e-9, "{}", s.p_value);
        let lines = explain(&s, &["./t.sh".to_string()]).join("\n");
        assert!(lines.contains("clean up: rm /h/state.csv"), "{lines}");
        assert!(
            lines.contains("flakebox run --share net,time,rand --hide /h/state.csv -- ./t.sh"),
            "{lines}"
        );
        let mut r = report_stub();
        apply(&mut r, s);
        assert_eq!(r.verdict, Verdict::Environment);
        assert_eq!((r.factors[0].factor, r.factors[0].effect), (Factor::Fs, Effect::Fixes));
        assert!(r.summary.starts_with("fs fixes: state left on this machine"), "{}", r.summary);
        assert_eq!(r.exit_code(), crate::exit::ENVIRONMENT);
    }

    #[test]
    fn hiding_that_changes_nothing_is_a_warning_not_a_verdict() {
        let s = judge(vec!["/h/a".into(), "/h/b c".into()], counts(5, 5), "fs", counts(10, 10), &[], 0.05);
        assert!(!s.confirmed);
        let mut r = report_stub();
        let before = r.verdict;
        apply(&mut r, s);
        assert_eq!(r.verdict, before);
        assert!(r.warnings.iter().any(|w| w.contains("not the cause")), "{:?}", r.warnings);
        assert!(
            r.warnings.iter().any(|w| w.contains("'/h/b c'") || w.contains("/h/b c")),
            "{:?}",
            r.warnings
        );
        assert!(r.stale_state.is_some());
    }

    #[test]
    fn few_runs_are_not_enough() {
        assert_eq!((hidden_runs(2), hidden_runs(7), hidden_runs(100)), (5, 7, 10));
        assert!(!judge(vec!["/x".into()], counts(2, 0), "fs", counts(2, 2), &[], 0.05).confirmed);
    }

    #[test]
    fn hiding_is_corrected_with_the_factors_in_one_family() {
        // Alone, 1/56 would be confirmed at 0.05; with four factors' tests
        // in the family (none significant) Holm multiplies the smallest by
        // five: not confirmed.
        let factors = [0.5, 0.9, 1.0, 0.3];
        let s = judge(vec!["/h/state.csv".into()], counts(5, 0), "fs", counts(3, 3), &factors, 0.05);
        assert!((s.p_unadjusted - 1.0 / 56.0).abs() < 1e-9, "{}", s.p_unadjusted);
        assert!((s.p_value - 5.0 / 56.0).abs() < 1e-9, "{}", s.p_value);
        assert!(!s.confirmed, "{s:?}");
        // A clear enough difference is confirmed in the family too.
        let s = judge(vec!["/h/state.csv".into()], counts(10, 0), "fs", counts(10, 10), &factors, 0.05);
        assert!(s.confirmed && s.p_value > s.p_unadjusted, "{s:?}");
        // The factors' adjusted p-values grow to the larger family's.
        let mut r = report_stub();
        r.analysis = serde_json::from_str(&format!("[{}]", analysis_json(0.3, 0.3))).expect("analysis");
        let s = judge(vec!["/h/x".into()], counts(10, 0), "fs", counts(10, 10), &[0.3], 0.05);
        apply(&mut r, s);
        assert!((r.analysis[0].p_value - 0.3).abs() < 1e-9, "{:?}", r.analysis);
        let s = judge(vec!["/h/x".into()], counts(5, 5), "fs", counts(10, 10), &[0.3], 0.05);
        assert_eq!((s.p_unadjusted, s.p_value), (1.0, 1.0));
        apply(&mut r, s);
        assert!((r.analysis[0].p_value - 0.6).abs() < 1e-9, "{:?}", r.analysis);
    }

    fn analysis_json(p: f64, raw: f64) -> String {
        format!(
            r#"{{"factor":"time","status":"none","p_value":{p},"p_unadjusted":{raw},
            "baseline":{{"runs":3,"passed":0,"failed":3}},"isolated":{{"runs":3,"passed":0,"failed":3}},
            "rounds_only_baseline_failed":0,"rounds_only_isolated_failed":0,"evidence":[]}}"#
        )
    }

    fn report_stub() -> Report {
        let json = r#"{"schema":1,"command":["t"],"verdict":"stable","outcome":"fail","factors":[],"conditions":[],
            "tests":[],"summary":"failed all runs","analysis":[],"alpha":0.05,"method":"fisher","seed":1,
            "stopped":"fixed_runs","rounds":3,"runs_total":6,"wall_seconds":1.0,"command_seconds":1.0,"warnings":[]}"#;
        serde_json::from_str(json).expect("a report")
    }
}
