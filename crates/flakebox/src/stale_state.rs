//! After the diagnosis: files failing runs wrote that were already on this
//! machine are hidden in a few more runs, and the report says whether that
//! fixes the failures (crate `diagnose`'s `stale` module decides; this part
//! asks the host and makes the runs).

use diagnose::{Counts, Report, StopReason, Verdict};
use factors::{Factor, FactorSet};
use runs::DiagnoseRunner;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

/// Hide the suspects in fs-isolated runs and put the finding into `report`,
/// when the diagnosis found no cause (stable failing, or undecided) and the
/// condition compared with (fs isolated, else baseline) failed.
pub fn check(
    report: &mut Report,
    runner: &mut DiagnoseRunner,
    cwd: &Path,
    start: SystemTime,
    alpha: f64,
    say: bool,
) {
    let unexplained = matches!(report.verdict, Verdict::Stable | Verdict::Undecided);
    if report.stopped == StopReason::Interrupted || !unexplained {
        return;
    }
    let fs_alone = report.conditions.iter().find(|c| c.isolate == FactorSet::only(Factor::Fs));
    let Some(cond) = fs_alone.or_else(|| report.conditions.first()) else { return };
    if cond.failed == 0 {
        return;
    }
    let compared =
        Counts { runs: cond.runs, passed: cond.passed, failed: cond.failed, timed_out: cond.timed_out };
    let compared_with = cond.name.clone();
    let project = Project::find(cwd);
    let paths = diagnose::stale::candidates(runner.observed().iter().map(|(f, o)| (*f, o)), |p| {
        predates(Path::new(p), start) && !project.owns(Path::new(p))
    });
    if paths.is_empty() {
        return;
    }
    let n = diagnose::stale::hidden_runs(compared.runs);
    if say {
        eprintln!(
            "flakebox: failing runs wrote {} that already existed on this machine ({}); {n} more runs with {} hidden",
            if paths.len() == 1 { "a file" } else { "files" },
            paths.join(", "),
            if paths.len() == 1 { "it" } else { "them" }
        );
    }
    let hide: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
    let mut hidden = Counts::default();
    for _ in 0..n {
        match runner.run_hidden(&hide) {
            Ok(o) => {
                hidden.runs += 1;
                hidden.timed_out += usize::from(o.timed_out);
                if o.passed {
                    hidden.passed += 1;
                } else {
                    hidden.failed += 1;
                }
            }
            Err(diagnose::RunnerError::Interrupted) => {
                // Not tested: no finding, and the caller exits 130.
                report
                    .warnings
                    .push(format!("interrupted while running with {} hidden: not tested", paths.join(", ")));
                return;
            }
            Err(e) => {
                report.warnings.push(format!("the runs with state left on this machine hidden stopped: {e}"));
                break;
            }
        }
    }
    if hidden.runs > 0 {
        let factors_raw: Vec<f64> = report.analysis.iter().map(|a| a.p_unadjusted).collect();
        let finding = diagnose::stale::judge(paths, hidden, &compared_with, compared, &factors_raw, alpha);
        diagnose::stale::apply(report, finding);
    }
}

/// A file (not a directory) that was on this machine before the diagnosis
/// started (diagnose never writes to the host).
fn predates(path: &Path, start: SystemTime) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_dir() && m.modified().is_ok_and(|t| t <= start))
}

/// The project's own files: those git tracks in the repository around the
/// working directory, or, outside one, everything under it.
struct Project {
    cwd: PathBuf,
    repo: Option<(PathBuf, HashSet<PathBuf>)>,
}

impl Project {
    fn find(cwd: &Path) -> Project {
        let git = |args: &[&str], dir: &Path| {
            Command::new("git")
                .arg("-C")
                .arg(dir)
                .args(args)
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| o.stdout)
        };
        let repo = git(&["rev-parse", "--show-toplevel"], cwd).and_then(|top| {
            let top = PathBuf::from(String::from_utf8_lossy(&top).trim_end());
            let files = git(&["ls-files", "-z"], &top)?;
            let tracked = files
                .split(|&b| b == 0)
                .filter(|f| !f.is_empty())
                .map(|f| top.join(String::from_utf8_lossy(f).as_ref()))
                .collect();
            Some((top, tracked))
        });
        Project { cwd: cwd.to_path_buf(), repo }
    }

    fn owns(&self, path: &Path) -> bool {
        match &self.repo {
            Some((_, tracked)) => tracked.contains(path),
            None => path.starts_with(&self.cwd),
        }
    }
}
