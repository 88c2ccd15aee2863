//! Collecting a run's results when their paths are the host's own (no
//! sandbox between, or the sandbox's scratch directory mounted at the same
//! path): what the real-runner tests use, and a model for other callers.

use crate::{CollectedResults, ResultFile, ResultSource, RunnerKind, RunnersError};
use std::path::Path;
use std::time::SystemTime;

/// Read what `source` names. `output` is the captured stream (stdout, or
/// stdout and stderr combined, as the source says); `since` is when the run
/// started: files in `JunitDirs` older than that are earlier runs' and are
/// left out. A `File` that does not exist is left out ([`crate::Adapter::parse`]
/// then says what the runner should have written).
pub fn collect_on_host(
    runner: RunnerKind,
    source: &ResultSource,
    output: Option<String>,
    since: SystemTime,
) -> Result<CollectedResults, RunnersError> {
    let bad = |path: &Path, e: std::io::Error| RunnersError::BadResults {
        runner,
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let mut files = Vec::new();
    match source {
        ResultSource::File(path) => match std::fs::read_to_string(path) {
            Ok(contents) => files.push(ResultFile { path: path.clone(), contents }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(bad(path, e)),
        },
        ResultSource::JunitDirs(dirs) => {
            for dir in dirs {
                let entries = match std::fs::read_dir(dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(bad(dir, e)),
                };
                let mut paths = Vec::new();
                for entry in entries {
                    let entry = entry.map_err(|e| bad(dir, e))?;
                    let path = entry.path();
                    let fresh = entry.metadata().and_then(|m| m.modified()).is_ok_and(|m| m >= since);
                    if path.extension().is_some_and(|x| x == "xml") && fresh {
                        paths.push(path);
                    }
                }
                paths.sort();
                for path in paths {
                    let contents = std::fs::read_to_string(&path).map_err(|e| bad(&path, e))?;
                    files.push(ResultFile { path, contents });
                }
            }
        }
        ResultSource::Stdout | ResultSource::CombinedOutput => {}
    }
    Ok(CollectedResults { files, output })
}
