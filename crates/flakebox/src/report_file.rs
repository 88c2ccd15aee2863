//! Report files written beside the printed report (`--html FILE`,
//! `--junit-out FILE`): checked before any run, so a diagnosis is never run
//! for an hour to end on an unwritable path, and written whole at the end.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Check every `(option, FILE)` given: on the first that cannot be written,
/// print why and return the usage exit status.
pub fn check_all(files: &[(&str, &Option<PathBuf>)]) -> Option<i32> {
    for (option, path) in files {
        if let Some(path) = path {
            if let Err(e) = check(option, path) {
                eprintln!("flakebox: {e}");
                return Some(crate::exit::USAGE);
            }
        }
    }
    None
}

/// Fail now, naming the option and the path, if FILE cannot be written:
/// its directory is missing, or FILE is a directory.
fn check(option: &str, path: &Path) -> Result<()> {
    if path.is_dir() {
        bail!("{option} {}: is a directory; give a file name (e.g. {option} report.html)", path.display());
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        bail!("{option} {}: the directory {} does not exist; create it first", path.display(), dir.display());
    }
    Ok(())
}

/// Write `contents` to `path` (replacing it), naming `what` on failure.
pub fn write(path: &Path, what: &str, contents: &str) -> Result<()> {
    std::fs::write(path, contents).with_context(|| format!("writing the {what} to {}", path.display()))
}

/// The diagnosis' report files, as asked (`--html`, `--junit-out`):
/// diagnose's and merge's alike.
pub fn write_diagnosis(
    report: &diagnose::Report,
    html: &Option<PathBuf>,
    junit_out: &Option<PathBuf>,
) -> Result<()> {
    if let Some(path) = html {
        write(path, "HTML report", &diagnose::render_html(report))?;
    }
    if let Some(path) = junit_out {
        let xml = diagnose::render_junit(report).context("rendering the JUnit verdicts")?;
        write(path, "JUnit verdicts", &xml)?;
    }
    Ok(())
}
